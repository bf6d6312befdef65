"""The model families, once: every caller (workflow, studies, latent priors, CLI) looks them up here.

A family is a :class:`~gentransfer.models.base.GenerativeModel` subclass; its ``family`` attribute
is its name here, and its class attributes carry what differs between families (the default
weight average, the held-out loss the guard compares).
"""

from __future__ import annotations

from gentransfer.diffusion import DiffusionModel
from gentransfer.errors import ConfigError
from gentransfer.flows import CouplingFlow
from gentransfer.models.base import GenerativeModel
from gentransfer.names import FamilyName

__all__ = ["FAMILIES", "FamilyName", "get_family"]

FAMILIES: dict[str, type[GenerativeModel]] = {cls.family: cls for cls in (CouplingFlow, DiffusionModel)}


def get_family(name: str, what: str = "family") -> type[GenerativeModel]:
    """The model class of family ``name``; a one-line :class:`ConfigError` for an unknown name."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown {what} {name!r}", f"use one of {sorted(FAMILIES)}")
    return FAMILIES[name]
