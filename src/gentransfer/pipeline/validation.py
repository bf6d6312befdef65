"""The guard's W1 on its validation rows (``fit-target --strategy auto --guard-by w1``).

Each candidate draws ``repeat`` samples per validation row (given that row's conditions on a
conditional table), ``draws`` times, and is scored by the exact W1 between its draws and the
validation rows, every column encoded as ``evaluate`` encodes a table (categories one-hot, numbers
over their sd) with the sd taken over all the target's rows, which the guard may see. The guard then
keeps the candidate with the lowest W1 (``rule="lowest"``): it chooses by distance to real rows, not
by likelihood.

The encoding is ``compare_samples``' (``evaluate --real --fake``, the bank's oracle) on every
column, conditions included. Exact W1 is costly, so at most ``MAX_SCORED`` validation rows are
scored (a seeded subset) against at most ``MAX_DRAWN`` drawn rows (``repeat`` lowered to fit); the
bank measured the rule up to 200 validation rows x 50, inside both caps.

Why: on the bank of real pairs (``benchmarks/README.md``, issue 30) the lowest held-out NLL, even
on 1,000+ held-out rows, picked a candidate within noise of the W1-best in 58% of the development
cells; this rule, replayed there on the same candidates, in 76%, beside the likelihood guard's 64%
and always finetune's 75% (it is not better than always finetune at n_t = 50).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gentransfer.data.mixed import one_hot_scaled, union_codes
from gentransfer.data.tabular import Table

__all__ = ["encode_rows", "scored_rows", "validation_w1_rows", "REPEAT", "DRAWS", "MAX_SCORED", "MAX_DRAWN"]

REPEAT = 50  # samples per validation row in one draw
DRAWS = 5  # draws per candidate (the W1 of one draw is averaged over them)
MAX_SCORED = 500  # validation rows scored, at most (a seeded subset beyond)
MAX_DRAWN = 10_000  # rows in one draw, at most (repeat is lowered to fit)


def encode_rows(table: Table, other: Table) -> tuple[np.ndarray, np.ndarray]:
    """``table`` and ``other`` (the same columns) on one numeric scale: every role both hold (x, z,
    zc) side by side, a category one-hot over both tables' categories, any other column over its sd
    among ``table``'s rows (1 where that is 0). Returns ``(len(table), width)`` and
    ``(len(other), width)`` arrays.

    Example:
        >>> a, b = encode_rows(Table(x=np.array([[0.0], [2.0]])), Table(x=np.array([[1.0]])))
        >>> a.ravel().tolist(), b.ravel().tolist()
        ([0.0, 2.0], [1.0])
    """
    mine, theirs = [], []
    for role in ("x", "z", "zc"):
        a, b = getattr(table, role), getattr(other, role)
        if a is None or b is None:
            continue
        specs = None
        if table.specs(role) is not None and other.specs(role) is not None:
            specs, a, b = union_codes(table, other, role)
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        sd = a.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        mine.append(one_hot_scaled(a, specs, sd))
        theirs.append(one_hot_scaled(b, specs, sd))
    return np.concatenate(mine, axis=1), np.concatenate(theirs, axis=1)


def scored_rows(val_rows: np.ndarray, seed: int) -> np.ndarray:
    """The validation rows the W1 is taken on: all of them, or a seeded ``MAX_SCORED`` of them."""
    val_rows = np.asarray(val_rows)
    if len(val_rows) <= MAX_SCORED:
        return val_rows
    return np.sort(np.random.default_rng(seed).choice(val_rows, MAX_SCORED, replace=False))


def validation_w1_rows(run: str | Path, data: Table, val_rows: np.ndarray, *, seed: int, repeat: int = REPEAT,
                       draws: int = DRAWS, device: str = "cpu") -> np.ndarray:
    """Each scored validation row's share of the exact W1 between those rows of ``data`` and a draw
    of the run in ``run``, averaged over ``draws`` draws (shape ``(len(scored_rows(val_rows, seed)),)``;
    its mean is the mean W1 of the draws, :func:`gentransfer.metrics.wasserstein1_rows`).

    Args:
        run: a fitted run folder (a guard candidate's).
        data: every target row (the sd of each column is taken over them).
        val_rows: indices of the validation rows in ``data`` (at most ``MAX_SCORED`` are scored).
        seed: seeds the subset and the draws (draw ``d`` uses ``seed``'s ``d``-th child seed).
        repeat: samples per validation row in one draw (lowered so a draw has at most ``MAX_DRAWN`` rows).
        draws: independent draws.
        device: where to sample (``cpu``, ``cuda``, ``auto``).
    """
    from gentransfer.metrics import wasserstein1_rows
    from gentransfer.pipeline.sample import sample_table

    rows = scored_rows(val_rows, seed)
    val = data.take(rows)
    repeat = max(1, min(repeat, MAX_DRAWN // len(rows)))
    conditional = data.z is not None or data.zc is not None
    seeds = np.random.SeedSequence(seed).generate_state(draws)
    shares = []
    for d in range(draws):
        fake = sample_table(run, repeat if conditional else repeat * len(val), val if conditional else None,
                            seed=int(seeds[d]), device=device)
        every, drawn = encode_rows(data, fake)
        shares.append(wasserstein1_rows(every[rows], drawn))
    return np.mean(shares, axis=0)
