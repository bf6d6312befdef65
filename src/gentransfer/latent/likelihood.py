r"""Maximum likelihood for a decoder through a fixed latent prior.

Under :math:`X = g(U) + \sigma \odot \varepsilon`, :math:`U \sim P_U`, the density of ``x`` is
:math:`p(x) = E_{U}\,N(x;\, g(U), \operatorname{diag}\sigma^2)`. With ``P_U`` fixed (the
transferred prior) only ``g`` and ``sigma`` are unknown, and with a low-dimensional latent
the expectation is estimated well by a few thousand prior draws. This is the SEC estimator's
target stage in its likelihood form: the autoencoder stage gives a starting point, and this
refines the decoder on the target's own likelihood, which the MMD-matched autoencoder does not
optimise.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gentransfer.models.base import as_tensor
from gentransfer.transfer.plan import SCRATCH_PLAN

__all__ = ["DecoderLikelihood"]


class DecoderLikelihood(nn.Module):
    """Negative log-likelihood of ``x`` under ``g(u) + sigma * eps``, ``u`` from a bank of prior draws.

    A training objective for :func:`gentransfer.training.fit` (it is not saved: the decoder it
    trains belongs to a :class:`~gentransfer.latent.LatentModel`, whose transfer plan the fit
    runs under; the objective itself was made by no strategy).

    Args:
        decoder: the module ``g`` (trained in place).
        bank: prior draws, shape ``(m, k)``; each step uses ``draws`` of them.
        sigma: starting per-coordinate noise level, shape ``(d,)`` (trained, on the log scale).
        draws: prior draws per Monte Carlo estimate of ``p(x)``.
    """

    transfer_plan = SCRATCH_PLAN
    default_ema_decay = 0.0

    def __init__(self, decoder: nn.Module, bank: torch.Tensor, sigma: torch.Tensor, draws: int = 4096):
        super().__init__()
        self.decoder = decoder
        self.register_buffer("bank", bank.detach().clone())
        self.log_sigma = nn.Parameter(sigma.detach().clamp_min(1e-3).log().clone())
        self.draws = min(draws, len(bank))
        self.x_dim = len(sigma)

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def validate(self, x: Any, z: Any = None, zc: Any = None):
        return as_tensor(x, "x", self.x_dim).to(self.bank.device), None, None

    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"idx": torch.randint(0, len(self.bank), (self.draws,), generator=generator)}

    def log_prob(self, x: torch.Tensor, noise: dict[str, torch.Tensor]) -> torch.Tensor:
        mean = self.decoder(self.bank[noise["idx"].to(self.bank.device)])
        d2 = ((x[:, None, :] - mean[None]) / self.sigma).pow(2).sum(-1)
        log_norm = self.log_sigma.sum() + 0.5 * self.x_dim * math.log(2 * math.pi) + math.log(len(mean))
        return torch.logsumexp(-0.5 * d2, dim=1) - log_norm

    def forward(self, x: torch.Tensor, z=None, zc=None, generator: torch.Generator | None = None,
                noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        noise = self.draw_noise(len(x), generator) if noise is None else noise
        return -self.log_prob(x, noise).mean()
