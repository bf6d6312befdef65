"""Training throughput: the project's training step against a plain diffusers step, one run.

Usage: python benchmarks/train_throughput.py [--steps 20] [--batch 128] [--config configs/digits-cpu-quick.toml]
                                             [--variants]
Same UNet size, batch and optimizer. The project's step is the one `fit` runs (shared
embedding, noise drawn from a CPU generator, gradient clipping, EMA update); the plain step is
the usual diffusers recipe (UNet2DModel with num_class_embeds, DDPMScheduler.add_noise, AdamW).
With ``--variants`` the project's step is also timed under bf16 autocast, with the network
compiled by ``torch.compile`` (compile time reported apart), and at twice the batch.
Rounds alternate between all steps so drift in machine load hits them alike.
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


def project_step(model, opt, ema, x, y, gen, bf16: bool = False):
    noise = model.draw_noise(len(x), gen)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
    parser.add_argument("--variants", action="store_true", help="also bf16 autocast, torch.compile, 2x batch")
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
    x = torch.rand(2 * args.batch, 256) * 2 - 1
    y = torch.randint(0, 10, (2 * args.batch,))
    xb, yb, zb = x[: args.batch], y[: args.batch], y[: args.batch, None].float()
    steps = {"project": (lambda: project_step(model, opt_a, ema, xb, zb, gen), args.batch),
             "plain": (lambda: plain_step(unet, scheduler, opt_b, xb, yb), args.batch)}
    compile_seconds = None
    if args.variants:
        variants = {}
        for name in ("bf16", "compile", "batch2x"):
            torch.manual_seed(0)
            m = new_model(settings)
            variants[name] = (m, torch.optim.AdamW(m.parameters(), 1e-3), EMA(m, 0.995))
        m, o, e = variants["bf16"]
        steps["project-bf16"] = (lambda: project_step(m, o, e, xb, zb, gen, bf16=True), args.batch)
        mc, oc, ec = variants["compile"]
        mc.network = torch.compile(mc.network)
        start = time.perf_counter()
        project_step(mc, oc, ec, xb, zb, gen)  # the first call compiles
        compile_seconds = round(time.perf_counter() - start, 1)
        steps["project-compile"] = (lambda: project_step(mc, oc, ec, xb, zb, gen), args.batch)
        m2, o2, e2 = variants["batch2x"]
        steps["project-batch2x"] = (lambda: project_step(m2, o2, e2, x, y[:, None].float(), gen), 2 * args.batch)
    for _ in range(2):  # warm-up
        for step, _ in steps.values():
            step()
    times = dict.fromkeys(steps, 0.0)
    for _ in range(args.rounds):
        for name, (step, _) in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name] += time.perf_counter() - start
    images = {name: round(args.steps * args.rounds * batch / times[name], 1) for name, (_, batch) in steps.items()}
    result = {"images_per_s": images,
              "speed_over_plain": {k: round(v / images["plain"], 3) for k, v in images.items()},
              "project_over_plain_time": round(times["project"] / times["plain"], 3),
              "compile_seconds": compile_seconds,
              "params_project": sum(p.numel() for p in model.parameters()),
              "params_plain": sum(p.numel() for p in unet.parameters()), "batch": args.batch,
              "threads": torch.get_num_threads()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
