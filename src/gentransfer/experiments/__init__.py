"""Experiments: resumable sweeps of seeded jobs, one runner, one report (simulation and digits alike)."""

from gentransfer.lazy import lazy_exports

__all__ = ["Experiment", "check_settings", "read_rows", "run_experiment", "run_sweep"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "Experiment": "gentransfer.experiments.runner",
    "check_settings": "gentransfer.experiments.runner",
    "run_experiment": "gentransfer.experiments.runner",
    "read_rows": "gentransfer.experiments.sweep",
    "run_sweep": "gentransfer.experiments.sweep",
})
