"""MNIST -> USPS with a Diffusers UNet: the paper's real-data benchmark.

Conditional: a class-conditional diffusion pre-trained on ``n_s`` MNIST images (16x16), then
fitted on the 5,103 USPS images of the paper split under each strategy; the class embedding is
the shared embedding ``h`` (frozen under ``freeze-shared``, as in the paper). Unconditional: an
unconditional UNet pre-trained on MNIST (all digits, or threes only) and fine-tuned on the USPS
threes. Score: exact W1 on flattened images against the held-out USPS images, with the same
label counts, next to the real-vs-real floor.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from gentransfer.data import mnist_source, stratified_subset, usps_paper_split
from gentransfer.diffusion import DiffusionModel
from gentransfer.diffusion.unet import unet_diffusion
from gentransfer.digits.scores import FEATURE_COLUMNS, feature_scores
from gentransfer.distributed import is_main
from gentransfer.errors import ConfigError
from gentransfer.experiments import Experiment, check_settings
from gentransfer.experiments.sweep import strategy_jobs
from gentransfer.metrics import wasserstein1
from gentransfer.runs import write_json
from gentransfer.training import fit
from gentransfer.transfer import STRATEGIES, transfer

__all__ = ["DigitsStudy", "COLUMNS", "ROW_KEYS", "EXPERIMENT", "build_jobs", "run_job", "job_rows", "new_model"]

COLUMNS = ["setting", "source", "strategy", "n_s", "n_t", "n_fit", "seed", "source_seed", "W1", "W1_floor",
           "fit_seconds", "source_seconds", "source_steps", "sample_seconds", "steps", *FEATURE_COLUMNS] + [
               f"W1_digit{d}" for d in range(10)]
ROW_KEYS = ["setting", "source", "strategy", "n_s", "n_t", "seed"]
# the transfer strategies, and the source model sampled as it is (the domain gap, no target data)
ARMS = (*STRATEGIES, "source-only")
MNIST_SIZE = 60000
HELDOUT_SIZE = 2188  # USPS images of the paper split's held-out 30%


@dataclass
class DigitsStudy:
    """Every setting of the digits benchmark (config keys; ``configs/digits-*.toml`` set them).

    Attributes:
        setting: conditional (class-conditional, all digits) or unconditional (digit `digit` only).
        n_source: MNIST source sizes n_s.
        n_target: USPS target sizes n_t: seeded, class-stratified subsets of the fit images, nested
            across n_t; a size above the fit split's (5,103 images; 459 threes) takes all of it, and
            the rows record the images used as n_fit.
        n_source_sweep_at: the target sizes at which the transfer arms run at every n_s; at the others
            only at the largest n_s (empty: every n_t, a full factorial grid).
        seeds: seeds; each fixes the MNIST subset and the initial weights.
        strategies: the arms: transfer strategies, and source-only (the MNIST model sampled as it is).
        split_seed: seed of the USPS 70/30 paper split.
        digit: the digit of the unconditional setting.
        source_digit_only: unconditional: pre-train on MNIST images of `digit` only.
        warm_start: freeze-shared starts the UNet from the source's weights, class embedding frozen (the paper's
            recipe); false fits a fresh UNet around the frozen embedding.
        unet: the UNet's architecture.
        source_train, target_train: training settings of the source and target fits.
        source_epochs: a source budget that grows with n_s: at most max(source_train steps,
            source_epochs x n_s / batch size) steps, ended by early stopping on held-out MNIST images at
            its plateau (0: the fixed source_train steps); the steps used are recorded per row.
        sampler: sampler of every arm.
        sample_steps: sampler steps.
        save_models: write every model into the run folder.
        feature_metrics: also score in the USPS classifier's features (FD, KID, precision / recall /
            density / coverage, conditional accuracy, memorisation), each beside its floor.
        eval_size: score on a class-stratified subset of this many held-out USPS images (seeded
            by `split_seed`, the same for every arm and seed), each floor at the same size; 0: all
            2,188. Fewer images make a sample set cheaper and every score noisier. Conditional only.
        device: auto (CUDA when available), cpu or cuda.
    """

    setting: Literal["conditional", "unconditional"] = "conditional"
    n_source: list[int] = field(default_factory=lambda: [1000, 5000, 10000, 60000])
    n_target: list[int] = field(default_factory=lambda: [5103])
    n_source_sweep_at: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    strategies: list[str] = field(default_factory=lambda: ["scratch", "freeze-shared", "finetune"])
    split_seed: int = 0
    digit: int = 3
    source_digit_only: bool = False  # unconditional: pre-train on MNIST images of `digit` only
    # freeze-shared starts the UNet from the source's weights, class embedding frozen: the paper's
    # recipe. False fits a fresh UNet around the frozen embedding (the simulation's SEC estimator).
    warm_start: bool = True
    unet: dict[str, Any] = field(default_factory=lambda: {"block_out_channels": [32, 64, 64],
                                                          "layers_per_block": 1, "attention": False})
    source_epochs: float = 0.0
    source_train: dict[str, Any] = field(default_factory=lambda: {
        "steps": 1500, "batch_size": 128, "lr": 1e-3, "val_fraction": 0.05, "eval_every": 250, "patience": 4,
        "ema_decay": 0.995, "val_repeats": 2})
    target_train: dict[str, Any] = field(default_factory=lambda: {
        "steps": 1500, "batch_size": 128, "lr": 1e-3, "val_fraction": 0.05, "eval_every": 250, "patience": 4,
        "ema_decay": 0.995, "val_repeats": 2})
    sampler: Literal["ddpm", "ddim", "dpm++", "sde-dpm++", "ancestral", "ode"] = "sde-dpm++"
    sample_steps: int = 20
    save_models: bool = True
    feature_metrics: bool = False
    eval_size: int = 0
    device: str = "auto"  # "auto": CUDA when available, else CPU

    def check(self) -> None:
        check_settings(self)
        if self.setting not in ("conditional", "unconditional"):
            raise ConfigError(f"unknown setting {self.setting!r}", "use 'conditional' or 'unconditional'")
        if self.setting == "unconditional" and "freeze-shared" in self.strategies:
            raise ConfigError("freeze-shared needs a shared part, and the unconditional UNet has none",
                              "use --strategies scratch,finetune for the unconditional setting")
        bad = sorted(set(self.strategies) - set(ARMS))
        if bad or not self.strategies:
            raise ConfigError(f"unknown or no strategies: {bad or self.strategies}", f"choose from {list(ARMS)}")
        if any(n < 10 or n > 60000 for n in self.n_source):
            raise ConfigError(f"n_source values must be in 10..60000, got {self.n_source}", "fix --n-source")
        if self.source_epochs < 0:
            raise ConfigError(f"source_epochs must be >= 0, got {self.source_epochs}", "pass e.g. 20, or 0")
        if not self.n_target or any(n < 10 or n > 5103 for n in self.n_target):
            raise ConfigError(f"n_target values must be in 10..5103 (the USPS fit split), got {self.n_target}",
                              "fix --n-target")
        if self.eval_size and self.setting == "unconditional":
            raise ConfigError("eval_size applies to the conditional setting (the threes' held-out set is small)",
                              "drop --eval-size")
        if self.eval_size and not 100 <= self.eval_size <= HELDOUT_SIZE:
            raise ConfigError(f"eval_size must be 0 (every held-out image) or in 100..{HELDOUT_SIZE}, got "
                              f"{self.eval_size}", "pass e.g. --eval-size 1000, or 0 for all")
        if set(self.n_source_sweep_at) - set(self.n_target):
            raise ConfigError(f"n_source_sweep_at {self.n_source_sweep_at} names sizes not in n_target "
                              f"{self.n_target}", "choose values of --n-target")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_model(study: dict[str, Any]) -> DiffusionModel:
    """A UNet diffusion on flattened 16x16 images; class-conditional for the conditional setting."""
    n_classes = 10 if study["setting"] == "conditional" else None
    return unet_diffusion((1, 16, 16), n_classes, **study["unet"], sampler=study["sampler"],
                          sample_steps=study["sample_steps"])


def source_budget(train: dict[str, Any], epochs: float, n_source: int) -> dict[str, Any]:
    """The source's training settings at ``n_source`` images: ``epochs`` passes over them, but no
    fewer steps than ``train`` gives (early stopping on the held-out part ends it at its plateau)."""
    if epochs <= 0:
        return dict(train)
    batch = train.get("batch_size", 256)
    return {**train, "steps": max(int(train.get("steps", 0)), math.ceil(epochs * n_source / batch))}


def build_jobs(study: DigitsStudy) -> list[dict[str, Any]]:
    study.check()
    settings = study.to_dict()
    source = "mnist-digit" if study.setting == "unconditional" and study.source_digit_only else "mnist"
    swept = set(study.n_source_sweep_at or study.n_target)
    jobs = [job for seed in study.seeds for n_t in study.n_target
            for job in strategy_jobs({"setting": study.setting, "source": source, "seed": seed, "n_t": n_t,
                                      "settings": settings}, study.strategies,
                                      study.n_source if n_t in swept else [max(study.n_source)])]
    # each source model's first job first, then the jobs that need none: parallel workers fit
    # scratch while a source trains, instead of waiting for the source another worker is training
    firsts, seen = [], set()
    for job in jobs:
        key = (job["n_s"], source_seed(job["n_s"], job["seed"], job["source"]))
        if job["n_s"] > 0 and key not in seen:
            seen.add(key)
            firsts.append(job)
    return firsts + [j for j in jobs if j["n_s"] == 0] + [j for j in jobs if j["n_s"] > 0 and j not in firsts]


def source_seed(n_source: int, seed: int, source: str) -> int:
    """The seed of the source model a job uses: all of MNIST (60,000 images, or every image of one
    digit) is the same data for every seed, so one source model (seed 0) serves them all."""
    return 0 if source == "mnist" and n_source >= MNIST_SIZE else seed


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"setting": job["setting"], "source": job["source"], "strategy": s, "n_s": job["n_s"],
             "n_t": job["n_t"], "seed": job["seed"]} for s in job["strategies"]]


def _to_model(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1) * 2.0 - 1.0  # diffusion runs on [-1, 1]


def _to_image(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0).reshape(len(x), 1, 16, 16)


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per process under torchrun
        return torch.device(f"cuda:{os.environ['LOCAL_RANK']}")
    return torch.device(name)


def _train_source(s: dict[str, Any], job: dict[str, Any], src_seed: int, device: torch.device):
    conditional = s["setting"] == "conditional"
    torch.manual_seed(src_seed)
    source = new_model(s).to(device)
    src_digit = s["digit"] if job["source"] == "mnist-digit" else None
    xs, ys = mnist_source(job["n_s"], seed=src_seed, digit=src_digit)
    train = source_budget(s["source_train"], s.get("source_epochs", 0.0), len(xs))
    result = fit(source, _to_model(xs), ys[:, None].float() if conditional else None,
                 train={**train, "seed": src_seed})
    return source, result.seconds, result.steps


def _source_model(s: dict[str, Any], job: dict[str, Any], src_seed: int, device: torch.device,
                  run_dir: str | None) -> tuple[DiffusionModel, float, int]:
    """The job's source model, trained once per (source, n_s, source seed) in a run folder and read
    back by every later job that needs it (other n_t, other seeds at n_s = 60,000, a resumed run)."""
    if not run_dir or not is_main():
        return _train_source(s, job, src_seed, device)
    import fcntl

    from gentransfer.config import load_pretrained

    folder = Path(run_dir) / "sources" / f"{job['source']}-ns{job['n_s']}-seed{src_seed}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits for the first one's model
        info = folder / "source.json"
        if not info.is_file():
            source, seconds, steps = _train_source(s, job, src_seed, device)
            source.save_pretrained(folder)
            write_json(info, {"seconds": seconds, "steps": steps})  # last: the model is complete
        meta = json.loads(info.read_text())
        return load_pretrained(folder).to(device), float(meta["seconds"]), int(meta["steps"])


def run_job(job: dict[str, Any], run_dir: str | None = None) -> list[dict[str, Any]]:
    """Pre-train on MNIST (unless scratch), fit on USPS under each strategy, score by W1."""
    s, seed = job["settings"], int(job["seed"])
    device = _device(s["device"])
    conditional = s["setting"] == "conditional"
    digit = None if conditional else s["digit"]
    split = usps_paper_split(seed=s["split_seed"], digit=digit)
    held_x, held_y = split.heldout_x, split.heldout_y
    if s.get("eval_size"):
        scored = torch.from_numpy(stratified_subset(held_y, int(s["eval_size"]), seed=s["split_seed"]))
        held_x, held_y = held_x[scored], held_y[scored]
    subset = torch.from_numpy(stratified_subset(split.fit_y, min(int(job["n_t"]), len(split.fit_y)), seed=seed))
    fit_x, fit_y = split.fit_x[subset], split.fit_y[subset]
    floor = wasserstein1(split.fit_x[: len(held_x)], held_x)
    out = Path(run_dir) / "models" / f"{job['source']}-ns{job['n_s']}-nt{job['n_t']}-seed{seed}" \
        if run_dir and is_main() else None
    src_seed = source_seed(job["n_s"], seed, job["source"])
    if job["n_s"] > 0:
        source, source_seconds, source_steps = _source_model(s, job, src_seed, device, run_dir)
    else:
        torch.manual_seed(seed)
        source, source_seconds, source_steps = new_model(s).to(device), 0.0, 0
    rows = []
    for strategy in job["strategies"]:
        torch.manual_seed(seed + 1)
        start = time.perf_counter()
        result = None
        if strategy == "source-only":
            target = source
        else:
            warm = s["warm_start"] if strategy == "freeze-shared" else None  # finetune, lora: always; scratch: never
            target = transfer(source, strategy, warm_start=warm).to(device)
            result = fit(target, _to_model(fit_x), fit_y[:, None].float() if conditional else None,
                         train={**s["target_train"], "seed": seed})
        fit_seconds = time.perf_counter() - start
        gen = torch.Generator().manual_seed(seed + 2)
        start = time.perf_counter()
        with torch.no_grad():
            fake = _to_image(target.sample(held_y[:, None].float() if conditional else None,
                                           n=len(held_x), generator=gen).cpu())
        sample_seconds = time.perf_counter() - start
        row = {"setting": s["setting"], "source": job["source"], "strategy": strategy, "n_s": job["n_s"],
               "n_t": job["n_t"], "n_fit": len(fit_x), "seed": seed,
               "source_seed": src_seed if job["n_s"] > 0 else "", "W1": wasserstein1(fake, held_x),
               "W1_floor": floor,
               "fit_seconds": round(fit_seconds, 2), "source_seconds": round(source_seconds, 2),
               "source_steps": source_steps,
               "sample_seconds": round(sample_seconds, 2), "steps": result.steps if result else 0}
        if s.get("feature_metrics"):
            row.update(feature_scores(fake, held_y if conditional else None, held_x, held_y,
                                      split.fit_x[: len(held_x)], fit_x, seed=seed))
        if conditional:
            for d in range(10):
                mask = held_y == d
                row[f"W1_digit{d}"] = wasserstein1(fake[mask], held_x[mask])
        rows.append(row)
        if out is not None:
            from gentransfer.digits.grid import save_grid

            tag = f"target-{strategy}"
            if s["save_models"] and strategy != "source-only":
                target.save_pretrained(out / tag)
            write_json(out / tag / "metrics.json", {**row, "fit": result.to_dict() if result else None})
            save_grid(fake, held_y if conditional else None, out / f"{tag}.png",
                      title=f"{strategy}, n_s={job['n_s']}, W1={row['W1']:.3f}")
    return rows



def _in_study(study: DigitsStudy, row: dict[str, Any]) -> bool:
    return row["setting"] == study.setting


def _swept(study: DigitsStudy, row: dict[str, Any]) -> bool:
    """The rows drawn against n_s: the target sizes with an n_s sweep."""
    return int(row["n_t"]) in set(study.n_source_sweep_at or study.n_target)


EXPERIMENT = Experiment(
    name="digits", settings=DigitsStudy, build_jobs=build_jobs, job_rows=job_rows, run_job=run_job,
    columns=COLUMNS, row_keys=ROW_KEYS, group=("setting", "source", "n_t"),
    metrics=("FD", "cond_acc", "W1", "KID"), figures="setting", panels="n_t", selects=_in_study, plotted=_swept,
    floors={"FD": "FD_floor", "cond_acc": "cond_acc_real", "W1": "W1_floor", "KID": "KID_floor"},
    higher_better=("cond_acc",), gain_axis="n_t")
