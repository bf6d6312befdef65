"""Training: one loop for every model (:func:`fit`), its settings and result, its resumable state.

- :mod:`~gentransfer.training.config`: :class:`TrainSettings`, :class:`FitResult`, the held-out split;
- :mod:`~gentransfer.training.state`: the weight average (:class:`EMA`) and :class:`TrainingState`;
- :mod:`~gentransfer.training.checkpoint`: one safetensors file per checkpoint;
- :mod:`~gentransfer.training.loop`: :func:`fit`, cut into prepare / step / evaluate;
- :mod:`~gentransfer.training.distributed`: torchrun / DDP, and the device a run uses.
"""

from gentransfer.training.config import MAX_SEED, FitResult, TrainSettings, check_rows, split_rows
from gentransfer.training.loop import Trainable, fit
from gentransfer.training.state import EMA, TrainingState

__all__ = ["EMA", "MAX_SEED", "FitResult", "Trainable", "TrainSettings", "TrainingState", "check_rows", "fit",
           "split_rows"]
