"""Exact W1 at equal sizes: POT's network simplex (``ot.emd2``) against scipy's assignment solver.

Usage: python benchmarks/w1_solver.py [--repeats 5] [--cases 2188x256,5000x64,1000x8] [--seed 0]

For each case, n x d random points on each side (independent normal draws, each column
standardised to mean 0 and sd 1 over both sets together), one Euclidean cost matrix (scipy's
cdist, as ``gentransfer.metrics.wasserstein1`` builds it) and both exact solvers on it, in the
same process: each repeat runs the two back to back, the first of the pair alternating from repeat
to repeat, and the ratio POT / assignment is taken pair by pair. Prints each case's median seconds,
the median of the paired ratios (with their min and max) and the largest absolute difference
between the two values over all repeats. Only the solvers are timed (the cost matrix is shared).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import ot
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


def pot_w1(cost: np.ndarray) -> float:
    n, m = cost.shape
    return float(ot.emd2(np.full(n, 1.0 / n), np.full(m, 1.0 / m), cost, numItermax=100_000_000))


def lsap_w1(cost: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum() / len(rows))


def points(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    both = rng.normal(size=(2 * n, d))
    both = (both - both.mean(axis=0)) / both.std(axis=0)
    return both[:n], both[n:]


def run_case(n: int, d: int, repeats: int, seed: int) -> dict:
    x, y = points(n, d, seed)
    cost = cdist(x, y, metric="euclidean")
    solvers = {"pot": pot_w1, "lsap": lsap_w1}
    seconds: dict[str, list[float]] = {"pot": [], "lsap": []}
    values: dict[str, list[float]] = {"pot": [], "lsap": []}
    for r in range(repeats):
        order = ("pot", "lsap") if r % 2 == 0 else ("lsap", "pot")
        for name in order:
            start = time.perf_counter()
            values[name].append(solvers[name](cost))
            seconds[name].append(time.perf_counter() - start)
    ratios = np.array(seconds["pot"]) / np.array(seconds["lsap"])
    diff = float(np.max(np.abs(np.array(values["pot"]) - np.array(values["lsap"]))))
    return {"n": n, "dim": d, "repeats": repeats, "w1": values["pot"][0],
            "seconds_pot_median": round(float(np.median(seconds["pot"])), 4),
            "seconds_lsap_median": round(float(np.median(seconds["lsap"])), 4),
            "pot_over_lsap_median": round(float(np.median(ratios)), 3),
            "pot_over_lsap_min": round(float(ratios.min()), 3), "pot_over_lsap_max": round(float(ratios.max()), 3),
            "max_abs_diff": diff, "max_rel_diff": diff / values["pot"][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="2188x256,5000x64,1000x8", help="comma-separated NxD")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    results = []
    for i, case in enumerate(args.cases.split(",")):
        n, d = (int(v) for v in case.lower().split("x"))
        result = run_case(n, d, args.repeats, args.seed + i)
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print("| n x d | POT s (median) | assignment s (median) | POT / assignment (median, min-max) | max abs diff |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['n']:,} x {r['dim']} | {r['seconds_pot_median']:.3f} | {r['seconds_lsap_median']:.3f} | "
              f"{r['pot_over_lsap_median']:.2f} ({r['pot_over_lsap_min']:.2f}-{r['pot_over_lsap_max']:.2f}) | "
              f"{r['max_abs_diff']:.1e} |")
    worst = max(r["max_rel_diff"] for r in results)
    if worst > 1e-9:
        raise SystemExit(f"POT and the assignment solver disagree (relative difference {worst:.1e})")


if __name__ == "__main__":
    main()
