"""The guard's W1 on its validation rows (``fit-target --strategy auto --guard-by w1``).

Each candidate draws ``repeat`` samples per validation row (given that row's conditions on a
conditional table), ``draws`` times, and is scored by the exact W1 between its draws and the
validation rows, every column encoded as ``evaluate`` encodes a table (categories one-hot, numbers
over their sd) with the sd taken over all the target's rows, which the guard may see. The guard then
keeps the candidate with the lowest W1 (``rule="lowest"``): it chooses in the distance that the
held-out rows will be scored in, not by likelihood.

Why: on the bank of real pairs (``benchmarks/README.md``, issue 30) the lowest held-out NLL, even
on 1,000+ held-out rows, picked a candidate within noise of the W1-best in 58% of the development
cells, and this rule, replayed there on the same candidates, in 76% (the likelihood guard: 64%).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gentransfer.data.mixed import union_codes
from gentransfer.data.tabular import Table

__all__ = ["encode_rows", "validation_w1_rows", "REPEAT", "DRAWS"]

REPEAT = 50  # samples per validation row in one draw
DRAWS = 5  # draws per candidate (the W1 of one draw is averaged over them)


def _one_hot_scaled(codes: np.ndarray, specs, sd: np.ndarray) -> np.ndarray:
    """Columns of ``codes`` (rows x columns): a categorical one (``specs``) one-hot over its
    categories, any other divided by its ``sd``."""
    return np.concatenate([np.eye(len(specs[j].categories))[codes[:, j].astype(int)]
                           if specs is not None and specs[j].discrete else codes[:, j:j + 1] / sd[j]
                           for j in range(codes.shape[1])], axis=1)


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
        mine.append(_one_hot_scaled(a, specs, sd))
        theirs.append(_one_hot_scaled(b, specs, sd))
    return np.concatenate(mine, axis=1), np.concatenate(theirs, axis=1)


def validation_w1_rows(run: str | Path, data: Table, val_rows: np.ndarray, *, seed: int, repeat: int = REPEAT,
                       draws: int = DRAWS) -> np.ndarray:
    """Each validation row's share of the exact W1 between the rows ``val_rows`` of ``data`` and a
    draw of the run in ``run``, averaged over ``draws`` draws (shape ``(len(val_rows),)``; its mean is
    the mean W1 of the draws, :func:`gentransfer.metrics.wasserstein1_rows`).

    Args:
        run: a fitted run folder (a guard candidate's).
        data: every target row (the sd of each column is taken over them).
        val_rows: indices of the validation rows in ``data``.
        seed: seeds the draws (draw ``d`` uses ``seed``'s ``d``-th child seed).
        repeat: samples per validation row in one draw.
        draws: independent draws.
    """
    from gentransfer.metrics import wasserstein1_rows
    from gentransfer.pipeline.sample import sample_table

    val = data.take(val_rows)
    conditional = data.z is not None or data.zc is not None
    seeds = np.random.SeedSequence(seed).generate_state(draws)
    shares = []
    for d in range(draws):
        fake = sample_table(run, repeat if conditional else repeat * len(val), val if conditional else None,
                            seed=int(seeds[d]))
        every, drawn = encode_rows(data, fake)
        shares.append(wasserstein1_rows(every[val_rows], drawn))
    return np.mean(shares, axis=0)
