"""Run a simulation study into a run folder: sweep -> results.csv -> summary.md + plots."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from gentransfer.config import atomic_write_bytes
from gentransfer.simulation import conditional, unconditional
from gentransfer.simulation.report import plot_sweep, summary_markdown, unconditional_markdown
from gentransfer.simulation.sweep import run_sweep

__all__ = ["run_study"]


def run_study(study: Any, run: Path, *, n_jobs: int = 2, progress: bool = True, backend: str = "local",
              scheduler: str | None = None) -> str:
    """Run (or resume) a conditional or unconditional study; returns the markdown summary it writes."""
    kind: ModuleType = conditional if isinstance(study, conditional.ConditionalStudy) else unconditional
    rows = run_sweep(kind.build_jobs(study), kind.run_job, run / "results.csv", kind.COLUMNS, kind.ROW_KEYS,
                     kind.job_rows, n_jobs=n_jobs, progress=progress, backend=backend, scheduler=scheduler)
    wanted = {(d, f) for d in study.designs for f in study.families}
    rows = [r for r in rows if (r["design"], r["family"]) in wanted]
    if kind is conditional:
        summary = summary_markdown(rows)
        for design in study.designs:
            plot_sweep(rows, run / f"errors_vs_ns_{design}.png", design)
    else:
        summary = unconditional_markdown(rows, study.d)
        main = [_as_series(r) for r in rows if int(r["d"]) == study.d]
        for design in study.designs:
            plot_sweep(main, run / f"w1_vs_ns_{design}.png", design, metrics=("W1",))
    atomic_write_bytes(run / "summary.md", summary.encode())
    return summary


def _as_series(row: dict[str, Any]) -> dict[str, Any]:
    """Fold the route into the strategy name so the generic report draws one line per route."""
    return {**row, "strategy": row["strategy"] if row["model"] == "latent" else f"plain-{row['strategy']}"}
