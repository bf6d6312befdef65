r"""Conditional bijections, each one small class with one job.

Every transform maps data-side ``x`` to base-side ``y`` given conditions ``e`` and returns
``(y, log|det dy/dx|)``; ``inverse(y, e)`` undoes it. A coupling layer is the paper's

.. math::
    \phi(x_1, x_2; e) = (x_1,\; q(x_2, w(x_1, e)))

with ``x_1`` the kept coordinates and ``w`` a small network (the conditional version feeds ``e``
into ``w``).
"""

from __future__ import annotations

import torch
from torch import nn

from gentransfer.nn import MLP

__all__ = ["Transform", "AdditiveCoupling", "AffineCoupling", "ConditionalScale", "alternating_masks"]


def alternating_masks(dim: int, n_layers: int) -> list[torch.Tensor]:
    """Kept-coordinate masks that alternate halves, so every coordinate gets transformed.

    For ``dim == 1`` nothing can be kept: the single coordinate is transformed given ``e`` alone.
    """
    first = torch.arange(dim, device="cpu") < dim // 2
    return [first if i % 2 == 0 else ~first if dim > 1 else first for i in range(n_layers)]


class Transform(nn.Module):
    """A conditional bijection ``x -> y``."""

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, y: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _Coupling(Transform):
    """Shared plumbing: split by a fixed mask, run ``w([x_1, e])``, merge."""

    def __init__(self, mask: torch.Tensor, cond_dim: int, out_per_dim: int, hidden: int, depth: int):
        super().__init__()
        self.register_buffer("mask", mask.clone().bool())
        n_keep, n_move = int(mask.sum()), int((~mask).sum())
        # zero_last: every coupling starts as the identity, so a deep flow starts well-conditioned.
        self.w = MLP(n_keep + cond_dim, out_per_dim * n_move, hidden, depth, zero_last=True)

    def _params(self, kept: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.w(torch.cat([kept, e], dim=1))

    def _merge(self, kept: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
        out = torch.empty(len(kept), self.mask.numel(), dtype=moved.dtype, device=moved.device)
        out[:, self.mask] = kept
        out[:, ~self.mask] = moved
        return out


class AdditiveCoupling(_Coupling):
    """``q(x_2, y) = x_2 + y``: the paper's layer; volume-preserving (log-det 0)."""

    def __init__(self, mask: torch.Tensor, cond_dim: int, hidden: int = 64, depth: int = 2):
        super().__init__(mask, cond_dim, 1, hidden, depth)

    def forward(self, x, e):
        kept, moved = x[:, self.mask], x[:, ~self.mask]
        y = self._merge(kept, moved + self._params(kept, e))
        return y, torch.zeros(len(x), dtype=x.dtype, device=x.device)

    def inverse(self, y, e):
        kept, moved = y[:, self.mask], y[:, ~self.mask]
        return self._merge(kept, moved - self._params(kept, e))


class AffineCoupling(_Coupling):
    """``q(x_2, (s, t)) = x_2 exp(s) + t`` with ``s`` soft-clamped to (-3, 3) for stability."""

    def __init__(self, mask: torch.Tensor, cond_dim: int, hidden: int = 64, depth: int = 2):
        super().__init__(mask, cond_dim, 2, hidden, depth)

    def _scale_shift(self, kept, e):
        s, t = self._params(kept, e).chunk(2, dim=1)
        return 3.0 * torch.tanh(s / 3.0), t

    def forward(self, x, e):
        kept, moved = x[:, self.mask], x[:, ~self.mask]
        s, t = self._scale_shift(kept, e)
        return self._merge(kept, moved * s.exp() + t), s.sum(dim=1)

    def inverse(self, y, e):
        kept, moved = y[:, self.mask], y[:, ~self.mask]
        s, t = self._scale_shift(kept, e)
        return self._merge(kept, (moved - t) * (-s).exp())


class ConditionalScale(Transform):
    """Elementwise ``y = (x - b(e)) exp(-s(e))``: a conditional location and scale.

    An additive flow alone preserves volume and cannot change the spread of the data; this layer,
    placed on the data side, supplies a learnable scale (and location) that depends on ``e``.
    """

    def __init__(self, dim: int, cond_dim: int, hidden: int = 64, depth: int = 2):
        super().__init__()
        # Without conditions the scale and shift are plain parameters (a network of nothing).
        self.net = MLP(cond_dim, 2 * dim, hidden, depth, zero_last=True) if cond_dim > 0 else None
        self.free = nn.Parameter(torch.zeros(2 * dim)) if cond_dim == 0 else None

    def _scale_shift(self, e):
        raw = self.net(e) if self.net is not None else self.free.expand(len(e), -1)
        s, b = raw.chunk(2, dim=1)
        return 5.0 * torch.tanh(s / 5.0), b

    def forward(self, x, e):
        s, b = self._scale_shift(e)
        return (x - b) * (-s).exp(), -s.sum(dim=1)

    def inverse(self, y, e):
        s, b = self._scale_shift(e)
        return y * s.exp() + b
