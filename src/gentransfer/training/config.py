"""What a training run is given and what it returns: :class:`TrainSettings`, :class:`FitResult`, the split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gentransfer.errors import ConfigError, DataError
from gentransfer.settings import MAX_SEED, check_fields, parse_seed, settings_from_dict

if TYPE_CHECKING:  # torch loads when a split is drawn: the flags of TrainSettings are declared without it
    import torch

__all__ = ["TrainSettings", "FitResult", "MAX_SEED", "check_rows", "split_indices", "split_rows"]


@dataclass
class TrainSettings:
    """Settings of :func:`fit` (all JSON primitives, so they go into run configs as they are).

    Attributes:
        steps: maximum number of optimizer steps.
        batch_size: rows per step (clamped to the training rows).
        lr: Adam learning rate (times the transfer plan's ``lr_scale``).
        weight_decay: AdamW weight decay.
        val_fraction: share of rows held out for early stopping (0 disables it).
        eval_every: steps between held-out evaluations.
        patience: evaluations without improvement before stopping.
        min_delta: what counts as an improvement: a fall of the held-out loss by more than this
            share of its value (0: any fall). With a weight average the loss can fall by a hair for
            thousands of steps; 0.005 calls that a plateau.
        ema_decay: decay of the exponential moving average of the weights (``None``: the model's
            ``default_ema_decay``, 0.995 for diffusion and off for flows; 0 disables it).
        val_repeats: noise draws per held-out row for a (fixed) stochastic loss.
        grad_clip: maximum gradient norm.
        seed: seeds initialisation-independent randomness: split, batches, noise.
        progress: show a progress bar.
        checkpoint_every: with a ``checkpoint_dir``, write a resumable checkpoint every this many
            steps (0: only at evaluations) and at the end.
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.2
    eval_every: int = 100
    patience: int = 5
    min_delta: float = 0.0
    ema_decay: float | None = None
    val_repeats: int = 4
    grad_clip: float = 1.0
    seed: int = field(default=0, metadata={"parse": parse_seed})
    progress: bool = False
    checkpoint_every: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "training settings") -> TrainSettings:
        """Build from a dict (a TOML table, a study's settings), checking names, types and ranges."""
        return settings_from_dict(cls, values, where)

    def check(self, where: str = "training settings") -> None:
        """Types first (``steps = true`` or ``lr = "0.01"`` are errors, not coerced), then ranges."""
        check_fields(self, where)
        for name in ("steps", "batch_size", "eval_every", "patience", "val_repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", f"pass {name} >= 1")
        if self.checkpoint_every < 0 or self.seed < 0:
            raise ConfigError(f"checkpoint_every and seed must be >= 0, got {self.checkpoint_every} and {self.seed}",
                              "pass values >= 0")
        if self.seed > MAX_SEED:
            raise ConfigError(f"seed must be at most 2^62, got {self.seed}", "pass a smaller --seed")
        if not 0 <= self.min_delta < 1:
            raise ConfigError(f"min_delta must be in [0, 1), got {self.min_delta}", "pass e.g. 0.005, or 0")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}", "pass e.g. 0.2")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}", "pass e.g. lr=1e-3")
        if self.weight_decay < 0 or not self.grad_clip > 0:
            raise ConfigError(f"weight_decay must be >= 0 and grad_clip > 0, got {self.weight_decay} and "
                              f"{self.grad_clip}", "pass e.g. weight_decay=0, grad_clip=1")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}", "pass e.g. 0.995, or 0 for none")


@dataclass
class FitResult:
    """What :func:`fit` did: steps run, best held-out loss, timing and the loss history."""

    steps: int
    best_step: int
    best_val_loss: float
    seconds: float
    strategy: str
    n_train: int
    n_val: int
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_rows(n: int, val_fraction: float) -> int:
    """The number of held-out rows of ``n``; an error when a part would be empty."""
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    if n < 1 or (val_fraction > 0 and (n_val < 1 or n - n_val < 1)):
        raise DataError(f"{n} rows are too few for a held-out part of {val_fraction:.0%}",
                        "pass more rows or val_fraction=0")
    return n_val


def split_indices(n: int, val_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    perm = torch.randperm(n, generator=generator)  # CPU: the split is the same on any device
    n_val = check_rows(n, val_fraction)
    return perm[n_val:], perm[:n_val]


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and held-out rows :func:`fit` uses for ``n`` rows with ``val_fraction`` and ``seed``."""
    import torch

    train_idx, val_idx = split_indices(n, val_fraction, torch.Generator().manual_seed(seed))
    return train_idx.numpy(), val_idx.numpy()


