"""One experiment runner for every study: jobs -> rows -> results.csv -> summary.md -> plots.

A study module declares an :class:`Experiment` (its settings class, its jobs, how a job runs, the
columns of its rows and how they are summarised); :func:`run_experiment` runs or resumes it in a
run folder the same way for the simulation studies and the digits benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gentransfer.experiments.report import plot_gains, plot_sweep, summary_markdown
from gentransfer.experiments.sweep import Row, run_sweep
from gentransfer.files import atomic_write_bytes
from gentransfer.settings import check_fields

__all__ = ["Experiment", "run_experiment", "check_settings"]


def _strategy(row: Row) -> str:
    return row["strategy"]


def _every_row(study: Any, row: Row) -> bool:
    return True


@dataclass(frozen=True)
class Experiment:
    """What a study declares.

    Attributes:
        name: the study's name (``simulate conditional``, ``digits``, ...).
        settings: the study's settings dataclass (``check()``, ``to_dict()``, ``quick()``).
        build_jobs: ``study -> jobs`` (picklable dicts).
        job_rows: ``job -> key dicts`` of the rows a job writes (to skip finished jobs on resume).
        run_job: ``(job, run_dir) -> rows``; module-level, so worker processes can run it.
        columns, row_keys: the CSV's columns, and those that identify a row.
        group: the columns that make a setting in the summary (e.g. design, family).
        metrics: the error columns summarised (smaller is better; those every row has).
        arm: ``row -> arm``, what the summary compares within a setting.
        baselines: the target-only arms every other arm is compared with.
        figures, panels: one PNG per value of ``figures``, one panel row per value of ``panels``.
        selects: ``(study, row) -> bool``: the rows of this study (a folder may hold more).
        plotted: ``(study, row) -> bool``: the rows drawn against ``n_s``.
        floors: ``metric -> column`` of its real-vs-real floor, one summary column each (empty:
            the one ``W1_floor`` column).
        higher_better: the metrics that are scores, not errors (accuracies).
        gain_axis: also plot each arm's gain over the first baseline against this column (e.g. n_t).
    """

    name: str
    settings: type
    build_jobs: Callable[[Any], list[dict[str, Any]]]
    job_rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    run_job: Callable[..., list[Row]]
    columns: Sequence[str]
    row_keys: Sequence[str]
    group: Sequence[str]
    metrics: Sequence[str]
    figures: str
    panels: str
    arm: Callable[[Row], str] = _strategy
    baselines: Sequence[str] = ("scratch",)
    selects: Callable[[Any, Row], bool] = _every_row
    plotted: Callable[[Any, Row], bool] = _every_row
    floors: dict[str, str] = field(default_factory=dict)
    higher_better: Sequence[str] = ()
    gain_axis: str | None = None


def check_settings(study: Any) -> None:
    """Check a study's settings before any job starts: every field's type, and every training
    table (``*_train``, also one per family) as :class:`~gentransfer.training.TrainSettings` settings."""
    from gentransfer.training import TrainSettings

    check_fields(study, "study settings")
    for name, value in vars(study).items():
        if not name.endswith("_train") or value is None:
            continue
        per_family = all(isinstance(v, dict) for v in value.values()) and bool(value)
        tables = {f"{name}.{k}": v for k, v in value.items()} if per_family else {name: value}
        for where, table in tables.items():
            TrainSettings.from_dict(table, where)


def run_experiment(experiment: Experiment, study: Any, run: Path, *, n_jobs: int = 1, progress: bool = True,
                   backend: str = "local", scheduler: str | None = None) -> str:
    """Run (or resume) ``study`` in the run folder ``run``; returns the summary it writes.

    Rows are appended to ``results.csv`` as jobs finish, so a stopped run keeps them and the
    same call picks up where it stopped; ``summary.md`` and the plots are written at the end.
    """
    rows = run_sweep(experiment.build_jobs(study), partial(experiment.run_job, run_dir=str(run)),
                     run / "results.csv", experiment.columns, experiment.row_keys, experiment.job_rows,
                     n_jobs=n_jobs, progress=progress, backend=backend, scheduler=scheduler)
    rows = [{**r, "arm": experiment.arm(r)} for r in rows if experiment.selects(study, r)]
    metrics = [m for m in experiment.metrics if rows and all(r.get(m) not in (None, "") for r in rows)]
    summary = summary_markdown(rows, experiment.group, metrics, experiment.baselines, floors=experiment.floors,
                               higher_better=experiment.higher_better) if metrics else "(no rows)\n"
    atomic_write_bytes(run / "summary.md", summary.encode())
    plotted = [r for r in rows if experiment.plotted(study, r)] if metrics else []
    for value in sorted({str(r[experiment.figures]) for r in plotted}):
        sel = [r for r in plotted if str(r[experiment.figures]) == value]
        plot_sweep(sel, run / f"errors_vs_ns_{value}.png", value, experiment.panels, metrics,
                   floors=experiment.floors)
    for value in sorted({str(r[experiment.figures]) for r in rows}) if experiment.gain_axis and metrics else ():
        sel = [r for r in rows if str(r[experiment.figures]) == value]
        plot_gains(sel, run / f"gain_vs_{experiment.gain_axis}_{value}.png", value, experiment.gain_axis, metrics,
                   experiment.baselines[0], experiment.higher_better)
    return summary
