"""Does refitting auto's choice on every target row pay? (issue 29)

``fit-target --strategy auto`` keeps a candidate that saw 64% of the target rows (the guard holds
out 20%, early stopping a fifth of the rest). ``--refit`` fits the chosen strategy again on every
row for as many passes over the data as the candidate's kept step. Protocol, fixed before the run:
both conditional simulation designs (default, misspecified), 2,000 source rows, 200 target rows,
flows, the command line's defaults (sized from the data), seeds 0-4; arms: the guard's candidate
(auto without refit), the refit, and scratch fitted on all 200 rows (``--strategy scratch``); each
scored by ``gentransfer evaluate`` on 1,000 fresh target rows (NLL per row, nats). Paired over
seeds; with 5 seeds a mean difference over its se is a t statistic on 4 degrees of freedom.

    python benchmarks/auto_refit.py --out runs/auto-refit --results benchmarks/results/auto_refit
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np

from gentransfer.cli import main as gentransfer
from gentransfer.simulation import get_design


def cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = gentransfer(list(args))
    if code:
        raise SystemExit(f"gentransfer {' '.join(args)} failed ({code})")
    return out.getvalue()


def one(root: Path, design: str, seed: int) -> dict:
    d = root / f"{design}-seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1000 + seed)
    spec = get_design(design)
    for name, n, sampler in (("source", 2000, spec.sample_source), ("target", 200, spec.sample_target),
                             ("test", 1000, spec.sample_target)):
        x, z, zc = sampler(n, rng)
        np.savez(d / f"{name}.npz", x=x, z=z, zc=zc)
    s = str(seed)
    cli("fit-source", "--data", str(d / "source.npz"), "--family", "flow", "--out", str(d / "src"), "--seed", s,
        "--overwrite")
    cli("fit-target", "--source", str(d / "src"), "--data", str(d / "target.npz"), "--strategy", "auto", "--refit",
        "--out", str(d / "auto"), "--seed", s, "--overwrite")
    cli("fit-target", "--source", str(d / "src"), "--data", str(d / "target.npz"), "--strategy", "scratch",
        "--out", str(d / "scratch"), "--seed", s, "--overwrite")
    metrics = json.loads((d / "auto" / "metrics.json").read_text())
    chosen = metrics["strategy"]
    runs = {"auto (candidate)": d / "auto" / "candidates" / chosen, "auto --refit": d / "auto",
            "scratch, all rows": d / "scratch"}
    scores = {}
    for arm, run in runs.items():
        cli("evaluate", "--model", str(run), "--data", str(d / "test.npz"), "--out", str(d / "scores.json"),
            "--overwrite")
        result = next(r for r in json.loads((d / "scores.json").read_text())["runs"] if r["run"] == str(run))
        scores[arm] = {"nll": result["nll"], "nll_se": result["nll_se"], "w1": result["w1"]}
    return {"design": design, "seed": seed, "chosen": chosen, "refit": metrics.get("refit"), "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/auto-refit")
    parser.add_argument("--results", default="benchmarks/results/auto_refit")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    root, results = Path(args.out), Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    rows_file = results / "rows.jsonl"
    done = {(r["design"], r["seed"]) for r in map(json.loads, rows_file.read_text().splitlines())} \
        if rows_file.exists() else set()
    for design in ("default", "misspecified"):
        for seed in map(int, args.seeds.split(",")):
            if (design, seed) in done:
                continue
            row = one(root, design, seed)
            with rows_file.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    lines = ["| design | arm | NLL per row (mean over seeds) | refit minus arm: mean ± se (t, 4 df) |",
             "|---|---|---|---|"]
    for design in ("default", "misspecified"):
        mine = [r for r in rows if r["design"] == design]
        for arm in ("auto (candidate)", "auto --refit", "scratch, all rows"):
            nll = np.array([r["scores"][arm]["nll"] for r in mine])
            diff = np.array([r["scores"]["auto --refit"]["nll"] for r in mine]) - nll
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            vs = "—" if arm == "auto --refit" else f"{diff.mean():+.3f} ± {se:.3f} (t = {diff.mean() / se:.1f})"
            lines.append(f"| {design} | {arm} | {nll.mean():.3f} | {vs} |")
        lines.append(f"| {design} | chosen | {', '.join(r['chosen'] for r in mine)} | |")
    (results / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
