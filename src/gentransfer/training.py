"""One training loop for every model: seeded, early-stopped on a held-out part, with EMA.

The loop only calls ``model(x, z, zc, generator)`` (the loss) and ``optimizer.step()``, so a
later data-parallel run can wrap the model and swap the batch sampler without rewriting it.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from tqdm.auto import tqdm

from gentransfer.checkpoint import load_checkpoint, save_checkpoint
from gentransfer.distributed import world
from gentransfer.errors import ConfigError, DataError
from gentransfer.models.base import ConditionalModel

__all__ = ["TrainConfig", "FitResult", "fit", "EMA"]


@dataclass
class TrainConfig:
    """Settings of :func:`fit` (all JSON primitives, so they go into run configs as they are).

    Attributes:
        steps: maximum number of optimizer steps.
        batch_size: rows per step (clamped to the training rows).
        lr: Adam learning rate (times the model's ``lr_scale``, which ``transfer`` sets).
        weight_decay: AdamW weight decay.
        val_fraction: share of rows held out for early stopping (0 disables it).
        eval_every: steps between held-out evaluations.
        patience: evaluations without improvement before stopping.
        ema_decay: decay of the exponential moving average of the weights (``None``: the family's
            default, 0.995 for diffusion and off for flows; 0 disables it).
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
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training settings {unknown}", f"use only {sorted(known)}")
        return cls(**values)

    def check(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "patience", "val_repeats"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", f"pass {name} >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}", "pass e.g. 0.2")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}", "pass e.g. lr=1e-3")


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
    """Exponential moving average of the trainable parameters."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        # one fused call instead of one small kernel per tensor (matters on a GPU)
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange live and averaged weights (call twice to undo)."""
        for s, p in zip(self.shadow, self.params, strict=True):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


def _split(n: int, val_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)  # CPU: the split is the same on any device
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    if val_fraction > 0 and (n_val < 1 or n - n_val < 1):
        raise DataError(f"{n} rows are too few for a held-out part of {val_fraction:.0%}",
                        "pass more rows or val_fraction=0")
    return perm[n_val:], perm[:n_val]


def _take(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t[idx]


@torch.no_grad()
def _val_loss(model, x, z, zc, repeats: int, seed: int) -> float:
    # A fixed generator: every evaluation sees the same times and noise, so losses compare.
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    model.eval()
    total = sum(float(model(x, z, zc, gen)) for _ in range(repeats)) / repeats
    model.train()
    return total


def _state_tensors(model, best_state, ema, optimizer, gen) -> dict[str, torch.Tensor]:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in best_state.items()})
    if ema is not None:
        tensors.update({f"ema.{i}": s for i, s in enumerate(ema.shadow)})
    for i, state in optimizer.state_dict()["state"].items():
        tensors.update({f"opt.{i}.{name}": t for name, t in state.items()})
    tensors["rng"] = gen.get_state()
    return tensors


def _restore(tensors, model, ema, optimizer, gen) -> dict[str, torch.Tensor]:
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        for i, s in enumerate(ema.shadow):
            s.copy_(tensors[f"ema.{i}"])
    opt_state = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": opt_state["param_groups"]})
    gen.set_state(tensors["rng"])
    return {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}


def fit(model: ConditionalModel, x: Any, z: Any = None, zc: Any = None, *,
        config: TrainConfig | dict[str, Any] | None = None, checkpoint_dir: str | None = None,
        resume: bool = False, **overrides: Any) -> FitResult:
    """Fit ``model`` to data ``x`` given conditions ``z`` (shared) and ``zc`` (task-specific).

    Parameters with ``requires_grad=False`` (a frozen shared embedding) are not trained. The
    learning rate is scaled by the model's transfer strategy. At the end the model holds the
    weights with the best held-out loss (their EMA for diffusion).

    Args:
        model: any gentransfer model.
        x, z, zc: data, validated against the model's dimensions before anything is trained.
        config: a :class:`TrainConfig` or a dict of its fields; ``overrides`` update it.
        checkpoint_dir: folder for a resumable training checkpoint (see ``checkpoint_every``).
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one; the result is
            bit-identical to an uninterrupted run with the same seed and data (on the CPU).

    Returns:
        A :class:`FitResult`.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    cfg = replace(config or TrainConfig(), **overrides)
    cfg.check()
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
    lr = cfg.lr * model.lr_scale
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    train_model = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model)
    decay = cfg.ema_decay if cfg.ema_decay is not None else (0.995 if model.family == "diffusion" else 0.0)
    ema = EMA(model, decay) if decay > 0 else None

    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    bad_evals, first, start = 0, 1, time.perf_counter()
    fingerprint = {"train": asdict(cfg) | {"progress": None, "checkpoint_every": None},
                   "model": getattr(model, "config", None),
                   "strategy": model.strategy, "rows": len(xt)}
    fingerprint = json.loads(json.dumps(fingerprint, default=str))
    saved = load_checkpoint(checkpoint_dir) if (checkpoint_dir and resume) else None
    if saved is not None:
        tensors, meta = saved
        if meta["fingerprint"] != fingerprint:
            raise ConfigError(f"the checkpoint in {checkpoint_dir} is from another model, data or settings",
                              "resume with the same command, or start afresh without --resume")
        best = (meta["best_val"], meta["best_step"], _restore(tensors, model, ema, optimizer, gen))
        bad_evals, history, first = meta["bad_evals"], meta["history"], meta["step"] + 1

    def checkpoint(at: int) -> None:
        if checkpoint_dir and rank == 0:
            save_checkpoint(checkpoint_dir, _state_tensors(model, best[2], ema, optimizer, gen),
                            {"step": at, "best_val": best[0], "best_step": best[1], "bad_evals": bad_evals,
                             "history": history, "fingerprint": fingerprint})

    model.train()
    bar = tqdm(total=cfg.steps, initial=first - 1, disable=not cfg.progress,
               desc=f"fit {model.family}/{model.strategy}")
    step = first - 1
    last = step if bad_evals >= cfg.patience else cfg.steps  # a resumed run that had stopped early
    for step in range(first, last + 1):
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
            ema.update()
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            if ema is not None:
                ema.swap()
            val = _val_loss(model, xva, zva, zcva, cfg.val_repeats, cfg.seed) if len(val_idx) else loss.item()
            if val < best[0]:
                best, bad_evals = (val, step, copy.deepcopy(model.state_dict())), 0
            else:
                bad_evals += 1
            if ema is not None:
                ema.swap()
            train_loss = loss.detach().clone()
            if world_size > 1:  # log the global batch's loss, the same on every process
                torch.distributed.all_reduce(train_loss)
                train_loss /= world_size
            history.append({"step": step, "train_loss": train_loss.item(), "val_loss": val})
            bar.set_postfix(val=f"{val:.4f}")
            if bad_evals >= cfg.patience:
                checkpoint(step)
                break
            if cfg.checkpoint_every == 0:
                checkpoint(step)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            checkpoint(step)
    else:
        checkpoint(step)
    bar.close()
    model.load_state_dict(best[2])
    model.eval()
    return FitResult(steps=step, best_step=best[1], best_val_loss=best[0],
                     seconds=time.perf_counter() - start, strategy=model.strategy,
                     n_train=len(train_idx), n_val=len(val_idx), history=history)
