"""One training loop for every model: seeded, early-stopped on a held-out part, with EMA.

Anything that satisfies :class:`Trainable` is fitted by :func:`fit`: the conditional families,
the UNet diffusion, :class:`~gentransfer.latent.FlowLatentModel`, and the stages of
:func:`~gentransfer.latent.fit_latent` (autoencoder, prior, decoder likelihood). The loop only
calls ``model(x, z, zc, generator, noise)`` (the loss) and ``optimizer.step()``, so a
data-parallel run wraps the model in DDP and splits each global batch without rewriting it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from tqdm.auto import tqdm

from gentransfer.checkpoint import load_checkpoint, save_checkpoint
from gentransfer.config import check_fields, settings_from_dict
from gentransfer.distributed import world
from gentransfer.errors import ConfigError, DataError
from gentransfer.plan import TransferPlan

__all__ = ["Trainable", "TrainConfig", "FitResult", "fit", "check_rows", "EMA", "TrainingState", "MAX_SEED"]

MAX_SEED = 2**62  # a seed plus the small offsets the code adds to it stays a valid torch seed (< 2^64)


@runtime_checkable
class Trainable(Protocol):
    """What :func:`fit` needs of a model: validated inputs, a seeded loss, and its transfer plan.

    ``model(x, z, zc, generator, noise)`` returns the mean training loss of a validated batch;
    ``draw_noise(n, generator)`` the batch's randomness (so a data-parallel run can draw it for
    the global batch); ``default_ema_decay`` the weight average kept unless the settings say
    otherwise; ``transfer_plan`` the learning-rate factor and frozen parts.
    """

    transfer_plan: TransferPlan
    default_ema_decay: float

    def validate(self, x: Any, z: Any, zc: Any) -> tuple[torch.Tensor | None, torch.Tensor | None,
                                                         torch.Tensor | None]: ...

    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]: ...

    def __call__(self, x: torch.Tensor, z: torch.Tensor | None, zc: torch.Tensor | None,
                 generator: torch.Generator | None = None,
                 noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> Any: ...


@dataclass
class TrainConfig:
    """Settings of :func:`fit` (all JSON primitives, so they go into run configs as they are).

    Attributes:
        steps: maximum number of optimizer steps.
        batch_size: rows per step (clamped to the training rows).
        lr: Adam learning rate (times the transfer plan's ``lr_scale``).
        weight_decay: AdamW weight decay.
        val_fraction: share of rows held out for early stopping (0 disables it).
        eval_every: steps between held-out evaluations.
        patience: evaluations without improvement before stopping.
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
    ema_decay: float | None = None
    val_repeats: int = 4
    grad_clip: float = 1.0
    seed: int = 0
    progress: bool = False
    checkpoint_every: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "training settings") -> TrainConfig:
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


class EMA:
    """Exponential moving average of the trainable parameters, with the decay warmed up.

    The decay at optimizer step ``t`` (1, 2, ...) is 0 at ``t = 1`` and ``min(decay, t / (9 + t))``
    after, as in diffusers' ``EMAModel`` (without ``use_ema_warmup``), so the average starts from
    the trained weights, not the initial ones. A constant decay from step 0 keeps ``decay^t`` of
    the initial weights: 13% after 400 steps at 0.995 (random weights for a fresh model, the
    source's for a transferred one); warmed up, the first step's weights keep under 1e-16 of it.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    def decay_at(self, step: int) -> float:
        """The decay used at optimizer step ``step`` (counting from 1)."""
        return min(self.decay, step / (9 + step)) if step > 1 else 0.0

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Average in the weights after optimizer step ``step`` (counting from 1)."""
        # one fused call instead of one small kernel per tensor (matters on a GPU)
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay_at(step))

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange live and averaged weights (call twice to undo)."""
        for s, p in zip(self.shadow, self.params, strict=True):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


def check_rows(n: int, val_fraction: float) -> int:
    """The number of held-out rows of ``n``; an error when a part would be empty."""
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    if n < 1 or (val_fraction > 0 and (n_val < 1 or n - n_val < 1)):
        raise DataError(f"{n} rows are too few for a held-out part of {val_fraction:.0%}",
                        "pass more rows or val_fraction=0")
    return n_val


def _split(n: int, val_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)  # CPU: the split is the same on any device
    n_val = check_rows(n, val_fraction)
    return perm[n_val:], perm[:n_val]


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and held-out rows :func:`fit` uses for ``n`` rows with ``val_fraction`` and ``seed``."""
    train_idx, val_idx = _split(n, val_fraction, torch.Generator().manual_seed(seed))
    return train_idx.numpy(), val_idx.numpy()


