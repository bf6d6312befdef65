"""Data-parallel training on PyTorch's own engine (torchrun / DDP): no scheduler of our own.

Under ``torchrun --nproc_per_node N`` the environment names the world; :func:`world` joins it
(gloo on CPU, NCCL on GPU) the first time the training loop asks. The loop then draws the
*global* batch and its noise on every process from the same seed and gives each process its
share of rows, so N processes follow the same trajectory as one process with the same global
batch; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
from typing import Any

import torch
import torch.distributed as dist

from gentransfer.names import DEVICES, DeviceName  # the names device() takes

__all__ = ["world", "is_main", "agree", "device", "DEVICES", "DeviceName"]



def world() -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group set up by torchrun if there is one."""
    if dist.is_available() and not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # torch.distributed.nn binds ``dist.group.WORLD`` as the default argument of its collectives
        # when it is imported, and DistributedDataParallel imports it on first use. Imported after
        # init_process_group it holds the group for the life of the interpreter, so
        # destroy_process_group() cannot free it: the gloo threads (gloo_tcp_loop, pt_gloo_runloop)
        # then outlive ``_leave`` and the group is only torn down during interpreter shutdown,
        # while the other rank closes its sockets (where a rank was seen to die with SIGABRT).
        # Imported first, the defaults are None and ``_leave`` really joins the threads.
        with contextlib.suppress(ImportError):
            importlib.import_module("torch.distributed.nn")
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        # Leave the group at exit while the interpreter is whole: destroying it joins its worker
        # threads and closes its sockets here, not in interpreter or C++ static teardown, where a
        # live std::thread aborts the process ("terminate called without an active exception")
        # and fails the whole launch even though training finished.
        atexit.register(_leave)
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    return world()[0] == 0


def agree(value: Any) -> Any:
    """``value`` as the first process holds it, on every process (``value`` itself when alone):
    a decision every process must act on alike, such as whether to train or read a saved model."""
    if world()[1] == 1:
        return value
    box = [value]
    on = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}") if dist.get_backend() == "nccl" else None
    dist.broadcast_object_list(box, src=0, device=on)
    return box[0]


def device(name: str = "cpu") -> torch.device:
    """The device a run trains and samples on: ``cpu``, ``cuda`` or ``auto`` (CUDA when there is
    one); under torchrun each process takes the GPU of its ``LOCAL_RANK``."""
    from gentransfer.errors import ConfigError

    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}", f"use one of {list(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda, but this machine has no CUDA GPU", "pass --device cpu (or auto)")
    if name == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per process under torchrun
        return torch.device(f"cuda:{os.environ['LOCAL_RANK']}")
    return torch.device(name)
