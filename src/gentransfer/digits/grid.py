"""Sample grids: one row per digit (or one block of images), written atomically as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from gentransfer.files import atomic_write_bytes

__all__ = ["save_grid", "arm_panel"]


def save_grid(images: torch.Tensor, labels: torch.Tensor | None, path: str | os.PathLike[str], *,
              per_row: int = 10, title: str = "") -> Path:
    """Write ``N x 1 x H x W`` images in [0, 1]: a row per digit 0-9 if ``labels``, else rows of ``per_row``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = images.detach().clamp(0, 1).cpu().numpy()[:, 0]
    side = imgs.shape[-1]
    if labels is not None:
        rows = []
        for d in range(10):
            sel = imgs[(labels == d).cpu().numpy()][:per_row]
            pad = np.zeros((per_row - len(sel), side, side))
            rows.append(np.concatenate([sel, pad]) if len(sel) else pad)
    else:
        n = (len(imgs) // per_row) * per_row
        rows = [imgs[i : i + per_row] for i in range(0, min(n, per_row * 10), per_row)]
    canvas = np.block([[im for im in row] for row in rows]) if rows else np.zeros((side, side))
    fig, ax = plt.subplots(figsize=(per_row * 0.45, len(rows) * 0.45 + 0.4))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue()) or Path(path)


def arm_panel(run_dir: str | os.PathLike[str], n_t: int, seed: int, path: str | os.PathLike[str],
              arms: tuple[str, ...] = ("scratch", "source-only", "freeze-shared", "finetune", "lora")) -> Path:
    """One figure of every arm's sample grid at target size ``n_t`` (the grids a digits run wrote
    into ``models/``), side by side; arms without a grid are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    found = []
    for arm in arms:
        pngs = sorted(Path(run_dir, "models").glob(f"*-nt{n_t}-seed{seed}/target-{arm}.png"),
                      key=lambda p: int(p.parent.name.split("-ns")[1].split("-")[0]))
        if pngs:
            found.append((arm, pngs[-1]))  # at the largest n_s
    fig, axes = plt.subplots(1, max(1, len(found)), figsize=(3.2 * max(1, len(found)), 3.6), squeeze=False)
    for ax, (arm, png) in zip(axes[0], found, strict=False):
        ax.imshow(mpimg.imread(png))
        ax.set_title(arm, fontsize=9)
    for ax in axes[0]:
        ax.set_axis_off()
    fig.suptitle(f"samples at n_t = {n_t}, seed {seed}", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue()) or Path(path)
