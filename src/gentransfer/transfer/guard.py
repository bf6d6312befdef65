"""The negative-transfer guard (``auto``): fit the candidate strategies, score them on held-out
target rows, keep one. The whole loop and its decision rule live here; what fitting a candidate
means (checkpoints, a latent model's stages) the caller hands in.

Per-row held-out losses make the comparison paired: the gain of transfer is the mean over
validation rows of ``loss(scratch) - loss(transfer)``, with its standard error. Transfer must
prove itself: the best transfer strategy is kept only if a one-sided Wilcoxon signed-rank test
says it beats scratch on the validation rows (p < ``alpha``); otherwise scratch is used. The
rank test, unlike the mean, is not swayed by a few rows on which one model's likelihood
collapses.

The latent route (``rule="lowest"``) compares each candidate's held-out W1 instead, split into
per-row shares (:func:`gentransfer.metrics.wasserstein1_rows`), and keeps the lowest: the shares
of one transport plan are not independent, so a rank test over them would not be valid, and the
likelihood through a low-dimensional P_U misjudges a misplaced P_U (``benchmarks/README.md``,
the latent route's ``auto``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from gentransfer.errors import DataError

__all__ = ["StrategyChoice", "choose_strategy", "GuardRun", "run_guard", "guard_rows", "VALIDATION_FRACTION",
           "MIN_VALIDATION", "LOSS_UNITS"]

# what each family's held-out loss per row is (the guard's table states its units)
LOSS_UNITS = {"flow": "negative log-likelihood per row, nats, on the model's standardised scale",
              "diffusion": "denoising loss per row (mean squared error of the predicted noise)",
              "latent": "W1 to the validation rows, in per-row shares"}
VALIDATION_FRACTION = 0.2  # of the target rows, held out to compare the candidates
MIN_VALIDATION = 10  # held-out rows, at least


@dataclass
class StrategyChoice:
    chosen: str
    losses: dict[str, float]
    gain: float  # mean over validation rows of loss(scratch) - loss(best transfer)
    gain_se: float
    best_transfer: str
    no_significant_gain: bool
    n_validation: int
    p_value: float
    rule: str = "signed-rank"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self, units: str | None = None) -> str:
        """The guard's choice for a terminal; ``units``: what the held-out loss is (lower is better)."""
        lines = [f"held-out loss on {self.n_validation} validation rows"
                 + (f": {units}" if units else "") + "; lower is better", f"{'strategy':15s} held-out loss"]
        lines += [f"{name:15s} {loss:.4f}" + ("  <- chosen" if name == self.chosen else "")
                  for name, loss in self.losses.items()]
        lines.append(f"gain of {self.best_transfer} over scratch: {self.gain:+.4f} ± {self.gain_se:.4f} "
                     f"(per validation row, n = {self.n_validation}; signed-rank p = {self.p_value:.3g})")
        if self.rule == "lowest":
            lines.append(f"{self.chosen} has the lowest held-out loss: using it (this route keeps the lowest; "
                         "the p-value is for information, no test decides)")
        elif self.no_significant_gain:
            what = "negative transfer" if self.gain < 0 else "no significant gain"
            lines.append(f"{what} from {self.best_transfer} (signed-rank p >= alpha): using scratch")
        return "\n".join(lines)


def choose_strategy(rows: dict[str, np.ndarray], alpha: float = 0.05,
                    rule: Literal["signed-rank", "lowest"] = "signed-rank") -> StrategyChoice:
    """Choose a strategy from ``rows`` (strategy -> per-row validation losses, scratch among them).

    ``"signed-rank"``: keep the best transfer strategy (smallest median loss) if it beats scratch
    row by row (one-sided Wilcoxon p < ``alpha``), else scratch. ``"lowest"``: the strategy with
    the smallest mean loss, scratch included (the gain, its se and p are reported, not required).
    """
    from scipy.stats import wilcoxon

    if rule not in ("signed-rank", "lowest"):
        raise ValueError(f"unknown rule {rule!r}")
    losses = {name: float(v.mean()) for name, v in rows.items()}
    transfers = [n for n in rows if n != "scratch"]
    center = np.mean if rule == "lowest" else np.median
    best_transfer = min(transfers, key=lambda n: float(center(rows[n])))
    diff = rows["scratch"] - rows[best_transfer]
    gain, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    p = float(wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    keep = gain > 0 if rule == "lowest" else p < alpha
    chosen = best_transfer if keep else "scratch"
    return StrategyChoice(chosen, losses, gain, se, best_transfer, chosen == "scratch", len(diff), p, rule)


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
              seed: int, fit_candidate: Callable[[str, Any, np.ndarray, Any, Any], Any]) -> GuardRun:
    """Fit every candidate on the guard's fitting rows, score each on its validation rows
    (``model.heldout_loss_rows``), and choose by the candidates' ``guard_rule``.

    Args:
        candidates: strategy name -> an untrained target model, ``scratch`` among them.
        x, z, zc: the target rows, on the models' scale.
        seed: seeds the split (:func:`guard_rows`) and the held-out losses.
        fit_candidate: ``fit_candidate(name, model, x, z, zc)`` fits one candidate on the rows
            given (and may save it); its return value is kept in :attr:`GuardRun.fits`.
    """
    fit_rows, val_rows = guard_rows(len(x), seed)
    take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
    fits, losses = {}, {}
    for name, model in candidates.items():
        fits[name] = fit_candidate(name, model, x[fit_rows], take(z, fit_rows), take(zc, fit_rows))
        losses[name] = model.heldout_loss_rows(x[val_rows], take(z, val_rows), take(zc, val_rows), seed=seed)
    rule = next(iter(candidates.values())).guard_rule
    return GuardRun(choose_strategy(losses, rule=rule), fits, fit_rows, val_rows)
