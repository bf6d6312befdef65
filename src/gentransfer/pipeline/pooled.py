"""The rows and scales of a ``pooled`` target: the source's rows and the target's, on one scale.

A pooled model sees both tasks' rows, so its scales are fitted on both (x's ranges and categories,
zc's statistics); z keeps the source's scale, as every strategy's does. The fit's rows are the
source's then the target's, the domain indicator appended to zc by :func:`gentransfer.transfer.pool`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gentransfer.data.mixed import stack_tables
from gentransfer.data.tabular import Table
from gentransfer.errors import ConfigError
from gentransfer.pipeline.scaling import Scaling, fit_conditions
from gentransfer.training import split_rows
from gentransfer.transfer import pool

__all__ = ["pooled_scaling", "pooled_rows", "target_split"]


def pooled_scaling(kind: Any, src: Any, source_data: Table | None, data: Table, bounds: Any) -> tuple[Scaling, Table]:
    """The pooled run's scales, fitted on the source's rows and the target's, and those rows as one table
    (the source's first)."""
    if source_data is None:
        raise ConfigError("pooled fits one model on the source's rows and the target's together: it needs the "
                          "source's rows", "pass --source-data FILE (the rows the source was fitted on)")
    if kind.name != "table":
        raise ConfigError(f"pooled is offered for tables; the source in {src.path} is a {kind.name} model",
                          "choose scratch, freeze-shared, finetune, lora or auto")
    source_data = kind.check_target(src, source_data)
    both = stack_tables(source_data, data)
    return Scaling(kind.x_scaler(both, bounds), src.scaling.z, fit_conditions(both, "zc")), both


def pooled_rows(scaling: Scaling, both: Table, n_source: int, seed: int) -> tuple[np.ndarray, Any, np.ndarray]:
    """``(x, z, zc)`` of both tasks on the model's scale, the domain indicator the last column of zc."""
    x, (z, zc) = scaling.training_rows(both, seed), scaling.conditions(both)
    cut = lambda a, part: None if a is None else (a[:n_source] if part == 0 else a[n_source:])  # noqa: E731
    return pool(tuple(cut(a, 0) for a in (x, z, zc)), tuple(cut(a, 1) for a in (x, z, zc)))


def target_split(n_source: int, n_target: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The target's rows among a pooled fit's training and held-out rows (indices into the target)."""
    train, val = split_rows(n_source + n_target, val_fraction, seed)
    return train[train >= n_source] - n_source, val[val >= n_source] - n_source
