"""``gentransfer report``: one self-contained HTML page about fitted runs."""

from __future__ import annotations

import argparse

from gentransfer.cli.outputs import check_out_file, recorded
from gentransfer.data.tabular import Columns
from gentransfer.settings import add_flags, parse_seed, resolve


def report(args: argparse.Namespace) -> int:
    from gentransfer.pipeline import write_report

    check_out_file(args.out, overwrite=args.overwrite, suffixes=(".html", ".htm"), example="report.html",
                   reads=[("--data", args.data)])
    # every column flag; none: the last run's recorded roles and types
    columns = Columns(**resolve(args, [Columns])[Columns]).or_recorded(recorded(args.runs[-1]), args.data)
    data = columns.load(args.data) if args.data else None
    print(f"report in {write_report(args.runs, args.out, data, seed=args.seed)}")
    return 0


def register(sub) -> None:
    rp = sub.add_parser("report", help="one self-contained HTML page about fitted runs")
    rp.add_argument("runs", nargs="+", help="run folders written by fit-source or fit-target")
    data = rp.add_argument_group("data")
    data.add_argument("--data", help="held-out rows: pair plots of real vs generated, and the runs scored side by side")
    add_flags(data, Columns)
    out = rp.add_argument_group("output")
    out.add_argument("--out", required=True, help="the page to write (.html)")
    out.add_argument("--overwrite", action="store_true", help="replace --out")
    rp.add_argument("--seed", type=parse_seed, default=0, help="seed of the random draws (default 0)")
    rp.set_defaults(handler=report)
