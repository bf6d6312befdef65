"""Score runs: the held-out check after a fit, and ``evaluate`` on a user's held-out rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.data.mixed import MixedTransform
from gentransfer.data.tabular import Table
from gentransfer.errors import DataError
from gentransfer.metrics import mmd2_unbiased, wasserstein1
from gentransfer.pipeline.kinds import image_labels
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.scaling import Scaling

__all__ = ["heldout_check", "evaluate_run", "score_run", "evaluation_cells", "evaluation_table", "compare_samples",
           "few_rows_note", "half_splits", "split_w1", "CHECK_ROWS", "NLL_ROWS", "W1_SPLITS", "FAR_ABOVE_FLOOR",
           "FEW_CHECK_ROWS", "SCORE_NOTES"]

CHECK_ROWS = 2000  # the held-out check scores at most this many rows (exact W1 is cubic)
NLL_ROWS = 1000  # evaluate scores the likelihood on at most this many rows (a diffusion ODE per row)
W1_SPLITS = 10  # evaluate and report pair two runs' W1 over this many half-splits of the test rows
FAR_ABOVE_FLOOR = 1.5  # the held-out check says plainly when W1 is more than this times the floor
# below this many held-out rows the check's ratio cannot tell a fair model from a good one: a perfect
# model's ratio spreads ±0.10-0.16 around 1 at 20-100 rows (benchmarks/check_rows.py)
FEW_CHECK_ROWS = 100
SCORE_NOTES = (  # what each score of evaluate and the report means; lower is better for all of them
    "Lower is better for every score.",
    "NLL per row: the negative log-likelihood of each test row in nats, in the data's own units (flows "
    "exactly, diffusion through its probability-flow ODE, a latent model by Monte Carlo over its prior); "
    "the ± is its standard error over rows.",
    "W1: exact 1-Wasserstein distance between generated rows and half of the test rows; its floor is W1 "
    "between the two halves of the test rows, what a perfect model would score at this size.",
    "MMD^2: unbiased squared maximum mean discrepancy (Gaussian kernel), with the same floor; being unbiased "
    "it falls below 0 when the two sets are as close as chance allows: read a negative value as 0.",
)


def heldout_check(model: Any, scaling: Scaling, data: Table, val: np.ndarray, train: np.ndarray,
                  seed: int = 0) -> dict[str, Any] | None:
    """W1 between the model's samples and held-out rows, beside the real-vs-real floor.

    The floor is W1 between as many training rows as there are held-out rows and the held-out
    rows; the model's W1 replaces those training rows by one sample each, drawn given that row's
    conditions, so both see the same conditions and differ only in x. Scored on (x, z, z^c)
    jointly, each column divided by its standard deviation in the data. Also the share of
    generated values outside the range of the data. ``ratio`` is W1 over the floor, ``None`` when
    the floor is 0 (held-out rows that repeat training rows exactly: nothing to compare with).
    ``None`` when fewer than 2 rows are held out.
    """
    rng = np.random.default_rng(seed)
    val = val if len(val) <= CHECK_ROWS else rng.choice(val, CHECK_ROWS, replace=False)
    if len(val) < 2 or len(train) < 2:
        return None
    ref = rng.choice(train, min(len(val), len(train)), replace=False)
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        conditional = data.z is not None or data.zc is not None
        z, zc = scaling.conditions(data.take(ref))
        u = model.sample(z=z, zc=zc, n=None if conditional else len(ref), generator=gen).cpu().numpy()
    fake = scaling.x.inverse(u)
    x = scaling.codes(data, "x")
    joint = _joint_scale(scaling, data, x)
    w1 = wasserstein1(joint(fake, ref), joint(x[val], val))
    floor = wasserstein1(joint(x[ref], ref), joint(x[val], val))
    lo, hi = x.min(axis=0), x.max(axis=0)
    outside = float(((fake < lo) | (fake > hi)).mean())
    return {"w1": float(w1), "floor": float(floor), "ratio": float(w1 / floor) if floor > 0 else None,
            "rows": int(len(val)), "outside_range": outside}


def few_rows_note(rows: int) -> str | None:
    """What a held-out check on ``rows`` rows cannot say, or ``None`` when the rows are enough."""
    if rows >= FEW_CHECK_ROWS:
        return None
    return (f"{rows} held-out rows are too few to tell a good model from a fair one (a perfect model's ratio "
            f"spreads about ±0.15 around 1.0x at this size); score it on more rows with `gentransfer evaluate "
            f"--model RUN --data TEST`")


def _joint_scale(scaling: Scaling, data: Table, x: np.ndarray):
    """``joint(x_rows, rows)``: x rows with their rows' conditions as one scaled vector per row: a plain
    table's columns over their standard deviation, a typed table's encoded (integers at their cells'
    centres, categories one-hot) and standardised; the conditions as the model sees them, or
    standardised where it sees them as they are."""
    if isinstance(scaling.x, MixedTransform):
        encode = scaling.x.forward
    else:
        sd = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        encode = lambda rows: rows / sd  # noqa: E731
    z, zc = scaling.conditions(data) if isinstance(scaling.x, MixedTransform) else (data.z, data.zc)
    conditions = [(a - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1.0) for a in (z, zc) if a is not None]

    def joint(x_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.concatenate([encode(x_rows)] + [c[rows] for c in conditions], axis=1)

    return joint


def evaluate_run(run: str | Path, data: Table, *, seed: int = 0, nll_rows: int = NLL_ROWS) -> dict[str, Any]:
    """Score the run in folder ``run`` on held-out rows ``data`` (x with the run's conditions).

    Returns the mean negative log-likelihood per row in the data's units with its standard error
    (flows exact; diffusion through the probability-flow ODE; a latent model by Monte Carlo over
    4,096 draws of its prior; at most ``nll_rows`` rows, a seeded subset; constant columns have no
    density and are not scored; a typed table's integers and categories are scored at their cells'
    centres, a density of their encoding that compares runs on one table), and sample metrics given
    the test conditions: the rows are split in halves A and B; the floors are W1 and MMD^2 between A
    and B, the model's scores replace A's x by one sample per row given A's conditions (the same
    conditions, so only x differs); a typed table is compared on its encoded columns (integers at
    their cells' centres, categories one-hot, standardised). For a class-label model also W1 within
    each class, averaged over classes weighted by rows. ``strategy`` is as a user reads it
    (``"auto -> finetune"``).
    """
    return score_run(run, data, seed=seed, nll_rows=nll_rows)[0]


def score_run(run: str | Path, data: Table, *, seed: int = 0, nll_rows: int = NLL_ROWS,
              w1_splits: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`evaluate_run`'s scores and the NLL of each scored row (the same rows for every run
    scored with the same ``data`` and ``seed``: a paired comparison). ``w1_splits`` > 0 adds
    ``result["w1_splits"]``: W1 to the test rows on that many random half-splits (:func:`split_w1`;
    the first is the cut ``w1`` was scored on, so its first value is ``w1``), the same cuts for every
    run scored with the same ``data`` and ``seed``: they give the W1 comparison of two runs its
    standard error. No other score moves."""
    folder = RunFolder(run)
    model, config, scaling = folder.read()
    data, x, (z, zc) = _checked(run, data, model, config, scaling)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(x), min(nll_rows, len(x)), replace=False))
    nll = _nll(model, scaling, x, z, zc, rows, seed)
    # two halves A and B of the rows: the floor is W1(x_A, x_B); the model's W1 replaces x_A by one
    # sample per row of A given A's conditions, so both compare the same conditions with B
    a, b = _halves(rng.permutation(len(x)))
    fake = _sample_given(model, scaling, z, zc, a, torch.Generator().manual_seed(seed + 1))
    scored = scaling.x.forward if isinstance(scaling.x, MixedTransform) else (lambda v: v)
    fa, xa, xb = scored(fake), scored(x[a]), scored(x[b])
    result = {"run": str(run), "family": config.get("family"), "strategy": folder.strategy_label(),
              "refit": bool(folder.metrics().get("refit")),
              "rows": len(x), "nll": float(nll.mean()), "nll_se": float(nll.std(ddof=1) / np.sqrt(len(nll))),
              "nll_rows": len(nll), "w1": wasserstein1(fa, xb), "w1_floor": wasserstein1(xa, xb),
              "mmd2": mmd2_unbiased(xb, fa), "mmd2_floor": mmd2_unbiased(xb, xa)}
    if w1_splits > 0:  # one sample per test row: A's are the table's, B's drawn now
        every = np.empty((len(x), *fake.shape[1:]), dtype=fake.dtype)
        every[a], every[b] = fake, _sample_given(model, scaling, z, zc, b, torch.Generator().manual_seed(seed + 2))
        cuts = half_splits(len(x), seed, w1_splits, first=(a, b))
        result["w1_splits"] = [result["w1"], *split_w1(every, x, cuts[1:], scored)]  # cut 0 is scored above
    embedding = getattr(model, "embedding", None)
    if embedding is not None and embedding.config.get("n_classes") and data.z is not None:
        result.update(_per_class(data.z[a, 0], data.z[b, 0], fake, x[b], np.unique(data.z[:, 0])))
    if isinstance(scaling.x, MixedTransform):  # a typed table: column shapes, pair trends, detection
        from gentransfer.metrics.tabular import table_report

        result["table"] = table_report(x, fake, [c.kind for c in scaling.x.specs], seed=seed)
    return result, nll


