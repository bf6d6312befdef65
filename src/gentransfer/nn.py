"""Small network building blocks: MLPs, time features, and the shared embedding ``h``."""

from __future__ import annotations

import math

import torch
from torch import nn

from gentransfer.config import ConfigMixin, register, register_to_config

__all__ = ["MLP", "FourierTime", "SharedEmbedding"]


class MLP(nn.Sequential):
    """``in_dim -> hidden x depth -> out_dim`` with SiLU; ``zero_last`` starts it at the zero map."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, depth: int = 2, zero_last: bool = False):
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, out_dim)
        if zero_last:  # an identity-initialised flow / a zero-initialised residual
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        super().__init__(*layers)


class FourierTime(nn.Module):
    """Fixed sinusoidal features of a diffusion time ``t`` in [0, 1]: ``t -> (sin, cos)(2^k pi t)``."""

    def __init__(self, n_frequencies: int = 8):
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_frequencies, dtype=torch.float32))
        self.dim = 2 * n_frequencies + 1

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1)
        angles = t * self.freqs
        return torch.cat([t, angles.sin(), angles.cos()], dim=1)


@register
class SharedEmbedding(ConfigMixin, nn.Module):
    r"""The shared embedding :math:`h: \mathbb{R}^{d_z} \to \mathbb{R}^k` of the SEC.

    Both tasks depend on the common condition block ``z`` only through ``h(z)``: a source model
    learns it, a target model receives it (frozen under ``freeze-shared``).

    Args:
        z_dim: dimension of the shared condition block ``z`` (``d_z``).
        embed_dim: dimension ``k`` of ``h(z)``.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        n_classes: if set, ``z`` is a class label (a single integer column) and ``h`` is a lookup
            table ``n_classes x k`` (the class embedding of a class-conditional model).
    """

    @register_to_config
    def __init__(self, z_dim: int, embed_dim: int = 4, hidden: int = 64, depth: int = 2,
                 n_classes: int | None = None):
        super().__init__()
        self.z_dim, self.embed_dim = z_dim, embed_dim
        if n_classes is not None:
            self.table = nn.Embedding(n_classes, embed_dim)
        else:
            self.net = MLP(z_dim, embed_dim, hidden, depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.config["n_classes"] is not None:
            return self.table(z.reshape(-1).long())
        return self.net(z)
