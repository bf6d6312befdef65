"""Training throughput: the project's training step against a plain diffusers step, one run.

Usage: python benchmarks/train_throughput.py [--steps 20] [--batch 128] [--config configs/digits-cpu-quick.toml]
Same UNet size, batch and optimizer. The project's step is the one `fit` runs (shared
embedding, noise drawn from a CPU generator, gradient clipping, EMA update); the plain step is
the usual diffusers recipe (UNet2DModel with num_class_embeds, DDPMScheduler.add_noise, AdamW).
Rounds alternate between the two so drift in machine load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib

import torch
import torch.nn.functional as F

from gentransfer.digits.study import DigitsStudy, new_model
from gentransfer.training import EMA


def project_step(model, opt, ema, x, y, gen):
    noise = model.draw_noise(len(x), gen)
    loss = model(x, y, None, None, noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    ema.update()


def plain_step(unet, scheduler, opt, x, y):
    images = x.reshape(len(x), 1, 16, 16)
    noise = torch.randn_like(images)
    t = torch.randint(0, 1000, (len(x),))
    pred = unet(scheduler.add_noise(images, noise, t), t, class_labels=y).sample
    loss = F.mse_loss(pred, noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--config", default="configs/digits-cpu-quick.toml")
    args = parser.parse_args()
    from diffusers import DDPMScheduler, UNet2DModel

    with open(args.config, "rb") as fh:
        settings = DigitsStudy(**{k: v for k, v in tomllib.load(fh).items()}).to_dict()
    torch.manual_seed(0)
    model = new_model(settings)
    blocks = tuple(settings["unet"]["block_out_channels"])
    unet = UNet2DModel(sample_size=16, in_channels=1, out_channels=1, block_out_channels=blocks,
                       layers_per_block=settings["unet"]["layers_per_block"],
                       down_block_types=("DownBlock2D",) * len(blocks), up_block_types=("UpBlock2D",) * len(blocks),
                       norm_num_groups=settings["unet"]["norm_num_groups"], num_class_embeds=10)
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    opt_a = torch.optim.AdamW(model.parameters(), 1e-3)
    opt_b = torch.optim.AdamW(unet.parameters(), 1e-3)
    ema, gen = EMA(model, 0.995), torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 256) * 2 - 1
    y = torch.randint(0, 10, (args.batch,))
    for _ in range(2):  # warm-up
        project_step(model, opt_a, ema, x, y[:, None].float(), gen)
        plain_step(unet, scheduler, opt_b, x, y)
    times = {"project": 0.0, "plain": 0.0}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.steps):
            project_step(model, opt_a, ema, x, y[:, None].float(), gen)
        times["project"] += time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.steps):
            plain_step(unet, scheduler, opt_b, x, y)
        times["plain"] += time.perf_counter() - start
    n = args.steps * args.rounds * args.batch
    result = {"images_per_s_project": round(n / times["project"], 1),
              "images_per_s_plain": round(n / times["plain"], 1),
              "project_over_plain_time": round(times["project"] / times["plain"], 3),
              "params_project": sum(p.numel() for p in model.parameters()),
              "params_plain": sum(p.numel() for p in unet.parameters()), "batch": args.batch,
              "threads": torch.get_num_threads()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
