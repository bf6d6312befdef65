"""``gentransfer evaluate``: fitted runs side by side on held-out rows, or two sample files compared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gentransfer.data.tabular import Columns
from gentransfer.errors import ConfigError
from gentransfer.settings import add_flags


def evaluate_runs(args: argparse.Namespace) -> int:
    from gentransfer.files import atomic_write_bytes
    from gentransfer.pipeline import evaluate_run, evaluation_table

    if args.real or args.fake:
        raise ConfigError("--model scores runs on --data; --real / --fake compare two sample files",
                          "use one of the two forms")
    if not args.data:
        raise ConfigError("--model needs --data: the held-out rows to score on", "pass --data TEST.npz")
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ConfigError(f"--out {args.out} already exists", "pass --overwrite to replace it")
    table = Columns(x_columns=args.x_columns, z_columns=args.z_columns, zc_columns=args.zc_columns).load(args.data)
    results = [evaluate_run(run, table, seed=args.seed) for run in args.model]
    print(evaluation_table(results), end="")
    if args.out:
        atomic_write_bytes(Path(args.out), json.dumps(results, indent=1).encode())
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from gentransfer.data import load_table
    from gentransfer.pipeline.evaluate import compare_samples

    if args.model:
        return evaluate_runs(args)
    if not (args.real and args.fake):
        raise ConfigError("evaluate needs --real and --fake (two sample files), or --model RUN --data TEST",
                          "pass one of the two forms")
    result = compare_samples(load_table(args.real), load_table(args.fake), args.metric, seed=args.seed,
                             floor=args.floor, real_name=args.real, fake_name=args.fake)
    print(json.dumps(result))
    return 0


def register(sub) -> None:
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
    ev.set_defaults(handler=evaluate)
