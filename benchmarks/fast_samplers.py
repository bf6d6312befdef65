"""Fast samplers against 1,000-step ancestral sampling on a trained MNIST -> USPS model, one run.

Usage: python benchmarks/fast_samplers.py --model RUN/models/mnist-ns60000-nt5103-seed0/target-freeze-shared
                                         [--samplers ddpm:1000,sde-dpm++:20] [--features]
Generates as many images as the held-out USPS split (same label counts) with each sampler and
prints W1 to the held-out images and the sampling time; ratios are against the first sampler
(DDPM-1000). ``--features`` adds the Frechet distance in the USPS classifier's features and the
conditional accuracy (the digits benchmark's scores).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gentransfer import load_pretrained
from gentransfer.data import usps_paper_split
from gentransfer.metrics import wasserstein1

SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpm++", 20), ("sde-dpm++", 20), ("sde-dpm++", 50)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=None,
                        help="score on the first n held-out images (the split is shuffled) to save time on a CPU")
    parser.add_argument("--samplers", default=None, help="name:steps,... (default: the five of SAMPLERS)")
    parser.add_argument("--features", action="store_true", help="also FD and conditional accuracy")
    args = parser.parse_args()
    samplers = SAMPLERS if not args.samplers else [(a, int(b)) for a, b in
                                                    (item.split(":") for item in args.samplers.split(","))]
    path = Path(args.model)
    if (path / "model").is_dir():  # a fit-source / fit-target run folder (the digits benchmark writes these)
        path = path / "model"
    model = load_pretrained(path).to(args.device).eval()
    split = usps_paper_split(seed=args.split_seed)
    held_x, held_y = split.heldout_x[: args.n], split.heldout_y[: args.n]
    labels = held_y[:, None].float() if model.z_dim else None
    results = []
    for name, steps in samplers:
        gen = torch.Generator().manual_seed(args.seed)
        x_T_conditions = model.validate(None, labels, None)
        e = model.condition(x_T_conditions[1], None, len(held_x))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            fake = model.sample_e(e, gen, sampler=name, steps=steps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        images = ((fake.cpu() + 1) / 2).clamp(0, 1)
        results.append({"sampler": name, "steps": steps, "seconds": round(seconds, 3),
                        "W1": wasserstein1(images, held_x)})
        if args.features:
            from gentransfer.metrics import classifier_features, conditional_accuracy, frechet_distance, usps_classifier

            clf = usps_classifier()
            images = images.reshape(len(images), 1, 16, 16)
            results[-1]["FD"] = frechet_distance(classifier_features(clf, images), classifier_features(clf, held_x))
            if labels is not None:
                results[-1]["cond_acc"] = conditional_accuracy(clf, images, held_y)
    base = results[0]
    for r in results:
        r["W1_vs_ddpm1000"] = round(r["W1"] / base["W1"], 4)
        r["speedup"] = round(base["seconds"] / r["seconds"], 1)
    print(json.dumps({"model": args.model, "device": args.device, "n": len(held_x), "results": results}, indent=1))


if __name__ == "__main__":
    main()
