"""Image data: an ``.npz`` array of ``N x C x H x W`` images, or a folder of PNG files.

A folder holds one subfolder of PNG files per class (the subfolder's name is the class; class
indices follow the names in order, by number when every name is a number), or PNG files only
(unconditional data). PNGs of 8 bits a channel are read as 0-255, 16-bit greyscale ones as
0-65535; 32-bit images (modes ``I`` and ``F``, which PNG itself cannot hold) have no known pixel
scale and are refused. An ``.npz`` file holds ``x`` (``N x C x H x W``: floats in ``[0, 1]``,
``uint8`` 0-255 or ``uint16`` 0-65535) and optional class labels ``z`` (``N`` whole numbers 0..K-1).
Either becomes a :class:`~gentransfer.data.table.Table` whose ``x`` is the flattened images
in ``[0, 1]`` (so every metric and check of the tables applies), with the image shape and the
class names beside it; the model reshapes them back (:func:`gentransfer.diffusion.unet.unet_diffusion`).

:class:`PixelScale` is the x side of an image run's ``scaling.json``: pixels in ``[0, 1]`` map
to ``[-1, 1]`` for the model, and samples map back, clipped to ``[0, 1]`` (the practice of
image diffusion models; the per-column transform of tables would drop constant border pixels
that the UNet needs).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gentransfer.data.table import Table
from gentransfer.errors import CheckpointError, DataError

__all__ = ["PixelScale", "image_table", "load_image_folder", "image_grid_figure", "save_image_grid", "resize_images"]

MAX_CHANNELS = 4
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")  # Pillow's modes of 16-bit greyscale


@dataclass(frozen=True)
class PixelScale:
    """Images of ``shape`` (C, H, W), flattened, between ``[0, 1]`` pixels and the model's ``[-1, 1]``.

    Example:
        >>> s = PixelScale((1, 2, 2))
        >>> s.forward(np.array([[0.0, 0.5, 1.0, 1.0]])).tolist(), s.width
        ([[-1.0, 0.0, 1.0, 1.0]], 4)
    """

    shape: tuple[int, int, int]

    @property
    def width(self) -> int:
        return math.prod(self.shape)

    model_width = width

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * 2.0 - 1.0

    def inverse(self, u: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(u, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)

    def log_abs_det(self, x: np.ndarray) -> np.ndarray:
        """``log |d forward / dx|`` per row: the density of ``[0, 1]`` pixels from the model's."""
        return np.full(len(x), self.width * math.log(2.0))

    def describe(self) -> dict[str, Any]:
        return {"image_shape": list(self.shape), "constant_columns": [], "bounded_columns": [],
                "modelled_columns": self.width}

    def to_dict(self) -> dict[str, Any]:
        return {"image_shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: Any, model_width: int, where: str) -> PixelScale:
        shape = d.get("image_shape") if isinstance(d, dict) else None
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)
                and math.prod(shape) == model_width):
            raise CheckpointError(f"{where}: image_shape {shape!r} does not match the model ({model_width} pixels)",
                                  "re-create the run")
        return cls(tuple(shape))


def _as_unit(images: np.ndarray, source: str) -> np.ndarray:
    """Pixels as float64 in [0, 1]: uint8 divided by 255, uint16 by 65535, floats checked."""
    if images.dtype in (np.uint8, np.uint16):
        return images.astype(np.float64) / float(np.iinfo(images.dtype).max)
    try:
        x = images.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{source}: images are not numeric ({err})", "store pixel intensities") from None
    if not np.isfinite(x).all():
        raise DataError(f"{source}: images have NaN or inf pixels", "drop or repair those images")
    if x.min() < 0.0 or x.max() > 1.0:
        raise DataError(f"{source}: pixel values run from {x.min():g} to {x.max():g}, outside [0, 1]",
                        "store floats in [0, 1], uint8 0-255 or uint16 0-65535")
    return x


def image_table(images: np.ndarray, labels: np.ndarray | None, source: str, classes: list[str] | None = None):
    """A :class:`Table` of flattened images (``N x C x H x W`` in) and their class labels."""

    if images.ndim != 4 or min(images.shape) < 1:
        raise DataError(f"{source}: images must be N x C x H x W, got shape {images.shape}", "store a 4-D array x")
    n, c, h, w = images.shape
    if c > MAX_CHANNELS:
        raise DataError(f"{source}: images have {c} channels (shape {images.shape}); at most {MAX_CHANNELS}",
                        "store channels first: N x C x H x W")
    x = _as_unit(images, source).reshape(n, -1)
    z = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim == 2 and lab.shape[1] == 1:
            lab = lab[:, 0]
        if lab.ndim != 1 or len(lab) != n:
            raise DataError(f"{source}: labels 'z' must be one whole number per image ({n}), got shape {lab.shape}",
                            "store z as an array of N class labels")
        if not np.issubdtype(lab.dtype, np.number) or not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab)) \
                or lab.min() < 0:
            raise DataError(f"{source}: labels 'z' must be whole numbers 0..K-1", "store class indices")
        z = lab.astype(np.float64)[:, None]
    return Table(x=x, z=z, source=source, image_shape=(c, h, w), classes=tuple(classes) if classes else None)


