"""The ``gentransfer`` command line.

Every user error surfaces as one line on stderr, ``gentransfer: error: <problem>; fix: <fix>``,
with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gentransfer import __version__
from gentransfer.errors import GentransferError

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; fix: see `{self.prog} --help`\n")


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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from gentransfer.data import load_table
    from gentransfer.metrics import mmd2_unbiased, sliced_wasserstein1, wasserstein1, wasserstein1_floor

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
        n = min(len(fake), len(real) // 2)
        result["floor_w1"] = wasserstein1_floor(real, n, seed=args.seed)
        result["floor_n"] = n
    print(json.dumps(result))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The built-in default job: the data checks, then one conditional transfer against scratch."""
    import numpy as np
    import torch

    from gentransfer import ConditionalFlow, fit, transfer
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
    source = ConditionalFlow(x_dim=3, z_dim=10, zc_dim=2, hidden=32)
    fit(source, *design.sample_source(5000, rng), seed=args.seed)
    x_t, z_t, zc_t = design.sample_target(300, rng)
    x_new, z_new, zc_new = design.sample_target(2000, rng)
    true_lp = design.target_log_prob(x_new, z_new, zc_new)
    for strategy in ("scratch", "freeze-shared", "finetune"):
        target = transfer(source, strategy, x_dim=2, zc_dim=1)
        fit(target, x_t, z_t, zc_t, seed=args.seed)
        kl = kl_monte_carlo(true_lp, target.log_prob(x_new, z_new, zc_new).detach())
        print(f"  {strategy:14s} KL(P_t || P_hat) = {kl.value:.3f} ± {kl.se:.3f}")
    return 0


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 500,1000, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _str_list(text: str) -> list[str]:
    return [v for v in text.replace(",", " ").split() if v]


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gentransfer.runs import default_run_dir, open_run_dir
    from gentransfer.simulation.conditional import ConditionalStudy
    from gentransfer.simulation.study import run_study
    from gentransfer.simulation.unconditional import UnconditionalStudy

    cls = ConditionalStudy if args.sim_command == "conditional" else UnconditionalStudy
    study = cls.quick() if args.quick else cls()
    for name in ("designs", "families", "strategies", "n_source", "seeds", "n_target", "d", "d_sweep",
                 "target_restarts", "target_select"):
        if getattr(args, name, None) is not None:
            setattr(study, name, getattr(args, name))
    study.check()
    run = open_run_dir(args.out or default_run_dir(f"simulate-{args.sim_command}"),
                       {"study": args.sim_command, **study.to_dict()}, overwrite=args.overwrite)
    summary = run_study(study, run, n_jobs=args.jobs, progress=not args.no_progress, backend=args.backend,
                        scheduler=args.scheduler)
    print(summary)
    print(f"results in {run}")
    return 0


def _read_toml(path: str) -> dict:
    """A TOML config file as a dict; unreadable or invalid files are one-line errors."""
    import tomllib

    from gentransfer.errors import ConfigError

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise ConfigError(f"cannot read config {path} ({err.strerror})", "check the path") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML ({err})", "fix the file") from None


