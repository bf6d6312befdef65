"""Wasserstein distances between point sets with a Euclidean ground cost."""

from __future__ import annotations

import warnings

import numpy as np
import ot
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from gentransfer.errors import DataError

__all__ = ["as_points", "paired_points", "wasserstein1", "wasserstein1_rows", "wasserstein1_floor",
           "sliced_wasserstein1"]

# emd2 stops at numItermax and then returns a *non-optimal* cost with only a warning;
# this bound is far above what 10^4 x 10^4 problems need.
_NUM_ITER_MAX = 100_000_000
_LARGE = 1e100  # above this, squared coordinates near 1e308 overflow: solve at unit scale


def as_points(a: object, name: str) -> np.ndarray:
    """Flatten anything array-like (tensor, images) to a finite float64 ``N x d`` array."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.size == 0:
        raise DataError(f"'{name}' is empty", "pass at least one point")
    arr = arr.reshape(len(arr), -1)
    if not np.isfinite(arr).all():
        raise DataError(f"'{name}' has NaN or inf values", "drop those points or fix the generator")
    return arr


def paired_points(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = as_points(x, "x"), as_points(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise DataError(
            f"point sets have different dimensions: {xa.shape[1]} and {ya.shape[1]}",
            "compare samples of the same variable",
        )
    return xa, ya


def wasserstein1(x: object, y: object) -> float:
    r"""Exact 1-Wasserstein distance between two empirical measures (uniform weights).

    .. math::
        W_1(\hat\mu, \hat\nu) = \min_{\pi \in \Pi(a, b)} \sum_{ij} \pi_{ij} \|x_i - y_j\|_2,
        \quad a = 1/n, \; b = 1/m

    solved to optimality: at equal sizes (``n == m``) as an assignment problem by scipy's
    ``linear_sum_assignment`` (an optimal permutation is an optimal plan, Birkhoff), otherwise by
    POT's network simplex (``ot.emd2``). Both are exact; the assignment solver is the faster one
    where it applies (``benchmarks/w1_solver.py``).

    Args:
        x: ``n x ...`` points (images are flattened), array or tensor.
        y: ``m x ...`` points with the same trailing size; ``m`` may differ from ``n``.

    Returns:
        The distance, in the units of the data.

    Example:
        >>> wasserstein1([[0.0], [1.0]], [[0.5], [1.5]])
        0.5
    """
    xa, ya = paired_points(x, y)
    return float(_solve(xa, ya, plan=False))


def wasserstein1_rows(x: object, y: object) -> np.ndarray:
    r"""Each point of ``x``'s share of the exact W1 transport cost to ``y``.

    .. math::
        r_i = n \sum_j \pi^*_{ij} \|x_i - y_j\|_2, \qquad \frac{1}{n} \sum_i r_i = W_1(\hat\mu, \hat\nu)

    with :math:`\pi^*` the optimal plan of :func:`wasserstein1`: the mean distance over which the
    mass of ``y`` that the plan sends to ``x_i`` travels. A region of ``x`` that ``y`` leaves
    empty, or one where ``y`` piles surplus mass, raises the shares there; the shares are not
    independent (one plan couples them). At equal sizes the plan is the optimal assignment
    :math:`\sigma` (scipy's ``linear_sum_assignment``), so :math:`r_i = \|x_i - y_{\sigma(i)}\|_2`;
    otherwise it is POT's network simplex plan (``ot.emd``). Where several plans are optimal (tied
    or repeated points) the shares are those of one of them, the mean the same.

    Args:
        x: ``n x ...`` points (the reference rows), array or tensor.
        y: ``m x ...`` points with the same trailing size.

    Returns:
        ``n`` non-negative shares whose mean is ``wasserstein1(x, y)``.

    Example:
        >>> wasserstein1_rows([[0.0], [1.0]], [[0.0], [3.0]]).tolist()
        [0.0, 2.0]
    """
    xa, ya = paired_points(x, y)
    return _solve(xa, ya, plan=True)


def _solve(xa: np.ndarray, ya: np.ndarray, *, plan: bool) -> float | np.ndarray:
    """The exact W1 (``plan=False``) or each row of ``xa``'s share of it (``plan=True``)."""
    # W1 scales with the data: points so large that distances (or their sum in the solver)
    # overflow are solved at unit scale and the result scaled back, not reported as 0 or inf.
    scale = max(np.abs(xa).max(), np.abs(ya).max())
    scale = scale if scale > _LARGE else 1.0
    # scipy's cdist computes |x - y| directly: ot.dist's |x|^2 + |y|^2 - 2xy expansion leaves
    # ~1e-8 round-off on the diagonal (and POT's default cost is the *squared* distance).
    cost = cdist(xa / scale, ya / scale, metric="euclidean") if scale != 1.0 else cdist(xa, ya, metric="euclidean")
    solver: list[str] = []
    if len(xa) == len(ya):
        # Equal sizes, uniform weights: the transport polytope's vertices are the permutation
        # matrices divided by n (Birkhoff), so an optimal assignment is an optimal plan, each row
        # sending all its mass to one point. scipy's LSAP solves it exactly, with no iteration cap,
        # and 1.4-1.75x faster than the network simplex (benchmarks/w1_solver.py: 2,188 x 256,
        # 5,000 x 64, 1,000 x 8).
        rows, cols = linear_sum_assignment(cost)  # rows comes back as 0..n-1, in order
        shares = cost[rows, cols]
        value = shares * scale if plan else float(shares.sum() / len(xa)) * scale
    else:
        a = np.full(len(xa), 1.0 / len(xa))
        b = np.full(len(ya), 1.0 / len(ya))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if plan:
                value = (ot.emd(a, b, cost, numItermax=_NUM_ITER_MAX) * cost).sum(axis=1) * (len(xa) * scale)
            else:
                value = float(ot.emd2(a, b, cost, numItermax=_NUM_ITER_MAX)) * scale
        solver = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]  # POT's "infeasible", ...
    if solver or not np.all(np.isfinite(value)):
        raise DataError(f"the exact W1 solver did not reach an optimum ({'; '.join(solver) or value})",
                        "check the samples for extreme values, or use --metric sliced-w1")
    return value


