"""Everything a training run carries from step to step: the weight average and the resumable state."""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import torch

from gentransfer.errors import ConfigError
from gentransfer.training.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["EMA", "TrainingState", "data_fingerprint"]


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


def data_fingerprint(*arrays: torch.Tensor | None) -> str:
    """SHA-256 of the data a run trains on: a checkpoint resumes only on the same rows."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(b"none" if a is None else repr(tuple(a.shape)).encode() + a.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


class TrainingState:
    """Everything a run needs to continue exactly where it stopped, saved and restored as one.

    Tensors: the model, the best weights so far, the EMA, the optimizer's moments and the
    generator's state; counters and history go into the checkpoint's JSON metadata with the
    run's fingerprint (model, settings, plan and data), which a resume must match.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None,
                 generator: torch.Generator, fingerprint: dict[str, Any]):
        self.model, self.optimizer, self.ema, self.generator = model, optimizer, ema, generator
        self.fingerprint = fingerprint
        self.best_val, self.best_step = math.inf, 0
        self.best_weights = copy.deepcopy(model.state_dict())
        self.reference = math.inf  # the held-out loss at the last improvement by more than min_delta
        self.bad_evals, self.step = 0, 0
        self.history: list[dict[str, float]] = []

    def record(self, step: int, train_loss: float, val: float, min_delta: float = 0.0) -> None:
        """One evaluation: keep the best weights; count the evaluations since the held-out loss last
        fell by more than ``min_delta`` (a share of its value) below the last such improvement, so
        that a long tail of tiny improvements ends as a plateau (``min_delta = 0``: any fall)."""
        if val < self.best_val:
            self.best_val, self.best_step = val, step
            self.best_weights = copy.deepcopy(self.model.state_dict())
        if not math.isfinite(self.reference) or val < self.reference - min_delta * abs(self.reference):
            self.reference, self.bad_evals = val, 0
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
            "step": self.step, "best_val": self.best_val, "best_step": self.best_step, "reference": self.reference,
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
        self.reference = meta.get("reference", self.best_val)
        self.bad_evals, self.history, self.step = meta["bad_evals"], meta["history"], meta["step"]
        return True


