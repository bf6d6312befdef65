"""Coupling normalizing flows."""

from gentransfer.flows.model import ConditionalFlow
from gentransfer.flows.transforms import AdditiveCoupling, AffineCoupling, ConditionalScale

__all__ = ["AdditiveCoupling", "AffineCoupling", "ConditionalFlow", "ConditionalScale"]