def _take(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t[idx]


def data_fingerprint(*arrays: torch.Tensor | None) -> str:
    """SHA-256 of the data a run trains on: a checkpoint resumes only on the same rows."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(b"none" if a is None else repr(tuple(a.shape)).encode() + a.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def _val_loss(model, x, z, zc, repeats: int, seed: int) -> float:
    # A fixed generator: every evaluation sees the same times and noise, so losses compare.
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    model.eval()
    total = sum(float(model(x, z, zc, gen)) for _ in range(repeats)) / repeats
    model.train()
    return total


class TrainingState:
    """Everything a run needs to continue exactly where it stopped, saved and restored as one.

    Tensors: the model, the best weights so far, the EMA, the optimizer's moments and the
    generator's state; counters and history go into the checkpoint's JSON metadata with the
    run's fingerprint (model, settings, plan and data), which a resume must match.
    """

    def __init__(self, model: Trainable, optimizer: torch.optim.Optimizer, ema: EMA | None,
                 generator: torch.Generator, fingerprint: dict[str, Any]):
        self.model, self.optimizer, self.ema, self.generator = model, optimizer, ema, generator
        self.fingerprint = fingerprint
        self.best_val, self.best_step = math.inf, 0
        self.best_weights = copy.deepcopy(model.state_dict())
        self.bad_evals, self.step = 0, 0
        self.history: list[dict[str, float]] = []

    def record(self, step: int, train_loss: float, val: float) -> None:
        """One evaluation: keep the best weights, count evaluations without improvement."""
        if val < self.best_val:
            self.best_val, self.best_step, self.bad_evals = val, step, 0
            self.best_weights = copy.deepcopy(self.model.state_dict())
        else:
            self.bad_evals += 1
        self.history.append({"step": step, "train_loss": train_loss, "val_loss": val})

    def save(self, directory: str) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in self.best_weights.items()})
        if self.ema is not None:
            tensors.update({f"ema.{i}": s for i, s in enumerate(self.ema.shadow)})
        for i, state in self.optimizer.state_dict()["state"].items():
            tensors.update({f"opt.{i}.{name}": t for name, t in state.items()})
        tensors["rng"] = self.generator.get_state()
        save_checkpoint(directory, tensors, {
            "step": self.step, "best_val": self.best_val, "best_step": self.best_step,
            "bad_evals": self.bad_evals, "history": self.history, "fingerprint": self.fingerprint})

    def restore(self, directory: str) -> bool:
        """Continue from the checkpoint in ``directory``; ``False`` if there is none."""
        saved = load_checkpoint(directory)
        if saved is None:
            return False
        tensors, meta = saved
        if meta.get("fingerprint") != self.fingerprint:
            raise ConfigError(f"the checkpoint in {directory} is from another model, data or settings",
                              "resume with the same command and data, or start afresh without --resume")
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if self.ema is not None:
            for i, s in enumerate(self.ema.shadow):
                s.copy_(tensors[f"ema.{i}"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        self.optimizer.load_state_dict({"state": state, "param_groups": self.optimizer.state_dict()["param_groups"]})
        self.generator.set_state(tensors["rng"])
        self.best_weights = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        self.best_val, self.best_step = meta["best_val"], meta["best_step"]
        self.bad_evals, self.history, self.step = meta["bad_evals"], meta["history"], meta["step"]
        return True


def fit(model: Trainable, x: Any, z: Any = None, zc: Any = None, *,
        train: TrainConfig | dict[str, Any] | None = None, plan: TransferPlan | None = None,
        checkpoint_dir: str | None = None, resume: bool = False,
        on_evaluate: Callable[[int, Trainable], None] | None = None, **overrides: Any) -> FitResult:
    """Fit ``model`` to data ``x`` given conditions ``z`` (shared) and ``zc`` (task-specific).

    The model's transfer plan decides what is trained: its frozen parts are not (their
    parameters have ``requires_grad=False``), and the learning rate is scaled by its
    ``lr_scale``. At the end the model holds the weights with the best held-out loss (their
    EMA where the model keeps one).

    Args:
        model: anything :class:`Trainable`: a gentransfer model or a stage of a latent fit.
        x, z, zc: data, validated against the model's dimensions before anything is trained.
        train: the training settings, a :class:`TrainConfig` or a dict of its fields;
            ``overrides`` update it.
        plan: the plan to train under, for a stage that trains part of a larger model (the
            stages of :func:`~gentransfer.latent.fit_latent` pass the latent model's plan);
            ``None``: the model's own ``transfer_plan``, re-applied first.
        checkpoint_dir: folder for a resumable training checkpoint (see ``checkpoint_every``).
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one; the result is
            bit-identical to an uninterrupted run with the same seed and data (on the CPU). A
            checkpoint of another model, data or settings is refused.

    Returns:
        A :class:`FitResult`.
    """
    if not isinstance(model, Trainable):
        raise ConfigError(f"{type(model).__name__} is not a model fit() trains (it lacks part of the Trainable "
                          "protocol)", "fit a LatentModel with gentransfer.latent.fit_latent")
    if isinstance(train, dict):
        train = TrainConfig.from_dict(train)
    cfg = replace(train or TrainConfig(), **overrides)
    cfg.check()
    if plan is None:
        plan = model.transfer_plan
        plan.apply(model)
    xt, zt, zct = model.validate(x, z, zc)
    if xt is None:
        raise DataError("no data x to fit", "pass x")
    gen = torch.Generator().manual_seed(cfg.seed)
    train_idx, val_idx = (i.to(xt.device) for i in _split(len(xt), cfg.val_fraction, gen))
    xtr, ztr, zctr = xt[train_idx], _take(zt, train_idx), _take(zct, train_idx)
    xva, zva, zcva = xt[val_idx], _take(zt, val_idx), _take(zct, val_idx)
    rank, world_size = world()
    batch = min(cfg.batch_size, len(xtr))
    if batch % world_size:
        raise ConfigError(f"the global batch {batch} does not split over {world_size} processes",
                          f"pass a batch size divisible by {world_size}")
    share = batch // world_size
    rows = slice(rank * share, (rank + 1) * share)  # this process's part of every global batch

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters", "unfreeze a part of it")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr * plan.lr_scale, weight_decay=cfg.weight_decay)
    train_model = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model)
    decay = cfg.ema_decay if cfg.ema_decay is not None else model.default_ema_decay
    ema = EMA(model, decay) if decay > 0 else None
    fingerprint = json.loads(json.dumps({
        "train": asdict(cfg) | {"progress": None, "checkpoint_every": None},
        "model": getattr(model, "config", None), "plan": plan.to_dict(), "rows": len(xt),
        "data": data_fingerprint(xt, zt, zct)}, default=str))
    state = TrainingState(model, optimizer, ema, gen, fingerprint)
    if checkpoint_dir and resume:
        state.restore(checkpoint_dir)

    def checkpoint() -> None:
        if checkpoint_dir and rank == 0:
            state.save(checkpoint_dir)

    start = time.perf_counter()
    model.train()
    bar = tqdm(total=cfg.steps, initial=state.step, disable=not cfg.progress,
               desc=f"fit {type(model).__name__}/{plan.strategy}")
    last = state.step if state.bad_evals >= cfg.patience else cfg.steps  # a resumed run that had stopped early
    for step in range(state.step + 1, last + 1):
        state.step = step
        # The global batch and its noise are drawn identically on every process; each takes its rows.
        idx = torch.randint(0, len(xtr), (batch,), generator=gen)[rows].to(xtr.device)
        # per-row noise is split over processes; shared draws (e.g. a prior bank's indices) are not
        noise = {k: v[rows] if len(v) == batch else v for k, v in model.draw_noise(batch, gen).items()}
        loss = train_model(xtr[idx], _take(ztr, idx), _take(zctr, idx), None, noise)
        if not torch.isfinite(loss):
            raise DataError(f"the training loss became {float(loss)} at step {step}",
                            "lower lr, or standardise x (large values overflow)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update(step)
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            train_loss = _global_mean(loss, world_size)
            if ema is not None:  # evaluate, and keep as best, the averaged weights
                ema.swap()
            val = _val_loss(model, xva, zva, zcva, cfg.val_repeats, cfg.seed) if len(val_idx) else loss.item()
            state.record(step, train_loss, val)
            if on_evaluate is not None:
                on_evaluate(step, model)
            if ema is not None:
                ema.swap()
            bar.set_postfix(val=f"{val:.4f}")
            if state.bad_evals >= cfg.patience:
                checkpoint()
                break
            if cfg.checkpoint_every == 0:
                checkpoint()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            checkpoint()
    else:
        checkpoint()
    bar.close()
    model.load_state_dict(state.best_weights)
    model.eval()
    return FitResult(steps=state.step, best_step=state.best_step, best_val_loss=state.best_val,
                     seconds=time.perf_counter() - start, strategy=plan.strategy,
                     n_train=len(train_idx), n_val=len(val_idx), history=state.history)


def _global_mean(loss: torch.Tensor, world_size: int) -> float:
    """The global batch's loss, the same on every process."""
    value = loss.detach().clone()
    if world_size > 1:
        torch.distributed.all_reduce(value)
        value /= world_size
    return value.item()
