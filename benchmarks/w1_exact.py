"""Exact W1 on the paper's evaluation size: POT's network simplex vs scipy's LSAP, one run.

Usage: python benchmarks/w1_exact.py [--repeats 3]
Prints the times, their ratio and the two values (they must agree to 1e-6).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from gentransfer.data import usps_paper_split
from gentransfer.metrics import wasserstein1


def _time(fn, repeats: int) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    s = usps_paper_split(seed=0)
    n = len(s.heldout_x)
    x = s.fit_x[:n].reshape(n, -1).double().numpy()
    y = s.heldout_x.reshape(n, -1).double().numpy()

    def lsap() -> float:
        cost = cdist(x, y)
        r, c = linear_sum_assignment(cost)
        return float(cost[r, c].mean())

    t_pot, w_pot = _time(lambda: wasserstein1(x, y), args.repeats)
    t_lsap, w_lsap = _time(lsap, args.repeats)
    print(json.dumps({
        "n": n, "dim": x.shape[1], "w1_pot": w_pot, "w1_lsap": w_lsap,
        "abs_diff": abs(w_pot - w_lsap), "seconds_pot": round(t_pot, 3),
        "seconds_lsap": round(t_lsap, 3), "pot_over_lsap": round(t_pot / t_lsap, 3),
    }, indent=1))
    if not np.isclose(w_pot, w_lsap, atol=1e-6):
        raise SystemExit("POT and LSAP disagree")


if __name__ == "__main__":
    main()
