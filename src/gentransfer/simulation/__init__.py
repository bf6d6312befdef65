"""Simulation studies with known true densities."""

from gentransfer.lazy import lazy_exports

__all__ = ["DESIGNS", "ConditionalDesign", "ConditionalStudy", "evaluate_conditional", "get_design"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "ConditionalStudy": "gentransfer.simulation.settings",
    "DESIGNS": "gentransfer.simulation.designs",
    "ConditionalDesign": "gentransfer.simulation.designs",
    "get_design": "gentransfer.simulation.designs",
    "evaluate_conditional": "gentransfer.simulation.evaluate",
})
