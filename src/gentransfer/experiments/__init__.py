"""Experiments: resumable sweeps of seeded jobs, one runner, one report (simulation and digits alike)."""

from gentransfer.experiments.runner import Experiment, check_settings, run_experiment
from gentransfer.experiments.sweep import read_rows, run_sweep

__all__ = ["Experiment", "check_settings", "read_rows", "run_experiment", "run_sweep"]
