"""Run a simulation study into a run folder: sweep -> results.csv -> summary.md + plots."""

from __future__ import annotations

from pathlib import Path

from gentransfer.config import atomic_write_bytes
from gentransfer.simulation import conditional
from gentransfer.simulation.report import plot_sweep, summary_markdown
from gentransfer.simulation.sweep import run_sweep

__all__ = ["run_study"]


def run_study(study: conditional.ConditionalStudy, run: Path, *, n_jobs: int = 2, progress: bool = True) -> str:
    """Run (or resume) the conditional study; returns the markdown summary it also writes."""
    rows = run_sweep(conditional.build_jobs(study), conditional.run_job, run / "results.csv",
                     conditional.COLUMNS, conditional.ROW_KEYS, conditional.job_rows,
                     n_jobs=n_jobs, progress=progress)
    wanted = {(d, f) for d in study.designs for f in study.families}
    rows = [r for r in rows if (r["design"], r["family"]) in wanted]
    summary = summary_markdown(rows)
    atomic_write_bytes(run / "summary.md", summary.encode())
    for design in study.designs:
        plot_sweep(rows, run / f"errors_vs_ns_{design}.png", design)
    return summary
