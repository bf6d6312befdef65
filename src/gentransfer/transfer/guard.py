"""The negative-transfer guard (``auto``): fit the candidate strategies, score them on held-out
target rows, keep one. The whole loop and its decision rule live here; what fitting a candidate
means (checkpoints, a latent model's stages) the caller hands in.

Per-row held-out losses make the comparison paired: the gain of transfer is the mean over
validation rows of ``loss(scratch) - loss(transfer)``, with its standard error. The decision is
a threshold on the standardised Wilcoxon signed-rank statistic ``z`` of those differences for
the best transfer strategy (smallest median loss): keep it when ``z > THRESHOLD``, else scratch.
The rank statistic, unlike the mean, is not swayed by a few rows on which one model's
likelihood collapses. ``THRESHOLD`` was chosen on the development half of the bank of real
pairs (``benchmarks/bank_guard.py``, issue 30) from the family of such thresholds, by the
largest of min(share of cells within noise of the oracle's best, share of scratch-is-clearly-
best cells where scratch was kept); the shipped rule before it was ``z``'s exact one-sided test
at p < 0.05 (about z > 1.645), which kept scratch where transfer was clearly better in most
cells with 10-200 validation rows.

The latent route (``rule="lowest"``) compares each candidate's held-out W1 instead, split into
per-row shares (:func:`gentransfer.metrics.wasserstein1_rows`), and keeps the lowest: the shares
of one transport plan are not independent, so a rank test over them would not be valid, and the
likelihood through a low-dimensional P_U misjudges a misplaced P_U (``benchmarks/README.md``,
the latent route's ``auto``). ``--guard-by w1`` (tables) scores every candidate that way too, by
the W1 of its draws to the validation rows on the table's own columns, as ``evaluate --real
--fake`` scores two tables (:mod:`gentransfer.pipeline.validation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from gentransfer.errors import DataError

__all__ = ["StrategyChoice", "choose_strategy", "signed_rank_z", "GuardRun", "run_guard", "guard_rows",
           "VALIDATION_FRACTION", "MIN_VALIDATION", "LOSS_UNITS", "THRESHOLD"]

# what each family's held-out loss per row is (the guard's table states its units)
LOSS_UNITS = {"flow": "negative log-likelihood per row, nats, on the model's standardised scale",
              "diffusion": "denoising loss per row (mean squared error of the predicted noise)",
              "latent": "W1 to the validation rows, in per-row shares",
              "w1": "W1 of the candidate's draws to the validation rows (every column, as evaluate --real --fake "
                    "encodes them), "
                    "in per-row shares"}
VALIDATION_FRACTION = 0.2  # of the target rows, held out to compare the candidates
MIN_VALIDATION = 10  # held-out rows, at least
THRESHOLD = 0.5  # keep the best transfer when the signed-rank z of its gain over scratch exceeds this (issue 30)


@dataclass
class StrategyChoice:
    chosen: str
    losses: dict[str, float]
    gain: float  # mean over validation rows of loss(scratch) - loss(best transfer)
    gain_se: float
    best_transfer: str
    no_significant_gain: bool  # scratch was kept (the name predates the z threshold; kept for saved reports)
    n_validation: int
    p_value: float
    rule: str = "signed-rank"
    z: float = float("nan")  # the standardised signed-rank statistic of the gain (> 0: transfer leads)
    threshold: float | None = THRESHOLD  # the z the best transfer had to exceed (None under the "lowest" rule)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self, units: str | None = None) -> str:
        """The guard's choice for a terminal; ``units``: what the held-out loss is (lower is better)."""
        lines = [f"held-out loss on {self.n_validation} validation rows"
                 + (f": {units}" if units else "") + "; lower is better", f"{'strategy':15s} held-out loss"]
        lines += [f"{name:15s} {loss:.4f}" + ("  <- chosen" if name == self.chosen else "")
                  for name, loss in self.losses.items()]
        lines.append(f"gain of {self.best_transfer} over scratch: {self.gain:+.4f} ± {self.gain_se:.4f} "
                     f"(per validation row, n = {self.n_validation}; signed-rank z = {self.z:+.2f}, "
                     f"one-sided p = {self.p_value:.3g})")
        if self.rule == "lowest":
            lines.append(f"{self.chosen} has the lowest held-out loss: using it (the lowest is kept; "
                         "the p-value is for information, no test decides)")
        elif self.no_significant_gain:
            what = "negative transfer" if self.gain < 0 else "no clear gain"
            lines.append(f"{what} from {self.best_transfer} (z not above {self.threshold:g}): using scratch")
        else:
            lines.append(f"{self.best_transfer} kept: it leads scratch row by row (z above {self.threshold:g})")
        return "\n".join(lines)


