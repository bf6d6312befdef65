"""Training: one loop for every model (:func:`fit`), its settings and result, its resumable state.

- :mod:`~gentransfer.training.config`: :class:`TrainSettings`, :class:`FitResult`, the held-out split;
- :mod:`~gentransfer.training.state`: the weight average (:class:`EMA`) and :class:`TrainingState`;
- :mod:`~gentransfer.training.checkpoint`: one safetensors file per checkpoint;
- :mod:`~gentransfer.training.loop`: :func:`fit`, cut into prepare / step / evaluate;
- :mod:`~gentransfer.training.distributed`: torchrun / DDP, and the device a run uses.
"""

from gentransfer.lazy import lazy_exports

__all__ = ["EMA", "MAX_SEED", "FitResult", "Trainable", "TrainSettings", "TrainingState", "check_rows", "fit",
           "split_rows"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "MAX_SEED": "gentransfer.training.config",
    "FitResult": "gentransfer.training.config",
    "TrainSettings": "gentransfer.training.config",
    "check_rows": "gentransfer.training.config",
    "split_rows": "gentransfer.training.config",
    "Trainable": "gentransfer.training.loop",
    "fit": "gentransfer.training.loop",
    "EMA": "gentransfer.training.state",
    "TrainingState": "gentransfer.training.state",
})
