"""The ``gentransfer`` command line.

Every user error surfaces as one line on stderr, ``gentransfer: error: <problem>; fix: <fix>``,
with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from gentransfer import __version__
from gentransfer.data.columns import parse_bounds
from gentransfer.data.tabular import Columns
from gentransfer.errors import ConfigError, GentransferError
from gentransfer.families import FamilyName
from gentransfer.settings import add_flags, resolve
from gentransfer.training import TrainConfig
from gentransfer.workflow import ModelSettings

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"gentransfer: error: {message}; fix: see `{self.prog} --help`\n")


def _cmd_data_info(args: argparse.Namespace) -> int:
    from gentransfer.data import data_root, load_mnist, load_usps

    root = data_root(args.root)
    print(f"data root: {root}")
    for name, loader in (("mnist", load_mnist), ("usps", load_usps)):
        for split in ("train", "test"):
            x, y = loader(split, root=root)
            counts = " ".join(str(int((y == d).sum())) for d in range(10))
            print(f"{name:5s} {split:5s} {len(x):6d} images {tuple(x.shape[1:])}  per digit: {counts}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from gentransfer.data.download import download

    for name in args.datasets:
        for path in download(name, args.root, force=args.force):
            print(f"ok {path}")
    return 0


def _cmd_data_export(args: argparse.Namespace) -> int:
    """The digits benchmark's images as files for fit-source / fit-target: MNIST at 16x16 (the
    source), the USPS paper split's fit part (a class-stratified, nested subset) or held-out part."""
    import numpy as np
    import torch

    from gentransfer.config import atomic_write_bytes
    from gentransfer.data import mnist_source, stratified_subset, usps_paper_split

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"--out {args.out} already exists", "pass a new path")
    if not out.absolute().parent.is_dir():
        raise ConfigError(f"cannot write {args.out}: its folder does not exist", "create it first")
    if args.format == "npz" and out.suffix != ".npz":
        raise ConfigError(f"--out {args.out} must end in .npz for --format npz", "pass e.g. --out usps-200.npz")
    if args.n is not None and args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}", "pass --n 1 or more")
    if args.dataset == "mnist":
        x, y = mnist_source(args.n, seed=args.seed, root=args.root)
    else:
        split = usps_paper_split(seed=0, root=args.root)
        x, y = (split.fit_x, split.fit_y) if args.dataset == "usps-fit" else (split.heldout_x, split.heldout_y)
        if args.n is not None:
            if args.n > len(y):
                raise ConfigError(f"--n {args.n} is more than the {len(y)} images of {args.dataset}",
                                  f"pass --n {len(y)} or fewer")
            idx = torch.from_numpy(stratified_subset(y, args.n, seed=args.seed))
            x, y = x[idx], y[idx]
    images, labels = x.numpy(), y.numpy().astype(np.int64)
    if args.format == "npz":
        import io

        buf = io.BytesIO()
        np.savez(buf, x=images.astype(np.float32), z=labels)
        atomic_write_bytes(out, buf.getvalue())
    else:  # PNG class folders, built beside and moved into place whole
        from PIL import Image

        partial = out.with_name(f".{out.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        for d in range(10):
            (partial / str(d)).mkdir(parents=True)
        for i, (im, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(np.round(im[0] * 255).astype(np.uint8)).save(partial / str(label) / f"{i:05d}.png")
        for d in range(10):  # a class with no image would be an empty class folder
            if not any((partial / str(d)).iterdir()):
                (partial / str(d)).rmdir()
        os.replace(partial, out)
    print(f"{len(labels)} images of {args.dataset} ({images.shape[2]}x{images.shape[3]}) in {out}")
    return 0


def _cmd_evaluate_runs(args: argparse.Namespace) -> int:
    """Fitted runs side by side on held-out rows: likelihood and sample metrics."""
    from gentransfer.config import atomic_write_bytes
    from gentransfer.workflow import evaluate_run, evaluation_table

    if args.real or args.fake:
        raise ConfigError("--model scores runs on --data; --real / --fake compare two sample files",
                          "use one of the two forms")
    if not args.data:
        raise ConfigError("--model needs --data: the held-out rows to score on", "pass --data TEST.npz")
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ConfigError(f"--out {args.out} already exists", "pass --overwrite to replace it")
    columns = Columns(x_columns=args.x_columns, z_columns=args.z_columns, zc_columns=args.zc_columns)
    table = columns.load(args.data)
    results = [evaluate_run(run, table, seed=args.seed) for run in args.model]
    print(evaluation_table(results), end="")
    if args.out:
        atomic_write_bytes(Path(args.out), json.dumps(results, indent=1).encode())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from gentransfer.data import load_table
    from gentransfer.metrics import mmd2_unbiased, sliced_wasserstein1, wasserstein1, wasserstein1_floor

    if args.model:
        return _cmd_evaluate_runs(args)
    if not (args.real and args.fake):
        raise ConfigError("evaluate needs --real and --fake (two sample files), or --model RUN --data TEST",
                          "pass one of the two forms")
    real, fake = load_table(args.real).x, load_table(args.fake).x
    if real.shape[1] != fake.shape[1]:
        raise GentransferError(
            f"{args.real} has x of width {real.shape[1]} but {args.fake} has width {fake.shape[1]}",
            "compare samples of the same variable",
        )
    start = time.perf_counter()
    if args.metric == "w1":
        value = wasserstein1(real, fake)
    elif args.metric == "sliced-w1":
        value = sliced_wasserstein1(real, fake, seed=args.seed)
    elif args.metric == "mmd":
        value = mmd2_unbiased(real, fake)
    else:  # argparse's choices make this unreachable; keep the switch closed anyway
        raise GentransferError(f"unknown metric {args.metric!r}", "use w1, sliced-w1 or mmd")
    result = {"metric": args.metric, "value": value, "n_real": len(real), "n_fake": len(fake),
              "seconds": round(time.perf_counter() - start, 3)}
    if args.floor:
        if len(real) < 2:
            raise ConfigError(f"--floor splits the real rows in two, but {args.real} has {len(real)}",
                              "pass at least 2 real rows, or drop --floor")
        n = min(len(fake), len(real) // 2)
        result["floor_w1"] = wasserstein1_floor(real, n, seed=args.seed)
        result["floor_n"] = n
    print(json.dumps(result))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from gentransfer.report import write_report

    if not args.out.endswith((".html", ".htm")):
        raise ConfigError(f"--out {args.out} must end in .html", "pass e.g. --out report.html")
    if Path(args.out).exists() and not args.overwrite:
        raise ConfigError(f"--out {args.out} already exists", "pass --overwrite to replace it")
    columns = Columns(x_columns=args.x_columns, z_columns=args.z_columns, zc_columns=args.zc_columns)
    data = columns.load(args.data) if args.data else None
    path = write_report(args.runs, args.out, data, seed=args.seed)
    print(f"report in {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The built-in default job: the data checks, then one conditional transfer against scratch."""
    import numpy as np
    import torch

    from gentransfer import CouplingFlow, fit, transfer
    from gentransfer.data import mnist_source, usps_paper_split
    from gentransfer.metrics import kl_monte_carlo, wasserstein1
    from gentransfer.simulation import get_design

    split = usps_paper_split(seed=args.seed, root=args.root)
    n = len(split.heldout_x)
    print(f"USPS paper split (seed {args.seed}): {len(split.fit_x)} fit / {n} held-out")
    start = time.perf_counter()
    floor = wasserstein1(split.fit_x[:n], split.heldout_x)
    print(f"W1 real vs real (fit[:{n}] vs held-out): {floor:.3f}  ({time.perf_counter() - start:.1f} s)")
    xs, _ = mnist_source(n, seed=args.seed, root=args.root)
    print(f"W1 MNIST 16x16 vs held-out USPS:        {wasserstein1(xs, split.heldout_x):.3f}")

    print("conditional transfer on the default simulation design (flow, n_s = 5000, n_t = 300):")
    design = get_design("default")
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    source = CouplingFlow(x_dim=3, z_dim=10, zc_dim=2, hidden=32)
    fit(source, *design.sample_source(5000, rng), seed=args.seed)
    x_t, z_t, zc_t = design.sample_target(300, rng)
    x_new, z_new, zc_new = design.sample_target(2000, rng)
    true_lp = design.target_log_prob(x_new, z_new, zc_new)
    for strategy in ("scratch", "freeze-shared", "finetune"):
        target = transfer(source, strategy, x_dim=2, zc_dim=1)
        fit(target, x_t, z_t, zc_t, seed=args.seed)
        kl = kl_monte_carlo(true_lp, target.log_prob(x_new, z_new, zc_new).detach())
        print(f"  {strategy:14s} KL(P_t || P_hat) = {kl.value:.3f} ± {kl.se:.3f}")

    # the same job as a user runs it: run folders, the guard, and a report to open
    from gentransfer.data.tabular import Table
    from gentransfer.report import write_report
    from gentransfer.workflow import fit_source, fit_target

    out = Path(args.out)
    x_s, z_s, zc_s = design.sample_source(5000, np.random.default_rng(args.seed + 1))
    train = {"seed": args.seed, "steps": 2000}
    fit_source(Table(x=x_s, z=z_s, zc=zc_s, source="demo source"), "flow", out / "source", model={"hidden": 32},
               train=train, overwrite=True)
    fit_target(out / "source", Table(x=x_t, z=z_t, zc=zc_t, source="demo target"), "auto", out / "target",
               train=train, overwrite=True)
    test = Table(x=x_new, z=z_new, zc=zc_new, source="2,000 new target rows")
    report = write_report([out / "source", out / "target"], out / "report.html", test, seed=args.seed)
    print(f"report: {report}")
    return 0



# -- studies: one command shape for the simulation studies and the digits benchmark -----------
def _experiments() -> dict[str, object]:
    from gentransfer.digits.study import EXPERIMENT as DIGITS
    from gentransfer.simulation.conditional import EXPERIMENT as CONDITIONAL
    from gentransfer.simulation.unconditional import EXPERIMENT as UNCONDITIONAL

    return {"conditional": CONDITIONAL, "unconditional": UNCONDITIONAL, "digits": DIGITS}


def _cmd_study(args: argparse.Namespace) -> int:
    """``simulate conditional|unconditional`` and ``digits conditional|unconditional``."""
    from gentransfer.experiments import run_experiment
    from gentransfer.runs import default_run_dir, open_run_dir

    experiment = _experiments()[args.experiment]
    cls = experiment.settings
    values = resolve(args, [cls])[cls]
    if args.experiment == "digits":
        values["setting"] = args.setting
        if args.setting == "unconditional" and "strategies" not in values:
            values["strategies"] = ["scratch", "finetune"]
    study = replace(cls.quick() if getattr(args, "quick", False) else cls(), **values)
    study.check()
    name = f"digits-{args.setting}" if args.experiment == "digits" else f"simulate-{args.experiment}"
    run = open_run_dir(default_run_dir(name) if args.out is None else args.out,
                       {"study": experiment.name, **study.to_dict()}, overwrite=args.overwrite,
                       defaults=cls().to_dict())
    summary = run_experiment(experiment, study, run, n_jobs=args.jobs, progress=not args.no_progress,
                             backend=args.backend, scheduler=args.scheduler)
    print(summary)
    print(f"results in {run}")
    return 0


# -- bring your own data ------------------------------------------------------------------------
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
    device: Literal["cpu", "cuda", "auto"] = "cpu"


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
        device: where to train: cpu, cuda, or auto (CUDA when there is one).
    """

    source: str | None = None
    data: str | None = None
    strategy: Literal["scratch", "freeze-shared", "finetune", "lora", "auto"] | None = None
    out: str | None = None
    overwrite: bool = False
    resume: bool = False
    bounds: str = "auto"
    warm_start: bool = False
    init_seed: int | None = None
    lr_scale: float | None = None
    device: Literal["cpu", "cuda", "auto"] = "cpu"


def _job(values: dict, cls: type, required: tuple[str, ...]):
    missing = [k for k in required if values.get(k) is None]
    if missing:
        raise ConfigError(f"--{missing[0].replace('_', '-')} is required", f"pass it, or set {missing[0]} in --config")
    return cls(**values)


def _clamp_note(train: TrainConfig, n: int) -> None:
    """A batch larger than the data is no error: the loop clamps it; say so once the run is done."""
    if train.batch_size > n:
        print(f"note: batch size {train.batch_size} is larger than the {n} rows; each step used all rows",
              file=sys.stderr)


def _data_defaults(family: str | None, table, bounds: str, role: str, given: dict) -> tuple[dict, dict]:
    """The settings the data choose (:func:`gentransfer.workflow.data_defaults`) that the user left
    unset; printed, and recorded in config.json with the rest."""
    from gentransfer.data.columns import ColumnTransform
    from gentransfer.workflow import data_defaults

    if family is None or table.x is None:
        return {}, {}
    image = table.image_shape is not None
    width = table.x.shape[1] if image else ColumnTransform.fit(table.x, parse_bounds(bounds), table.source).model_width
    latent_dim = given.get(ModelSettings, {}).get("latent_dim")
    model, train = data_defaults(family, width, len(table), role=role, latent_dim=latent_dim, image=image)
    model = {k: v for k, v in model.items() if k not in given.get(ModelSettings, {})}
    if "block_out_channels" in given.get(ModelSettings, {}):  # the user's widths replace the base width
        model.pop("hidden", None)
    train = {k: v for k, v in train.items() if k not in given[TrainConfig]}
    chosen = ", ".join(f"{k} {v}" for k, v in {**model, **train}.items())
    if chosen:
        print(f"settings chosen from the data ({width} modelled columns, {len(table):,} rows): {chosen}")
    return model, train


def _source_family(run: str) -> str | None:
    """The family recorded in a source run's config.json (None if unreadable: fit_target says why)."""
    try:
        family = json.loads((Path(run) / "config.json").read_text()).get("family")
    except (OSError, ValueError, AttributeError):
        return None
    return family if isinstance(family, str) else None


def _cmd_fit_source(args: argparse.Namespace) -> int:
    from gentransfer.workflow import fit_source

    s = resolve(args, [SourceJob, Columns, TrainConfig, ModelSettings])
    job = _job(s[SourceJob], SourceJob, ("data", "family", "out"))
    TrainConfig.from_dict(s[TrainConfig])  # the user's settings checked before the data are read
    ModelSettings.from_dict(s[ModelSettings]).constructor_args(job.family)
    columns = Columns(**s[Columns])
    table = columns.load(job.data)
    model_defaults, train_defaults = _data_defaults(job.family, table, job.bounds, "source", s)
    train = TrainConfig.from_dict({**train_defaults, **s[TrainConfig]})
    model = ModelSettings.from_dict({**model_defaults, **s[ModelSettings]})
    run = fit_source(table, job.family, job.out, model=model, train=train, overwrite=job.overwrite,
                     resume=job.resume, bounds=parse_bounds(job.bounds), settings={**asdict(job), **columns.to_dict()},
                     init_seed=job.init_seed, device=job.device)
    _clamp_note(train, len(table))
    print(f"source model in {run}")
    return 0


def _cmd_fit_target(args: argparse.Namespace) -> int:
    from gentransfer.workflow import fit_target

    s = resolve(args, [TargetJob, Columns, TrainConfig])
    job = _job(s[TargetJob], TargetJob, ("source", "data", "strategy", "out"))
    TrainConfig.from_dict(s[TrainConfig])  # the user's settings checked before the data are read
    columns = Columns(**s[Columns])
    table = columns.load(job.data)
    family = _source_family(job.source)
    _, train_defaults = _data_defaults(family, table, job.bounds, "target", s)
    train = TrainConfig.from_dict({**train_defaults, **s[TrainConfig]})
    run = fit_target(job.source, table, job.strategy, job.out, train=train, overwrite=job.overwrite,
                     resume=job.resume, bounds=parse_bounds(job.bounds), settings={**asdict(job), **columns.to_dict()},
                     init_seed=job.init_seed, warm_start=job.warm_start, lr_scale=job.lr_scale, device=job.device)
    _clamp_note(train, len(table))
    print(f"target model in {run}")
    return 0


def _check_sample_out(out: str, overwrite: bool) -> Path:
    path = Path(out)
    if not out.endswith((".npz", ".csv")):
        raise ConfigError(f"--out {out} must end in .npz or .csv", "pass e.g. --out samples.npz")
    if path.is_dir():
        raise ConfigError(f"--out {out} is a folder", "pass a file name ending in .npz or .csv")
    if path.exists() and not overwrite:
        raise ConfigError(f"--out {out} already exists", "pass --overwrite to replace it")
    parent = path.absolute().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write {out}: {parent} is not a writable folder", "pass a writable path")
    return path


def _cmd_sample(args: argparse.Namespace) -> int:
    import io

    import numpy as np

    from gentransfer.config import atomic_write_bytes
    from gentransfer.workflow import is_image_run, sample_run

    out = _check_sample_out(args.out, args.overwrite)
    columns = Columns(z_columns=args.z_columns, zc_columns=args.zc_columns)
    cond = columns.load(args.cond, require_x=False) if args.cond else None
    image = is_image_run(args.model)
    if image and not args.out.endswith(".npz"):
        raise ConfigError(f"the run in {args.model} generates images, which --out {args.out} cannot hold",
                          "pass --out samples.npz (a sample grid .png is written beside it)")
    if image and out.with_suffix(".png").exists() and not args.overwrite:
        raise ConfigError(f"{out.with_suffix('.png')} (the sample grid) already exists",
                          "pass --overwrite to replace it")
    arrays = sample_run(args.model, args.n, cond, seed=args.seed, device=args.device, guidance=args.domain_guidance)
    buf = io.BytesIO()
    if args.out.endswith(".npz"):
        np.savez(buf, **arrays)
    else:
        cols = [(f"{k}{i}", arrays[k][:, i]) for k in ("x", "z", "zc") if k in arrays
                for i in range(arrays[k].shape[1])]
        text = ",".join(c for c, _ in cols) + "\n" + "\n".join(
            ",".join(repr(float(v[r])) for _, v in cols) for r in range(len(arrays["x"]))) + "\n"
        buf.write(text.encode())
    atomic_write_bytes(out, buf.getvalue())
    print(f"{len(arrays['x'])} samples in {args.out}")
    if image:
        from gentransfer.data.images import save_image_grid

        labels = arrays["z"][:, 0] if "z" in arrays else None
        grid = save_image_grid(arrays["x"], out.with_suffix(".png"), labels, title=str(args.model))
        print(f"sample grid in {grid}")
    return 0


# -- the parser: one small function per command --------------------------------------------------
def _add_data(sub) -> None:
    data = sub.add_parser("data", help="inspect or download the digit datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    info = data_sub.add_parser("info", help="load and count MNIST and USPS under the data root")
    info.add_argument("--root", help="data root (default: $GENTRANSFER_DATA or ~/.cache/gentransfer)")
    info.set_defaults(handler=_cmd_data_info)
    dl = data_sub.add_parser("download", help="fetch MNIST and USPS (LIBSVM) and verify them")
    dl.add_argument("datasets", nargs="*", default=["mnist", "usps"], choices=["mnist", "usps"])
    dl.add_argument("--root", help="data root (default: $GENTRANSFER_DATA or ~/.cache/gentransfer)")
    dl.add_argument("--force", action="store_true", help="download even if the files exist")
    dl.set_defaults(handler=_cmd_data_download)
    ex = data_sub.add_parser("export", help="the digits benchmark's images as files for fit-source / fit-target")
    ex.add_argument("dataset", choices=["mnist", "usps-fit", "usps-heldout"],
                    help="mnist: the source (resized to 16x16); usps-fit / usps-heldout: the paper split's parts")
    ex.add_argument("--out", required=True, help="a PNG folder (one subfolder per digit) or, with --format npz, "
                                                 "an .npz file (x: N x 1 x 16 x 16, z: labels)")
    ex.add_argument("--n", type=int, help="images: a seeded, class-balanced (MNIST) or class-stratified and nested "
                                          "(USPS) subset; default all")
    ex.add_argument("--seed", type=int, default=0, help="seed of the subset (the benchmark's seed)")
    ex.add_argument("--format", choices=["png", "npz"], default="png")
    ex.add_argument("--root", help="data root (default: $GENTRANSFER_DATA or ~/.cache/gentransfer)")
    ex.set_defaults(handler=_cmd_data_export)


def _add_evaluate(sub) -> None:
    ev = sub.add_parser("evaluate", help="score fitted runs on held-out rows (--model ... --data), or compare "
                                         "real and generated samples (--real, --fake)")
    ev.add_argument("--model", action="append", help="run folder to score (repeat to compare runs side by side)")
    ev.add_argument("--data", help="held-out rows (x and the run's conditions) for --model")
    ev.add_argument("--out", help="with --model: also write the scores as JSON here")
    ev.add_argument("--overwrite", action="store_true", help="replace --out")
    add_flags(ev, Columns)
    ev.add_argument("--real", help="file with the real samples (array or columns x)")
    ev.add_argument("--fake", help="file with the generated samples")
    ev.add_argument("--metric", default="w1", choices=["w1", "sliced-w1", "mmd"],
                    help="w1: exact 1-Wasserstein; sliced-w1: approximation; mmd: unbiased MMD^2")
    ev.add_argument("--floor", action="store_true", help="also report the real-vs-real W1 floor")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(handler=_cmd_evaluate)


def _study_flags(p: argparse.ArgumentParser, experiment: str, settings: type, default_out: str) -> None:
    p.add_argument("--config", help="TOML file; every flag is also a key, and tables (training settings, "
                                    "architectures) are set there (flags win)")
    p.add_argument("--out", help=f"run folder (default: runs/{default_out}-<time>); reused to resume")
    p.add_argument("--overwrite", action="store_true", help="replace a run folder with another config")
    p.add_argument("--jobs", type=int, default=1 if experiment == "digits" else 2, help="parallel worker processes")
    p.add_argument("--backend", choices=["local", "dask"], default="local",
                   help="local: joblib processes; dask: a Dask cluster (--scheduler) or a local one")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://head-node:8786")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_flags(p, settings, skip=("setting",))
    p.set_defaults(handler=_cmd_study, experiment=experiment)


def _add_studies(sub) -> None:
    from gentransfer.digits.study import DigitsStudy
    from gentransfer.simulation.conditional import ConditionalStudy
    from gentransfer.simulation.unconditional import UnconditionalStudy

    sim = sub.add_parser("simulate", help="simulation studies with known true densities")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
    for kind, settings, text in (("conditional", ConditionalStudy, "conditional transfer under the shared "
                                  "embedding condition"),
                                 ("unconditional", UnconditionalStudy, "unconditional transfer through a shared "
                                  "latent")):
        p = sim_sub.add_parser(kind, help=text)
        p.add_argument("--quick", action="store_true", help="reduced grid: a few minutes on 2 cores")
        _study_flags(p, kind, settings, f"simulate-{kind}")
    dig = sub.add_parser("digits", help="MNIST -> USPS with a Diffusers UNet (the paper's benchmark)")
    dig.add_argument("setting", choices=["conditional", "unconditional"])
    _study_flags(dig, "digits", DigitsStudy, "digits-<setting>")


def _add_fit_source(sub) -> None:
    fs = sub.add_parser("fit-source", help="fit a source model on your data (.npz or .csv)")
    fs.add_argument("--config", help="TOML file; every flag is also a key (flags win)")
    for cls in (SourceJob, Columns, ModelSettings, TrainConfig):
        add_flags(fs, cls)
    fs.set_defaults(handler=_cmd_fit_source)


def _add_fit_target(sub) -> None:
    ft = sub.add_parser("fit-target", help="transfer a source run to your target data")
    ft.add_argument("--config", help="TOML file; every flag is also a key (flags win)")
    for cls in (TargetJob, Columns, TrainConfig):
        add_flags(ft, cls)
    ft.set_defaults(handler=_cmd_fit_target)


def _add_sample(sub) -> None:
    sm = sub.add_parser("sample", help="draw samples from a fitted run")
    sm.add_argument("--model", required=True, help="run folder written by fit-source or fit-target")
    sm.add_argument("--n", type=int, required=True, help="samples per condition row (or in all)")
    sm.add_argument("--cond", help="file of conditions (z, zc) for a conditional model")
    sm.add_argument("--out", required=True, help="output .npz or .csv")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                    help="where to sample: cpu, cuda, or auto (CUDA when there is one)")
    sm.add_argument("--domain-guidance", type=float, metavar="W",
                    help="diffusion targets: guide the samples by the source run at weight W (1: the target "
                         "as it is, 0: the source; Domain Guidance, Zhong et al. 2025)")
    sm.add_argument("--overwrite", action="store_true")
    add_flags(sm, Columns, skip=("x_columns",))
    sm.set_defaults(handler=_cmd_sample)


def _add_report(sub) -> None:
    rp = sub.add_parser("report", help="one self-contained HTML page about fitted runs")
    rp.add_argument("runs", nargs="+", help="run folders written by fit-source or fit-target")
    rp.add_argument("--out", required=True, help="the page to write (.html)")
    rp.add_argument("--data", help="held-out rows: pair plots of real vs generated, and the runs scored side by side")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--overwrite", action="store_true", help="replace --out")
    add_flags(rp, Columns)
    rp.set_defaults(handler=_cmd_report)


def _add_demo(sub) -> None:
    demo = sub.add_parser("demo", help="the built-in default job")
    demo.add_argument("--root", help="data root")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="demo-runs", help="folder for the demo's run folders and report.html")
    demo.set_defaults(handler=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gentransfer", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gentransfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_data, _add_evaluate, _add_studies, _add_fit_source, _add_fit_target, _add_sample, _add_report,
                _add_demo):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except GentransferError as err:
        print(f"gentransfer: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gentransfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
