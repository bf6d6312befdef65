"""Metrics against exact answers: assignment problems, 1-D closed forms, Gaussian KL/TV."""

import time

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import norm, wasserstein_distance

from gentransfer.errors import DataError
from gentransfer.metrics import (
    gaussian_kl,
    kl_monte_carlo,
    mmd2_unbiased,
    sliced_wasserstein1,
    tv_monte_carlo,
    wasserstein1,
    wasserstein1_floor,
)


def lsap_w1(x, y):
    cost = cdist(x, y)
    r, c = linear_sum_assignment(cost)
    return cost[r, c].mean()


@pytest.mark.parametrize("d,n", [(2, 50), (5, 200), (256, 120)])
def test_w1_equals_assignment_on_equal_sizes(d, n):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(n, d)), rng.normal(0.3, 1.2, size=(n, d))
    assert wasserstein1(x, y) == pytest.approx(lsap_w1(x, y), abs=1e-9)


def test_w1_matches_1d_closed_form_unequal_sizes():
    rng = np.random.default_rng(1)
    x, y = rng.exponential(size=300), rng.normal(1.0, 0.5, size=170)
    assert wasserstein1(x, y) == pytest.approx(wasserstein_distance(x, y), abs=1e-9)


def test_w1_known_answers():
    x = np.random.default_rng(2).normal(size=(40, 3))
    assert wasserstein1(x, x) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein1(x, x + np.array([3.0, 4.0, 0.0])) == pytest.approx(5.0, abs=1e-9)


def test_w1_images_are_flattened():
    rng = np.random.default_rng(3)
    a, b = rng.random((30, 1, 4, 4)), rng.random((30, 1, 4, 4))
    assert wasserstein1(a, b) == pytest.approx(lsap_w1(a.reshape(30, -1), b.reshape(30, -1)), abs=1e-9)


def test_w1_usps_size_matches_lsap_and_is_fast(real_data_root):
    from gentransfer.data import usps_paper_split

    s = usps_paper_split(seed=0, root=real_data_root)
    x = s.fit_x[:2188].reshape(2188, -1).double().numpy()
    y = s.heldout_x.reshape(2188, -1).double().numpy()
    start = time.perf_counter()
    w = wasserstein1(x, y)
    seconds = time.perf_counter() - start
    assert w == pytest.approx(lsap_w1(x, y), abs=1e-6)
    assert 3.4 < w < 3.7  # the documented real-vs-real floor, 3.53
    assert seconds < 30  # "a few seconds" on 2 cores; benchmarks/ records the measured time


def test_floor_of_same_law_is_below_shifted_law():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 2))
    floor = wasserstein1_floor(real, 200, seed=0)
    shifted = wasserstein1(real[:200], real[200:] + 1.0)
    assert 0 < floor < 0.5 < shifted
    with pytest.raises(DataError, match="2 x n = 402"):
        wasserstein1_floor(real, 201)


def test_sliced_w1_is_below_w1_and_exact_in_1d():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 4)), rng.normal(0.5, 1.0, size=(250, 4))
    sw = sliced_wasserstein1(x, y, n_projections=200)
    assert 0 < sw < wasserstein1(x, y)
    a, b = rng.normal(size=100), rng.normal(2.0, size=80)
    assert sliced_wasserstein1(a, b, n_projections=10) == pytest.approx(wasserstein_distance(a, b), rel=1e-6)


def test_mmd_unbiased_near_zero_for_same_law_and_positive_otherwise():
    rng = np.random.default_rng(6)
    same = [mmd2_unbiased(rng.normal(size=(200, 2)), rng.normal(size=(200, 2))) for _ in range(20)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(20) + 1e-3
    far = mmd2_unbiased(rng.normal(size=(200, 2)), rng.normal(1.0, 1.0, size=(200, 2)))
    assert far > 10 * np.std(same)


def test_mmd_matches_direct_formula():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
    k = lambda a, b: np.exp(-((a - b) ** 2).sum() / 2.0)  # noqa: E731 - bandwidth 1
    kxx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    kyy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    kxy = sum(k(a, b) for a in x for b in y) / 30
    assert mmd2_unbiased(x, y, bandwidth=1.0) == pytest.approx(kxx + kyy - 2 * kxy, abs=1e-12)


def test_gaussian_kl_known_values():
    assert gaussian_kl(0.0, 1.0, 0.0, 1.0) == pytest.approx(0.0)
    assert gaussian_kl(0.0, 1.0, 1.0, 1.0) == pytest.approx(0.5)
    # 1-D variance ratio: 0.5 (s^2 - 1 - log s^2) with s^2 = 4
    assert gaussian_kl(0.0, 4.0, 0.0, 1.0) == pytest.approx(0.5 * (4 - 1 - np.log(4)))


def test_kl_monte_carlo_agrees_with_closed_form():
    rng = np.random.default_rng(8)
    mp, sp = np.array([0.0, 1.0]), np.array([[1.0, 0.3], [0.3, 0.5]])
    mq, sq = np.array([0.4, 0.7]), np.array([[1.5, 0.0], [0.0, 0.8]])
    from scipy.stats import multivariate_normal as mvn

    x = rng.multivariate_normal(mp, sp, size=40000)
    kl, se = kl_monte_carlo(mvn(mp, sp).logpdf(x), mvn(mq, sq).logpdf(x))
    exact = gaussian_kl(mp, sp, mq, sq)
    assert abs(kl - exact) < 4 * se and se < 0.01


def test_tv_monte_carlo_agrees_with_closed_form():
    rng = np.random.default_rng(9)
    delta = 0.8  # TV(N(0,1), N(delta,1)) = 2 Phi(delta / 2) - 1
    x = rng.normal(size=40000)
    tv, se = tv_monte_carlo(norm.logpdf(x), norm.logpdf(x, loc=delta))
    assert abs(tv - (2 * norm.cdf(delta / 2) - 1)) < 4 * se and se < 0.005


def test_kl_infinite_when_model_has_no_mass():
    est = kl_monte_carlo(np.zeros(3), np.array([0.0, -np.inf, 0.0]))
    assert est.value == float("inf")


@pytest.mark.parametrize(
    "x,y,match",
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), "different dimensions"),
        (np.zeros((0, 2)), np.zeros((3, 2)), "empty"),
        (np.array([[np.nan, 1.0]]), np.zeros((3, 2)), "NaN"),
    ],
)
def test_w1_rejects_bad_input(x, y, match):
    with pytest.raises(DataError, match=match):
        wasserstein1(x, y)
