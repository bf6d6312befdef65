"""The built-in default job (``gentransfer demo``, ``make demo``): the data, one conditional transfer
against scratch, and the same job as a user runs it, ending in a report to open."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: str | Path = "demo-runs", *, seed: int = 0, root: str | None = None, log=print) -> Path:
    """Check the digit data, fit the default simulation design's source and three targets, then run
    fit-source / fit-target (auto) / report into ``out``; returns the report's path."""
    import numpy as np
    import torch

    from gentransfer import CouplingFlow, fit, transfer
    from gentransfer.data import Table, mnist_source, usps_paper_split
    from gentransfer.metrics import kl_monte_carlo, wasserstein1
    from gentransfer.pipeline import fit_source, fit_target, write_report
    from gentransfer.simulation import get_design

    split = usps_paper_split(seed=seed, root=root)
    n = len(split.heldout_x)
    log(f"USPS paper split (seed {seed}): {len(split.fit_x)} fit / {n} held-out")
    start = time.perf_counter()
    floor = wasserstein1(split.fit_x[:n], split.heldout_x)
    log(f"W1 real vs real (fit[:{n}] vs held-out): {floor:.3f}  ({time.perf_counter() - start:.1f} s)")
    xs, _ = mnist_source(n, seed=seed, root=root)
    log(f"W1 MNIST 16x16 vs held-out USPS:        {wasserstein1(xs, split.heldout_x):.3f}")

    log("conditional transfer on the default simulation design (flow, n_s = 5000, n_t = 300):")
    design = get_design("default")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    source = CouplingFlow(x_dim=3, z_dim=10, zc_dim=2, hidden=32)
    fit(source, *design.sample_source(5000, rng), seed=seed)
    x_t, z_t, zc_t = design.sample_target(300, rng)
    x_new, z_new, zc_new = design.sample_target(2000, rng)
    true_lp = design.target_log_prob(x_new, z_new, zc_new)
    for strategy in ("scratch", "freeze-shared", "finetune"):
        target = transfer(source, strategy, x_dim=2, zc_dim=1)
        fit(target, x_t, z_t, zc_t, seed=seed)
        kl = kl_monte_carlo(true_lp, target.log_prob(x_new, z_new, zc_new).detach())
        log(f"  {strategy:14s} KL(P_t || P_hat) = {kl.value:.3f} ± {kl.se:.3f}")

    # the same job as a user runs it: run folders, the guard, and a report to open
    out = Path(out)
    x_s, z_s, zc_s = design.sample_source(5000, np.random.default_rng(seed + 1))
    train = {"seed": seed, "steps": 2000}
    fit_source(Table(x=x_s, z=z_s, zc=zc_s, source="demo source"), "flow", out / "source", model={"hidden": 32},
               train=train, overwrite=True, log=log)
    fit_target(out / "source", Table(x=x_t, z=z_t, zc=zc_t, source="demo target"), "auto", out / "target",
               train=train, overwrite=True, log=log)
    test = Table(x=x_new, z=z_new, zc=zc_new, source="2,000 new target rows")
    report = write_report([out / "source", out / "target"], out / "report.html", test, seed=seed)
    log(f"report: {report}")
    return report
