"""``gentransfer simulate conditional | unconditional`` and ``gentransfer digits``: the studies."""

from __future__ import annotations

import argparse
from dataclasses import replace

from gentransfer.cli.parser import Parser
from gentransfer.cli.progress import add_progress_flag, wants_progress
from gentransfer.settings import add_flags, resolve


def _experiments() -> dict[str, object]:
    from gentransfer.digits.study import EXPERIMENT as DIGITS
    from gentransfer.simulation.conditional import EXPERIMENT as CONDITIONAL
    from gentransfer.simulation.unconditional import EXPERIMENT as UNCONDITIONAL

    return {"conditional": CONDITIONAL, "unconditional": UNCONDITIONAL, "digits": DIGITS}


def study(args: argparse.Namespace) -> int:
    """``simulate conditional|unconditional`` and ``digits conditional|unconditional``."""
    from gentransfer.experiments import run_experiment
    from gentransfer.experiments.folder import default_run_dir, open_run_dir

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
    summary = run_experiment(experiment, study, run, n_jobs=args.jobs, progress=wants_progress(args.progress),
                             backend=args.backend, scheduler=args.scheduler)
    print(summary)
    print(f"results in {run}")
    return 0


def _study_flags(p: argparse.ArgumentParser, experiment: str, settings: type, default_out: str) -> None:
    add_flags(p.add_argument_group("study", "the grid and its settings; tables (training settings, "
                                            "architectures) are set in --config"), settings, skip=("setting",))
    run = p.add_argument_group("run folder")
    run.add_argument("--config", help="TOML file; every flag is also a key, and tables (training settings, "
                                      "architectures) are set there (flags win)")
    run.add_argument("--out", help=f"run folder (default: runs/{default_out}-<time>); reused to resume")
    run.add_argument("--overwrite", action="store_true", help="replace a run folder with another config")
    workers = p.add_argument_group("workers")
    jobs = 1 if experiment == "digits" else 2
    workers.add_argument("--jobs", type=int, default=jobs, help=f"parallel worker processes (default {jobs})")
    workers.add_argument("--backend", choices=["local", "dask"], default="local",
                         help="local: joblib processes; dask: a Dask cluster (--scheduler) or a local one "
                              "(default local)")
    workers.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://head-node:8786")
    add_progress_flag(workers)
    p.set_defaults(handler=study, experiment=experiment)


def register(sub) -> None:
    from gentransfer.digits.settings import DigitsStudy
    from gentransfer.simulation.settings import ConditionalStudy, UnconditionalStudy

    sim = sub.add_parser("simulate", help="simulation studies with known true densities")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, parser_class=Parser)
    for kind, settings, text in (("conditional", ConditionalStudy, "conditional transfer under the shared "
                                  "embedding condition"),
                                 ("unconditional", UnconditionalStudy, "unconditional transfer through a shared "
                                  "latent")):
        p = sim_sub.add_parser(kind, help=text)
        p.add_argument("--quick", action="store_true", help="reduced grid: a few minutes on 2 cores")
        _study_flags(p, kind, settings, f"simulate-{kind}")
    dig = sub.add_parser("digits", help="MNIST -> USPS with a Diffusers UNet (the paper's benchmark)")
    dig.add_argument("setting", choices=["conditional", "unconditional"],
                     help="conditional: every digit, labels as z; unconditional: one digit (--digit)")
    _study_flags(dig, "digits", DigitsStudy, "digits-<setting>")
