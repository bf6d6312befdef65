"""Noise-prediction networks ``eps(x_t, t, e)``; the diffusion model takes any of them."""

from __future__ import annotations

import torch
from torch import nn

from gentransfer.config import ConfigMixin, register, register_to_config
from gentransfer.nn import MLP, FourierTime

__all__ = ["EpsMLP"]


@register
class EpsMLP(ConfigMixin, nn.Module):
    """An MLP on ``[x_t, features(t), e]`` predicting the noise; for vector data.

    Args:
        x_dim: dimension of ``x``.
        cond_dim: dimension of ``e = (h(z), z^c)`` (0 for unconditional).
        hidden, depth: width and number of hidden layers.
        n_frequencies: Fourier features of ``t``.
    """

    @register_to_config
    def __init__(self, x_dim: int, cond_dim: int = 0, hidden: int = 128, depth: int = 3, n_frequencies: int = 8):
        super().__init__()
        self.time = FourierTime(n_frequencies)
        self.net = MLP(x_dim + self.time.dim + cond_dim, x_dim, hidden, depth)

    def forward(self, x: torch.Tensor, t: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        parts = [x, self.time(t)] + ([e] if e is not None and e.shape[1] > 0 else [])
        return self.net(torch.cat(parts, dim=1))
