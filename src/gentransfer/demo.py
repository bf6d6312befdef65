"""The built-in default job (``gentransfer demo``, ``make demo``): the data, one conditional transfer
against scratch, and the same job as a user runs it, ending in one sentence that says whether the
source helped and where the report is."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["run_demo", "verdict"]

TRANSFERS = ("freeze-shared", "finetune")


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

    began = time.perf_counter()
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
    kls, log_q = {}, {}
    for strategy in ("scratch", *TRANSFERS):
        target = transfer(source, strategy, x_dim=2, zc_dim=1)
        fit(target, x_t, z_t, zc_t, seed=seed)
        log_q[strategy] = target.log_prob(x_new, z_new, zc_new).detach()
        kls[strategy] = kl = kl_monte_carlo(true_lp, log_q[strategy])
        log(f"  {strategy:14s} KL(P_t || P_hat) = {kl.value:.3f} ± {kl.se:.3f}")
    best = min(TRANSFERS, key=lambda s: kls[s].value)
    # KL(scratch) - KL(best) = E_P[log q_best - log q_scratch], paired on the same rows
    gains = {s: kl_monte_carlo(log_q[s], log_q["scratch"]) for s in TRANSFERS}

    # the same job as a user runs it: run folders, the guard, and a report to open
    out = Path(out)
    x_s, z_s, zc_s = design.sample_source(5000, np.random.default_rng(seed + 1))
    train = {"seed": seed, "steps": 2000}
    fit_source(Table(x=x_s, z=z_s, zc=zc_s, source="demo source"), "flow", out / "source", model={"hidden": 32},
               train=train, overwrite=True, log=log)
    fit_target(out / "source", Table(x=x_t, z=z_t, zc=zc_t, source="demo target"), "auto", out / "target",
               train=train, overwrite=True, log=log)
    test = Table(x=x_new, z=z_new, zc=zc_new, source="2,000 new target rows")
    sentence = verdict(best, kls[best], kls["scratch"], gains[best], len(x_new), out / "report.html")
    head, rows = _kl_table(kls, gains)
    preface = {"title": "Against the true target law (the library's fits)", "text": sentence.split("; report:")[0]
               + f". {_about(len(x_t), len(x_new))}", "head": head, "rows": rows}
    report = write_report([out / "source", out / "target"], out / "report.html", test, seed=seed, preface=preface)
    results = _write_results(out / "demo_results.md", head, rows, sentence, len(x_t), len(x_new),
                             out / "target" / "transfer_report.json", time.perf_counter() - began)
    log(f"the KL table: {results}")
    log(sentence)
    return report


def _number(v: float) -> str:
    return f"{v:.2f}" if abs(v) < float("inf") else "infinite"


def verdict(best: str, kl_best, kl_scratch, gain, n_rows: int, report: str | Path) -> str:
    """One sentence: did the source help? ``kl_best`` and ``kl_scratch`` are the Monte Carlo KLs
    (:class:`~gentransfer.metrics.divergence.Estimate`) of the best transfer strategy and of scratch
    to the true target law; ``gain`` is their paired difference (scratch minus best) on the same
    ``n_rows`` rows. Helped means a gain of more than two standard errors, did not help a gain of
    zero or less, anything between is said to be not clear (an infinite KL: the lower one helped)."""
    kb, ks = kl_best.value, kl_scratch.value
    finite = abs(kb) < float("inf") and abs(ks) < float("inf")
    if (gain.value > 2 * gain.se) if finite else kb < ks:
        head = "The source helped"
    elif gain.value <= 0 or not finite:
        head = "The source did not help"
    else:
        head = "The source did not clearly help"
    if finite and kb > 0 and ks > 0:
        ratio = ks / kb
        how = f"{ratio:.1f}x lower" if ratio >= 1 else f"{1 / ratio:.1f}x higher"
        if gain.se > 0 and abs(gain.value) < float("inf"):
            how += f", {abs(gain.value) / gain.se:.1f} standard errors"
        how = f" ({how})"
    else:
        how = ""
    return (f"{head}: {best}'s KL to the true target is {_number(kb)} against {_number(ks)} for scratch{how} "
            f"on {n_rows:,} test rows; report: {report}")


def _about(n_target: int, n_rows: int) -> str:
    return (f"Default simulation design, flow, n_s = 5,000 source rows, n_t = {n_target} target rows; "
            f"KL(P_t || P_hat) by Monte Carlo on {n_rows:,} new target rows (true log-density known); "
            "the gain is KL(scratch) - KL(strategy), paired on the same rows.")


def _kl_table(kls: dict, gains: dict) -> tuple[list[str], list[list[str]]]:
    """Each strategy's KL to the true target law, its se, and its paired gain over scratch."""
    rows = []
    for name, kl in kls.items():
        g = gains.get(name)
        if g is None:
            cells = ["—", "—"]
        else:
            cells = [f"{g.value:+.3f}", f"{g.value / g.se:+.1f}" if 0 < g.se < float("inf") else "—"]
        rows.append([name, f"{kl.value:.3f}", f"{kl.se:.3f}", *cells])
    return ["strategy", "KL", "se", "gain over scratch", "gain / se"], rows


def _write_results(path: Path, head: list[str], rows: list[list[str]], sentence: str, n_target: int, n_rows: int,
                   guard: Path, seconds: float) -> Path:
    """The demo's own numbers beside its report (the library fits against scratch, scored against
    the true target law; the report shows them too)."""
    import json

    from gentransfer.files import atomic_write_bytes

    lines = ["# gentransfer demo: did the source help?", "", sentence, "", _about(n_target, n_rows), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if guard.is_file():
        chosen = json.loads(guard.read_text()).get("chosen")
        lines += ["", f"The same job from the command line (`fit-target --strategy auto`, run folder `target`): "
                  f"the guard kept `{chosen}` (its table: `target/transfer_report.json` and the report)."]
    lines += ["", f"Demo time: {seconds:.0f} s."]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path
