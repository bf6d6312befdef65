"""Simulation studies with known true densities."""

from gentransfer.simulation.conditional import ConditionalStudy
from gentransfer.simulation.designs import DESIGNS, ConditionalDesign, get_design
from gentransfer.simulation.evaluate import evaluate_conditional

__all__ = ["DESIGNS", "ConditionalDesign", "ConditionalStudy", "evaluate_conditional", "get_design"]
