"""Image helpers shared by the digit datasets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gentransfer.errors import DataError

__all__ = ["resize_images"]


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``N x C x H x W`` images in [0, 1] to ``size x size``.

    Bilinear with antialiasing, so that shrinking MNIST 28x28 to USPS's 16x16 averages strokes
    instead of dropping pixels; the result is clamped back to [0, 1].
    """
    if x.ndim != 4:
        raise DataError(f"images must be N x C x H x W, got shape {tuple(x.shape)}", "add the missing axes")
    if size < 1:
        raise DataError(f"size must be positive, got {size}", "pass size >= 1")
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)
