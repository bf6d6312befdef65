"""``gentransfer demo``: the built-in default job (:func:`gentransfer.demo.run_demo`)."""

from __future__ import annotations

import argparse

from gentransfer.settings import parse_seed


def demo(args: argparse.Namespace) -> int:
    from gentransfer.demo import run_demo

    run_demo(args.out, seed=args.seed, root=args.root)
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the built-in default job")
    p.add_argument("--root", help="data root (default: $GENTRANSFER_DATA or ~/.cache/gentransfer)")
    p.add_argument("--seed", type=parse_seed, default=0, help="seed of the data split and the fits (default 0)")
    p.add_argument("--out", default="demo-runs",
                   help="folder for the demo's run folders and report.html (default demo-runs)")
    p.set_defaults(handler=demo)