def signed_rank_z(diff: np.ndarray) -> float:
    """The standardised Wilcoxon signed-rank statistic of ``diff`` (shape ``(n,)``): zero differences
    dropped, tied ranks averaged and the variance corrected for them (scipy's normal approximation
    without continuity correction), ``(W+ - n(n+1)/4) / sd``; > 0 when the differences lean
    positive, 0 when all are zero."""
    from scipy.stats import rankdata

    d = np.asarray(diff, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    _, counts = np.unique(ranks, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - float((counts ** 3 - counts).sum()) / 48
    w_plus = float(ranks[d > 0].sum())
    return (w_plus - n * (n + 1) / 4) / float(np.sqrt(var)) if var > 0 else 0.0


def _nan_as_worst(losses: np.ndarray) -> np.ndarray:
    """Per-row losses with a loss that is not a number counted as the worst (+inf): a model that
    breaks on a row loses that row."""
    return np.nan_to_num(np.asarray(losses, dtype=float), nan=np.inf)


def _paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` per row (:func:`_nan_as_worst` on both), a row where both are infinite a tie (0)."""
    a, b = _nan_as_worst(a), _nan_as_worst(b)
    both = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    return np.where(both, 0.0, a - np.where(both, 0.0, b))


def choose_strategy(rows: dict[str, np.ndarray], *, threshold: float = THRESHOLD,
                    rule: Literal["signed-rank", "lowest"] = "signed-rank") -> StrategyChoice:
    """Choose a strategy from ``rows`` (strategy -> per-row validation losses, scratch among them).

    ``"signed-rank"``: keep the best transfer strategy (smallest median loss) when the signed-rank
    statistic of its per-row gain over scratch exceeds ``threshold`` (:func:`signed_rank_z`), else
    scratch. ``"lowest"``: the strategy with the smallest mean loss, scratch included (the gain,
    its se, z and p are reported, not required).

    Example:
        >>> rows = {"scratch": np.array([1.0, 1.2, 0.9, 1.1]), "finetune": np.array([0.8, 0.9, 0.7, 1.0])}
        >>> choose_strategy(rows).chosen
        'finetune'
    """
    from scipy.stats import wilcoxon

    if rule not in ("signed-rank", "lowest"):
        raise ValueError(f"unknown rule {rule!r}")
    losses = {name: float(v.mean()) for name, v in rows.items()}
    transfers = [n for n in rows if n != "scratch"]
    center = np.mean if rule == "lowest" else np.median
    best_transfer = min(transfers, key=lambda n: float(center(_nan_as_worst(rows[n]))))
    diff = _paired(rows["scratch"], rows[best_transfer])
    finite = diff[np.isfinite(diff)]  # the gain's size is read on the rows both models scored
    gain = float(finite.mean()) if len(finite) else float("nan")
    se = float(finite.std(ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else float("nan")
    p = float(wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    z = signed_rank_z(diff)
    keep = gain > 0 if rule == "lowest" else z > threshold
    chosen = best_transfer if keep else "scratch"
    return StrategyChoice(chosen, losses, gain, se, best_transfer, chosen == "scratch", len(diff), p, rule, z,
                          threshold if rule == "signed-rank" else None)


def guard_rows(n: int, seed: int, source: str = "the target data") -> tuple[np.ndarray, np.ndarray]:
    """The rows the candidates are fitted on and the rows they are compared on (a seeded split of
    ``VALIDATION_FRACTION``); one line when too few rows would be held out."""
    n_val = round(VALIDATION_FRACTION * n)
    if n_val < MIN_VALIDATION:
        raise DataError(f"{source} has {n} rows: too few for the validation split that --strategy auto needs",
                        f"pass at least {int(np.ceil(MIN_VALIDATION / VALIDATION_FRACTION))} target rows, "
                        "or choose a strategy")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_val:], perm[:n_val]


@dataclass
class GuardRun:
    """What the guard did: the choice, each candidate's fit (whatever ``fit_candidate`` returned)
    and the rows they were fitted and compared on."""

    choice: StrategyChoice
    fits: dict[str, Any]
    fit_rows: np.ndarray
    val_rows: np.ndarray


def run_guard(candidates: dict[str, Any], x: np.ndarray, z: np.ndarray | None, zc: np.ndarray | None, *,
              seed: int, fit_candidate: Callable[[str, Any, np.ndarray, Any, Any], Any],
              score: Callable[[str, Any, np.ndarray], np.ndarray] | None = None) -> GuardRun:
    """Fit every candidate on the guard's fitting rows, score each on its validation rows
    (``model.heldout_loss_rows``), and choose by the candidates' ``guard_rule``.

    Args:
        candidates: strategy name -> an untrained target model, ``scratch`` among them.
        x, z, zc: the target rows, on the models' scale.
        seed: seeds the split (:func:`guard_rows`) and the held-out losses.
        fit_candidate: ``fit_candidate(name, model, x, z, zc)`` fits one candidate on the rows
            given (and may save it); its return value is kept in :attr:`GuardRun.fits`.
        score: ``score(name, model, val_rows)``, per-row W1 shares of a fitted candidate on the
            validation rows (``--guard-by w1``, :mod:`gentransfer.pipeline.validation`) in place of
            its held-out loss; the lowest then wins (``rule="lowest"``).
    """
    fit_rows, val_rows = guard_rows(len(x), seed)
    take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
    fits, losses = {}, {}
    for name, model in candidates.items():
        fits[name] = fit_candidate(name, model, x[fit_rows], take(z, fit_rows), take(zc, fit_rows))
        losses[name] = (score(name, model, val_rows) if score is not None else
                        model.heldout_loss_rows(x[val_rows], take(z, val_rows), take(zc, val_rows), seed=seed))
    rule = "lowest" if score is not None else next(iter(candidates.values())).guard_rule
    return GuardRun(choose_strategy(losses, rule=rule), fits, fit_rows, val_rows)
