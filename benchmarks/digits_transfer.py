"""Summarise digits runs of the second design (issue 15), finished or stopped part-way.

Usage: python benchmarks/digits_transfer.py RUN [RUN ...] --out benchmarks/results/digits_transfer

Reads the rows of each run folder's ``results.csv`` (a stopped run keeps the rows of its finished
jobs; the same ``gentransfer digits`` command resumes it) and of the arms a stopped job had
finished (their ``target-ARM.json``), and writes into ``--out``: the rows
(``results.csv``), the summary (``summary.md``: per target size n_t and arm, FD, conditional
accuracy, W1 and KID with their floors, the paired gain over scratch in each, and the Spearman
trend over n_s where n_s was swept; ``sweep.md``: the trend over every (n_s, seed) row with its
p-value), the gain-vs-n_t plot, the error-vs-n_s plot (target sizes
with an n_s sweep), and the sample panel of every arm at the smallest n_t; each for the
conditional setting and, with the suffix ``_unconditional``, for digit 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from gentransfer.digits.grid import arm_panel
from gentransfer.digits.study import COLUMNS, EXPERIMENT, ROW_KEYS
from gentransfer.experiments.report import plot_gains, plot_sweep, summary_markdown
from gentransfer.experiments.sweep import read_rows


def sweep_table(rows: list[dict], metrics: list[str]) -> str:
    """Per swept n_t, arm and metric: the mean at each n_s (seeds in brackets) and the Spearman
    correlation of the metric with n_s over every (n_s, seed) row, with its two-sided p-value
    (the paper's claim is a negative correlation for errors, positive for accuracy)."""
    import numpy as np
    from scipy.stats import spearmanr

    lines = ["| n_t | arm | metric | mean at each n_s (seeds) | Spearman over rows | p | rows |",
             "|---|---|---|---|---|---|---|"]
    for n_t in sorted({int(r["n_t"]) for r in rows}):
        for arm in ("freeze-shared", "finetune", "lora", "source-only"):
            cell = [r for r in rows if int(r["n_t"]) == n_t and r["arm"] == arm and int(r["n_s"]) > 0]
            sizes = sorted({int(r["n_s"]) for r in cell})
            if len(sizes) < 2:
                continue
            for m in metrics:
                means = []
                for n in sizes:
                    vals = [float(r[m]) for r in cell if int(r["n_s"]) == n]
                    means.append(f"{n}: {np.mean(vals):.3f} ({len(vals)})")
                rho, pval = spearmanr([int(r["n_s"]) for r in cell], [float(r[m]) for r in cell])
                lines.append(f"| {n_t} | {arm} | {m} | {'; '.join(means)} | {rho:+.2f} | {pval:.2g} | {len(cell)} |")
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in ROW_KEYS)


def run_rows(run: Path) -> list[dict]:
    """A run folder's rows: its ``results.csv`` (the finished jobs), then the arms a stopped job had
    finished (each arm writes its row into ``models/*/target-ARM.json`` as it ends; runs from before
    the benchmark moved onto the command line's path, into ``models/*/target-ARM/metrics.json``)."""
    rows = read_rows(run / "results.csv") if (run / "results.csv").is_file() else []
    have = {_cell(r) for r in rows}
    for path in sorted([*run.glob("models/*/target-*.json"), *run.glob("models/*/target-*/metrics.json")]):
        row = {k: v for k, v in json.loads(path.read_text()).items() if k != "fit"}
        if not set(ROW_KEYS) <= set(row):  # a fit-target run's own metrics.json, not a row
            continue
        if _cell(row) not in have:
            have.add(_cell(row))
            rows.append({k: ("" if v is None else v) for k, v in row.items()})
    return rows


