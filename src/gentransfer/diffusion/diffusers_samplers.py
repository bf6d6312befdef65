"""Diffusers' schedulers (DDPM, DDIM, DPM-Solver++) as samplers of the continuous VP process.

A scheduler is given ``trained_betas`` whose cumulative products equal ``m(t_k)^2`` of our
VP schedule at ``t_k = (k + 1) / N`` (``N = 1000``), so its discrete timestep ``k`` *is*
continuous time ``t_k`` and the model's noise predictions need no conversion.

``dpm++`` is DPM-Solver++(2M) on a grid uniform in log-SNR and ``sde-dpm++`` its stochastic
variant, the fast sampler to use: on a trained UNet it matches 1,000-step DDPM at 20 steps,
while the deterministic ones carry the learned score's errors to the end (benchmarks/README.md).
``ddim`` is diffusers' DDIM (first order, uniform in time) and under-disperses at 20-50 steps.
"""

from __future__ import annotations

from typing import get_args

import torch

from gentransfer.diffusion.schedule import VPSchedule
from gentransfer.errors import ConfigError
from gentransfer.names import DiffusersSamplerName

__all__ = ["DIFFUSERS_SAMPLERS", "diffusers_sample", "make_scheduler"]

DIFFUSERS_SAMPLERS: tuple[str, ...] = get_args(DiffusersSamplerName)
STOCHASTIC = ("ddpm", "sde-dpm++")  # their steps draw fresh noise
N_TRAIN_STEPS = 1000


def _betas(schedule: VPSchedule) -> torch.Tensor:
    t = torch.arange(1, N_TRAIN_STEPS + 1, dtype=torch.float64) / N_TRAIN_STEPS * schedule.T
    abar = torch.exp(2.0 * schedule.log_mean_coeff(t))
    prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    return (1.0 - abar / prev).clamp(1e-8, 0.999)


def make_scheduler(name: str, schedule: VPSchedule):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = {"num_train_timesteps": N_TRAIN_STEPS, "trained_betas": _betas(schedule).tolist(),
              "prediction_type": "epsilon"}
    if name == "ddpm":
        return DDPMScheduler(**common, variance_type="fixed_small", clip_sample=False)
    if name == "ddim":
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False)
    if name in ("dpm++", "sde-dpm++"):  # sde-: fresh noise at each step, like ancestral sampling
        # Steps uniform in log-SNR: the default, uniform in time, spends almost none of them at the
        # low noise levels where near-constant pixels are resolved, and under-disperses those
        # directions by 20-50% at 20 steps (tests/test_digits.py).
        return DPMSolverMultistepScheduler(**common, algorithm_type=name.replace("dpm++", "dpmsolver++"),
                                           solver_order=2, use_lu_lambdas=True)
    raise ConfigError(f"unknown diffusers sampler {name!r}", f"use one of {list(DIFFUSERS_SAMPLERS)}")


@torch.no_grad()
def diffusers_sample(eps_fn, schedule: VPSchedule, x_T: torch.Tensor, name: str, steps: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample with a diffusers scheduler in ``steps`` steps (DDPM uses up to 1,000)."""
    scheduler = make_scheduler(name, schedule)
    scheduler.set_timesteps(steps)
    # diffusers draws DDPM noise with a generator on the data's device: seed one from ours
    step_gen = None
    if generator is not None:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        step_gen = torch.Generator(device=x_T.device).manual_seed(seed)
    x = x_T
    for k in scheduler.timesteps:
        t = torch.full((len(x),), (int(k) + 1) / N_TRAIN_STEPS * schedule.T, device=x.device)
        eps = eps_fn(x, t)
        x = scheduler.step(eps, k, x, **({"generator": step_gen} if name in STOCHASTIC else {})).prev_sample
    return x
