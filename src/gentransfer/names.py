"""The name lists that settings and flags choose from, in a module free of torch: the flags are
declared from them whenever the command line starts (``gentransfer --help`` too), while the
modules that implement each name (families, devices, samplers) re-export them from here."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FamilyName", "DeviceName", "DEVICES", "DiffusersSamplerName", "SamplerName", "GuardByName"]

FamilyName = Literal["flow", "diffusion"]  # gentransfer.families.FAMILIES, in its order (a test checks)
DeviceName = Literal["auto", "cpu", "cuda"]  # the names gentransfer.training.distributed.device() takes
DEVICES: tuple[str, ...] = get_args(DeviceName)
DiffusersSamplerName = Literal["ddpm", "ddim", "dpm++", "sde-dpm++"]  # diffusers' schedulers
SamplerName = Literal["ancestral", "ode", DiffusersSamplerName]  # the one list of sampler names
GuardByName = Literal["loss", "w1"]  # how auto compares its candidates (gentransfer.pipeline.fit)
