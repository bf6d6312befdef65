"""Fidelity metrics for mixed-type tables: column shapes, column pair trends, detection, real-vs-real floors.

A table is a 2-D float array of *codes*, ``rows x columns``: numeric columns hold their values,
categorical and boolean columns hold integer category codes ``0 .. K-1``. A list ``kinds`` says
what each column is: ``"continuous"``, ``"integer"``, ``"categorical"`` or ``"boolean"``.

The scores follow SDMetrics' quality report (KSComplement, TVComplement, CorrelationSimilarity,
ContingencySimilarity; 1 = the same as the real data, 0 = as different as can be) and its
detection metric, reported here as the classifier's held-out ROC AUC (0.5 = indistinguishable).
Every score moves with the sample size, so read it beside :func:`real_vs_real_floor`: the same
metric between two disjoint halves of the real rows, which is what a perfect generator scores.
:func:`table_report` gathers them all, as JSON-ready Python values.

Results are dicts of floats and lists; a score that is undefined (the correlation of a
constant column) is ``None`` and is left out of the mean.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from scipy.stats import ks_2samp

from gentransfer.errors import ConfigError, DataError

__all__ = [
    "KINDS",
    "column_shapes",
    "column_pair_trends",
    "detection_auc",
    "real_vs_real_floor",
    "table_report",
]

KINDS = ("continuous", "integer", "categorical", "boolean")
_NUMERIC = ("continuous", "integer")
N_BINS = 10  # a numeric column paired with a categorical one is cut into this many quantile bins of the real column
_DECIMALS = sys.float_info.dig - 1  # values rounded to 14 decimals before KS, as SDMetrics (0.1 + 0.2 == 0.3 there)
_MAX_CATEGORIES = 255  # HistGradientBoostingClassifier's most categories per column (max_bins)
_MIN_DETECTION_ROWS = 10

T = TypeVar("T")


def _table(a: object, name: str) -> np.ndarray:
    """A finite float64 ``rows x columns`` array (tensors detached)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} is not numeric ({err})", "pass a rows x columns array of numbers and category codes") \
            from None
    if arr.ndim != 2:
        raise DataError(f"{name} must be a rows x columns array, got shape {arr.shape}",
                        "pass one row per record, one column per variable")
    if len(arr) == 0:
        raise DataError(f"{name} has no rows", f"pass at least one row as {name}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=0))[0])
        raise DataError(f"{name} holds NaN or infinite values (column {bad} first)",
                        f"drop or impute the non-finite rows of {name}")
    return arr


def _kinds(kinds: Sequence[str], width: int) -> list[str]:
    if isinstance(kinds, str):
        raise ConfigError(f"kinds must be a list with one kind per column, got the string {kinds!r}",
                          f"pass e.g. [{kinds!r}] * {width}")
    kinds = list(kinds)
    if len(kinds) != width:
        raise ConfigError(f"kinds names {len(kinds)} columns but the table has {width}",
                          "pass one kind per column, in column order")
    for j, kind in enumerate(kinds):
        if kind not in KINDS:
            raise ConfigError(f"kinds[{j}] is {kind!r}", f"use one of {', '.join(KINDS)}")
    return kinds


def _check_codes(arr: np.ndarray, kinds: list[str], name: str) -> None:
    """Categorical and boolean columns must hold non-negative integer codes (boolean: 0 or 1)."""
    for j, kind in enumerate(kinds):
        if kind not in ("categorical", "boolean"):
            continue
        col = arr[:, j]
        top = 1 if kind == "boolean" else np.inf
        bad = (col != np.round(col)) | (col < 0) | (col > top)
        if bad.any():
            codes = "0 or 1" if kind == "boolean" else "integer codes 0..K-1"
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name} column {j} is {kind} but holds {float(col[row])!r} (row {row})",
                            f"encode that column as {codes}, or declare its kind as continuous/integer")


