r"""Reverse-time samplers for the VP process, on any noise predictor ``eps_fn(x, t)``.

* ``ancestral``: exact Gaussian posterior steps :math:`q(x_s \mid x_t, \hat x_0)` (DDPM's sampler
  on a continuous time grid), i.e. a discretisation of the reverse SDE.
* ``ddpm`` / ``ddim`` / ``dpm++`` / ``sde-dpm++``: diffusers' schedulers on the same process
  (:mod:`gentransfer.diffusion.diffusers_samplers`); fast samplers for images.
* ``ode``: the deterministic probability-flow ODE
  :math:`\dot x = -\tfrac12\beta(t)\,(x + \nabla\log p_t(x))`,
  :math:`\nabla\log p_t = -\hat\varepsilon / \sigma(t)`, integrated with Heun's method.

Both run from ``T`` down to the early-stopping time ``eps`` on a grid that is denser near
``eps``, where the score changes fastest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch

from gentransfer.diffusion.diffusers_samplers import (  # diffusers loads on use
    DIFFUSERS_SAMPLERS,
    diffusers_sample,
)
from gentransfer.diffusion.schedule import VPSchedule
from gentransfer.errors import ConfigError
from gentransfer.names import SamplerName

__all__ = ["time_grid", "ancestral_sample", "ode_sample", "SAMPLERS", "SamplerName", "run_sampler", "pf_ode_drift"]

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SAMPLERS: tuple[str, ...] = get_args(Literal[SamplerName])


def time_grid(schedule: VPSchedule, steps: int) -> torch.Tensor:
    """``steps + 1`` times from ``eps`` to ``T`` (increasing), quadratically denser near ``eps``."""
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}", "pass steps >= 1")
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    return (schedule.eps + (schedule.T - schedule.eps) * u**2).to(torch.float32)


def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape((-1,) + (1,) * (x.ndim - 1))


def pf_ode_drift(eps_fn: EpsFn, schedule: VPSchedule, x: torch.Tensor, t: float) -> torch.Tensor:
    """The probability-flow drift ``-1/2 beta(t) (x - eps_hat / sigma(t))``."""
    tt = torch.full((len(x),), t, dtype=x.dtype, device=x.device)
    _, sigma = schedule.marginal(tt)
    return -0.5 * _bcast(schedule.beta(tt), x) * (x - eps_fn(x, tt) / _bcast(sigma, x))


@torch.no_grad()
def ancestral_sample(eps_fn: EpsFn, schedule: VPSchedule, x_T: torch.Tensor, steps: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    grid = time_grid(schedule, steps).flip(0)
    x = x_T
    for i in range(steps):
        t, s = grid[i], grid[i + 1]
        tt = torch.full((len(x),), float(t), device=x.device)
        m_t, sig_t = schedule.marginal(t)
        m_s, sig_s = schedule.marginal(s)
        x0 = (x - sig_t * eps_fn(x, tt)) / m_t
        a_ts = m_t / m_s
        var_ts = sig_t**2 - a_ts**2 * sig_s**2  # variance of x_t | x_s
        mean = (a_ts * sig_s**2 / sig_t**2) * x + (m_s * var_ts / sig_t**2) * x0
        if i == steps - 1:  # last step: return the posterior mean, no fresh noise
            return mean
        std = (var_ts * sig_s**2 / sig_t**2).clamp_min(0).sqrt()
        x = mean + std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return x


@torch.no_grad()
def ode_sample(eps_fn: EpsFn, schedule: VPSchedule, x_T: torch.Tensor, steps: int) -> torch.Tensor:
    grid = time_grid(schedule, steps).flip(0)
    x = x_T
    for i in range(steps):
        t, s = float(grid[i]), float(grid[i + 1])
        h = s - t  # negative: integrating backwards in time
        d1 = pf_ode_drift(eps_fn, schedule, x, t)
        x_pred = x + h * d1
        d2 = pf_ode_drift(eps_fn, schedule, x_pred, s)
        x = x + 0.5 * h * (d1 + d2)
    return x


def run_sampler(name: str, eps_fn: EpsFn, schedule: VPSchedule, x_T: torch.Tensor, steps: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    if name == "ancestral":
        return ancestral_sample(eps_fn, schedule, x_T, steps, generator)
    if name == "ode":
        return ode_sample(eps_fn, schedule, x_T, steps)
    if name in DIFFUSERS_SAMPLERS:
        return diffusers_sample(eps_fn, schedule, x_T, name, steps, generator)
    raise ConfigError(f"unknown sampler {name!r}", f"use one of {list(SAMPLERS)}")
