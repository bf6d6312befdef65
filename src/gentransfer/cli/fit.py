"""``gentransfer fit-source`` and ``fit-target``: a source model on your data, transferred to a target."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

from gentransfer.cli.outputs import recorded
from gentransfer.cli.progress import add_progress_flag, wants_progress
from gentransfer.data.columns import parse_bounds
from gentransfer.data.tabular import Columns
from gentransfer.errors import ConfigError
from gentransfer.names import DeviceName, FamilyName, GuardByName
from gentransfer.pipeline.settings import ModelSettings
from gentransfer.settings import add_flags, resolve
from gentransfer.training.config import TrainSettings
from gentransfer.transfer.strategies import StrategyChoice


@dataclass
class SourceJob:
    """What fit-source fits, and where.

    Attributes:
        data: source data file (.npz or .csv).
        family: model family.
        out: run folder to create.
        overwrite: replace a finished run in --out (only once the new run has finished).
        resume: continue a killed run of --out from its checkpoint.
        bounds: ranges of x: auto (a column piled up at its min or max is bounded by its observed
            range), none, or LO:HI for every column; samples of a bounded column stay inside it.
        init_seed: seed of the model's initial weights (unset: the training --seed, which also
            fixes the split and the batches).
        device: where to train: cpu, cuda, or auto (CUDA when there is one).
    """

    data: str | None = None
    family: FamilyName | None = None
    out: str | None = None
    overwrite: bool = False
    resume: bool = False
    bounds: str = "auto"
    init_seed: int | None = None
    device: DeviceName = "cpu"


@dataclass
class TargetJob:
    """What fit-target fits, and where.

    Attributes:
        source: run folder written by fit-source.
        data: target data file (.npz or .csv).
        strategy: transfer strategy; auto chooses by held-out loss (the negative-transfer guard).
        out: run folder to create.
        overwrite: replace a finished run in --out (only once the new run has finished).
        resume: continue a killed run of --out from its checkpoint.
        bounds: ranges of x: auto (a column piled up at its min or max is bounded by its observed
            range), none, or LO:HI for every column; samples of a bounded column stay inside it.
        warm_start: freeze-shared: start the head from the source's weights (the paper's MNIST ->
            USPS recipe); unset, the head starts fresh (the SEC estimator).
        init_seed: seed of the target's fresh weights (scratch's model, a fresh head, LoRA's
            adapters; unset: the training --seed, which also fixes the split and the batches).
        lr_scale: factor on --lr (unset: the strategy's own: 0.3 for a head that starts from the
            source's weights, 1 otherwise; 1 trains every strategy at one rate).
        refit: auto: fit the chosen strategy again on every target row (the candidate saw about two
            thirds of them), for as many passes as the candidate's kept step.
        guard_by: auto: how the candidates are compared on the validation rows: loss (each
            family's held-out loss, a signed-rank test against scratch) or w1 (tables: the W1 of
            each candidate's draws to the validation rows, as evaluate scores them; the lowest kept).
        device: where to train: cpu, cuda, or auto (CUDA when there is one).
        source_data: pooled: the source's rows (.csv or .npz, with the target's columns); one model
            is fitted on them and the target's, a domain indicator telling them apart.
    """

    source: str | None = None
    data: str | None = None
    strategy: StrategyChoice | None = None
    out: str | None = None
    overwrite: bool = False
    resume: bool = False
    bounds: str = "auto"
    warm_start: bool = False
    init_seed: int | None = None
    lr_scale: float | None = None
    refit: bool = False
    device: DeviceName = "cpu"
    source_data: str | None = None
    guard_by: GuardByName = "loss"


def _job(values: dict, cls: type, required: tuple[str, ...]):
    missing = [k for k in required if values.get(k) is None]
    if missing:
        raise ConfigError(f"--{missing[0].replace('_', '-')} is required", f"pass it, or set {missing[0]} in --config")
    return cls(**values)


def _clamp_note(train: TrainSettings, n: int) -> None:
    """A batch larger than the data is no error: the loop clamps it; say so once the run is done."""
    if train.batch_size > n:
        print(f"note: batch size {train.batch_size} is larger than the {n} rows; each step used all rows",
              file=sys.stderr)


def _data_defaults(family: str | None, table, bounds: str, role: str, given: dict,
                   rows: int | None = None) -> tuple[dict, dict]:
    """The settings the data choose (:func:`gentransfer.pipeline.data_defaults`) that the user left
    unset; printed, and recorded in config.json with the rest."""
    from gentransfer.data.columns import ColumnTransform
    from gentransfer.pipeline import data_defaults

    if family is None or table.x is None:
        return {}, {}
    image = table.image_shape is not None
    width = table.x.shape[1] if image else ColumnTransform.fit(table.x, parse_bounds(bounds), table.source).model_width
    latent_dim = given.get(ModelSettings, {}).get("latent_dim")
    model, train = data_defaults(family, width, rows or len(table), role=role, latent_dim=latent_dim, image=image)
    model = {k: v for k, v in model.items() if k not in given.get(ModelSettings, {})}
    if "block_out_channels" in given.get(ModelSettings, {}):  # the user's widths replace the base width
        model.pop("hidden", None)
    train = {k: v for k, v in train.items() if k not in given[TrainSettings]}
    chosen = ", ".join(f"{k} {v}" for k, v in {**model, **train}.items())
    if chosen:
        print(f"settings chosen from the data ({width} modelled columns, {rows or len(table):,} rows): {chosen}")
    return model, train


def _source_family(run: str) -> str | None:
    """The family recorded in a source run's config.json (None if unreadable: fit_target says why)."""
    family = recorded(run).get("family")
    return family if isinstance(family, str) else None


def fit_source(args: argparse.Namespace) -> int:
    from gentransfer.pipeline import fit_source

    began = time.perf_counter()
    s = resolve(args, [SourceJob, Columns, TrainSettings, ModelSettings])
    s[TrainSettings].setdefault("progress", wants_progress(None))
    job = _job(s[SourceJob], SourceJob, ("data", "family", "out"))
    TrainSettings.from_dict(s[TrainSettings])  # the user's settings checked before the data are read
    ModelSettings.from_dict(s[ModelSettings]).constructor_args(job.family)
    columns = Columns(**s[Columns])
    table = columns.load(job.data)
    model_defaults, train_defaults = _data_defaults(job.family, table, job.bounds, "source", s)
    train = TrainSettings.from_dict({**train_defaults, **s[TrainSettings]})
    model = ModelSettings.from_dict({**model_defaults, **s[ModelSettings]})
    run = fit_source(table, job.family, job.out, model=model, train=train, overwrite=job.overwrite,
                     resume=job.resume, bounds=parse_bounds(job.bounds), settings={**asdict(job), **columns.to_dict()},
                     init_seed=job.init_seed, device=job.device)
    _clamp_note(train, len(table))
    print(f"source model in {run} ({time.perf_counter() - began:.0f} s)")
    return 0


def fit_target(args: argparse.Namespace) -> int:
    from gentransfer.pipeline import fit_target

    began = time.perf_counter()
    s = resolve(args, [TargetJob, Columns, TrainSettings])
    s[TrainSettings].setdefault("progress", wants_progress(None))
    job = _job(s[TargetJob], TargetJob, ("source", "data", "strategy", "out"))
    TrainSettings.from_dict(s[TrainSettings])  # the user's settings checked before the data are read
    columns = Columns(**s[Columns]).or_recorded(recorded(job.source), job.data)  # the source's roles by default
    table = columns.load(job.data)
    family = _source_family(job.source)
    source_rows = columns.load(job.source_data) if job.source_data is not None else None
    rows = len(table) + (len(source_rows) if source_rows is not None else 0)  # pooled: trained on both tasks' rows
    _, train_defaults = _data_defaults(family, table, job.bounds, "target", s, rows)
    train = TrainSettings.from_dict({**train_defaults, **s[TrainSettings]})
    run = fit_target(job.source, table, job.strategy, job.out, train=train, overwrite=job.overwrite,
                     resume=job.resume, bounds=parse_bounds(job.bounds), settings={**asdict(job), **columns.to_dict()},
                     init_seed=job.init_seed, warm_start=job.warm_start, lr_scale=job.lr_scale, refit=job.refit,
                     device=job.device, source_data=source_rows, guard_by=job.guard_by)
    _clamp_note(train, rows)
    print(f"target model in {run} ({time.perf_counter() - began:.0f} s)")
    return 0


# the settings data_defaults() sizes from the data when the user leaves them unset
SIZED_MODEL = ("hidden", "depth", "n_layers", "coupling", "sampler", "sample_steps")
SIZED_TRAIN = ("steps", "batch_size", "lr", "patience", "eval_every", "ema_decay", "val_repeats")
CONFIG_HELP = "TOML file; every flag is also a key (flags win)"


def _training_flags(p: argparse.ArgumentParser, job: type) -> None:
    group = p.add_argument_group("training")
    add_flags(group, TrainSettings, skip=("progress",), sized=SIZED_TRAIN)
    add_flags(group, job, only=("init_seed", "device"))
    add_progress_flag(group)


def _run_folder_flags(p: argparse.ArgumentParser, job: type) -> None:
    group = p.add_argument_group("run folder")
    add_flags(group, job, only=("out", "overwrite", "resume"))
    group.add_argument("--config", help=CONFIG_HELP)


def register(sub) -> None:
    fs = sub.add_parser("fit-source", help="fit a source model on your data (.npz or .csv)")
    data = fs.add_argument_group("data")
    add_flags(data, SourceJob, only=("data", "bounds"))
    add_flags(data, Columns)
    model = fs.add_argument_group("model", "unset settings are sized from the data or take the family's defaults")
    add_flags(model, SourceJob, only=("family",))
    add_flags(model, ModelSettings, only=("embed_dim", "hidden", "depth", "n_classes", "latent_dim"), sized=SIZED_MODEL)
    add_flags(fs.add_argument_group("model: flow"), ModelSettings, only=("n_layers", "coupling"), sized=SIZED_MODEL)
    add_flags(fs.add_argument_group("model: diffusion/UNet"), ModelSettings, sized=SIZED_MODEL,
              only=("sampler", "sample_steps", "block_out_channels", "layers_per_block", "attention",
                    "norm_num_groups"))
    _training_flags(fs, SourceJob)
    _run_folder_flags(fs, SourceJob)
    fs.set_defaults(handler=fit_source)

    ft = sub.add_parser("fit-target", help="transfer a source run to your target data")
    data = ft.add_argument_group("data")
    add_flags(data, TargetJob, only=("data", "bounds"))
    add_flags(data, Columns)
    add_flags(ft.add_argument_group("transfer", "the source run, and what of it the target keeps"), TargetJob,
              only=("source", "strategy", "warm_start", "lr_scale", "refit", "guard_by", "source_data"))
    _training_flags(ft, TargetJob)
    _run_folder_flags(ft, TargetJob)
    ft.set_defaults(handler=fit_target)
