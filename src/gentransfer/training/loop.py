"""One training loop for every model: seeded, early-stopped on a held-out part, with a weight average.

Anything that satisfies :class:`Trainable` is fitted by :func:`fit`: the conditional families,
the UNet diffusion, and the stages of :func:`~gentransfer.latent.fit_latent` (autoencoder, prior,
decoder likelihood). The loop is cut into its parts: :func:`_prepare` (settings, data, split,
optimizer, state), :func:`_step` (one optimizer step on one global batch) and :func:`_evaluate`
(the held-out loss of the averaged weights, the best kept). It only calls
``model(x, z, zc, generator, noise)`` (the loss) and ``optimizer.step()``, so a data-parallel run
wraps the model in DDP and splits each global batch without rewriting it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, runtime_checkable

import torch
from tqdm.auto import tqdm

from gentransfer.errors import ConfigError, DataError
from gentransfer.training.config import FitResult, TrainSettings, split_indices
from gentransfer.training.distributed import world
from gentransfer.training.state import EMA, TrainingState, data_fingerprint
from gentransfer.transfer.plan import TransferPlan

__all__ = ["Trainable", "fit"]


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


def _take(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t[idx]


@dataclass
class _Run:
    """One fit as :func:`_prepare` sets it up: settings, the split data, the optimizer and state."""

    model: Trainable
    train_model: Any  # the model, or its DDP wrapper
    cfg: TrainSettings
    plan: TransferPlan
    train_data: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]
    val_data: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]
    batch: int
    rows: slice  # this process's part of every global batch
    world_size: int
    rank: int
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    generator: torch.Generator
    state: TrainingState
    checkpoint_dir: str | None


def _prepare(model: Trainable, x: Any, z: Any, zc: Any, train: TrainSettings | dict[str, Any] | None,
             plan: TransferPlan | None, checkpoint_dir: str | None, resume: bool, overrides: dict[str, Any]) -> _Run:
    """Check everything, split the rows, build the optimizer, the weight average and the state (a
    resumed run's from its checkpoint). The generator draws the split first, then the batches."""
    if not isinstance(model, Trainable):
        raise ConfigError(f"{type(model).__name__} is not a model fit() trains (it lacks part of the Trainable "
                          "protocol)", "fit a LatentModel with gentransfer.latent.fit_latent")
    if isinstance(train, dict):
        train = TrainSettings.from_dict(train)
    cfg = replace(train or TrainSettings(), **overrides)
    cfg.check()
    if plan is None:
        plan = model.transfer_plan
        plan.apply(model)
    xt, zt, zct = model.validate(x, z, zc)
    if xt is None:
        raise DataError("no data x to fit", "pass x")
    gen = torch.Generator().manual_seed(cfg.seed)
    train_idx, val_idx = (i.to(xt.device) for i in split_indices(len(xt), cfg.val_fraction, gen))
    rank, world_size = world()
    batch = min(cfg.batch_size, len(train_idx))
    if batch % world_size:
        raise ConfigError(f"the global batch {batch} does not split over {world_size} processes",
                          f"pass a batch size divisible by {world_size}")
    share = batch // world_size
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
    return _Run(model, train_model, cfg, plan, (xt[train_idx], _take(zt, train_idx), _take(zct, train_idx)),
                (xt[val_idx], _take(zt, val_idx), _take(zct, val_idx)), batch,
                slice(rank * share, (rank + 1) * share), world_size, rank, params, optimizer, ema, gen, state,
                checkpoint_dir)


def _step(run: _Run, step: int) -> torch.Tensor:
    """One optimizer step on one global batch; returns this process's loss."""
    xtr, ztr, zctr = run.train_data
    # The global batch and its noise are drawn identically on every process; each takes its rows.
    idx = torch.randint(0, len(xtr), (run.batch,), generator=run.generator)[run.rows].to(xtr.device)
    # per-row noise is split over processes; shared draws (e.g. a prior bank's indices) are not
    noise = {k: v[run.rows] if len(v) == run.batch else v
             for k, v in run.model.draw_noise(run.batch, run.generator).items()}
    loss = run.train_model(xtr[idx], _take(ztr, idx), _take(zctr, idx), None, noise)
    if not torch.isfinite(loss):
        raise DataError(f"the training loss became {loss.item()} at step {step}",
                        "lower lr, or standardise x (large values overflow)")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, run.cfg.grad_clip)
    run.optimizer.step()
    if run.ema is not None:
        run.ema.update(step)
    return loss


