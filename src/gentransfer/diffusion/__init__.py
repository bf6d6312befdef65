"""Score-based diffusion: the VP process, networks, samplers and ODE likelihood."""

from gentransfer.diffusion.likelihood import ode_log_likelihood
from gentransfer.diffusion.model import DiffusionModel
from gentransfer.diffusion.networks import EpsMLP
from gentransfer.diffusion.samplers import ancestral_sample, ode_sample
from gentransfer.diffusion.schedule import VPSchedule

# importing UNetEps registers it for load_pretrained; diffusers itself is imported lazily
from gentransfer.diffusion.unet import UNetEps

__all__ = [
    "DiffusionModel",
    "EpsMLP",
    "UNetEps",
    "VPSchedule",
    "ancestral_sample",
    "ode_log_likelihood",
    "ode_sample",
]
