"""``gentransfer data info | download | export``: the digit datasets."""

from __future__ import annotations

import argparse

from gentransfer.cli.parser import Parser
from gentransfer.settings import parse_seed

ROOT_HELP = "data root (default: $GENTRANSFER_DATA or ~/.cache/gentransfer)"


def info(args: argparse.Namespace) -> int:
    from gentransfer.data import data_root, load_mnist, load_usps

    root = data_root(args.root)
    print(f"data root: {root}")
    for name, loader in (("mnist", load_mnist), ("usps", load_usps)):
        for split in ("train", "test"):
            x, y = loader(split, root=root)
            counts = " ".join(str(int((y == d).sum())) for d in range(10))
            print(f"{name:5s} {split:5s} {len(x):6d} images {tuple(x.shape[1:])}  per digit: {counts}")
    return 0


def download(args: argparse.Namespace) -> int:
    from gentransfer.data.download import download as fetch

    for name in args.datasets:
        for path in fetch(name, args.root, force=args.force):
            print(f"ok {path}")
    return 0


def export(args: argparse.Namespace) -> int:
    from gentransfer.data.export import export_digits

    count, shape = export_digits(args.dataset, args.out, fmt=args.format, n=args.n, seed=args.seed, root=args.root)
    print(f"{count} images of {args.dataset} ({shape[1]}x{shape[2]}) in {args.out}")
    return 0


def register(sub) -> None:
    data = sub.add_parser("data", help="inspect or download the digit datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    p = data_sub.add_parser("info", help="load and count MNIST and USPS under the data root")
    p.add_argument("--root", help=ROOT_HELP)
    p.set_defaults(handler=info)
    p = data_sub.add_parser("download", help="fetch MNIST and USPS (LIBSVM) and verify them")
    p.add_argument("datasets", nargs="*", default=["mnist", "usps"], choices=["mnist", "usps"],
                   help="the datasets to fetch (default: both)")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--force", action="store_true", help="download even if the files exist")
    p.set_defaults(handler=download)
    p = data_sub.add_parser("export", help="the digits benchmark's images as files for fit-source / fit-target")
    p.add_argument("dataset", choices=["mnist", "usps-fit", "usps-heldout"],
                   help="mnist: the source (resized to 16x16); usps-fit / usps-heldout: the paper split's parts")
    p.add_argument("--out", required=True, help="a PNG folder (one subfolder per digit) or, with --format npz, "
                                                "an .npz file (x: N x 1 x 16 x 16, z: labels)")
    p.add_argument("--n", type=int, help="images: a seeded, class-balanced (MNIST) or class-stratified and nested "
                                         "(USPS) subset; default all")
    p.add_argument("--seed", type=parse_seed, default=0, help="seed of the subset (the benchmark's seed)")
    p.add_argument("--format", choices=["png", "npz"], default="png",
                   help="png: one image file each; npz: one array file (default png)")
    p.add_argument("--root", help=ROOT_HELP)
    p.set_defaults(handler=export)
