"""MNIST -> USPS with a Diffusers UNet: the paper's real-data benchmark.

Conditional: a class-conditional diffusion pre-trained on ``n_s`` MNIST images (16x16), then
fitted on the 5,103 USPS images of the paper split under each strategy; the class embedding is
the shared embedding ``h`` (frozen under ``freeze-shared``, as in the paper). Unconditional: an
unconditional UNet pre-trained on MNIST (all digits, or threes only) and fine-tuned on the USPS
threes. Score: exact W1 on flattened images against the held-out USPS images, with the same
label counts, next to the real-vs-real floor.

A preset over the command line's path: a job's models are ``fit-source`` / ``fit-target`` run
folders and its samples come from ``sample`` (:mod:`gentransfer.pipeline`); this module holds
the study's settings, its jobs and its scores.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from gentransfer.data import mnist_source, stratified_subset, usps_paper_split
from gentransfer.data.tabular import Table
from gentransfer.diffusion import DiffusionModel
from gentransfer.diffusion.unet import unet_diffusion
from gentransfer.digits.scores import FEATURE_COLUMNS, feature_scores
from gentransfer.digits.settings import DigitsStudy, unet_settings
from gentransfer.errors import ConfigError
from gentransfer.experiments import Experiment
from gentransfer.experiments.sweep import strategy_jobs
from gentransfer.files import write_json
from gentransfer.metrics import wasserstein1
from gentransfer.pipeline import ModelSettings, RunFolder, fit_source, fit_target, sample_run
from gentransfer.pipeline.runfolder import fit_once
from gentransfer.settings import settings_from_dict
from gentransfer.training import TrainSettings
from gentransfer.training.distributed import is_main

__all__ = ["DigitsStudy", "COLUMNS", "ROW_KEYS", "EXPERIMENT", "build_jobs", "run_job", "job_rows", "new_model"]

COLUMNS = ["setting", "source", "strategy", "n_s", "n_t", "n_fit", "seed", "source_seed", "W1", "W1_floor",
           "fit_seconds", "source_seconds", "source_steps", "sample_seconds", "steps", *FEATURE_COLUMNS] + [
               f"W1_digit{d}" for d in range(10)] + [
               "best_step", "n_val", "lr", "plateau", "source_best_step", "source_plateau", "guidance_weight"]
ROW_KEYS = ["setting", "source", "strategy", "n_s", "n_t", "seed"]
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


def target_budget(train: dict[str, Any], passes: float, n_fit: int, seed: int) -> dict[str, Any]:
    """A target fit's training settings on ``n_fit`` images: ``train`` with the seed, evaluated every
    ``passes`` passes over the images it trains on (between 10 steps and ``train``'s eval_every)."""
    train = {**train, "seed": seed}
    if passes <= 0:
        return train
    defaults = TrainSettings()
    rows = n_fit - round(train.get("val_fraction", defaults.val_fraction) * n_fit)
    steps_per_pass = rows / min(train.get("batch_size", defaults.batch_size), rows)
    most = train.get("eval_every", defaults.eval_every)
    return {**train, "eval_every": int(min(most, max(10, round(passes * steps_per_pass))))}


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
    """The seed of the source model a job uses: its own, at every n_s (all of MNIST too: the seed
    also fixes the source's initial weights, batches and held-out part)."""
    return seed


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"setting": job["setting"], "source": job["source"], "strategy": s, "n_s": job["n_s"],
             "n_t": job["n_t"], "seed": job["seed"]} for s in job["strategies"]]


def _images(x: torch.Tensor, y: torch.Tensor | None, source: str) -> Table:
    """Images (with their class labels, in the conditional setting) as the command line reads them."""
    return Table(x=x.reshape(len(x), -1).double().numpy(), z=None if y is None else y[:, None].double().numpy(),
                 source=source, image_shape=tuple(x.shape[1:]))


