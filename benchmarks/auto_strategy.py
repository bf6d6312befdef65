"""Hit rate of the negative-transfer guard (`fit-target --strategy auto`) on the simulation designs.

Usage: python benchmarks/auto_strategy.py [--seeds 10] [--family flow] [--jobs 2]
For each design and seed: a source run on 3,000 source rows, then `auto` on 300 target rows.
A hit is a transfer strategy on the default design and `scratch` on the misspecified one.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np
from joblib import Parallel, delayed

from gentransfer.data.tabular import Table
from gentransfer.pipeline import fit_source, fit_target
from gentransfer.simulation import get_design

TRAIN = {"steps": 1500, "patience": 5}


def one(design_name: str, seed: int, family: str) -> dict:
    import torch

    torch.set_num_threads(1)
    design, rng = get_design(design_name), np.random.default_rng([seed, 77])
    xs, zs, zcs = design.sample_source(3000, rng)
    xt, zt, zct = design.sample_target(300, rng)
    with tempfile.TemporaryDirectory() as tmp:
        fit_source(Table(xs, zs, zcs), family, f"{tmp}/src", model={"hidden": 32}, train={**TRAIN, "seed": seed})
        run = fit_target(f"{tmp}/src", Table(xt, zt, zct), "auto", f"{tmp}/tgt", train={**TRAIN, "seed": seed},
                         log=lambda _: None)
        report = json.loads((run / "transfer_report.json").read_text())
    hit = (report["chosen"] != "scratch") if design_name == "default" else (report["chosen"] == "scratch")
    return {"design": design_name, "seed": seed, "chosen": report["chosen"], "hit": hit,
            "gain": report["gain"], "gain_se": report["gain_se"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--family", default="flow")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = Parallel(n_jobs=args.jobs)(delayed(one)(d, s, args.family) for d in ("default", "misspecified")
                                      for s in range(args.seeds))
    for r in rows:
        print(json.dumps(r))
    for d in ("default", "misspecified"):
        hits = sum(r["hit"] for r in rows if r["design"] == d)
        print(f"{d}: {hits}/{args.seeds} hits ({args.family})")


if __name__ == "__main__":
    main()