def unique_rows(rows: list[dict]) -> tuple[list[dict], str]:
    """The first row of each (setting, source, strategy, n_s, n_t, seed), and a line on the repeats:
    a cell run again in another folder (a timing run) must agree with the first to be read as one."""
    keep: dict[tuple, dict] = {}
    diffs = []
    for row in rows:
        key = _cell(row)
        if key not in keep:
            keep[key] = row
            continue
        diffs.append(max(abs(float(row[m]) - float(keep[key][m])) for m in ("FD", "W1", "cond_acc")
                         if row.get(m) not in (None, "")))
    note = (f"{len(diffs)} repeated cells (a later folder ran them again): the first kept; largest "
            f"difference in FD, W1 or accuracy {max(diffs):.2e}.\n\n" if diffs else "")
    return list(keep.values()), note


def summarise(rows: list[dict], setting: str, runs: list[str], repeats: str, out: Path, swept: set[int]) -> None:
    """The summary, plots and sample panel of one setting's rows (from ``runs``, the run folders of
    that setting); the files of the unconditional setting carry the suffix ``_unconditional``."""
    suffix = "" if setting == "conditional" else f"_{setting}"
    rows = [{**r, "arm": r["strategy"]} for r in rows]
    metrics = [m for m in EXPERIMENT.metrics if all(r.get(m) not in (None, "") for r in rows)]
    summary = summary_markdown(rows, EXPERIMENT.group, metrics, EXPERIMENT.baselines, floors=EXPERIMENT.floors,
                               higher_better=EXPERIMENT.higher_better)
    seeds = sorted({int(r["seed"]) for r in rows})
    errors = ", ".join(m for m in metrics if m not in EXPERIMENT.higher_better)
    higher = ", ".join(m for m in metrics if m in EXPERIMENT.higher_better)
    signs = f"scratch - arm for {errors}" + (f"; arm - scratch for {higher}" if higher else "")
    header = (f"Rows: {len(rows)} from {', '.join(runs)}; seeds {seeds}. Gains are paired by seed ({signs}): "
              "positive means the arm is better; with one seed there is no standard error.\n\n" + repeats)
    (out / f"summary{suffix}.md").write_text(header + summary)
    print(header + summary)
    fitted = [r for r in rows if r["arm"] != "source-only"]  # its gap (FD -12) would flatten the rest: see the summary
    plot_gains(fitted, out / f"gain_vs_n_t{suffix}.png", setting, "n_t", metrics, "scratch", EXPERIMENT.higher_better)
    sweep_rows = [r for r in rows if int(r["n_t"]) in swept]
    if sweep_rows:
        plot_sweep(sweep_rows, out / f"errors_vs_ns{suffix}.png", setting, "n_t", metrics, floors=EXPERIMENT.floors)
        text = sweep_table(sweep_rows, metrics)
        (out / f"sweep{suffix}.md").write_text(text)
        print(text)
    smallest = min(int(r["n_t"]) for r in rows)
    for run in runs:
        if any(Path(run, "models").glob(f"*-nt{smallest}-seed{seeds[0]}")):
            arm_panel(run, smallest, seeds[0], out / f"samples{suffix}_nt{smallest}_seed{seeds[0]}.png")
            break


def run_setting(run: str) -> str | None:
    """The setting of a run folder (its ``config.json``), or None when it has none."""
    try:
        return json.loads((Path(run) / "config.json").read_text()).get("setting")
    except (OSError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--swept", default="", help="n_t values with an n_s sweep (comma-separated)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_run = {run: run_rows(Path(run)) for run in args.runs}  # each run folder read once
    rows, _ = unique_rows([r for run in args.runs for r in per_run[run]])
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    swept = {int(v) for v in args.swept.split(",") if v}
    for setting in ("conditional", "unconditional"):
        runs = [run for run in args.runs if run_setting(run) in (setting, None)]
        kept, repeats = unique_rows([r for run in runs for r in per_run[run] if r["setting"] == setting])
        if kept:
            summarise(kept, setting, runs, repeats, out, swept)
    for run in args.runs:  # the run's settings, for the record
        if (Path(run) / "config.json").is_file():
            shutil.copy(Path(run) / "config.json", out / f"{Path(run).name}_config.json")


if __name__ == "__main__":
    main()
