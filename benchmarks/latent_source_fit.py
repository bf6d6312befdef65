"""How well does the source stage of a latent model fit, and which part limits it?

Usage: python benchmarks/latent_source_fit.py [--family flow] [--seed 0] [--n-source 16000]
                                              [--prior '{"coupling": "affine", ...}']
                                              [--prior-train '{"steps": 10000, ...}']

Fits the source `LatentModel` of one `gentransfer simulate unconditional` row (default design,
d = 8, the study's settings unless overridden) and prints three W1 distances to 2,000 fresh
source rows: the model's own draws (`src_W1`), fresh rows encoded and decoded with the fitted
noise (`codes_decoded`: the decoder with the true code law), and the real-vs-real floor; plus
the W1 between prior draws and the codes of fresh rows (`prior_vs_codes`, in code units). When
`src_W1` is far above `codes_decoded`, the prior is what limits the source model.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gentransfer.metrics import wasserstein1
from gentransfer.simulation.unconditional import UnconditionalStudy, job_data, latent_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="flow", choices=["flow", "diffusion"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-source", type=int, default=16000)
    ap.add_argument("--prior", type=json.loads, help="prior constructor settings (JSON)")
    ap.add_argument("--prior-train", type=json.loads, help="prior training settings (JSON)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = UnconditionalStudy().to_dict()
    prior = s["prior"][args.family] = args.prior or s["prior"][args.family]
    prior_train = s["prior_train"][args.family] = args.prior_train or s["prior_train"][args.family]
    job = {"design": "default", "family": args.family, "d": 8, "seed": args.seed, "n_s": args.n_source,
           "settings": s}
    design, _, _, _, xs = job_data(job)
    fresh = design.sample_source(2000, np.random.default_rng([args.seed, 77]))
    fresh2 = design.sample_source(2000, np.random.default_rng([args.seed, 78]))
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    model = latent_source(job, xs)
    seconds = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        src_w1 = wasserstein1(model.sample(n=2000, generator=gen), fresh)
        codes = model.autoencoder.encode(torch.as_tensor(fresh, dtype=torch.float32))
        prior_vs_codes = wasserstein1(model.prior.sample(n=2000, generator=gen), codes)
        decoded = model.autoencoder.decode(model.autoencoder.encode(torch.as_tensor(fresh2, dtype=torch.float32)))
        decoded = decoded + model.noise_std * torch.randn(decoded.shape, generator=gen)
    print(json.dumps({"family": args.family, "seed": args.seed, "n_s": args.n_source, "prior": prior,
                      "prior_train": prior_train, "src_W1": round(src_w1, 3),
                      "codes_decoded": round(wasserstein1(decoded, fresh), 3),
                      "floor": round(wasserstein1(fresh2, fresh), 3), "prior_vs_codes": round(prior_vs_codes, 3),
                      "fit_seconds": round(seconds)}))


if __name__ == "__main__":
    main()
