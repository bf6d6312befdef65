"""Exact W1's two solvers (issue 30): scipy's assignment solver at equal sizes, POT's network
simplex otherwise. Both must give the optimal value; POT's own answer is the reference here."""

import warnings

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist

from gentransfer.errors import DataError
from gentransfer.metrics import wasserstein as w_mod
from gentransfer.metrics import wasserstein1, wasserstein1_rows


def pot_w1(x, y):
    """POT's exact W1, called directly (what ``wasserstein1`` returned before issue 30)."""
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(y), -1)
    cost = cdist(x, y)
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost, numItermax=10**8))


def pot_shares(x, y):
    cost = cdist(x, y)
    plan = ot.emd(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost, numItermax=10**8)
    return (plan * cost).sum(axis=1) * len(x)


def _sets(kind, n, d, seed):
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return rng.normal(size=(n, d)), rng.normal(0.4, 1.3, size=(n, d))
    if kind == "grid":  # many tied distances: points on a coarse integer grid
        return rng.integers(0, 3, size=(n, d)).astype(float), rng.integers(0, 3, size=(n, d)).astype(float)
    # duplicated points: each set repeats a few distinct rows, and shares some with the other
    base = rng.normal(size=(max(1, n // 4 + 1), d))
    x = base[rng.integers(0, len(base), size=n)]
    y = np.concatenate([base, rng.normal(size=(n, d))])[rng.integers(0, len(base) + n, size=n)]
    return x, y


@pytest.mark.parametrize("kind", ["continuous", "grid", "duplicates"])
@pytest.mark.parametrize("d", [1, 5, 64])
@pytest.mark.parametrize("n", [1, 2, 50, 300])
def test_equal_sizes_value_agrees_with_pot(n, d, kind):
    x, y = _sets(kind, n, d, seed=1000 * n + d)
    ref = pot_w1(x, y)
    assert wasserstein1(x, y) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    rows = wasserstein1_rows(x, y)  # any optimal plan: the mean is the value even when plans tie
    assert rows.shape == (n,) and (rows >= 0).all()
    assert rows.sum() == pytest.approx(n * ref, rel=1e-9, abs=1e-12)


def test_equal_sizes_identical_and_permuted_sets_are_zero():
    x = np.random.default_rng(0).normal(size=(60, 5))
    perm = np.random.default_rng(1).permutation(60)
    assert wasserstein1(x, x[perm]) == 0.0
    assert (wasserstein1_rows(x, x[perm]) == 0.0).all()


@pytest.mark.parametrize("n,d", [(2, 5), (50, 5), (300, 5), (50, 64), (300, 64)])
def test_equal_sizes_rows_are_pots_plan_shares(n, d):
    """Continuous points in d >= 2: the optimal plan is unique, so the assignment and POT's network
    simplex find the same one and every row's share agrees (in 1-D plans often tie: x = 0, 1 to
    y = 2, 3 costs 4 either way round, so 1-D is only checked through the mean above)."""
    rng = np.random.default_rng(n + d)
    x, y = rng.normal(size=(n, d)), rng.normal(0.4, 1.3, size=(n, d))
    rows = wasserstein1_rows(x, y)
    np.testing.assert_allclose(rows, pot_shares(x, y), rtol=1e-9, atol=1e-12)
    assert rows.mean() == pytest.approx(wasserstein1(x, y), rel=1e-12)
    # an assignment: each row's share is its distance to exactly one point of y, all different
    cost = cdist(x, y)
    cols = [int(np.flatnonzero(np.isclose(cost[i], rows[i], rtol=0, atol=1e-12))[0]) for i in range(n)]
    assert sorted(cols) == list(range(n))


def _spy(monkeypatch):
    calls = []
    for name in ("emd", "emd2"):
        real = getattr(ot, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(w_mod.ot, name, spy)
    return calls


def test_equal_sizes_use_the_assignment_and_unequal_sizes_use_pot(monkeypatch):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(7)
    x, y, z = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)), rng.normal(size=(25, 3))
    wasserstein1(x, y)
    wasserstein1_rows(x, y)
    assert calls == []
    value = wasserstein1(x, z)
    rows = wasserstein1_rows(x, z)
    assert calls == ["emd2", "emd"]
    assert value == pytest.approx(pot_w1(x, z), rel=1e-12)
    assert rows.shape == (40,) and rows.mean() == pytest.approx(value, rel=1e-9)


def test_unequal_sizes_still_refuse_pots_non_optimal_answer(monkeypatch):
    """POT returns a non-optimal cost with only a warning (numItermax): still an error."""
    def stopped_early(*args, **kwargs):
        warnings.warn("numItermax reached before optimality. Try to increase numItermax.", UserWarning,
                      stacklevel=2)
        return 0.0

    monkeypatch.setattr(w_mod.ot, "emd2", stopped_early)
    rng = np.random.default_rng(8)
    with pytest.raises(DataError, match="numItermax reached"):
        wasserstein1(rng.normal(size=(30, 2)), rng.normal(size=(20, 2)))
    wasserstein1(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)))  # the assignment path never calls it


@pytest.mark.parametrize("m", [20, 13])
def test_huge_values_are_solved_at_unit_scale_on_both_paths(m):
    """Distances near 1e300 overflow to inf unscaled (scipy's LSAP then refuses the cost matrix)."""
    rng = np.random.default_rng(9)
    x, y = rng.uniform(1, 10, size=(20, 2)), rng.uniform(1, 10, size=(m, 2))
    big = wasserstein1(x * 1e300, y * 1e300)
    assert np.isfinite(big) and big == pytest.approx(wasserstein1(x, y) * 1e300, rel=1e-9)
    np.testing.assert_allclose(wasserstein1_rows(x * 1e300, y * 1e300), wasserstein1_rows(x, y) * 1e300, rtol=1e-9)