@torch.no_grad()
def _val_loss(model, x, z, zc, repeats: int, seed: int) -> float:
    # A fixed generator: every evaluation sees the same times and noise, so losses compare.
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    model.eval()
    total = sum(float(model(x, z, zc, gen)) for _ in range(repeats)) / repeats
    model.train()
    return total


def _evaluate(run: _Run, step: int, loss: torch.Tensor, on_evaluate: Callable[[int, Trainable], None] | None) -> float:
    """Score the averaged weights on the held-out rows (the training loss without any), keep them
    if best; returns the held-out loss."""
    train_loss = _global_mean(loss, run.world_size)
    if run.ema is not None:  # evaluate, and keep as best, the averaged weights
        run.ema.swap()
    xva, zva, zcva = run.val_data
    val = _val_loss(run.model, xva, zva, zcva, run.cfg.val_repeats, run.cfg.seed) if len(xva) else loss.item()
    run.state.record(step, train_loss, val, run.cfg.min_delta)
    if on_evaluate is not None:
        on_evaluate(step, run.model)
    if run.ema is not None:
        run.ema.swap()
    return val


def _checkpoint(run: _Run) -> None:
    if run.checkpoint_dir and run.rank == 0:
        run.state.save(run.checkpoint_dir)


def fit(model: Trainable, x: Any, z: Any = None, zc: Any = None, *,
        train: TrainSettings | dict[str, Any] | None = None, plan: TransferPlan | None = None,
        checkpoint_dir: str | None = None, resume: bool = False,
        on_evaluate: Callable[[int, Trainable], None] | None = None, **overrides: Any) -> FitResult:
    """Fit ``model`` to data ``x`` given conditions ``z`` (shared) and ``zc`` (task-specific).

    The model's transfer plan decides what is trained: its frozen parts are not (their
    parameters have ``requires_grad=False``), and the learning rate is scaled by its
    ``lr_scale``. At the end the model holds the weights with the best held-out loss (their
    average where the model keeps one).

    Args:
        model: anything :class:`Trainable`: a gentransfer model or a stage of a latent fit.
        x, z, zc: data, validated against the model's dimensions before anything is trained.
        train: the training settings, a :class:`TrainSettings` or a dict of its fields;
            ``overrides`` update it.
        plan: the plan to train under, for a stage that trains part of a larger model (the
            stages of :func:`~gentransfer.latent.fit_latent` pass the latent model's plan);
            ``None``: the model's own ``transfer_plan``, re-applied first.
        checkpoint_dir: folder for a resumable training checkpoint (see ``checkpoint_every``).
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one; the result is
            bit-identical to an uninterrupted run with the same seed and data (on the CPU). A
            checkpoint of another model, data or settings is refused.
        on_evaluate: called as ``on_evaluate(step, model)`` at every held-out evaluation, with the
            weights that evaluation scored in place (the average, where the model keeps one): to
            log or study the curve (``benchmarks/val_noise.py``). It must not change the model.

    Returns:
        A :class:`FitResult`.
    """
    run = _prepare(model, x, z, zc, train, plan, checkpoint_dir, resume, overrides)
    cfg, state = run.cfg, run.state
    start = time.perf_counter()
    model.train()
    bar = tqdm(total=cfg.steps, initial=state.step, disable=not cfg.progress,
               desc=f"fit {type(model).__name__}/{run.plan.strategy}")
    last = state.step if state.bad_evals >= cfg.patience else cfg.steps  # a resumed run that had stopped early
    for step in range(state.step + 1, last + 1):
        state.step = step
        loss = _step(run, step)
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            bar.set_postfix(val=f"{_evaluate(run, step, loss, on_evaluate):.4f}")
            if state.bad_evals >= cfg.patience:
                _checkpoint(run)
                break
            if cfg.checkpoint_every == 0:
                _checkpoint(run)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            _checkpoint(run)
    else:
        _checkpoint(run)
    bar.close()
    model.load_state_dict(state.best_weights)
    model.eval()
    return FitResult(steps=state.step, best_step=state.best_step, best_val_loss=state.best_val,
                     seconds=time.perf_counter() - start, strategy=run.plan.strategy,
                     n_train=len(run.train_data[0]), n_val=len(run.val_data[0]), history=state.history)


def _global_mean(loss: torch.Tensor, world_size: int) -> float:
    """The global batch's loss, the same on every process."""
    value = loss.detach().clone()
    if world_size > 1:
        torch.distributed.all_reduce(value)
        value /= world_size
    return value.item()
