"""``gentransfer sample``: draw from a fitted run into an .npz or .csv (and a grid PNG for images)."""

from __future__ import annotations

import argparse

from gentransfer.cli.outputs import check_out_file, recorded
from gentransfer.data.tabular import Columns
from gentransfer.errors import ConfigError
from gentransfer.names import DEVICES
from gentransfer.settings import add_flags, parse_seed, resolve


def sample(args: argparse.Namespace) -> int:
    from gentransfer.pipeline import RunFolder
    from gentransfer.pipeline.sample import sample_table, write_samples

    out = check_out_file(args.out, overwrite=args.overwrite, suffixes=(".npz", ".csv"), example="samples.npz",
                         reads=[("--cond", args.cond)], runs=[args.model])
    # the condition columns as flagged, else as the run recorded them (roles and declared types)
    roles = Columns(**resolve(args, [Columns])[Columns]).or_recorded(recorded(args.model), args.cond, ("z", "zc"))
    cond = roles.load(args.cond, require_x=False) if args.cond else None
    if RunFolder(args.model).is_image_run():
        if not args.out.endswith(".npz"):
            raise ConfigError(f"the run in {args.model} generates images, which --out {args.out} cannot hold",
                              "pass --out samples.npz (a sample grid .png is written beside it)")
        if out.with_suffix(".png").exists() and not args.overwrite:
            raise ConfigError(f"{out.with_suffix('.png')} (the sample grid) already exists",
                              "pass --overwrite to replace it")
    table = sample_table(args.model, args.n, cond, seed=args.seed, device=args.device, guidance=args.domain_guidance)
    grid = write_samples(table, out, grid_title=str(args.model))
    print(f"{len(table)} samples in {args.out}")
    if grid is not None:
        print(f"sample grid in {grid}")
    return 0


def register(sub) -> None:
    sm = sub.add_parser("sample", help="draw samples from a fitted run")
    model = sm.add_argument_group("model")
    model.add_argument("--model", required=True, help="run folder written by fit-source or fit-target")
    model.add_argument("--n", type=int, required=True, help="samples per condition row (or in all)")
    model.add_argument("--seed", type=parse_seed, default=0, help="seed of the random draws (default 0)")
    model.add_argument("--device", choices=DEVICES, default="cpu",
                       help="where to sample: cpu, cuda, or auto (CUDA when there is one) (default cpu)")
    model.add_argument("--domain-guidance", type=float, metavar="W",
                       help="diffusion targets: guide the samples by the source run at weight W (1: the target "
                            "as it is, 0: the source; Domain Guidance, Zhong et al. 2025)")
    cond = sm.add_argument_group("conditions")
    cond.add_argument("--cond", help="file of conditions (z, zc) for a conditional model")
    add_flags(cond, Columns, skip=("x_columns",))
    out = sm.add_argument_group("output")
    out.add_argument("--out", required=True, help="output .npz or .csv")
    out.add_argument("--overwrite", action="store_true", help="replace --out (and its sample grid .png)")
    sm.set_defaults(handler=sample)
