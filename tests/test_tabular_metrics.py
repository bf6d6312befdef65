"""Tabular metrics against known answers: hand-computed tables, population values, scipy's KS."""

import doctest
import json

import numpy as np
import pytest
from scipy.stats import ks_2samp, norm

import gentransfer.metrics.tabular as tabular
from gentransfer.errors import ConfigError, DataError
from gentransfer.metrics import (
    column_pair_trends,
    column_shapes,
    detection_auc,
    real_vs_real_floor,
    table_report,
)

KINDS = ["continuous", "continuous", "integer", "categorical", "boolean"]
RHO = 0.8
QUARTILES = norm.ppf([0.25, 0.5, 0.75])


def mixed_table(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """x0 ~ N(shift, 1); x1 = 0.8 x0 + noise (corr 0.8); x2 ~ Poisson(3); x3 = quartile of x0 (0..3); x4 ~ x3."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    x1 = RHO * x0 + np.sqrt(1 - RHO**2) * rng.normal(size=n)
    x2 = rng.poisson(3.0, size=n)
    x3 = np.searchsorted(QUARTILES, x0)
    x4 = rng.random(n) < np.where(x3 >= 2, 0.8, 0.2)
    return np.c_[x0 + shift, x1, x2, x3, x4].astype(float)


@pytest.fixture(scope="module")
def real():
    return mixed_table(300, seed=0)


def test_docstring_examples_run():
    assert doctest.testmod(tabular).failed == 0


# --- column shapes ---------------------------------------------------------------------------

def test_identical_tables_score_one(real):
    shapes, trends = column_shapes(real, real, KINDS), column_pair_trends(real, real, KINDS)
    assert shapes["scores"] == [1.0] * 5 and shapes["mean"] == 1.0
    assert shapes["metrics"] == ["KSComplement"] * 3 + ["TVComplement"] * 2
    assert trends["scores"] == pytest.approx([1.0] * 10, abs=1e-12) and trends["mean"] == pytest.approx(1.0)
    assert trends["pairs"] == [[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]]
    assert trends["metrics"].count("CorrelationSimilarity") == 3  # (0,1), (0,2), (1,2): both numeric


def test_column_shapes_by_hand():
    # KS: CDFs of {0,1,2,3} and {2,3,4,5} differ by at most 1/2; TV: (1/2, 1/2) vs (1/4, 3/4) is 1/4
    out = column_shapes([[0, 0], [1, 0], [2, 1], [3, 1]], [[2, 0], [3, 1], [4, 1], [5, 1]], ["integer", "boolean"])
    assert out["scores"] == [0.5, 0.75] and out["mean"] == 0.625
    # a code the real column never shows counts fully against the fake
    assert column_shapes([[0], [0], [1], [1]], [[2], [2], [2], [2]], ["categorical"])["scores"] == [0.0]
    # values equal up to round-off are the same value (SDMetrics rounds to 14 decimals before KS)
    assert column_shapes([[0.1 + 0.2]], [[0.3]], ["continuous"])["scores"] == [1.0]


def test_ks_complement_matches_scipy_on_unequal_sizes():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(size=(250, 1)), rng.normal(1.0, 0.5, size=(170, 1))
    assert column_shapes(a, b, ["continuous"])["scores"][0] == pytest.approx(1 - ks_2samp(a[:, 0], b[:, 0]).statistic)


def test_a_shifted_column_is_detected(real):
    fake = real.copy()
    fake[:, 0] += 1.0  # one standard deviation
    scores = column_shapes(real, fake, KINDS)["scores"]
    floor = real_vs_real_floor(real, KINDS, column_shapes)["scores"]
    # population KS between N(0,1) and N(1,1) is 2 Phi(1/2) - 1 = 0.383
    assert scores[0] == pytest.approx(1 - (2 * norm.cdf(0.5) - 1), abs=0.1)
    assert scores[0] < floor[0] - 0.2 and floor[0] > 0.8
    assert scores[1:] == [1.0] * 4  # the other columns are untouched


# --- column pair trends ----------------------------------------------------------------------

def test_pair_trends_by_hand():
    x = np.arange(10.0)
    opposite = column_pair_trends(np.c_[x, x], np.c_[x, -x], ["continuous"] * 2)  # rho 1 against -1
    assert opposite["scores"] == [pytest.approx(0.0)]
    assert opposite["real_correlation"] == [pytest.approx(1.0)]
    assert opposite["fake_correlation"] == [pytest.approx(-1.0)]
    # joint (a, b): real {00: 1/2, 11: 1/2}, fake {00: 1/4, 01: 1/4, 11: 1/2}: TV 1/4
    real, fake = [[0, 0], [0, 0], [1, 1], [1, 1]], [[0, 0], [0, 1], [1, 1], [1, 1]]
    out = column_pair_trends(real, fake, ["categorical", "boolean"])
    assert out["scores"] == [0.75] and out["metrics"] == ["ContingencySimilarity"]
    assert out["real_correlation"] == [None] and out["fake_correlation"] == [None]


def test_numeric_column_is_cut_at_real_deciles_with_open_outer_bins():
    x = np.arange(100.0)
    real = np.c_[x, x >= 50]  # deciles of x: bins 0-4 hold category 0, bins 5-9 category 1
    kinds = ["continuous", "boolean"]
    assert column_pair_trends(real, np.c_[x, x < 50], kinds)["scores"] == [0.0]  # flipped: disjoint joint tables
    # every fake x above the real range falls in the top bin: q = {(9,0): 1/2, (9,1): 1/2} against p = 1/10
    # on ten cells, of which (9,1) is one: TV = 1/2 + (1/2 - 1/10) = 0.9
    assert column_pair_trends(real, np.c_[x + 1000, x >= 50], kinds)["scores"] == [pytest.approx(0.1)]


def test_numeric_column_with_few_values_keeps_one_bin_per_value():
    x = np.r_[np.zeros(95), np.ones(5)]  # all deciles are 0: decile bins would merge 0 and 1
    out = column_pair_trends(np.c_[x, x], np.c_[x, 1 - x], ["integer", "boolean"])
    assert out["scores"] == [0.0]  # (0,0),(1,1) against (0,1),(1,0); one merged bin would give 0.1


def test_shuffled_correlated_column_breaks_the_correlation(real):
    fake = real.copy()
    fake[:, 1] = np.random.default_rng(1).permutation(fake[:, 1])  # rho 0.8 -> 0, marginals unchanged
    out = column_pair_trends(real, fake, KINDS)
    assert out["pairs"][0] == [0, 1] and out["metrics"][0] == "CorrelationSimilarity"
    assert out["real_correlation"][0] == pytest.approx(RHO, abs=0.05)
    assert out["fake_correlation"][0] == pytest.approx(0.0, abs=0.12)
    assert out["scores"][0] == pytest.approx(1 - RHO / 2, abs=0.06)
    assert column_shapes(real, fake, KINDS)["scores"] == [1.0] * 5


def test_shuffled_categorical_breaks_the_pair_trend(real):
    fake = real.copy()
    fake[:, 3] = np.random.default_rng(1).permutation(fake[:, 3])
    out = column_pair_trends(real, fake, KINDS)
    floor = real_vs_real_floor(real, KINDS, column_pair_trends)
    k = out["pairs"].index([0, 3])
    # population: x3 is x0's quartile, so 8 of x0's decile bins sit in one quartile (p = 1/10 in one cell)
    # and 2 straddle two (1/20 in each); shuffled, every cell holds 1/10 x 1/4. TV = 8 x 0.075 + 4 x 0.025 = 0.7
    assert out["scores"][k] == pytest.approx(0.3, abs=0.06)
    assert floor["scores"][k] > 0.75
    assert column_shapes(real, fake, KINDS)["scores"][3] == 1.0  # the marginal is intact


def test_constant_column_leaves_correlation_undefined():
    rng = np.random.default_rng(0)
    real = np.c_[rng.normal(size=50), rng.normal(size=50), rng.integers(0, 2, 50)]
    fake = real.copy()
    fake[:, 1] = 2.0
    out = column_pair_trends(real, fake, ["continuous", "continuous", "boolean"])
    assert out["scores"][0] is None and out["fake_correlation"][0] is None
    assert out["mean"] == pytest.approx(np.mean(out["scores"][1:]))
    assert column_pair_trends(real[:, :1], fake[:, :1], ["continuous"]) == {
        "pairs": [], "scores": [], "metrics": [], "real_correlation": [], "fake_correlation": [], "mean": None}


# --- detection -------------------------------------------------------------------------------

def test_detection_cannot_tell_two_halves_of_one_table_apart():
    table = mixed_table(400, seed=5)
    aucs = [detection_auc(table[:200], table[200:], KINDS, seed=s) for s in range(3)]
    assert np.mean(aucs) == pytest.approx(0.5, abs=0.1)  # each on 120 held-out rows: se about 0.05
    assert all(0.3 < a < 0.7 for a in aucs)


def test_detection_tells_a_shifted_table_apart():
    auc = detection_auc(mixed_table(300, seed=1), mixed_table(300, seed=2, shift=3.0), KINDS)
    assert auc > 0.95


def test_detection_sees_a_categorical_difference():
    real = mixed_table(300, seed=1)
    fake = mixed_table(300, seed=2)
    fake[:, 3] = 3 - fake[:, 3]  # quartile codes reversed: x3 no longer follows x0
    assert detection_auc(real, fake, KINDS) > 0.9


def test_detection_is_deterministic_given_the_seed_and_subsamples_the_larger_table(real):
    big = mixed_table(1000, seed=9)
    first = detection_auc(real, big, KINDS, seed=4)
    assert detection_auc(real, big, KINDS, seed=4) == first
    assert 0.3 < first < 0.7  # same law: indistinguishable although 300 vs 1000 rows


def test_detection_declares_categorical_columns_with_compact_codes():
    real, fake = np.c_[np.arange(4.0), [3, 7, 100, 3], [0, 1, 1, 0]], np.c_[np.arange(4.0), [7, 7, 9, 3], [1, 1, 1, 0]]
    x, categorical = tabular._classifier_inputs(real, fake, ["continuous", "categorical", "boolean"])
    assert categorical.tolist() == [False, True, True]
    assert x[:, 1].tolist() == [0, 1, 3, 0, 1, 1, 2, 0]  # codes 3, 7, 9, 100 -> 0..3
    wide = np.c_[np.arange(600.0), np.arange(600) % 300]  # 300 categories, more than the classifier bins
    assert tabular._classifier_inputs(wide[:300], wide[300:], ["continuous", "categorical"])[1].tolist() == [False] * 2
    assert 0.0 <= detection_auc(wide[:300], wide[300:], ["continuous", "categorical"]) <= 1.0


# --- floors and the report -------------------------------------------------------------------

def test_table_report_puts_each_score_beside_its_floor():
    real, same = mixed_table(400, seed=0), mixed_table(1000, seed=1)
    good = table_report(real, same, KINDS, seed=0)
    bad = table_report(real, mixed_table(1000, seed=2, shift=1.0), KINDS, seed=0)
    assert good["rows"] == 200 and good["real_rows"] == 400 and good["fake_rows"] == 1000
    # a generator that draws from the real law scores what real data scores against itself ...
    assert good["column_shapes"]["mean"] == pytest.approx(good["column_shapes_floor"]["mean"], abs=0.05)
    assert good["column_pair_trends"]["mean"] == pytest.approx(good["column_pair_trends_floor"]["mean"], abs=0.05)
    assert good["detection_auc"] == pytest.approx(0.5, abs=0.15)
    assert good["detection_auc_floor"] == pytest.approx(0.5, abs=0.15)
    # ... one whose x0 is shifted (x3 still the quartile of the unshifted x0) falls below the floor
    assert bad["column_shapes_floor"] == good["column_shapes_floor"]  # the floor depends on the real rows only
    assert bad["column_shapes"]["scores"][0] < bad["column_shapes_floor"]["scores"][0] - 0.2
    k = bad["column_pair_trends"]["pairs"].index([0, 3])
    assert bad["column_pair_trends"]["scores"][k] < bad["column_pair_trends_floor"]["scores"][k] - 0.2
    assert bad["detection_auc"] > 0.8


def test_table_report_is_json_ready_deterministic_and_uses_the_floor_split(real):
    fake = mixed_table(120, seed=3)
    report = table_report(real, fake, KINDS, seed=7)
    assert json.loads(json.dumps(report, allow_nan=False)) == report  # plain lists, dicts, numbers, None
    assert table_report(real, fake, KINDS, seed=7) == report
    assert report["rows"] == 120  # min(300 // 2, 120)
    assert report["column_shapes_floor"] == real_vs_real_floor(real, KINDS, column_shapes, n=120, seed=7)
    assert report["kinds"] == KINDS and report["seed"] == 7


def test_small_table_report_skips_detection():
    real = mixed_table(12, seed=0)
    report = table_report(real, real, KINDS)
    assert report["rows"] == 6 and report["detection_auc"] is None and report["detection_auc_floor"] is None


# --- errors ----------------------------------------------------------------------------------

T2 = [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize("call,error,problem", [
    (lambda: column_shapes(T2, T2, ["continuous"]), ConfigError, "kinds names 1 columns but the table has 2"),
    (lambda: column_shapes(T2, T2, ["continuous", "numeric"]), ConfigError, "kinds[1] is 'numeric'"),
    (lambda: column_shapes(T2, T2, "continuous"), ConfigError, "kinds must be a list"),
    (lambda: column_shapes(T2, [[0.0, 0.5]], ["continuous", "categorical"]), DataError,
     "fake column 1 is categorical but holds 0.5"),
    (lambda: column_shapes([[0.0, 2.0]], T2, ["continuous", "boolean"]), DataError,
     "real column 1 is boolean but holds 2.0"),
    (lambda: column_shapes([[0.0, -1.0]], T2, ["continuous", "categorical"]), DataError, "holds -1.0"),
    (lambda: column_shapes([[np.nan, 0.0]], T2, ["continuous"] * 2), DataError, "real holds NaN"),
    (lambda: column_shapes([[0.0]], T2, ["continuous"]), DataError, "real has 1 columns but fake has 2"),
    (lambda: column_shapes([0.0, 1.0], T2, ["continuous"]), DataError, "must be a rows x columns array"),
    (lambda: column_pair_trends(T2, T2, ["continuous"] * 2, n_bins=1), ConfigError, "n_bins must be"),
    (lambda: detection_auc(T2, T2, ["continuous"] * 2), DataError, "at least 10 rows in each table"),
    (lambda: detection_auc(np.zeros((20, 1)), np.zeros((20, 1)), ["continuous"], test_fraction=1.5), ConfigError,
     "test_fraction must lie in (0, 1)"),
    (lambda: real_vs_real_floor(T2, ["continuous"] * 2, column_shapes, n=2), DataError, "need 4 real rows, got 2"),
])
def test_errors_name_the_problem_and_the_fix(call, error, problem):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert problem in message and "; fix: " in message and "\n" not in message
