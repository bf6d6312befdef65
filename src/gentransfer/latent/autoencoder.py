"""The task-specific part of a latent-variable model: an encoder and a decoder ``g``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gentransfer.config import ConfigMixin, register, register_to_config
from gentransfer.models.base import as_tensor
from gentransfer.nn import MLP

__all__ = ["AutoEncoder", "mmd2_rbf"]

_BANDWIDTHS = (0.1, 0.3, 1.0, 3.0)  # latents are ~unit scale: a mixture covers fine and coarse structure


def mmd2_rbf(a: torch.Tensor, b: torch.Tensor, bandwidths: tuple[float, ...] = _BANDWIDTHS) -> torch.Tensor:
    """Differentiable (biased, V-statistic) squared MMD with a sum of RBF kernels."""
    pts = torch.cat([a, b])
    d2 = torch.cdist(pts, pts).pow(2)
    k = sum(torch.exp(-d2 / (2 * s**2)) for s in bandwidths)
    n = len(a)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


@register
class AutoEncoder(ConfigMixin, nn.Module):
    """``encode: R^d -> R^k`` and ``decode: R^k -> R^d`` (the decoder is ``g`` of the paper).

    ``forward`` returns the training loss: the reconstruction error plus, when a bank of latent
    samples from a (frozen) prior is set with :meth:`match_to`, ``match_weight`` times the MMD
    between the codes and the prior, which puts the target's codes in the prior's coordinates.
    Without a bank, a small penalty keeps the codes standardised so a prior can be fitted to them.
    """

    default_ema_decay = 0.0

    @register_to_config
    def __init__(self, x_dim: int, latent_dim: int = 2, hidden: int = 128, depth: int = 2,
                 match_weight: float = 1.0):
        super().__init__()
        self.x_dim, self.latent_dim, self.match_weight = x_dim, latent_dim, match_weight
        self.encoder = MLP(x_dim, latent_dim, hidden, depth)
        self.decoder = MLP(latent_dim, x_dim, hidden, depth)
        self.bank: torch.Tensor | None = None

    def match_to(self, bank: torch.Tensor | None) -> None:
        self.bank = bank

    def validate(self, x: Any, z: Any = None, zc: Any = None):
        return as_tensor(x, "x", self.x_dim).to(next(self.parameters()).device), None, None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        return self.decoder(u)

    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {} if self.bank is None else {"idx": torch.randint(0, len(self.bank), (n,), generator=generator)}

    def forward(self, x: torch.Tensor, z=None, zc=None, generator: torch.Generator | None = None,
                noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        noise = self.draw_noise(len(x), generator) if noise is None else noise
        u = self.encode(x)
        loss = F.mse_loss(self.decode(u), x)
        if self.bank is not None:
            loss = loss + self.match_weight * mmd2_rbf(u, self.bank[noise["idx"].to(self.bank.device)])
        else:  # standardise the codes: mean 0, variance 1 per coordinate
            loss = loss + 1e-2 * (u.mean(0).pow(2).sum() + (u.var(0) - 1).pow(2).sum())
        return loss
