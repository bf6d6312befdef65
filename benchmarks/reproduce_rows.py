"""Re-run one recorded row of each study and print it as JSON, to check that a refactor changed no number.

    python benchmarks/reproduce_rows.py conditional   > after.jsonl   # default design, flow, seed 0: n_s 0 and 500
    python benchmarks/reproduce_rows.py unconditional   # default design, diffusion, seed 0: scratch routes
    python benchmarks/reproduce_rows.py digits                        # a tiny UNet config (needs the data root)

Run it on the commit before and after the change (``git worktree add /tmp/before HEAD~N`` and
``PYTHONPATH=/tmp/before/src``) and ``diff`` the outputs; every digit must agree. Wall times are
left out. One torch thread, as in the sweeps.
"""

import json
import sys

import torch

torch.set_num_threads(1)


def rows(which: str) -> list[dict]:
    if which == "conditional":
        from gentransfer.simulation.conditional import ConditionalStudy, build_jobs, run_job

        study = ConditionalStudy(designs=["default"], families=["flow"], seeds=[0])
        return [r for j in build_jobs(study) if j["n_s"] in (0, 500) for r in run_job(j)]
    if which == "unconditional":
        from gentransfer.simulation.unconditional import UnconditionalStudy, build_jobs, run_job

        study = UnconditionalStudy(designs=["default"], families=["diffusion"], seeds=[0], strategies=["scratch"],
                                   d_sweep=[])
        return [r for j in build_jobs(study) if j["n_s"] == 0 for r in run_job(j)]
    if which == "digits":
        from gentransfer.digits.study import DigitsStudy, build_jobs, run_job

        unet = {"block_out_channels": [8, 16], "layers_per_block": 1, "attention": False, "norm_num_groups": 4}
        train = {"steps": 20, "batch_size": 16, "eval_every": 10, "val_fraction": 0.05}
        study = DigitsStudy(n_source=[200], unet=unet, source_train=train, target_train=train, sample_steps=4,
                            device="cpu", save_models=False)
        return [r for j in build_jobs(study) for r in run_job(j)]
    raise SystemExit(f"unknown study {which!r}: pass conditional, unconditional or digits")


if __name__ == "__main__":
    for row in rows(sys.argv[1]):
        print(json.dumps({k: v for k, v in row.items() if "seconds" not in k}, sort_keys=True))
