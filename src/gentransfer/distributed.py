"""Data-parallel training on PyTorch's own engine (torchrun / DDP): no scheduler of our own.

Under ``torchrun --nproc_per_node N`` the environment names the world; :func:`world` joins it
(gloo on CPU, NCCL on GPU) the first time the training loop asks. The loop then draws the
*global* batch and its noise on every process from the same seed and gives each process its
share of rows, so N processes follow the same trajectory as one process with the same global
batch; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist

__all__ = ["world", "is_main"]


def world() -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group set up by torchrun if there is one."""
    if dist.is_available() and not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        # Leaving the group explicitly joins its worker threads; without it a process may be
        # torn down with a live std::thread and abort ("terminate called without an active
        # exception"), which fails the whole launch even though training finished.
        atexit.register(_leave)
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    return world()[0] == 0
