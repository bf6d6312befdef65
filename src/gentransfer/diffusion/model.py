"""Score-based diffusion on the VP process (conditional or not) with a pluggable noise-prediction network."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gentransfer.config import build_component, register, register_to_config
from gentransfer.diffusion.likelihood import ode_log_likelihood
from gentransfer.diffusion.networks import EpsMLP
from gentransfer.diffusion.samplers import SAMPLERS, run_sampler
from gentransfer.diffusion.schedule import VPSchedule
from gentransfer.errors import ConfigError
from gentransfer.models.base import GenerativeModel

__all__ = ["DiffusionModel"]

# Fixed noise levels and draws for comparing diffusion models on held-out rows (their training
# loss is random in t and noise): enough of them that each row's loss is precise, so the
# guard's paired test has power.
HELDOUT_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8)
HELDOUT_DRAWS = 4


@register
class DiffusionModel(GenerativeModel):
    r"""Denoising score matching on the VP process, conditioned on ``e = (h(z), z^c)``.

    Training minimises :math:`E_{t, x_0, \varepsilon}\|\hat\varepsilon(x_t, t, e) - \varepsilon\|^2`
    with :math:`t \sim U[\varepsilon_{\rm stop}, T]`; the score is
    :math:`-\hat\varepsilon / \sigma(t)`.

    Args:
        x_dim, z_dim, zc_dim, embedding, embed_dim: see :class:`GenerativeModel`.
        network: the noise predictor (task-specific head): a module ``(x_t, t, e) -> eps`` with a
            config, its saved config, or ``None`` for an :class:`EpsMLP` of ``hidden`` x ``depth``.
        schedule: :class:`VPSchedule` fields (``beta_min``, ``beta_max``, ``eps``, ``T``).
        sampler: default sampler, ``"ancestral"`` or ``"ode"``.
        sample_steps: default number of sampling steps.
        likelihood_steps: Heun steps of the probability-flow ODE in :meth:`log_prob`.
    """

    family = "diffusion"
    default_ema_decay = 0.995  # averaged weights denoise better than the last iterate
    ignore_for_config = ("embed_dim", "hidden", "depth")  # the embedding's and the network's configs carry them

    @register_to_config
    def __init__(self, x_dim: int, z_dim: int = 0, zc_dim: int = 0, embedding: Any = None, embed_dim: int = 4,
                 network: Any = None, hidden: int = 128, depth: int = 3, schedule: dict[str, float] | None = None,
                 sampler: str = "ode", sample_steps: int = 50, likelihood_steps: int = 100):
        super().__init__(x_dim, z_dim, zc_dim, embedding, embed_dim)
        if sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {sampler!r}", f"use one of {list(SAMPLERS)}")
        if isinstance(network, dict):
            # A saved spec is rebuilt for *this* model's dimensions: a target with another
            # x_dim or z^c width gets the source's architecture at its own sizes.
            sizes = {"x_dim": x_dim, "cond_dim": self.cond_dim}
            spec_cfg = {k: sizes.get(k, v) for k, v in network.get("config", {}).items()}
            network = build_component({**network, "config": spec_cfg})
        self.network = network if network is not None else EpsMLP(x_dim, self.cond_dim, hidden, depth)
        self.schedule = VPSchedule(**(schedule or {}))
        self.sampler, self.sample_steps, self.likelihood_steps = sampler, sample_steps, likelihood_steps

    def data_shape(self) -> tuple[int, ...]:
        return (self.x_dim,)

    def _eps_fn(self, e: torch.Tensor):
        return lambda x, t: self.network(x, t, e)

    def draw_noise(self, n, generator=None):
        # Drawn on the CPU generator, then moved by loss(): the same numbers on any device.
        return {"t": self.schedule.sample_time(n, generator),
                "eps": torch.randn((n, *self.data_shape()), generator=generator)}

    def loss(self, x, e, noise):
        t, eps = noise["t"].to(x.device), noise["eps"].to(device=x.device, dtype=x.dtype)
        return F.mse_loss(self.network(self.schedule.add_noise(x, eps, t), t, e), eps)

    def log_prob_e(self, x, e, steps: int | None = None):
        return ode_log_likelihood(self._eps_fn(e), self.schedule, x, steps or self.likelihood_steps)

    def sample_e(self, e, generator=None, sampler: str | None = None, steps: int | None = None):
        x_T = torch.randn((len(e), *self.data_shape()), generator=generator).to(e.device)
        return run_sampler(sampler or self.sampler, self._eps_fn(e), self.schedule, x_T,
                           steps or self.sample_steps, generator)

    @torch.no_grad()
    def heldout_loss_rows(self, x: Any, z: Any = None, zc: Any = None, *, seed: int = 0) -> np.ndarray:
        """Per-row denoising error at fixed noise levels, with the same noise for every model."""
        xt, zt, zct = self.validate(x, z, zc)
        e = self.condition(zt, zct, len(xt))
        gen = torch.Generator().manual_seed(seed + 4242)
        total = torch.zeros(len(xt))
        for level in HELDOUT_LEVELS:
            t = torch.full((len(xt),), level, device=xt.device)
            for _ in range(HELDOUT_DRAWS):
                noise = torch.randn(xt.shape, generator=gen)
                pred = self.network(self.schedule.add_noise(xt, noise.to(xt.device), t), t, e)
                total += ((pred.cpu() - noise) ** 2).mean(dim=1)
        return (total / (len(HELDOUT_LEVELS) * HELDOUT_DRAWS)).numpy().astype(np.float64)
