"""Score runs: the held-out check after a fit, and ``evaluate`` on a user's held-out rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.data.tabular import Table
from gentransfer.errors import DataError
from gentransfer.metrics import mmd2_unbiased, wasserstein1
from gentransfer.pipeline.kinds import image_labels
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.scaling import Scaling

__all__ = ["heldout_check", "evaluate_run", "evaluation_cells", "evaluation_table", "compare_samples", "CHECK_ROWS",
           "NLL_ROWS", "FAR_ABOVE_FLOOR"]

CHECK_ROWS = 2000  # the held-out check scores at most this many rows (exact W1 is cubic)
NLL_ROWS = 1000  # evaluate scores the likelihood on at most this many rows (a diffusion ODE per row)
FAR_ABOVE_FLOOR = 1.5  # the held-out check says plainly when W1 is more than this times the floor


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
    take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        conditional = data.z is not None or data.zc is not None
        z, zc = scaling.conditions(take(data.z, ref), take(data.zc, ref))
        u = model.sample(z=z, zc=zc, n=None if conditional else len(ref), generator=gen).cpu().numpy()
    fake = scaling.x.inverse(u)
    sd = np.where(data.x.std(axis=0) > 0, data.x.std(axis=0), 1.0)

    def joint(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        parts = [x / sd] + [(a[rows] - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1.0)
                            for a in (data.z, data.zc) if a is not None]
        return np.concatenate(parts, axis=1)

    w1 = wasserstein1(joint(fake, ref), joint(data.x[val], val))
    floor = wasserstein1(joint(data.x[ref], ref), joint(data.x[val], val))
    lo, hi = data.x.min(axis=0), data.x.max(axis=0)
    outside = float(((fake < lo) | (fake > hi)).mean())
    return {"w1": float(w1), "floor": float(floor), "ratio": float(w1 / floor) if floor > 0 else None,
            "rows": int(len(val)), "outside_range": outside}


def evaluate_run(run: str | Path, data: Table, *, seed: int = 0, nll_rows: int = NLL_ROWS) -> dict[str, Any]:
    """Score the run in folder ``run`` on held-out rows ``data`` (x with the run's conditions).

    Returns the mean negative log-likelihood per row in the data's units with its standard error
    (flows exact; diffusion through the probability-flow ODE; a latent model by Monte Carlo over
    4,096 draws of its prior; at most ``nll_rows`` rows, a seeded subset), and sample metrics given
    the test conditions: the rows are split in halves A and B; the floors are W1 and MMD^2
    between A and B, the model's scores replace A's x by one sample per row given A's conditions
    (the same conditions, so only x differs); for a class-label model also W1 within each class,
    averaged over classes weighted by rows. Constant columns
    are not scored in the likelihood (they have no density).
    """
    model, config, scaling = RunFolder(run).read()
    columns = scaling.x
    if data.x is None:
        raise DataError(f"{data.source} has no x to score", "pass held-out rows with their x")
    data = image_labels(data, config, run)  # a PNG folder's class names as the run's class indices
    if data.x.shape[1] != columns.width:
        raise DataError(f"{data.source}: x has {data.x.shape[1]} columns but the run in {run} models {columns.width}",
                        "pass held-out rows of the same table")
    if len(data.x) < 4:
        raise DataError(f"{data.source} has {len(data.x)} rows: too few to score", "pass at least 4 held-out rows")
    model.validate(None, data.z, data.zc)  # the conditions the model needs, in the user's units
    z, zc = scaling.conditions(data.z, data.zc)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data.x), min(nll_rows, len(data.x)), replace=False))
    take = lambda a: None if a is None else a[rows]  # noqa: E731
    torch.manual_seed(seed)
    with torch.no_grad() if model.family in ("flow", "latent") else torch.enable_grad():
        log_u = model.log_prob(columns.forward(data.x[rows]), take(z), take(zc)).detach().cpu().numpy()
    nll = -(log_u + columns.log_abs_det(data.x[rows]))
    # two halves A and B of the rows: the floor is W1(x_A, x_B); the model's W1 replaces x_A by one
    # sample per row of A given A's conditions, so both compare the same conditions with B
    perm = rng.permutation(len(data.x))
    a, b = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])
    cond = lambda t: None if t is None else t[a]  # noqa: E731
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        fake = columns.inverse(model.sample(z=cond(z), zc=cond(zc), n=None if z is not None or zc is not None
                                            else len(a), generator=gen).cpu().numpy())
    result = {"run": str(run), "family": config.get("family"), "strategy": config.get("strategy", "source"),
              "rows": len(data.x), "nll": float(nll.mean()), "nll_se": float(nll.std(ddof=1) / np.sqrt(len(nll))),
              "nll_rows": len(nll), "w1": wasserstein1(fake, data.x[b]), "w1_floor": wasserstein1(data.x[a], data.x[b]),
              "mmd2": mmd2_unbiased(data.x[b], fake), "mmd2_floor": mmd2_unbiased(data.x[b], data.x[a])}
    embedding = getattr(model, "embedding", None)
    if embedding is not None and embedding.config.get("n_classes") and data.z is not None:
        la, lb = data.z[a, 0], data.z[b, 0]
        per = {int(c): wasserstein1(fake[la == c], data.x[b][lb == c])
               for c in np.unique(data.z[:, 0]) if (la == c).sum() >= 2 and (lb == c).sum() >= 2}
        labels = lb
        result["w1_per_class"] = per
        result["w1_class_mean"] = float(sum(per[c] * (labels == c).sum() for c in per) /
                                        sum((labels == c).sum() for c in per))
    return result


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


def compare_samples(real: np.ndarray, fake: np.ndarray, metric: str = "w1", *, seed: int = 0,
                    floor: bool = False, real_name: str = "real", fake_name: str = "fake") -> dict[str, Any]:
    """Compare two sample sets (rows x columns) with ``metric``: ``w1`` (exact 1-Wasserstein),
    ``sliced-w1`` (its sliced approximation) or ``mmd`` (unbiased MMD^2); with ``floor``, also the W1
    between two halves of the real rows at the fake rows' size (the real-vs-real floor)."""
    import time

    from gentransfer.errors import ConfigError, GentransferError
    from gentransfer.metrics import sliced_wasserstein1, wasserstein1_floor

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
    return result
