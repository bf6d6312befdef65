"""The negative-transfer guard: choose a strategy by held-out loss on target data.

Per-row held-out losses make the comparison paired: the gain of transfer is the mean over
validation rows of ``loss(scratch) - loss(transfer)``, with its standard error. Transfer must
prove itself: the best transfer strategy is kept only if a one-sided Wilcoxon signed-rank test
says it beats scratch on the validation rows (p < ``alpha``); otherwise scratch is used. The
rank test, unlike the mean, is not swayed by a few rows on which one model's likelihood
collapses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["StrategyChoice", "choose_strategy"]


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [f"{'strategy':15s} held-out loss"]
        lines += [f"{name:15s} {loss:.4f}" + ("  <- chosen" if name == self.chosen else "")
                  for name, loss in self.losses.items()]
        lines.append(f"gain of {self.best_transfer} over scratch: {self.gain:+.4f} ± {self.gain_se:.4f} "
                     f"(per validation row, n = {self.n_validation}; signed-rank p = {self.p_value:.3g})")
        if self.no_significant_gain:
            what = "negative transfer" if self.gain < 0 else "no significant gain"
            lines.append(f"{what} from {self.best_transfer} (signed-rank p >= alpha): using scratch")
        return "\n".join(lines)


def choose_strategy(rows: dict[str, np.ndarray], alpha: float = 0.05) -> StrategyChoice:
    """Keep the best transfer strategy (smallest median held-out loss) if it significantly beats
    scratch row by row, else scratch; ``rows`` maps strategy -> per-row validation losses."""
    from scipy.stats import wilcoxon

    losses = {name: float(v.mean()) for name, v in rows.items()}
    transfers = [n for n in rows if n != "scratch"]
    best_transfer = min(transfers, key=lambda n: float(np.median(rows[n])))
    diff = rows["scratch"] - rows[best_transfer]
    gain, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    p = float(wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    chosen = best_transfer if p < alpha else "scratch"
    return StrategyChoice(chosen, losses, gain, se, best_transfer, chosen == "scratch", len(diff), p)
