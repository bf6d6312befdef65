"""How far can W1 on n held-out rows tell a poor model from a good one? (issue 29: "1.01x the floor on 30-40 rows").

A 5-column Gaussian with correlation 0.8; "good" samples the same law, "poor" has the right
marginals and no correlation. 20 draws per n; the ratio is W1(model, held-out) / W1(real, held-out).

    python benchmarks/check_rows.py
"""
import numpy as np

from gentransfer.metrics import wasserstein1

rng = np.random.default_rng(0)
d = 5
cov = 0.8 * np.ones((d, d)) + 0.2 * np.eye(d)
L = np.linalg.cholesky(cov)
def real(n): return rng.standard_normal((n, d)) @ L.T
def poor(n): return rng.standard_normal((n, d)) * 1.0  # right marginals, no correlation
for n in (20, 40, 100, 200, 500):
    good, bad = [], []
    for _ in range(20):
        val, ref = real(n), real(n)
        floor = wasserstein1(ref, val)
        good.append(wasserstein1(real(n), val) / floor)
        bad.append(wasserstein1(poor(n), val) / floor)
    print(f"n {n:4d}  good model {np.mean(good):.2f} ± {np.std(good):.2f}   "
          f"poor model {np.mean(bad):.2f} ± {np.std(bad):.2f}")
