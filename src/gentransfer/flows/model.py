"""Conditional coupling normalizing flow: exact ``log_prob(x | z)``, ``sample(z)``, MLE training."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from gentransfer.config import register, register_to_config
from gentransfer.errors import ConfigError
from gentransfer.flows.transforms import (
    AdditiveCoupling,
    AffineCoupling,
    ConditionalScale,
    Transform,
    alternating_masks,
)
from gentransfer.models.base import GenerativeModel

__all__ = ["CouplingFlow"]

_COUPLINGS = {"additive": AdditiveCoupling, "affine": AffineCoupling}


@register
class CouplingFlow(GenerativeModel):
    r"""A conditional coupling flow :math:`x = \phi^{-1}(u; e)`, :math:`u \sim N(0, I)`.

    .. math::
        \log p(x \mid z) = \log N(\phi(x; e); 0, I) + \log|\det \partial_x \phi(x; e)|,
        \quad e = (h(z), z^c)

    The head is a :class:`~gentransfer.flows.transforms.ConditionalScale` on the data side (unless
    ``scale=False``) followed by ``n_layers`` coupling layers with alternating partitions. The
    defaults are the paper's: three additive layers.

    Args:
        x_dim, z_dim, zc_dim, embedding, embed_dim: see :class:`GenerativeModel`.
        n_layers: number of coupling layers.
        coupling: ``"additive"`` (``q(x, y) = x + y``) or ``"affine"``.
        scale: add the conditional elementwise scale layer.
        hidden, depth: width and depth of each conditioner network ``w``.
    """

    family = "flow"
    ignore_for_config = ("embed_dim",)  # the embedding's own config carries it

    @register_to_config
    def __init__(self, x_dim: int, z_dim: int = 0, zc_dim: int = 0, embedding: Any = None, embed_dim: int = 4,
                 n_layers: int = 3, coupling: Literal["additive", "affine"] = "additive", scale: bool = True,
                 hidden: int = 64, depth: int = 2):
        super().__init__(x_dim, z_dim, zc_dim, embedding, embed_dim)
        if coupling not in _COUPLINGS:
            raise ConfigError(f"unknown coupling {coupling!r}", f"use one of {sorted(_COUPLINGS)}")
        if n_layers < 1:
            raise ConfigError(f"n_layers must be >= 1, got {n_layers}", "pass n_layers >= 1")
        layers: list[Transform] = [ConditionalScale(x_dim, self.cond_dim, hidden, depth)] if scale else []
        layers += [_COUPLINGS[coupling](m, self.cond_dim, hidden, depth)
                   for m in alternating_masks(x_dim, n_layers)]
        self.transforms = nn.ModuleList(layers)

    def to_base(self, x: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u = phi(x; e)`` and ``log|det d phi / dx|``."""
        log_det = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for t in self.transforms:
            x, ld = t(x, e)
            log_det = log_det + ld
        return x, log_det

    def from_base(self, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        for t in reversed(self.transforms):
            u = t.inverse(u, e)
        return u

    def log_prob_e(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        u, log_det = self.to_base(x, e)
        base = -0.5 * (u**2).sum(dim=1) - 0.5 * self.x_dim * math.log(2 * math.pi)
        return base + log_det

    def loss(self, x, e, noise=None):
        return -self.log_prob_e(x, e).mean()

    def sample_e(self, e, generator=None):
        u = torch.randn(len(e), self.x_dim, generator=generator, dtype=e.dtype).to(e.device)
        return self.from_base(u, e)