def _halves(perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A permutation of rows cut into two sorted halves (the second one row longer when odd)."""
    return np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])


def _sample_given(model: Any, scaling: Scaling, z: Any, zc: Any, rows: np.ndarray,
                  gen: torch.Generator) -> np.ndarray:
    """One sample per row of ``rows`` given that row's conditions (``len(rows)`` samples of an
    unconditional model), in the data's coding."""
    cond = lambda t: None if t is None else t[rows]  # noqa: E731
    with torch.no_grad():
        u = model.sample(z=cond(z), zc=cond(zc), n=None if z is not None or zc is not None else len(rows),
                         generator=gen)
    return scaling.x.inverse(u.cpu().numpy())


def half_splits(n: int, seed: int, splits: int, *, first: tuple[np.ndarray, np.ndarray] | None = None
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` random cuts of ``n`` rows into halves (A, B); the first is ``first`` when given
    (``score_run``'s own cut, so the table's W1 is cut 0), the others seeded by ``(seed, r)``: every
    run scored on the same rows with the same seed sees the same cuts."""
    cuts = [first] if first is not None else []
    return cuts + [_halves(np.random.default_rng([seed, r]).permutation(n)) for r in range(len(cuts), splits)]


def split_w1(fake: np.ndarray, real: np.ndarray, cuts: list[tuple[np.ndarray, np.ndarray]],
             scored=lambda v: v) -> list[float]:
    """W1 of a model to the test rows on each cut (A, B) of :func:`half_splits`: ``fake`` (n, d) holds
    one sample per test row of ``real`` (n, d), drawn given that row's conditions; cut (A, B) scores
    ``fake[A]`` against ``real[B]``, both through ``scored`` (a typed table's encoding).

    Two runs' lists pair cut by cut, and the spread of their difference over the cuts is the standard
    error of its mean (half-sampling: a half-sample estimate varies around the whole sample's as the
    whole sample's estimate varies around the truth; rows and the model's draws both vary). On
    Gaussian laws it came to 0.85-0.90 times the gain's true spread when the two models draw from one
    random stream and 1.04-1.17 times with independent draws (benchmarks/results/w1_halfsplit.md).
    With 10 cuts the se has 9 degrees of freedom, so the verdict's W1 bar is t's 97.5% point on 9,
    2.26: it called 2.4-7.3% of null comparisons there."""
    return [wasserstein1(scored(fake[a]), scored(real[b])) for a, b in cuts]


def _checked(run: str | Path, data: Table, model: Any, config: dict[str, Any],
             scaling: Scaling) -> tuple[Table, np.ndarray, tuple[np.ndarray | None, np.ndarray | None]]:
    """Held-out rows checked against the run: x in the run's coding, z and zc on the model's scale."""
    if data.x is None:
        raise DataError(f"{data.source} has no x to score", "pass held-out rows with their x")
    data = image_labels(data, config, run)  # a PNG folder's class names as the run's class indices
    if data.x.shape[1] != scaling.x.width:
        raise DataError(f"{data.source}: x has {data.x.shape[1]} columns but the run in {run} models "
                        f"{scaling.x.width}", "pass held-out rows of the same table")
    if len(data.x) < 4:
        raise DataError(f"{data.source} has {len(data.x)} rows: too few to score", "pass at least 4 held-out rows")
    return data, scaling.codes(data, "x"), scaling.checked_conditions(model, data)


def _nll(model: Any, scaling: Scaling, x: np.ndarray, z: Any, zc: Any, rows: np.ndarray, seed: int) -> np.ndarray:
    """Negative log-likelihood per row of ``rows`` in the data's units."""
    take = lambda a: None if a is None else a[rows]  # noqa: E731
    torch.manual_seed(seed)
    with torch.no_grad() if model.family in ("flow", "latent") else torch.enable_grad():
        log_u = model.log_prob(scaling.x.forward(x[rows]), take(z), take(zc)).detach().cpu().numpy()
    return -(log_u + scaling.x.log_abs_det(x[rows]))


def _per_class(la: np.ndarray, lb: np.ndarray, fake: np.ndarray, real: np.ndarray,
               classes: np.ndarray) -> dict[str, Any]:
    """W1 within each class (at least 2 rows in both halves), and its mean weighted by rows."""
    per = {int(c): wasserstein1(fake[la == c], real[lb == c])
           for c in classes if (la == c).sum() >= 2 and (lb == c).sum() >= 2}
    weight = {c: (lb == c).sum() for c in per}
    return {"w1_per_class": per, "w1_class_mean": float(sum(per[c] * weight[c] for c in per) / sum(weight.values()))}


def evaluation_cells(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Runs side by side: the header and one row of formatted cells per run."""
    per_class = any("w1_class_mean" in r for r in results)
    head = ["run", "family", "strategy", "NLL per row (± se)", "W1", "W1 floor", "MMD^2", "MMD^2 floor"] + (
        ["W1 within class"] if per_class else [])
    rows = []
    for r in results:
        cells = [r["run"], str(r["family"]), str(r["strategy"]), f"{r['nll']:.3f} ± {r['nll_se']:.3f}",
                 f"{r['w1']:.4f}", f"{r['w1_floor']:.4f}", f"{r['mmd2']:.5f}", f"{r['mmd2_floor']:.5f}"]
        cells += [f"{r['w1_class_mean']:.4f}" if "w1_class_mean" in r else "—"] if per_class else []
        rows.append(cells)
    return head, rows


def evaluation_table(results: list[dict[str, Any]]) -> str:
    """Runs side by side: one markdown row per run."""
    head, rows = evaluation_cells(results)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows]) + "\n"


def compare_samples(real: np.ndarray | Table, fake: np.ndarray | Table, metric: str = "w1", *, seed: int = 0,
                    floor: bool = False, real_name: str = "real", fake_name: str = "fake") -> dict[str, Any]:
    """Compare two sample sets (rows x columns, or tables) with ``metric``: ``w1`` (exact
    1-Wasserstein), ``sliced-w1`` (its sliced approximation) or ``mmd`` (unbiased MMD^2); with
    ``floor``, also the W1 between two halves of the real rows at the fake rows' size (the
    real-vs-real floor). Two typed tables (CSV files) are matched column by column and category by
    name, compared on their encoded columns (categories one-hot, numbers over the real rows'
    standard deviation), and scored by column shapes, pair trends and detection too (``table``)."""
    import time

    from gentransfer.errors import ConfigError, GentransferError
    from gentransfer.metrics import sliced_wasserstein1, wasserstein1_floor

    table = None
    if isinstance(real, Table) or isinstance(fake, Table):
        real, fake, table = _typed_pair(_as_table(real, real_name), _as_table(fake, fake_name), seed)
    if real.shape[1] != fake.shape[1]:
        raise GentransferError(f"{real_name} has x of width {real.shape[1]} but {fake_name} has width {fake.shape[1]}",
                               "compare samples of the same variable")
    metrics = {"w1": wasserstein1, "sliced-w1": lambda a, b: sliced_wasserstein1(a, b, seed=seed),
               "mmd": mmd2_unbiased}
    if metric not in metrics:
        raise GentransferError(f"unknown metric {metric!r}", "use w1, sliced-w1 or mmd")
    start = time.perf_counter()
    value = metrics[metric](real, fake)
    result = {"metric": metric, "value": value, "n_real": len(real), "n_fake": len(fake),
              "seconds": round(time.perf_counter() - start, 3)}
    if floor:
        if len(real) < 2:
            raise ConfigError(f"--floor splits the real rows in two, but {real_name} has {len(real)}",
                              "pass at least 2 real rows, or drop --floor")
        n = min(len(fake), len(real) // 2)
        result["floor_w1"] = wasserstein1_floor(real, n, seed=seed)
        result["floor_n"] = n
    if table is not None:
        result["table"] = table
    return result


def _as_table(a: np.ndarray | Table, name: str) -> Table:
    return a if isinstance(a, Table) else Table(x=np.asarray(a, dtype=np.float64), source=name)


def _typed_pair(real: Table, fake: Table, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """Two tables' x on one encoding: untyped ones as they are; typed ones matched by column name,
    each category coded by its name over both files, then one-hot (with the table report)."""
    from gentransfer.data.mixed import one_hot_scaled, union_codes
    from gentransfer.metrics.tabular import table_report

    if not (real.typed("x") or fake.typed("x")):
        return real.x, fake.x, None
    specs, a, b = union_codes(real, fake)
    report = table_report(a, b, [c.kind for c in specs], seed=seed)
    sd = np.where(a.std(axis=0) > 0, a.std(axis=0), 1.0)
    return one_hot_scaled(a, specs, sd), one_hot_scaled(b, specs, sd), report