def _cmd_digits(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from gentransfer.digits.run import run_digits
    from gentransfer.digits.study import DigitsStudy
    from gentransfer.errors import ConfigError
    from gentransfer.runs import default_run_dir, open_run_dir

    values = _read_toml(args.config) if args.config else {}
    known = {f.name for f in fields(DigitsStudy)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{args.config} has unknown keys {unknown}", f"use only {sorted(known)}")
    values["setting"] = args.setting
    if args.setting == "unconditional" and "strategies" not in values:
        values["strategies"] = ["scratch", "finetune"]
    for name in ("n_source", "seeds", "strategies", "device", "source_digit_only"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    study = DigitsStudy(**values)
    study.check()
    run = open_run_dir(args.out or default_run_dir(f"digits-{args.setting}"),
                       {"study": "digits", **study.to_dict()}, overwrite=args.overwrite)
    print(run_digits(study, run, n_jobs=args.jobs, progress=not args.no_progress, backend=args.backend,
                     scheduler=args.scheduler))
    print(f"results in {run}")
    return 0


# -- bring your own data --------------------------------------------------------------------
CONFIG_VERSION = 1
TRAIN_KEYS = ("steps", "lr", "batch_size", "val_fraction", "patience", "eval_every", "checkpoint_every")
MODEL_KEYS = ("embed_dim", "hidden", "depth", "n_layers", "coupling", "n_classes")
DATA_KEYS = ("x_columns", "z_columns", "zc_columns")


def _settings(args: argparse.Namespace, keys: tuple[str, ...]) -> dict:
    """Resolve settings: the TOML --config first, then every flag given on the command line."""

    from gentransfer.errors import ConfigError

    values: dict = {}
    if getattr(args, "config", None):
        values = _read_toml(args.config)
        version = values.pop("gentransfer_config", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ConfigError(f"{args.config} is config version {version!r}, this gentransfer reads {CONFIG_VERSION}",
                              f"set gentransfer_config = {CONFIG_VERSION} and check the keys")
        unknown = sorted(set(values) - set(keys))
        if unknown:
            raise ConfigError(f"{args.config} has unknown keys {unknown}", f"use only {sorted(keys)}")
    for key in keys:
        value = getattr(args, key, None)
        if value is not None and value is not False:
            values[key] = value
    return values


def _load_data(path: str, settings: dict, *, require_x: bool = True):
    from gentransfer.data import load_table

    return load_table(path, x=settings.get("x_columns"), z=settings.get("z_columns"),
                      zc=settings.get("zc_columns"), require_x=require_x)


def _clamp_note(settings: dict, n: int) -> None:
    """A batch larger than the data is no error: the loop clamps it; say so once the run is done."""
    batch = settings.get("batch_size", 256)
    if batch > n:
        print(f"note: batch size {batch} is larger than the {n} rows; each step used all rows", file=sys.stderr)


def _cmd_fit_source(args: argparse.Namespace) -> int:
    from gentransfer.errors import ConfigError
    from gentransfer.workflow import fit_source

    keys = ("data", "family", "out", "seed", "overwrite", "resume") + DATA_KEYS + TRAIN_KEYS + MODEL_KEYS
    s = _settings(args, keys)
    for required in ("data", "family", "out"):
        if required not in s:
            raise ConfigError(f"--{required} is required", f"pass --{required} or set it in --config")
    table = _load_data(s["data"], s)
    run = fit_source(table, s["family"], s["out"], model={k: s[k] for k in MODEL_KEYS if k in s},
                     train={k: s[k] for k in TRAIN_KEYS if k in s}, seed=s.get("seed", 0),
                     overwrite=s.get("overwrite", False), resume=s.get("resume", False), settings=s)
    _clamp_note(s, len(table))
    print(f"source model in {run}")
    return 0


def _cmd_fit_target(args: argparse.Namespace) -> int:
    from gentransfer.errors import ConfigError
    from gentransfer.workflow import fit_target

    keys = ("source", "data", "strategy", "out", "seed", "overwrite", "resume") + DATA_KEYS + TRAIN_KEYS
    s = _settings(args, keys)
    for required in ("source", "data", "strategy", "out"):
        if required not in s:
            raise ConfigError(f"--{required} is required", f"pass --{required} or set it in --config")
    table = _load_data(s["data"], s)
    run = fit_target(s["source"], table, s["strategy"], s["out"], train={k: s[k] for k in TRAIN_KEYS if k in s},
                     seed=s.get("seed", 0), overwrite=s.get("overwrite", False), resume=s.get("resume", False),
                     settings=s)
    _clamp_note(s, len(table))
    print(f"target model in {run}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from gentransfer.config import atomic_write_bytes
    from gentransfer.errors import ConfigError
    from gentransfer.workflow import sample_run

    out = args.out
    if not out.endswith((".npz", ".csv")):
        raise ConfigError(f"--out {out} must end in .npz or .csv", "pass e.g. --out samples.npz")
    if os.path.exists(out) and not args.overwrite:
        raise ConfigError(f"--out {out} already exists", "pass --overwrite to replace it")
    cond = _load_data(args.cond, {"z_columns": args.z_columns, "zc_columns": args.zc_columns},
                      require_x=False) if args.cond else None
    arrays = sample_run(args.model, args.n, cond, seed=args.seed)
    import io

    buf = io.BytesIO()
    if out.endswith(".npz"):
        np.savez(buf, **arrays)
    else:
        cols = [(f"{k}{i}", arrays[k][:, i]) for k in ("x", "z", "zc") if k in arrays
                for i in range(arrays[k].shape[1])]
        text = ",".join(c for c, _ in cols) + "\n" + "\n".join(
            ",".join(repr(float(v[r])) for _, v in cols) for r in range(len(arrays["x"]))) + "\n"
        buf.write(text.encode())
    atomic_write_bytes(Path(out), buf.getvalue())
    print(f"{len(arrays['x'])} samples in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gentransfer", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gentransfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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

    ev = sub.add_parser("evaluate", help="distance between real and generated samples (.npz/.csv)")
    ev.add_argument("--real", required=True, help="file with the real samples (array or columns x)")
    ev.add_argument("--fake", required=True, help="file with the generated samples")
    ev.add_argument("--metric", default="w1", choices=["w1", "sliced-w1", "mmd"],
                    help="w1: exact 1-Wasserstein; sliced-w1: approximation; mmd: unbiased MMD^2")
    ev.add_argument("--floor", action="store_true", help="also report the real-vs-real W1 floor")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(handler=_cmd_evaluate)

    def backend_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=["local", "dask"], default="local",
                       help="local: joblib processes; dask: a Dask cluster (--scheduler) or a local one")
        p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://head-node:8786")

    sim = sub.add_parser("simulate", help="simulation studies with known true densities")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
    for kind, help_text in (("conditional", "conditional transfer under the shared embedding condition"),
                            ("unconditional", "unconditional transfer through a shared latent")):
        p = sim_sub.add_parser(kind, help=help_text)
        p.add_argument("--quick", action="store_true", help="reduced grid: a few minutes on 2 cores")
        p.add_argument("--out", help=f"run folder (default: runs/simulate-{kind}-<time>); reused to resume")
        p.add_argument("--overwrite", action="store_true", help="replace a run folder with another config")
        p.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
        backend_flags(p)
        p.add_argument("--designs", type=_str_list, help="default,misspecified")
        p.add_argument("--families", type=_str_list, help="flow,diffusion")
        p.add_argument("--strategies", type=_str_list, help="scratch,freeze-shared,finetune")
        p.add_argument("--n-source", dest="n_source", type=_int_list, help="e.g. 500,1000,2000")
        p.add_argument("--n-target", dest="n_target", type=int, help="target sample size")
        p.add_argument("--seeds", type=_int_list, help="e.g. 0,1,2,3,4")
        if kind == "unconditional":
            p.add_argument("--d", type=int, help="ambient dimension of the main grid (default 8)")
            p.add_argument("--d-sweep", dest="d_sweep", type=_int_list, help="other d at the largest n_s, e.g. 4,16")
            p.add_argument("--target-restarts", dest="target_restarts", type=int,
                           help="starts of each latent route's target stage (default 1)")
            p.add_argument("--target-select", dest="target_select", choices=["w1", "likelihood"],
                           help="the rule that keeps one start (default w1)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(handler=_cmd_simulate)

    dig = sub.add_parser("digits", help="MNIST -> USPS with a Diffusers UNet (the paper's benchmark)")
    dig.add_argument("setting", choices=["conditional", "unconditional"])
    dig.add_argument("--config", help="TOML file of settings, e.g. configs/digits-cpu-quick.toml")
    dig.add_argument("--out", help="run folder (default: runs/digits-<setting>-<time>); reused to resume")
    dig.add_argument("--overwrite", action="store_true", help="replace a run folder with another config")
    dig.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    backend_flags(dig)
    dig.add_argument("--n-source", dest="n_source", type=_int_list, help="e.g. 1000,5000,10000,60000")
    dig.add_argument("--seeds", type=_int_list, help="e.g. 0,1,2")
    dig.add_argument("--strategies", type=_str_list, help="scratch,freeze-shared,finetune")
    dig.add_argument("--device", help="auto, cpu or cuda")
    dig.add_argument("--source-digit-only", dest="source_digit_only", action="store_const", const=True,
                     help="unconditional: pre-train on MNIST images of the target digit only")
    dig.add_argument("--no-progress", action="store_true", help="no progress bar")
    dig.set_defaults(handler=_cmd_digits)

    def data_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--x-columns", dest="x_columns", type=_str_list, help="CSV columns of x (default: the rest)")
        p.add_argument("--z-columns", dest="z_columns", type=_str_list, help="CSV columns of the shared block z")
        p.add_argument("--zc-columns", dest="zc_columns", type=_str_list, help="CSV columns of the task-specific zc")

    def train_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML file; every flag is also a key (flags win)")
        p.add_argument("--out", help="run folder to create")
        p.add_argument("--seed", type=int)
        p.add_argument("--steps", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--batch-size", dest="batch_size", type=int)
        p.add_argument("--val-fraction", dest="val_fraction", type=float)
        p.add_argument("--patience", type=int)
        p.add_argument("--eval-every", dest="eval_every", type=int)
        p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
        p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
        p.add_argument("--resume", action="store_true", help="continue a killed run in --out")

    fs = sub.add_parser("fit-source", help="fit a source model on your data (.npz or .csv)")
    fs.add_argument("--data", help="source data file")
    fs.add_argument("--family", choices=["flow", "diffusion"])
    fs.add_argument("--embed-dim", dest="embed_dim", type=int, help="size k of the shared embedding h(z)")
    fs.add_argument("--n-classes", dest="n_classes", type=int, help="z is one column of class labels 0..N-1")
    fs.add_argument("--hidden", type=int)
    fs.add_argument("--depth", type=int)
    data_flags(fs)
    train_flags(fs)
    fs.set_defaults(handler=_cmd_fit_source)

    ft = sub.add_parser("fit-target", help="transfer a source run to your target data")
    ft.add_argument("--source", help="run folder written by fit-source")
    ft.add_argument("--data", help="target data file")
    ft.add_argument("--strategy", choices=["scratch", "freeze-shared", "finetune", "auto"])
    data_flags(ft)
    train_flags(ft)
    ft.set_defaults(handler=_cmd_fit_target)

    sm = sub.add_parser("sample", help="draw samples from a fitted run")
    sm.add_argument("--model", required=True, help="run folder written by fit-source or fit-target")
    sm.add_argument("--n", type=int, required=True, help="samples per condition row (or in all)")
    sm.add_argument("--cond", help="file of conditions (z, zc) for a conditional model")
    sm.add_argument("--out", required=True, help="output .npz or .csv")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--overwrite", action="store_true")
    data_flags(sm)
    sm.set_defaults(handler=_cmd_sample)

    demo = sub.add_parser("demo", help="the built-in default job")
    demo.add_argument("--root", help="data root")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_cmd_demo)
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
