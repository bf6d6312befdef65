"""Coupling normalizing flows."""

from gentransfer.flows.model import CouplingFlow
from gentransfer.flows.transforms import AdditiveCoupling, AffineCoupling, ConditionalScale

__all__ = ["AdditiveCoupling", "AffineCoupling", "CouplingFlow", "ConditionalScale"]
