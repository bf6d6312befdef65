"""``gentransfer evaluate``: fitted runs side by side on held-out rows, or two sample files compared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gentransfer.cli.outputs import check_out_file, recorded
from gentransfer.data.tabular import Columns
from gentransfer.errors import ConfigError
from gentransfer.settings import add_flags, parse_seed, resolve


def _write(out: Path | None, result: Any) -> None:
    from gentransfer.files import atomic_write_bytes

    if out is not None:
        atomic_write_bytes(out, json.dumps(result, indent=1).encode())


def evaluate_runs(args: argparse.Namespace, columns: Columns, out: Path | None) -> int:
    from gentransfer.pipeline.evaluate import W1_SPLITS, evaluation_table, score_run
    from gentransfer.pipeline.verdict import comparison_runs, verdict

    if args.real or args.fake:
        raise ConfigError("--model scores runs on --data; --real / --fake compare two sample files",
                          "use one of the two forms")
    if not args.data:
        raise ConfigError("--model needs --data: the held-out rows to score on", "pass --data TEST.npz")
    table = columns.load(args.data)
    runs = comparison_runs(args.model)  # an auto run brings the candidate its choice is compared with
    scored = [score_run(run, table, seed=args.seed, w1_splits=W1_SPLITS) for run in runs]
    results = [result for result, _ in scored]
    answer = verdict(scored)
    print(evaluation_table(results), end="")
    print("lower is better; NLL: nats per test row, in the data's units; W1 and MMD^2 beside their real-vs-real "
          "floors; MMD^2 is unbiased, so a value below 0 reads as 0")
    if answer is not None:
        print(f"\n{answer.headline()}\n{answer.sentence()}")
    _write(out, {"runs": results, "versus_scratch": None if answer is None else answer.to_dict()})
    return 0


def compare_files(args: argparse.Namespace, columns: Columns, out: Path | None) -> int:
    from gentransfer.pipeline.evaluate import compare_samples

    if not (args.real and args.fake):
        raise ConfigError("evaluate needs --real and --fake (two sample files), or --model RUN --data TEST",
                          "pass one of the two forms")
    result = compare_samples(columns.load(args.real), columns.load(args.fake), args.metric, seed=args.seed,
                             floor=args.floor, real_name=args.real, fake_name=args.fake)
    print(json.dumps(result))
    _write(out, result)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    columns = Columns(**resolve(args, [Columns])[Columns])  # every column flag: roles, types, --missing
    if args.model:  # the run's column roles and types, unless told otherwise
        columns = columns.or_recorded(recorded(args.model[0]), args.data)
    out = None if not args.out else check_out_file(
        args.out, overwrite=args.overwrite, suffixes=(".json",), example="scores.json",
        reads=[("--data", args.data), ("--real", args.real), ("--fake", args.fake)], runs=args.model or [])
    return (evaluate_runs if args.model else compare_files)(args, columns, out)


def register(sub) -> None:
    ev = sub.add_parser("evaluate", help="score fitted runs on held-out rows (--model ... --data), or compare "
                                         "real and generated samples (--real, --fake)")
    runs = ev.add_argument_group("runs", "score fitted runs on held-out rows")
    runs.add_argument("--model", action="append", help="run folder to score (repeat to compare runs side by side)")
    runs.add_argument("--data", help="held-out rows (x and the run's conditions) for --model")
    files = ev.add_argument_group("sample files", "compare real and generated samples")
    files.add_argument("--real", help="file with the real samples (array or columns x)")
    files.add_argument("--fake", help="file with the generated samples")
    files.add_argument("--metric", default="w1", choices=["w1", "sliced-w1", "mmd"],
                       help="w1: exact 1-Wasserstein; sliced-w1: approximation; mmd: unbiased MMD^2 (default w1)")
    files.add_argument("--floor", action="store_true", help="also report the real-vs-real W1 floor")
    add_flags(ev.add_argument_group("data columns"), Columns)
    out = ev.add_argument_group("output")
    out.add_argument("--out", help="also write the scores as JSON here (.json)")
    out.add_argument("--overwrite", action="store_true", help="replace --out")
    ev.add_argument("--seed", type=parse_seed, default=0, help="seed of the random draws (default 0)")
    ev.set_defaults(handler=evaluate)
