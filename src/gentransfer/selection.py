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
import torch

__all__ = ["heldout_loss_rows", "StrategyChoice", "choose_strategy"]

# Fixed noise levels and draws for comparing diffusion models (their training loss is random in t
# and noise): enough of them that each row's loss is precise, so the paired test has power.
_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8)
_DRAWS = 4


@torch.no_grad()
def heldout_loss_rows(model: Any, x: Any, z: Any = None, zc: Any = None, *, seed: int = 0) -> np.ndarray:
    """Per-row held-out loss: the negative log-likelihood for flows (and for latent models, by
    Monte Carlo through their prior), the denoising error at fixed noise levels (same noise for
    every model) for diffusion."""
    from gentransfer.latent import LatentModel

    if isinstance(model, LatentModel):
        gen = torch.Generator().manual_seed(seed + 4242)
        return (-model.log_prob(x, generator=gen)).cpu().numpy().astype(np.float64)
    xt, zt, zct = model.validate(x, z, zc)
    e = model.condition(zt, zct, len(xt))
    if model.family != "diffusion":  # flows and FlowLatentModel: an exact likelihood
        return (-model.log_prob_e(xt, e)).cpu().numpy().astype(np.float64)
    gen = torch.Generator().manual_seed(seed + 4242)
    total = torch.zeros(len(xt))
    for level in _LEVELS:
        t = torch.full((len(xt),), level, device=xt.device)
        for _ in range(_DRAWS):
            noise = torch.randn(xt.shape, generator=gen)
            pred = model.network(model.schedule.add_noise(xt, noise.to(xt.device), t), t, e)
            total += ((pred.cpu() - noise) ** 2).mean(dim=1)
    return (total / (len(_LEVELS) * _DRAWS)).numpy().astype(np.float64)


@dataclass
class StrategyChoice:
    chosen: str
    losses: dict[str, float]
    gain: float  # mean over validation rows of loss(scratch) - loss(best transfer)
    gain_se: float
    best_transfer: str
    negative_transfer: bool
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
        if self.negative_transfer:
            lines.append("negative transfer detected: using scratch")
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
