"""Maximum mean discrepancy with a Gaussian (RBF) kernel."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from gentransfer.errors import DataError
from gentransfer.metrics.wasserstein import paired_points

__all__ = ["mmd2_unbiased", "median_bandwidth"]


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """Median pairwise distance of the pooled sample (the usual heuristic), at most 2,000 points."""
    pooled = np.concatenate([x, y])
    if len(pooled) > 2000:
        pooled = pooled[np.random.default_rng(0).choice(len(pooled), 2000, replace=False)]
    d = cdist(pooled, pooled)
    med = float(np.median(d[np.triu_indices(len(pooled), 1)]))
    return med if med > 0 else 1.0


def mmd2_unbiased(x: object, y: object, *, bandwidth: float | None = None) -> float:
    r"""Unbiased estimate of the squared MMD with kernel :math:`k(a, b) = \exp(-\|a-b\|^2 / 2\sigma^2)`.

    .. math::
        \widehat{\mathrm{MMD}}^2 = \frac{1}{n(n-1)}\sum_{i \ne j} k(x_i, x_j)
        + \frac{1}{m(m-1)}\sum_{i \ne j} k(y_i, y_j) - \frac{2}{nm}\sum_{i,j} k(x_i, y_j)

    Can be slightly negative when the two laws agree (it is unbiased, not non-negative).

    Args:
        x: ``n x d`` points, ``n >= 2``.
        y: ``m x d`` points, ``m >= 2``.
        bandwidth: kernel width :math:`\sigma`; ``None`` uses the median heuristic.
    """
    xa, ya = paired_points(x, y)
    if len(xa) < 2 or len(ya) < 2:
        raise DataError("unbiased MMD needs at least 2 points in each set", "pass more points")
    sigma = median_bandwidth(xa, ya) if bandwidth is None else float(bandwidth)
    gamma = 1.0 / (2.0 * sigma**2)
    kxx = np.exp(-gamma * cdist(xa, xa, "sqeuclidean"))
    kyy = np.exp(-gamma * cdist(ya, ya, "sqeuclidean"))
    kxy = np.exp(-gamma * cdist(xa, ya, "sqeuclidean"))
    n, m = len(xa), len(ya)
    term_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    term_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(term_x + term_y - 2.0 * kxy.mean())