def wasserstein1_floor(real: object, n: int, *, seed: int = 0) -> float:
    """W1 between two disjoint random halves of size ``n`` from ``real``.

    What a perfect generator would score against ``n`` real points: read every reported W1
    against this floor at the same sample size.

    Raises:
        DataError: fewer than ``2 n`` real points.
    """
    pts = as_points(real, "real")
    if n < 1 or 2 * n > len(pts):
        raise DataError(
            f"the W1 floor needs 2 x n = {2 * n} real points, got {len(pts)}",
            f"pass 1 <= n <= {len(pts) // 2}",
        )
    perm = np.random.default_rng(seed).permutation(len(pts))
    return wasserstein1(pts[perm[:n]], pts[perm[n : 2 * n]])


def sliced_wasserstein1(x: object, y: object, *, n_projections: int = 256, seed: int = 0) -> float:
    r"""Sliced W1, an *approximation* for sets too large for exact OT.

    .. math::
        SW_1(\mu, \nu) = \mathbb{E}_{\theta \sim U(S^{d-1})} W_1(\theta_\# \mu, \theta_\# \nu)

    estimated with ``n_projections`` random directions. Always at most ``W1``; not comparable
    in value with :func:`wasserstein1`. POT draws the directions from a 32-bit seed: a ``seed``
    of 2^32 or more is hashed to one (``numpy.random.SeedSequence``), a smaller one is used as it is.
    """
    xa, ya = paired_points(x, y)
    pot_seed = seed if seed < 2**32 else int(np.random.SeedSequence(seed).generate_state(1)[0])
    return float(
        ot.sliced_wasserstein_distance(xa, ya, n_projections=n_projections, p=1, seed=pot_seed)
    )
