"""Training checkpoints: one safetensors file, written atomically, read without pickle.

A checkpoint holds every tensor a training run needs to continue exactly where it stopped
(model, best weights, EMA, optimizer moments, the random generator's state) and, as the file's
JSON metadata, the counters and history. Temp file + rename: a kill never leaves half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from gentransfer.errors import CheckpointError
from gentransfer.files import atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "train_state.safetensors"


def save_checkpoint(directory: str | os.PathLike[str], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    path = Path(directory) / CHECKPOINT_NAME
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, safetensors_bytes(flat, metadata={"meta": json.dumps(meta)}))
    return path


def load_checkpoint(directory: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(tensors, meta)`` of the checkpoint in ``directory``, or ``None`` if there is none."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["meta"])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no items()
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read the training checkpoint {path} ({err})",
                              "delete it to start again, or restore it from a backup") from None
    return tensors, meta
