"""Sample grids: one row per digit (or one block of images), written atomically as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from gentransfer.config import atomic_write_bytes

__all__ = ["save_grid"]


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