def _resolved(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Settings with every default filled in: a default written out or left out is the same recipe."""
    return asdict(settings_from_dict(cls, values, cls.__name__))


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """The benchmark scores its own way; the command line's progress lines would only be noise."""


def _source_run(s: dict[str, Any], job: dict[str, Any], src_seed: int, device: str, root: Path,
                shared: bool) -> Path:
    """The job's source run folder: ``fit-source`` on the MNIST images, once per (source, n_s,
    source seed) in a run folder (``shared``) and read by every later job that needs it (other n_t,
    other seeds at n_s = 60,000, a resumed run); a second worker waits for the first one's fit."""
    folder = root / "sources" / f"{job['source']}-ns{job['n_s']}-seed{src_seed}"
    if (folder / "source.json").is_file() and not RunFolder(folder).is_finished():
        raise ConfigError(f"{folder} holds a source model of the runner before the command-line path",
                          "pass a new --out (or move the old run's sources/ aside)")
    digit = s["digit"] if job["source"] == "mnist-digit" else None
    # n_s images exactly (mnist_source refuses more than there are), so the budget is known unread
    train = {**source_budget(s["source_train"], s.get("source_epochs", 0.0), job["n_s"]), "seed": src_seed}
    recipe = {"fit": "source", "setting": s["setting"], "source": job["source"], "n_s": job["n_s"],
              "digit": digit, "model": _resolved(ModelSettings, unet_settings(s)),
              "train": _resolved(TrainSettings, train)}

    def fit_into(out: Path, resume: bool, overwrite: bool) -> Path:
        xs, ys = mnist_source(job["n_s"], seed=src_seed, digit=digit)
        return fit_source(_images(xs, ys if s["setting"] == "conditional" else None, f"MNIST ({job['n_s']})"),
                          "diffusion", out, model=unet_settings(s), train=train, resume=resume, overwrite=overwrite,
                          settings={"recipe": recipe}, device=device, score_heldout=False, log=_quiet)

    return fit_once(fit_into, folder, recipe, shared=shared).path


def _fit_arm(s: dict[str, Any], job: dict[str, Any], arm: str, source_run: Path | None, target: Table,
             out: Path) -> Path:
    """One arm's run folder: scratch is ``fit-source`` on the target's images alone, the others
    ``fit-target`` from the source run; fresh weights seeded with seed + 1, training with seed."""
    seed = int(job["seed"])
    train = target_budget(s["target_train"], s.get("target_eval_passes", 0.0), len(target), seed)
    common = {"train": train, "init_seed": seed + 1, "device": s["device"], "score_heldout": False, "log": _quiet}
    strategy = "freeze-shared" if arm == "freeze-shared-warm" else arm
    # finetune, lora: always from the source's head; scratch: never
    warm = arm == "freeze-shared-warm" or (bool(s["warm_start"]) and arm == "freeze-shared")
    lr_scale = s.get("target_lr_scale")
    source = RunFolder(source_run).config()["recipe"] if source_run else None
    recipe = {"fit": strategy, "setting": s["setting"], "split_seed": s["split_seed"], "n_t": job["n_t"],
              "digit": None if s["setting"] == "conditional" else s["digit"], "train": _resolved(TrainSettings, train),
              "init_seed": seed + 1, "warm_start": warm, "source": source,
              "model": _resolved(ModelSettings, unet_settings(s)) if source_run is None else None}
    if lr_scale is not None and source_run is not None:  # absent at its default: older recipes still match
        recipe["lr_scale"] = lr_scale

    def fit_into(out: Path, resume: bool, overwrite: bool) -> Path:
        kw = {**common, "resume": resume, "overwrite": overwrite, "settings": {"recipe": recipe}}
        if source_run is None:
            return fit_source(target, "diffusion", out, model=unet_settings(s), **kw)
        return fit_target(source_run, target, strategy, out, warm_start=warm, lr_scale=lr_scale, **kw)

    return fit_once(fit_into, out, recipe).path


@dataclass(frozen=True)
class _JobData:
    """One job's images: the target's fit images, the held-out images it is scored on, the floor."""

    target: Table
    fit_x: torch.Tensor
    held_x: torch.Tensor
    held_y: torch.Tensor
    reference: torch.Tensor  # as many real fit images as held-out ones: the floor's and features' real side
    floor: float
    conditional: bool


def _job_data(s: dict[str, Any], job: dict[str, Any], seed: int) -> _JobData:
    conditional = s["setting"] == "conditional"
    split = usps_paper_split(seed=s["split_seed"], digit=None if conditional else s["digit"])
    held_x, held_y = split.heldout_x, split.heldout_y
    if s.get("eval_size"):
        scored = torch.from_numpy(stratified_subset(held_y, int(s["eval_size"]), seed=s["split_seed"]))
        held_x, held_y = held_x[scored], held_y[scored]
    subset = torch.from_numpy(stratified_subset(split.fit_y, min(int(job["n_t"]), len(split.fit_y)), seed=seed))
    fit_x, fit_y = split.fit_x[subset], split.fit_y[subset]
    target = _images(fit_x, fit_y if conditional else None, f"USPS ({len(fit_x)})")
    reference = split.fit_x[: len(held_x)]
    return _JobData(target, fit_x, held_x, held_y, reference, wasserstein1(reference, held_x), conditional)


def _arm(s: dict[str, Any], job: dict[str, Any], strategy: str, source_run: Path | None, data: _JobData,
         models: Path, seed: int) -> tuple[Path, float | None]:
    """The run folder an arm samples from, and its Domain Guidance weight (``None``: unguided)."""
    if strategy == "source-only":
        return source_run, None
    if strategy == "domain-guidance":  # the finetune arm's model (read back), guided by its source
        run = _fit_arm(s, job, "finetune", source_run, data.target, models / "target-finetune")
        return run, _guidance_weight(run, source_run, data.target, s["guidance_weights"], seed)
    return _fit_arm(s, job, strategy, source_run, data.target, models / f"target-{strategy}"), None


def _score(s: dict[str, Any], job: dict[str, Any], strategy: str, run: Path, weight: float | None,
           source_run: Path | None, data: _JobData, seed: int) -> tuple[dict[str, Any], torch.Tensor]:
    """Sample the arm at one image per held-out label and score it: the row and the images."""
    fit_result = RunFolder(run).metrics() if strategy != "source-only" else None
    source_fit = RunFolder(source_run).metrics() if source_run else {}
    held_cond = Table(z=data.held_y[:, None].double().numpy(), source="held-out labels") if data.conditional else None
    start = time.perf_counter()
    drawn = sample_run(run, 1 if data.conditional else len(data.held_x), held_cond, seed=seed + 2,
                       device=s["device"], guidance=weight)
    fake, sample_seconds = torch.from_numpy(drawn["x"]).float(), time.perf_counter() - start
    row = {"setting": s["setting"], "source": job["source"], "strategy": strategy, "n_s": job["n_s"],
           "n_t": job["n_t"], "n_fit": len(data.fit_x), "seed": seed,
           "source_seed": source_seed(job["n_s"], seed, job["source"]) if job["n_s"] > 0 else "",
           "W1": wasserstein1(fake, data.held_x), "W1_floor": data.floor,
           "fit_seconds": round(fit_result["seconds"], 2) if fit_result else 0.0,
           "source_seconds": round(source_fit.get("seconds", 0.0), 2), "source_steps": source_fit.get("steps", 0),
           "sample_seconds": round(sample_seconds, 2), "steps": fit_result["steps"] if fit_result else 0,
           **_fit_record(run if fit_result else None), "guidance_weight": "" if weight is None else weight,
           **{f"source_{k}": v for k, v in _fit_record(source_run).items() if k in ("best_step", "plateau")}}
    if s.get("feature_metrics"):
        row.update(feature_scores(fake, data.held_y if data.conditional else None, data.held_x, data.held_y,
                                  data.reference, data.fit_x, seed=seed))
    if data.conditional:
        for d in range(10):
            mask = data.held_y == d
            row[f"W1_digit{d}"] = wasserstein1(fake[mask], data.held_x[mask])
    return row, fake


def run_job(job: dict[str, Any], run_dir: str | None = None) -> list[dict[str, Any]]:
    """Pre-train on MNIST (unless scratch), fit on USPS under each strategy, score against the
    held-out USPS images.

    A thin preset over the command line's path: every model is a ``fit-source`` / ``fit-target``
    run folder (:func:`~gentransfer.pipeline.fit_source`, :func:`~gentransfer.pipeline.fit_target`)
    and every sample set comes from :func:`~gentransfer.pipeline.sample_run`. Scratch is
    ``fit-source`` on the USPS images; each target's fresh weights are seeded with seed + 1
    (``--init-seed``) and its training with seed. Under torchrun, processes other than the first
    fit into a folder of their own that is thrown away."""
    import tempfile

    from gentransfer.digits.grid import save_grid

    s, seed = job["settings"], int(job["seed"])
    data = _job_data(s, job, seed)
    keep = bool(run_dir) and is_main()
    with tempfile.TemporaryDirectory() as scratchpad:
        root = Path(run_dir) if keep else Path(scratchpad)
        out = root / "models" / f"{job['source']}-ns{job['n_s']}-nt{job['n_t']}-seed{seed}"
        models = out if keep and s["save_models"] else Path(scratchpad) / "models"
        src_seed = source_seed(job["n_s"], seed, job["source"])
        source_run = _source_run(s, job, src_seed, s["device"], root, keep) if job["n_s"] > 0 else None
        rows = []
        for strategy in job["strategies"]:
            run, weight = _arm(s, job, strategy, source_run, data, models, seed)
            row, fake = _score(s, job, strategy, run, weight, source_run, data, seed)
            rows.append(row)
            if keep:
                write_json(out / f"target-{strategy}.json", {**row, "fit": RunFolder(run).metrics()
                                                            if strategy != "source-only" else None})
                save_grid(fake, data.held_y if data.conditional else None, out / f"target-{strategy}.png",
                          title=f"{strategy}, n_s={job['n_s']}, W1={row['W1']:.3f}")
    return rows


def _fit_record(run: Path | None) -> dict[str, Any]:
    """How a run's fit ended: the step kept, the held-out images it was judged on, the learning
    rate it trained at (the plan's factor included), and whether early stopping ended it before
    its budget (its plateau) or the budget did. Empty for no fit."""
    if run is None:
        return {"best_step": "", "n_val": "", "lr": "", "plateau": ""}
    folder = RunFolder(run)
    metrics, train = folder.metrics(), folder.config()["train"]
    plan = json.loads((run / RunFolder.MODEL / "config.json").read_text())["transfer_plan"]
    return {"best_step": metrics["best_step"], "n_val": metrics["n_val"], "lr": train["lr"] * plan["lr_scale"],
            "plateau": metrics["steps"] < train["steps"]}


def _guidance_weight(run: Path, source_run: Path, target: Table, weights: list[float], seed: int) -> float:
    """The Domain Guidance weight with the lowest guided held-out error on the images the fit held
    out for early stopping (the only target images it did not train on)."""
    from gentransfer.config import load_pretrained
    from gentransfer.diffusion.guidance import guidance_losses
    from gentransfer.training import split_rows

    train = RunFolder(run).config()["train"]
    _, val = split_rows(len(target), train["val_fraction"], train["seed"])
    fitted, source = load_pretrained(run / "model"), load_pretrained(source_run / "model")
    x = target.x[val] * 2.0 - 1.0  # the model's pixel scale (PixelScale)
    losses = guidance_losses(fitted, source, weights, x, None if target.z is None else target.z[val], seed=seed)
    return min(losses, key=losses.get)


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
