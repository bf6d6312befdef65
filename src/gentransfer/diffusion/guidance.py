r"""Domain Guidance: sample a fine-tuned diffusion guided by the model it was fine-tuned from.

Zhong et al. (ICLR 2025, thuml/DomainGuidance) replace the unconditional branch of
classifier-free guidance by the pre-trained source model:

.. math:: \hat\varepsilon_w(x_t, t) = \hat\varepsilon_{\rm src}(x_t, t)
          + w\,\big(\hat\varepsilon_{\rm tgt}(x_t, t) - \hat\varepsilon_{\rm src}(x_t, t)\big),

so ``w = 1`` samples the target model as it is, ``w = 0`` the source, and ``w > 1`` pushes the
samples away from what the source alone would draw, toward what the target learned. Here the
source is conditioned on the same shared conditions ``z`` as the target (the classes are the
same in both tasks, so its class-conditional prediction is the natural "source branch"); a source
with task-specific conditions of its own (``zc``) cannot be asked about the target's rows.

The weight is chosen on the target's held-out rows by the guided noise prediction's error
(:func:`guidance_losses`): the error is quadratic in ``w``, so every weight of a grid is scored
from one pass of each network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gentransfer.diffusion.model import HELDOUT_DRAWS, HELDOUT_LEVELS, DiffusionModel
from gentransfer.diffusion.samplers import run_sampler
from gentransfer.errors import ConfigError

__all__ = ["DomainGuidance", "guidance_losses"]


def _check_pair(target: Any, source: Any) -> None:
    if getattr(target, "domain", None) is not None:
        raise ConfigError("domain guidance steers a target by its source's model; a pooled run already holds the "
                          "source's rows", "drop --domain-guidance for a pooled run")
    if not isinstance(target, DiffusionModel) or not isinstance(source, DiffusionModel):
        raise ConfigError("domain guidance needs a diffusion target and its diffusion source",
                          "use it on a diffusion run fitted with fit-target")
    if target.data_shape() != source.data_shape():
        raise ConfigError(f"domain guidance needs the source to generate the target's x, but the source's x has "
                          f"shape {source.data_shape()} and the target's {target.data_shape()}",
                          "use it where source and target share x's columns (e.g. images of one size)")
    if source.zc_dim or source.z_dim != target.z_dim:
        raise ConfigError("domain guidance asks the source about the target's rows, so the source may take only "
                          "the shared conditions z", "drop domain guidance for this pair")


class DomainGuidance:
    """A target diffusion sampled with its source's guidance at weight ``weight``.

    Args:
        target: the fine-tuned (or otherwise transferred) diffusion model.
        source: the model it was transferred from (same x; conditions: the shared z only).
        weight: ``w``; 1 samples ``target`` exactly, 0 samples ``source``.

    Example:
        >>> from gentransfer import DiffusionModel, transfer
        >>> src = DiffusionModel(x_dim=2, hidden=8, depth=1)
        >>> guided = DomainGuidance(transfer(src, "finetune"), src, weight=1.5)
        >>> guided.sample(n=3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
    """

    def __init__(self, target: DiffusionModel, source: DiffusionModel, weight: float):
        _check_pair(target, source)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not np.isfinite(weight):
            raise ConfigError(f"the guidance weight must be a finite number, got {weight!r}", "pass e.g. 1.5")
        self.target, self.source, self.weight = target, source, float(weight)

    @torch.no_grad()
    def sample(self, z: Any | None = None, zc: Any | None = None, *, n: int | None = None,
               generator: torch.Generator | None = None, sampler: str | None = None,
               steps: int | None = None) -> torch.Tensor:
        """One sample of ``x`` per row of the conditions (``n`` without any), as ``target.sample``."""
        _, zt, zct = self.target.validate(None, z, zc)
        rows = len(zt) if zt is not None else len(zct) if zct is not None else n
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ConfigError(f"the number of samples must be a positive integer, got {n!r}", "pass n >= 1")
        e_t = self.target.condition(zt, zct, rows)
        e_s = self.source.condition(None if zt is None else zt.to(self.source.device), None, rows)
        w = self.weight

        def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            e_src = self.source.network(x.to(self.source.device), t.to(self.source.device), e_s).to(x.device)
            # (1 - w) e_src + w e_tgt is e_src + w (e_tgt - e_src), and exact at w = 0 and w = 1
            return (1.0 - w) * e_src + w * self.target.network(x, t, e_t)

        x_T = torch.randn((rows, *self.target.data_shape()), generator=generator).to(e_t.device)
        return run_sampler(sampler or self.target.sampler, eps, self.target.schedule, x_T,
                           steps or self.target.sample_steps, generator)


@torch.no_grad()
def guidance_losses(target: DiffusionModel, source: DiffusionModel, weights: Sequence[float], x: Any,
                    z: Any = None, zc: Any = None, *, seed: int = 0) -> dict[float, float]:
    """Mean held-out error of the guided noise prediction at each weight, on rows ``(x, z, zc)``.

    The same fixed noise levels and draws as ``DiffusionModel.heldout_loss_rows`` (so ``w = 1``
    gives the target's own held-out loss); the lowest is the weight to sample with.

    Returns:
        ``{w: mean squared error per pixel}``.
    """
    _check_pair(target, source)
    xt, zt, zct = target.validate(x, z, zc)
    e_t = target.condition(zt, zct, len(xt))
    e_s = source.condition(None if zt is None else zt.to(source.device), None, len(xt))
    w = torch.tensor([float(v) for v in weights], dtype=torch.float64)
    total = torch.zeros(len(w), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 4242)
    for level in HELDOUT_LEVELS:
        t = torch.full((len(xt),), level, device=xt.device)
        for _ in range(HELDOUT_DRAWS):
            noise = torch.randn(xt.shape, generator=gen).to(xt.device)
            x_noisy = target.schedule.add_noise(xt, noise, t)
            e_src = source.network(x_noisy, t, e_s).double()
            diff = target.network(x_noisy, t, e_t).double() - e_src
            resid = e_src - noise.double()  # error at w: resid + w diff
            a, b, c = (resid**2).mean(), 2 * (resid * diff).mean(), (diff**2).mean()
            total += a.cpu() + b.cpu() * w + c.cpu() * w**2
    total /= len(HELDOUT_LEVELS) * HELDOUT_DRAWS
    return {float(v): float(loss) for v, loss in zip(weights, total, strict=True)}