def _pair(real: object, fake: object, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    r, f = _table(real, "real"), _table(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise DataError(f"real has {r.shape[1]} columns but fake has {f.shape[1]}",
                        "compare tables with the same columns in the same order")
    k = _kinds(kinds, r.shape[1])
    _check_codes(r, k, "real")
    _check_codes(f, k, "fake")
    return r, f, k


def _mean(scores: list[float | None]) -> float | None:
    defined = [s for s in scores if s is not None]
    return float(np.mean(defined)) if defined else None


def _tv(real_keys: np.ndarray, fake_keys: np.ndarray) -> float:
    """Total variation distance between the frequency tables of two sets of (row-wise) keys."""
    keys, inverse = np.unique(np.concatenate([real_keys, fake_keys]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    p = np.bincount(inverse[: len(real_keys)], minlength=len(keys)) / len(real_keys)
    q = np.bincount(inverse[len(real_keys):], minlength=len(keys)) / len(fake_keys)
    return 0.5 * float(np.abs(p - q).sum())


def _unit(score: float) -> float:
    """A score clipped to [0, 1] (sums of frequencies leave round-off of 1e-16 either side)."""
    return min(1.0, max(0.0, float(score)))


def _ks_complement(r: np.ndarray, f: np.ndarray) -> float:
    return 1.0 - float(ks_2samp(np.round(r, _DECIMALS), np.round(f, _DECIMALS)).statistic)


def column_shapes(real: object, fake: object, kinds: Sequence[str]) -> dict[str, Any]:
    r"""How well each column's marginal distribution matches: SDMetrics' "Column Shapes".

    * continuous, integer: KSComplement, :math:`1 - \sup_x |F_{real}(x) - F_{fake}(x)|` (the
      two-sample Kolmogorov-Smirnov statistic of ``scipy.stats.ks_2samp``; values rounded to 14
      decimals first, as SDMetrics does).
    * categorical, boolean: TVComplement, :math:`1 - \frac12 \sum_k |p_k - q_k|` over the codes
      seen in either table (SDMetrics gives codes the real column lacks a 1e-6 pseudo-count, a
      difference below 1e-6 / rows).

    Args:
        real: ``n x d`` codes of the real table (array or tensor).
        fake: ``m x d`` codes of the generated table; ``m`` may differ from ``n``.
        kinds: ``d`` kinds, one of :data:`KINDS` per column.

    Returns:
        dict: ``"scores"`` (``d`` floats in [0, 1], 1 = the same marginal), ``"metrics"``
        (``"KSComplement"`` or ``"TVComplement"`` per column) and ``"mean"`` (their mean).

    Raises:
        DataError: tables of different widths, non-finite values, or a categorical or boolean
            column that does not hold integer codes.
        ConfigError: ``kinds`` of the wrong length or with an unknown kind.

    Example:
        >>> out = column_shapes([[0.0, 0], [1.0, 0], [2.0, 1], [3.0, 1]],
        ...                     [[2.0, 0], [3.0, 1], [4.0, 1], [5.0, 1]], ["continuous", "categorical"])
        >>> out["scores"], out["mean"]
        ([0.5, 0.75], 0.625)
    """
    r, f, kinds = _pair(real, fake, kinds)
    scores, metrics = [], []
    for j, kind in enumerate(kinds):
        if kind in _NUMERIC:
            scores.append(_ks_complement(r[:, j], f[:, j]))
            metrics.append("KSComplement")
        else:
            scores.append(_unit(1.0 - _tv(r[:, j], f[:, j])))
            metrics.append("TVComplement")
    return {"scores": scores, "metrics": metrics, "mean": _mean(scores)}


def _bin_edges(real_col: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner cut points for a numeric column: its real deciles (or each distinct value when it has few)."""
    distinct = np.unique(real_col)
    if len(distinct) <= n_bins:
        return distinct[1:]  # one bin per real value (a fake value between two goes to the lower one)
    return np.unique(np.quantile(real_col, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))


def _discretise(real_col: np.ndarray, fake_col: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    edges = _bin_edges(real_col, n_bins)  # the outer bins are open: fake values beyond the real range land there
    return np.searchsorted(edges, real_col, side="right"), np.searchsorted(edges, fake_col, side="right")


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None  # undefined for a constant column (SDMetrics: NaN, left out of the mean)
    return float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))


def column_pair_trends(real: object, fake: object, kinds: Sequence[str], *, n_bins: int = N_BINS) -> dict[str, Any]:
    r"""How well each pair of columns keeps its joint trend: SDMetrics' "Column Pair Trends".

    * two numeric (continuous/integer) columns: CorrelationSimilarity,
      :math:`1 - |\rho_{real} - \rho_{fake}| / 2` with Pearson's :math:`\rho`; ``None``
      (undefined) when a column is constant in either table.
    * any pair with a categorical or boolean column: ContingencySimilarity,
      :math:`1 - \frac12 \sum_{a,b} |p_{ab} - q_{ab}|` over the joint frequency table. A numeric
      column in such a pair is cut into ``n_bins`` bins at the quantiles of its *real* values
      (the outer bins open, so fake values beyond the real range fall in them; a column with
      at most ``n_bins`` distinct real values keeps one bin per value). SDMetrics cuts at 10
      equal-width bins of the real column instead; quantile bins do not let one outlier empty
      nine of them.

    Args:
        real: ``n x d`` codes of the real table.
        fake: ``m x d`` codes of the generated table.
        kinds: ``d`` kinds, one of :data:`KINDS` per column.
        n_bins: bins for a numeric column paired with a categorical one.

    Returns:
        dict: ``"pairs"`` (the ``d(d-1)/2`` column pairs ``[i, j]``, ``i < j``, in
        ``itertools.combinations`` order), ``"scores"`` (a float in [0, 1] or ``None`` per
        pair), ``"metrics"`` (``"CorrelationSimilarity"`` or ``"ContingencySimilarity"``),
        ``"real_correlation"`` and ``"fake_correlation"`` (Pearson's rho for numeric pairs,
        else ``None``) and ``"mean"`` (over the defined scores; ``None`` if there are none).

    Raises:
        DataError: as :func:`column_shapes`.
        ConfigError: as :func:`column_shapes`, or ``n_bins < 2``.

    Example:
        >>> x = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
        >>> column_pair_trends(x, [[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]], ["continuous"] * 2)["scores"]
        [0.0]
    """
    if int(n_bins) != n_bins or n_bins < 2:
        raise ConfigError(f"n_bins must be an integer >= 2, got {n_bins!r}", "pass n_bins=10 (SDMetrics' choice)")
    r, f, kinds = _pair(real, fake, kinds)
    out: dict[str, list] = {"pairs": [], "scores": [], "metrics": [], "real_correlation": [], "fake_correlation": []}
    for i, j in itertools.combinations(range(len(kinds)), 2):
        if kinds[i] in _NUMERIC and kinds[j] in _NUMERIC:
            rho_r, rho_f = _pearson(r[:, i], r[:, j]), _pearson(f[:, i], f[:, j])
            score = None if rho_r is None or rho_f is None else _unit(1.0 - abs(rho_r - rho_f) / 2.0)
            metric = "CorrelationSimilarity"
        else:
            cols_r, cols_f = [], []
            for c in (i, j):
                if kinds[c] in _NUMERIC:
                    br, bf = _discretise(r[:, c], f[:, c], int(n_bins))
                else:
                    br, bf = r[:, c], f[:, c]
                cols_r.append(br)
                cols_f.append(bf)
            joint_r, joint_f = np.stack(cols_r, axis=1).astype(np.float64), np.stack(cols_f, axis=1).astype(np.float64)
            score = _unit(1.0 - _tv(joint_r, joint_f))
            rho_r = rho_f = None
            metric = "ContingencySimilarity"
        out["pairs"].append([i, j])
        out["scores"].append(score)
        out["metrics"].append(metric)
        out["real_correlation"].append(rho_r)
        out["fake_correlation"].append(rho_f)
    return {**out, "mean": _mean(out["scores"])}


def _classifier_inputs(r: np.ndarray, f: np.ndarray, kinds: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Both tables stacked, categorical codes made compact (0..K-1); the categorical mask."""
    x = np.concatenate([r, f])
    categorical = np.zeros(len(kinds), dtype=bool)
    for j, kind in enumerate(kinds):
        if kind in ("categorical", "boolean"):
            codes, x[:, j] = np.unique(x[:, j], return_inverse=True)
            # the classifier bins at most 255 categories: more stay ordinal codes (a weaker, still fair, test)
            categorical[j] = len(codes) <= _MAX_CATEGORIES
    return x, categorical


def detection_auc(real: object, fake: object, kinds: Sequence[str], *, seed: int = 0, test_fraction: float = 0.3,
                  n_threads: int = 1) -> float:
    """Held-out ROC AUC of a classifier trained to tell real rows from fake rows.

    SDMetrics' detection metrics, reported as the AUC itself: 0.5 means the classifier cannot
    tell the tables apart, 1.0 that it separates them fully (below 0.5 is chance on a small
    test set). The larger table is subsampled (seeded) to the size of the smaller, the rows are
    split with stratification (``test_fraction`` held out), and scikit-learn's
    ``HistGradientBoostingClassifier`` (its defaults, categorical and boolean columns declared
    through ``categorical_features``) is fitted on the rest. A column with more than 255
    categories is given to it as ordinal codes. Deterministic given ``seed``.

    Args:
        real: ``n x d`` codes of the real table, ``n >= 10``.
        fake: ``m x d`` codes of the generated table, ``m >= 10``.
        kinds: ``d`` kinds, one of :data:`KINDS` per column.
        seed: seeds the subsample, the split and the classifier.
        test_fraction: share of the rows held out to compute the AUC, in (0, 1).
        n_threads: OpenMP threads for the classifier. One by default: on tables of a few
            thousand rows more threads gain little, and on a busy machine they spin-wait.

    Returns:
        The AUC in [0, 1].

    Raises:
        DataError: as :func:`column_shapes`, or fewer than 10 rows in either table.
        ConfigError: as :func:`column_shapes`, or ``test_fraction`` outside (0, 1).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(200, 2)), rng.normal(3.0, 1.0, size=(200, 2))
        >>> detection_auc(a, b, ["continuous"] * 2) > 0.95
        True
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}", "pass e.g. test_fraction=0.3")
    r, f, kinds = _pair(real, fake, kinds)
    n = min(len(r), len(f))
    if n < _MIN_DETECTION_ROWS:
        raise DataError(f"detection needs at least {_MIN_DETECTION_ROWS} rows in each table, got {len(r)} real "
                        f"and {len(f)} fake", "pass more rows")
    n_test = round(2 * n * test_fraction)
    if n_test < 2 or 2 * n - n_test < 2:
        raise ConfigError(f"test_fraction={test_fraction} leaves {n_test} of {2 * n} rows for testing",
                          "pass a test_fraction that keeps at least 2 rows on each side")
    rng = np.random.default_rng(seed)
    if len(r) > n:
        r = r[np.sort(rng.choice(len(r), n, replace=False))]
    if len(f) > n:
        f = f[np.sort(rng.choice(len(f), n, replace=False))]
    x, categorical = _classifier_inputs(r, f, kinds)
    y = np.r_[np.ones(n), np.zeros(n)]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=n_test, stratify=y,
                                                        random_state=int(rng.integers(2**31)))
    model = HistGradientBoostingClassifier(categorical_features=categorical if categorical.any() else None,
                                           random_state=int(rng.integers(2**31)))
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
    return float(roc_auc_score(y_test, proba))


def _halves(n_rows: int, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded random sets of ``n`` row indices (default ``n_rows // 2``)."""
    n = n_rows // 2 if n is None else int(n)
    if n < 1 or 2 * n > n_rows:
        raise DataError(f"two real halves of n = {n} rows need {2 * n} real rows, got {n_rows}",
                        f"pass 1 <= n <= {n_rows // 2}" if n_rows >= 2 else "pass at least 2 real rows")
    perm = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(perm[:n]), np.sort(perm[n: 2 * n])


def real_vs_real_floor(real: object, kinds: Sequence[str], metric: Callable[[np.ndarray, np.ndarray, list[str]], T],
                       *, n: int | None = None, seed: int = 0) -> T:
    """``metric`` between two disjoint random halves of the real rows: what a perfect generator scores.

    Every score in this module is noisier (further from 1, or from 0.5 for the AUC) on fewer
    rows, so compare a generator's score with this floor taken at the same sample size:
    :func:`table_report` compares ``n`` fake rows with the second half, ``n`` real rows.

    Args:
        real: ``N x d`` codes of the real table.
        kinds: ``d`` kinds, one of :data:`KINDS` per column.
        metric: called as ``metric(half_b, half_a, kinds)``, e.g. :func:`column_shapes`; use
            ``functools.partial`` for its options (``detection_auc`` with a seed).
        n: rows in each half, at most ``N // 2`` (default ``N // 2``).
        seed: seeds the split.

    Returns:
        What ``metric`` returns.

    Raises:
        DataError: fewer than ``2 n`` real rows, or as ``metric``.

    Example:
        >>> real = np.c_[np.arange(100.0), np.arange(100) % 2]
        >>> real_vs_real_floor(real, ["continuous", "boolean"], column_shapes)["scores"]
        [0.78, 0.96]
    """
    r = _table(real, "real")
    a, b = _halves(len(r), n, seed)
    return metric(r[b], r[a], _kinds(kinds, r.shape[1]))


def table_report(real: object, fake: object, kinds: Sequence[str], *, seed: int = 0) -> dict[str, Any]:
    """Column shapes, column pair trends and detection AUC of ``fake``, each beside its real-vs-real floor.

    The real rows are split in two disjoint random halves A and B of ``n = min(N // 2, M)``
    rows; ``n`` fake rows (a seeded subsample) are scored against B, and the floor is A scored
    against B, so both compare ``n`` rows with the same ``n`` real rows. Per-column and
    per-pair scores are kept for the report's tables and heat maps.

    Args:
        real: ``N x d`` codes of the real (held-out) table, ``N >= 2``.
        fake: ``M x d`` codes of the generated table.
        kinds: ``d`` kinds, one of :data:`KINDS` per column.
        seed: seeds the split, the subsample and the detection classifier.

    Returns:
        dict: ``"rows"`` (``n``), ``"real_rows"``, ``"fake_rows"``, ``"seed"``, ``"kinds"``,
        ``"column_shapes"`` and ``"column_pair_trends"`` (as those functions return),
        ``"detection_auc"`` (``None`` below 10 rows per side), and each with a ``"_floor"``
        twin. Only lists, dicts, str, int, float and ``None``: ``json.dumps`` takes it as is.

    Raises:
        DataError, ConfigError: as :func:`column_shapes`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> real = np.c_[rng.normal(size=200), rng.integers(0, 3, 200)]
        >>> fake = np.c_[rng.normal(size=200), rng.integers(0, 3, 200)]
        >>> report = table_report(real, fake, ["continuous", "categorical"])
        >>> report["rows"], sorted(report)[:3]
        (100, ['column_pair_trends', 'column_pair_trends_floor', 'column_shapes'])
    """
    r, f, kinds = _pair(real, fake, kinds)
    n = min(len(r) // 2, len(f))
    a, b = _halves(len(r), n, seed)
    rng = np.random.default_rng([seed, 1])
    f_n = f[np.sort(rng.choice(len(f), n, replace=False))]
    report: dict[str, Any] = {"rows": int(n), "real_rows": int(len(r)), "fake_rows": int(len(f)), "seed": int(seed),
                              "kinds": kinds}
    for name, metric in (("column_shapes", column_shapes), ("column_pair_trends", column_pair_trends)):
        report[name] = metric(r[b], f_n, kinds)
        report[f"{name}_floor"] = metric(r[b], r[a], kinds)
    detect = n >= _MIN_DETECTION_ROWS
    report["detection_auc"] = detection_auc(r[b], f_n, kinds, seed=seed) if detect else None
    report["detection_auc_floor"] = detection_auc(r[b], r[a], kinds, seed=seed) if detect else None
    return report
