"""The digits benchmark's images as files a user's commands read (``gentransfer data export``)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Literal

import numpy as np

from gentransfer.errors import ConfigError
from gentransfer.files import atomic_write_bytes

__all__ = ["export_digits"]


def export_digits(dataset: Literal["mnist", "usps-fit", "usps-heldout"], out: str | os.PathLike[str], *,
                  fmt: Literal["png", "npz"] = "png", n: int | None = None, seed: int = 0,
                  root: str | None = None) -> tuple[int, tuple[int, ...]]:
    """Write MNIST at 16x16 (the source: a seeded, class-balanced subset of ``n``), or the USPS paper
    split's fit part (a class-stratified subset nested across ``n``) or held-out part, as PNG
    class folders (pixels rounded to 8 bits) or an ``.npz`` (``x``: N x 1 x 16 x 16 floats, exact;
    ``z``: labels). Returns the number of images and their shape.

    A PNG folder is built beside ``out`` and moved into place whole.
    """
    import torch

    from gentransfer.data import mnist_source, stratified_subset, usps_paper_split

    path = Path(out)
    if path.exists():
        raise ConfigError(f"--out {out} already exists", "pass a new path")
    if not path.absolute().parent.is_dir():
        raise ConfigError(f"cannot write {out}: its folder does not exist", "create it first")
    if fmt == "npz" and path.suffix != ".npz":
        raise ConfigError(f"--out {out} must end in .npz for --format npz", "pass e.g. --out usps-200.npz")
    if n is not None and n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}", "pass --n 1 or more")
    if dataset == "mnist":
        x, y = mnist_source(n, seed=seed, root=root)
    else:
        split = usps_paper_split(seed=0, root=root)
        x, y = (split.fit_x, split.fit_y) if dataset == "usps-fit" else (split.heldout_x, split.heldout_y)
        if n is not None:
            if n > len(y):
                raise ConfigError(f"--n {n} is more than the {len(y)} images of {dataset}",
                                  f"pass --n {len(y)} or fewer")
            idx = torch.from_numpy(stratified_subset(y, n, seed=seed))
            x, y = x[idx], y[idx]
    images, labels = x.numpy(), y.numpy().astype(np.int64)
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez(buf, x=images.astype(np.float32), z=labels)
        atomic_write_bytes(path, buf.getvalue())
    else:
        _write_png_folders(images, labels, path)
    return len(labels), tuple(images.shape[1:])


def _write_png_folders(images: np.ndarray, labels: np.ndarray, out: Path) -> None:
    from PIL import Image

    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for d in range(10):
        (partial / str(d)).mkdir(parents=True)
    for i, (im, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(np.round(im[0] * 255).astype(np.uint8)).save(partial / str(label) / f"{i:05d}.png")
    for d in range(10):  # a class with no image would be an empty class folder
        if not any((partial / str(d)).iterdir()):
            (partial / str(d)).rmdir()
    os.replace(partial, out)
