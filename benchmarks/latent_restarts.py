"""Does restarting the target's autoencoder stage repair the unconditional study's bad seeds?

Usage: python benchmarks/latent_restarts.py [--restarts 3] [--jobs 1] [--out FILE]
                                           [--case family:seed:n_s ...]

Each case is one `freeze-shared` row of `gentransfer simulate unconditional` (default design,
d = 8, the study's settings), fitted twice in the same run: with one start of the target's
autoencoder stage (the study as recorded) and with `--restarts` starts, keeping the start under
which the target rows are most likely through the transferred prior (`fit_latent(restarts=)`).
The default cases are the study's worst freeze-shared rows plus one good row as a control.
"""

from __future__ import annotations

import argparse
import json
import time

from joblib import Parallel, delayed

from gentransfer.simulation.unconditional import UnconditionalStudy, run_job

# (family, seed, n_s): the worst freeze-shared rows of the recorded 5-seed grids, and a good one
CASES = ["diffusion:2:250", "diffusion:2:4000", "flow:1:16000", "diffusion:0:16000"]


def one(case: str, restarts: int) -> dict:
    import torch

    torch.set_num_threads(1)
    family, seed, n_s = case.split(":")
    settings = UnconditionalStudy(target_restarts=restarts).to_dict()
    job = {"design": "default", "family": family, "seed": int(seed), "d": settings["d"], "n_s": int(n_s),
           "strategies": ["freeze-shared"], "settings": settings}
    t0 = time.perf_counter()
    (row,) = run_job(job)
    return {"case": case, "restarts": restarts, "W1": row["W1"], "W1_floor": row["W1_floor"],
            "fit_seconds": row["fit_seconds"], "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--case", nargs="*", default=CASES, help="family:seed:n_s")
    ap.add_argument("--out", default=None, help="JSON lines file for the rows")
    args = ap.parse_args()
    grid = [(c, r) for c in args.case for r in (1, args.restarts)]
    rows = Parallel(n_jobs=args.jobs)(delayed(one)(c, r) for c, r in grid)
    for row in rows:
        print(json.dumps(row))
    if args.out:
        with open(args.out, "w") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
