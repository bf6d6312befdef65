"""Did the weight average's warm-up move a recorded result? Paired comparison of a re-run with its record.

    gentransfer simulate conditional --designs default --families diffusion --n-source 20000 --jobs 1 \
        --out runs/cond-ema
    python benchmarks/ema_check.py runs/cond-ema/results.csv benchmarks/results/conditional/results.csv

Prints, per strategy and metric, the mean of the record and of the re-run over the seeds both
have, their paired difference (re-run - record) with its standard error, and the steps each fit
ran (early stopping's end), and the share of the first 10 trained iterates left in the average at
a few step counts under each form of the decay.
"""

from __future__ import annotations

import csv
import sys

import numpy as np

KEYS = ("design", "family", "strategy", "n_s", "seed")


def early_share(decay_at, steps: int, first: int = 10) -> float:
    """The weight of iterates 1..``first`` in the average after ``steps`` updates."""
    weights = np.zeros(steps + 1)
    for t in range(1, steps + 1):
        d = decay_at(t)
        weights *= d
        weights[t] += 1 - d
    return float(weights[1 : first + 1].sum())


def main() -> None:
    new_path, old_path = sys.argv[1], sys.argv[2]
    new = {tuple(r[k] for k in KEYS): r for r in csv.DictReader(open(new_path))}
    old = {tuple(r[k] for k in KEYS): r for r in csv.DictReader(open(old_path)) if tuple(r[k] for k in KEYS) in new}
    print("| strategy | n_s | metric | seeds | record | re-run | re-run - record (± se) | steps record / re-run |")
    print("|---|---|---|---|---|---|---|---|")
    for strategy, n_s in sorted({(k[2], k[3]) for k in old}):
        cells = sorted(k for k in old if (k[2], k[3]) == (strategy, n_s))
        for metric in ("KL", "TV", "W1"):
            a = np.array([float(old[k][metric]) for k in cells])
            b = np.array([float(new[k][metric]) for k in cells])
            d = b - a
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            ran = [np.mean([int(rows[k]["steps"]) for k in cells]) for rows in (old, new)]
            steps = f"{ran[0]:.0f} / {ran[1]:.0f}"
            print(f"| {strategy} | {n_s} | {metric} | {len(d)} | {a.mean():.4f} | {b.mean():.4f} | "
                  f"{d.mean():+.4f} ± {se:.4f} | {steps} |")
    d = 0.995
    forms = {"constant from step 0 (the old code; its start's share is d^t)": lambda t: d,
             "diffusers warm-up min(d, t / (9 + t))": lambda t: min(d, t / (9 + t)) if t > 1 else 0.0,
             "debiased d (1 - d^(t-1)) / (1 - d^t)": lambda t: d * (1 - d ** (t - 1)) / (1 - d**t) if t > 1 else 0.0}
    print("\nshare of the first 10 trained iterates in the average (d = 0.995):")
    for name, form in forms.items():
        print(f"  {name}: " + ", ".join(f"{t} steps {early_share(form, t):.2g}" for t in (50, 100, 400, 1000)))


if __name__ == "__main__":
    main()
