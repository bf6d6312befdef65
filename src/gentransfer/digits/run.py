"""Run the digits benchmark into a run folder: sweep -> results.csv -> summary.md + plot."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gentransfer.config import atomic_write_bytes
from gentransfer.digits import study as digits
from gentransfer.simulation.report import aggregate, gain_over_scratch, plot_sweep, trend
from gentransfer.simulation.sweep import run_sweep

__all__ = ["run_digits", "digits_markdown"]


def _as_series(row: dict[str, Any]) -> dict[str, Any]:
    """Map digit rows onto the generic report's keys (design = setting, family = source)."""
    return {**row, "design": row["setting"], "family": row["source"]}


def digits_markdown(rows: list[dict[str, Any]]) -> str:
    series = [_as_series(r) for r in rows]
    agg = aggregate(series, "W1")
    lines = ["| setting | source | strategy | n_s | W1 (mean ± se) | seeds | floor | gain over scratch (/se) |",
             "|---|---|---|---|---|---|---|---|"]
    for key in sorted(agg, key=lambda k: (k[0], k[1], k[2], k[3])):
        design, family, strategy, n_s = key
        mean, se, n = agg[key]
        floor = np.mean([float(r["W1_floor"]) for r in series if (r["design"], r["family"]) == (design, family)])
        gain = "—"
        if strategy != "scratch":
            g, gse, _ = gain_over_scratch(series, "W1", design, family, strategy, n_s)
            gain = f"{g:+.3f} ({g / gse:+.1f})" if np.isfinite(gse) and gse > 0 else "n/a"
        se_text = f"{se:.3f}" if np.isfinite(se) else "—"
        lines.append(f"| {design} | {family} | {strategy} | {n_s} | {mean:.3f} ± {se_text} | {n} "
                     f"| {floor:.3f} | {gain} |")
    for design, family in sorted({(r["design"], r["family"]) for r in series}):
        for strategy in sorted({r["strategy"] for r in series if r["strategy"] != "scratch"}):
            rho = trend(series, "W1", design, family, strategy)
            if np.isfinite(rho):
                lines.append(f"\nSpearman(mean W1, n_s), {design} / {family} / {strategy}: {rho:+.2f}")
    per_class = [r for r in series if r.get("W1_digit0") not in (None, "")]
    if per_class:
        largest = max(int(r["n_s"]) for r in per_class)
        lines += ["", f"Per-digit W1 (mean over seeds; transfer strategies at n_s = {largest}, scratch at 0):", "",
                  "| strategy | " + " | ".join(str(d) for d in range(10)) + " |", "|---|" + "---|" * 10]
        for strategy in sorted({r["strategy"] for r in per_class}):
            sel = [r for r in per_class if r["strategy"] == strategy and int(r["n_s"]) in (0, largest)]
            if sel:
                cells = [f"{np.mean([float(r[f'W1_digit{d}']) for r in sel]):.2f}" for d in range(10)]
                lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_digits(study: digits.DigitsStudy, run: Path, *, n_jobs: int = 1, progress: bool = True,
               backend: str = "local", scheduler: str | None = None) -> str:
    """Run (or resume) the digits sweep; returns the markdown summary it also writes."""
    rows = run_sweep(digits.build_jobs(study), partial(digits.run_job, run_dir=str(run)), run / "results.csv",
                     digits.COLUMNS, digits.ROW_KEYS, digits.job_rows, n_jobs=n_jobs, progress=progress,
                     backend=backend, scheduler=scheduler)
    rows = [r for r in rows if r["setting"] == study.setting]
    summary = digits_markdown(rows)
    atomic_write_bytes(run / "summary.md", summary.encode())
    if rows:
        plot_sweep([_as_series(r) for r in rows], run / f"w1_vs_ns_{study.setting}.png", study.setting,
                   metrics=("W1",))
    return summary