def _pixels(im: Any, path: Path) -> np.ndarray:
    """An opened image's pixels: uint16 for 16-bit greyscale, uint8 (8 bits a channel) otherwise."""
    if im.mode in SIXTEEN_BIT or (im.mode == "I" and im.format == "PNG"):  # a PNG holds at most 16 bits
        return np.asarray(im).astype(np.uint16)
    if im.mode in ("I", "F"):
        kind = "integer" if im.mode == "I" else "floating-point"
        raise DataError(f"{path} is a 32-bit {kind} image (mode {im.mode}), whose pixel scale is unknown",
                        "save it as an 8- or 16-bit greyscale or RGB PNG")
    if im.mode not in ("L", "RGB", "RGBA"):  # 8 bits a channel: greyscale-like modes to L
        im = im.convert("L" if im.mode in ("P", "1", "LA") else "RGB")
    return np.asarray(im)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            a = _pixels(im, path)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable image ({type(err).__name__})",
                        "keep only PNG images in the data folder") from None
    return a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)


def _class_order(dirs: list[Path]) -> list[Path]:
    """Class folders by name; by number when every name is one (9 before 10)."""
    if all(re.fullmatch(r"[0-9]+", d.name) for d in dirs):
        return sorted(dirs, key=lambda d: (int(d.name), d.name))
    return dirs


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of the images; beside 16-bit ones, 8-bit ones widen exactly (x 257: 255 -> 65535)."""
    if any(a.dtype == np.uint16 for a in arrays):
        arrays = [a.astype(np.uint16) * 257 if a.dtype == np.uint8 else a for a in arrays]
    return np.stack(arrays)


def load_image_folder(folder: str | Path):
    """A folder of PNG images (one subfolder per class, or none) -> a :class:`Table` of images.

    Every image must have one size and one channel count; every class folder at least one image.
    """
    root = Path(folder)
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    dirs, files = _class_order([p for p in entries if p.is_dir()]), [p for p in entries if p.is_file()]
    if dirs and files:
        raise DataError(f"{root} mixes class folders {[d.name for d in dirs][:3]} and files "
                        f"{[f.name for f in files][:3]}",
                        "put every image in a class folder, or none (unconditional data)")
    groups = [(d.name, sorted(p for p in d.iterdir() if not p.name.startswith("."))) for d in dirs] if dirs \
        else [(None, files)]
    images, labels = [], []
    for index, (name, paths) in enumerate(groups):
        if not paths:
            where = f"class folder {root / name}" if name is not None else f"{root}"
            raise DataError(f"{where} holds no images", "add PNG images to it, or remove it")
        for p in paths:
            if p.is_dir():
                raise DataError(f"{p} is a folder inside a class folder", "keep one level: class/image.png")
            if p.suffix.lower() != ".png":
                raise DataError(f"{p} is not a PNG file", "keep only .png images in the data folder")
            a = _read_png(p)
            if images and a.shape != images[0][1].shape:
                first = images[0][0]
                what = "channels" if a.shape[0] != images[0][1].shape[0] else "sizes"
                raise DataError(f"{root}: images of mixed {what}: {p.name} is {_describe(a)}, {first.name} is "
                                f"{_describe(images[0][1])}", "resize / convert every image to one size and mode")
            images.append((p, a))
            labels.append(index)
    stacked = _stack([a for _, a in images])
    classes = [name for name, _ in groups] if dirs else None
    return image_table(stacked, np.array(labels) if dirs else None, str(root), classes)


def _describe(a: np.ndarray) -> str:
    return f"{a.shape[1]}x{a.shape[2]} with {a.shape[0]} channel{'s' if a.shape[0] > 1 else ''}"


def image_grid_figure(images: np.ndarray, labels: np.ndarray | None = None, per_row: int = 10,
                      title: str | None = None, names: list[str] | None = None):
    """A matplotlib figure of ``N x C x H x W`` images in [0, 1]: one row per class when labelled,
    each row named (``names[label]`` when given, else the label)."""
    import matplotlib.pyplot as plt

    rows: list[list[int]]
    if labels is not None:
        rows = [list(np.flatnonzero(labels == c)[:per_row]) for c in np.unique(labels)]
    else:
        order = list(range(min(len(images), per_row * 8)))
        rows = [order[i:i + per_row] for i in range(0, len(order), per_row)]
    fig, axes = plt.subplots(len(rows), per_row, figsize=(per_row * 0.6, len(rows) * 0.6 + (0.4 if title else 0)),
                             squeeze=False)
    classes = np.unique(labels) if labels is not None else []
    for r, idx in enumerate(rows):
        if labels is not None:
            c = int(classes[r])
            axes[r][0].text(-0.15, 0.5, names[c] if names and c < len(names) else str(c), fontsize=7,
                            ha="right", va="center", transform=axes[r][0].transAxes)
        for k in range(per_row):
            ax = axes[r][k]
            ax.axis("off")
            if k < len(idx):
                im = images[idx[k]]
                ax.imshow(im[0] if im.shape[0] == 1 else np.moveaxis(im[:3], 0, -1), cmap="gray", vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def save_image_grid(images: np.ndarray, path: str | Path, labels: np.ndarray | None = None,
                    per_row: int = 10, title: str | None = None) -> Path:
    """:func:`image_grid_figure` written as a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = image_grid_figure(images, labels, per_row, title)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial.png")
    fig.savefig(partial, dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(partial, path)  # whole or not at all
    return path


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
