"""How noisy is early stopping on a few held-out images? (issue 26: "validation that can judge")

A target fit on n_t USPS images keeps the step whose held-out denoising loss, on 10% of its
images, is lowest. This script measures whether that choice can be trusted at 5, 20 and 200
held-out rows. It fits one model per (arm, n_t) for a fixed number of steps and, at every
evaluation, scores the averaged weights on a pool of USPS *fit* images the model never sees
(never the scoring images), row by row and draw by draw, with the random-time loss ``fit`` uses
and with the fixed noise levels of ``heldout_loss_rows``. The pool's mean over all its rows and
draws is the truth; subsets of m rows with r draws each are what a fit can see. For each
(m, r) it reports:

- the noise of a step-to-step difference (sd over subsets of the paired difference between two
  successive evaluations) against the true differences that early stopping acts on;
- early stopping with the fit's patience replayed on each subset: the step kept and its regret
  (true loss at the kept step minus the true minimum), against a fixed budget.

    python benchmarks/val_noise.py fit --source RUN/sources/mnist-ns60000-seed0 --out runs/val-noise
    python benchmarks/val_noise.py analyse runs/val-noise --out benchmarks/results/val_noise

The pool is for this measurement only; the protocol chosen from it uses no image a user with
n_t images would not have.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROWS = (5, 20, 200)
DRAWS = (2, 8, 16)
SUBSETS = 2000


def _curve_losses(model, x: torch.Tensor, z: torch.Tensor, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row, per-draw denoising errors (rows x draws): random times (as ``fit`` validates) and
    the fixed levels of ``heldout_loss_rows`` (levels x 2 draws), with the same noise at every call."""
    from gentransfer.diffusion.model import HELDOUT_LEVELS

    e = model.condition(z, None, len(x))
    gen = torch.Generator().manual_seed(seed)
    random_t, fixed_t = [], []
    with torch.no_grad():
        for _ in range(draws):
            t = model.schedule.sample_time(len(x), gen)
            eps = torch.randn(x.shape, generator=gen)
            pred = model.network(model.schedule.add_noise(x, eps, t), t, e)
            random_t.append(((pred - eps) ** 2).mean(dim=1))
        for level in HELDOUT_LEVELS:
            t = torch.full((len(x),), level)
            for _ in range(draws // len(HELDOUT_LEVELS)):
                eps = torch.randn(x.shape, generator=gen)
                pred = model.network(model.schedule.add_noise(x, eps, t), t, e)
                fixed_t.append(((pred - eps) ** 2).mean(dim=1))
    return torch.stack(random_t, 1).numpy(), torch.stack(fixed_t, 1).numpy()


def fit_curves(args: argparse.Namespace) -> None:
    from gentransfer import load_pretrained, transfer
    from gentransfer.data import stratified_subset, usps_paper_split
    from gentransfer.diffusion.unet import unet_diffusion

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split = usps_paper_split(seed=0)
    fit_x, fit_y = split.fit_x.reshape(len(split.fit_x), -1) * 2 - 1, split.fit_y.double()[:, None]
    source = load_pretrained(Path(args.source) / "model") if args.source else None
    for n_t in args.n_target:
        subset = stratified_subset(split.fit_y, n_t, seed=args.seed)
        rest = np.setdiff1d(np.arange(len(fit_x)), subset)
        pool = np.random.default_rng(args.seed).choice(rest, args.pool, replace=False)
        for arm in args.arms:
            path = out / f"{arm}-nt{n_t}-seed{args.seed}.npz"
            if path.is_file():
                continue
            torch.manual_seed(args.seed + 1)
            if arm == "scratch":
                model = unet_diffusion((1, 16, 16), 10, block_out_channels=[16, 32, 32], layers_per_block=1,
                                       attention=False, norm_num_groups=8, sampler="sde-dpm++", sample_steps=20)
            else:
                model = transfer(source, arm, lr_scale=1.0)
            curve = _fit_curve(model, fit_x, fit_y, subset, pool, args, label=f"{arm} n_t={n_t}")
            np.savez(path, **curve)


def _fit_curve(model, fit_x, fit_y, subset, pool, args, label: str) -> dict[str, np.ndarray]:
    """Fit ``model`` on the ``subset`` images as a target fit does, scoring every evaluation's
    weights on the ``pool`` images."""
    from gentransfer import fit

    steps, random_t, fixed_t = [], [], []

    def record(step, m):
        a, b = _curve_losses(m, fit_x[pool].float(), fit_y[pool].float(), args.draws, args.seed + 7)
        steps.append(step)
        random_t.append(a)
        fixed_t.append(b)
        print(f"{label} step {step}: pool loss {a.mean():.5f}", flush=True)

    model.eval()
    record(0, model)  # the start: the source's weights for a transfer arm
    model.train()
    result = fit(model, fit_x[subset].float(), fit_y[subset].float(), steps=args.steps, batch_size=128,
                 lr=2e-3, val_fraction=0.1, eval_every=args.eval_every, patience=10**6, ema_decay=0.995,
                 val_repeats=2, seed=args.seed, on_evaluate=record)
    return {"steps": np.array(steps), "random_t": np.stack(random_t), "fixed_t": np.stack(fixed_t),
            "val_loss": np.array([h["val_loss"] for h in result.history]), "seconds": np.array(result.seconds),
            "eval_every": np.array(args.eval_every)}


def _replay(curve: np.ndarray, patience: int) -> int:
    """The index early stopping keeps on an observed curve (as ``fit``: stop after ``patience``
    evaluations without improvement, keep the best so far)."""
    best, bad = 0, 0
    for k in range(1, len(curve)):
        if curve[k] < curve[best]:
            best, bad = k, 0
        else:
            bad += 1
            if bad >= patience:
                break
    return best


def analyse(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    report, lines = {}, []
    for path in sorted(Path(args.runs).glob("*.npz")):
        d = np.load(path)
        steps = d["steps"]
        for estimator in ("random_t", "fixed_t"):
            losses = d[estimator]  # evaluations x pool rows x draws
            truth = losses.mean(axis=(1, 2))
            best = int(truth.argmin())
            diffs = np.abs(np.diff(truth))
            entry = {"steps": steps.tolist(), "truth": truth.tolist(), "true_best_step": int(steps[best]),
                     "median_true_step_difference": float(np.median(diffs)), "cells": []}
            for m in ROWS:
                for r in DRAWS:
                    if r > losses.shape[2]:
                        continue
                    kept, noise = [], []
                    for _ in range(SUBSETS):
                        rows = rng.choice(losses.shape[1], m, replace=False)
                        cols = rng.choice(losses.shape[2], r, replace=False)
                        seen = losses[:, rows][:, :, cols].mean(axis=(1, 2))
                        noise.append(np.diff(seen) - np.diff(truth))
                        kept.append(_replay(seen, args.patience))
                    kept = np.array(kept)
                    regret = truth[kept] - truth[best]
                    cell = {"rows": m, "draws": r, "difference_noise_sd": float(np.std(noise)),
                            "noise_over_median_difference": float(np.std(noise) / max(np.median(diffs), 1e-12)),
                            "kept_step_median": float(np.median(steps[kept])),
                            "kept_step_p10_p90": [float(np.percentile(steps[kept], 10)),
                                                  float(np.percentile(steps[kept], 90))],
                            "regret_median": float(np.median(regret)), "regret_p90": float(np.percentile(regret, 90)),
                            "regret_over_range": float(np.median(regret) / max(truth[0] - truth[best], 1e-12))}
                    entry["cells"].append(cell)
                    lines.append(f"| {path.stem} | {estimator} | {m} | {r} | {cell['difference_noise_sd']:.5f} | "
                                 f"{entry['median_true_step_difference']:.5f} | {cell['kept_step_median']:.0f} "
                                 f"({cell['kept_step_p10_p90'][0]:.0f}-{cell['kept_step_p10_p90'][1]:.0f}) | "
                                 f"{entry['true_best_step']} | {cell['regret_median']:.5f} | "
                                 f"{cell['regret_p90']:.5f} |")
            report[f"{path.stem}/{estimator}"] = entry
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "val_noise.json").write_text(json.dumps(report, indent=1))
    head = ("| fit | loss | rows | draws | noise sd of a step difference | median true step difference | "
            "step kept (p10-p90) | true best step | regret median | regret p90 |\n|" + "---|" * 10 + "\n")
    (out / "val_noise.md").write_text(head + "\n".join(lines) + "\n")
    print(head + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--source", default=None, help="a source run folder (for the transfer arms)")
    f.add_argument("--arms", type=lambda s: s.split(","), default=["scratch", "finetune"])
    f.add_argument("--n-target", type=lambda s: [int(v) for v in s.split(",")], default=[50, 200])
    f.add_argument("--seed", type=int, default=100)
    f.add_argument("--steps", type=int, default=3000)
    f.add_argument("--eval-every", type=int, default=100)
    f.add_argument("--pool", type=int, default=600)
    f.add_argument("--draws", type=int, default=16)
    f.add_argument("--out", required=True)
    a = sub.add_parser("analyse")
    a.add_argument("runs")
    a.add_argument("--patience", type=int, default=4)
    a.add_argument("--out", required=True)
    args = parser.parse_args()
    fit_curves(args) if args.command == "fit" else analyse(args)


if __name__ == "__main__":
    main()
