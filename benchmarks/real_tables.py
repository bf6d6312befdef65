"""Real tables through the command line with default settings: MNIST -> USPS as 64-column tables.

Usage: python benchmarks/real_tables.py [--out runs/real-tables] [--families diffusion,flow]
                                      [--strategies scratch,freeze-shared,finetune,lora,auto]

The data case: the shared MNIST and USPS digits, average-pooled from 16x16 to 8x8 and flattened
into 64 columns of intensities in [0, 1] (many columns piled at 0, the corners constant in
MNIST), class labels as the shared condition z. Source: 20,000 MNIST rows (seed 0). Target: 1,000
rows of the USPS paper split's fit part (class-stratified, seed 0). Test: the 2,188 held-out USPS
rows. Every run uses the defaults (only ``--n-classes 10`` says that z is a label); each
strategy is scored by exact W1 between one sample per test row (given its label) and the test
rows, beside the floor (W1 between 2,188 USPS fit rows and the test rows), and by the share of
sampled values outside the data's range ([0, 1], and each column's range in the target rows).
Writes ``results.json`` and ``table.md`` into ``--out``. ``--keep-sources`` reuses a finished
source run already in ``--out`` (hard-link one in when only the targets' defaults changed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gentransfer.data import mnist_source, stratified_subset, usps_paper_split
from gentransfer.metrics import wasserstein1

STRATEGIES = ("scratch", "freeze-shared", "finetune", "lora", "auto")


def table(images: torch.Tensor) -> np.ndarray:
    """N x 1 x 16 x 16 images -> N x 64 rows (2x2 average pooling)."""
    return F.avg_pool2d(images, 2).reshape(len(images), -1).double().numpy()


def cli(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gentransfer.cli", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"gentransfer {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - start, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/real-tables")
    parser.add_argument("--families", default="diffusion,flow")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--keep-sources", action="store_true",
                        help="reuse a finished FAMILY-source run in --out (one the same defaults would fit again)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xs, ys = mnist_source(20000, seed=0)
    split = usps_paper_split(seed=0)
    idx = torch.from_numpy(stratified_subset(split.fit_y, 1000, seed=0))
    target_x, target_y = table(split.fit_x[idx]), split.fit_y[idx].numpy()
    test_x, test_y = table(split.heldout_x), split.heldout_y.numpy()
    np.savez(out / "source.npz", x=table(xs), z=ys.numpy()[:, None].astype(float))
    np.savez(out / "target.npz", x=target_x, z=target_y[:, None].astype(float))
    np.savez(out / "test.npz", z=test_y[:, None].astype(float))
    floor = wasserstein1(table(split.fit_x[: len(test_x)]), test_x)
    lo, hi = target_x.min(0), target_x.max(0)
    results = {"floor": floor, "rows": {"source": len(xs), "target": len(target_x), "test": len(test_x)},
               "constant_source_columns": int((table(xs).std(0) == 0).sum()), "runs": []}
    for family in args.families.split(","):
        src = out / f"{family}-source"
        if args.keep_sources and (src / "config.json").is_file():
            print(f"{family} source: reusing the finished run in {src}", flush=True)
        else:
            seconds, log = cli("fit-source", "--data", str(out / "source.npz"), "--family", family,
                               "--n-classes", "10", "--out", str(src), "--overwrite")
            results["runs"].append({"family": family, "strategy": "source", "fit_seconds": round(seconds, 1),
                                    "log": log.strip().splitlines()})
        for strategy in args.strategies.split(","):
            run = out / f"{family}-{strategy}"
            seconds, log = cli("fit-target", "--source", str(src), "--data", str(out / "target.npz"), "--strategy",
                               strategy, "--out", str(run), "--overwrite")
            cli("sample", "--model", str(run), "--n", "1", "--cond", str(out / "test.npz"), "--out",
                str(out / f"{family}-{strategy}-samples.npz"), "--overwrite")
            fake = np.load(out / f"{family}-{strategy}-samples.npz")["x"]
            w1 = wasserstein1(fake, test_x)
            metrics = json.loads((run / "metrics.json").read_text())
            row = {"family": family, "strategy": strategy, "chosen": metrics["strategy"], "W1": w1,
                   "ratio": w1 / floor, "outside_01": float(((fake < 0) | (fake > 1)).mean()),
                   "outside_target_range": float(((fake < lo) | (fake > hi)).mean()),
                   "fit_seconds": round(seconds, 1), "steps": metrics.get("steps"),
                   "heldout_check": metrics.get("heldout_check"), "log": log.strip().splitlines()}
            results["runs"].append(row)
            print(f"{family:9s} {strategy:13s} W1 {w1:.4f} ({w1 / floor:.2f}x floor {floor:.4f}) "
                  f"outside [0,1] {row['outside_01']:.2%} fit {seconds:.0f} s", flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=1))
    lines = [f"W1 to the {len(test_x):,} held-out USPS rows; floor {floor:.4f}", "",
             "| family | strategy | W1 | / floor | outside [0, 1] | outside the target's column ranges | fit s |",
             "|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        if r["strategy"] != "source":
            name = r["strategy"] + (f" (chose {r['chosen']})" if r["strategy"] == "auto" else "")
            lines.append(f"| {r['family']} | {name} | {r['W1']:.4f} | {r['ratio']:.2f} | {r['outside_01']:.2%} | "
                         f"{r['outside_target_range']:.2%} | {r['fit_seconds']:.0f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
