"""MNIST from the four gzip-compressed IDX files, checked against the official MD5 sums.

IDX layout: big-endian uint32 magic (2051 images, 2049 labels), uint32 count, then for images
uint32 rows and uint32 cols, then the raw uint8 data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gentransfer.data.images import resize_images
from gentransfer.data.paths import data_root
from gentransfer.errors import DataError

__all__ = ["MNIST_FILES", "load_mnist", "read_idx"]

Split = Literal["train", "test"]

# (file name, MD5 of the *decompressed* content); the .gz wrappers differ between mirrors.
MNIST_FILES: dict[tuple[str, str], tuple[str, str]] = {
    ("train", "images"): ("train-images-idx3-ubyte.gz", "6bbc9ace898e44ae57da46a324031adb"),
    ("train", "labels"): ("train-labels-idx1-ubyte.gz", "a25bea736e30d166cdddb491f175f624"),
    ("test", "images"): ("t10k-images-idx3-ubyte.gz", "2646ac647ad5339dbf082846283269ea"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637"),
}
_MAGIC = {2051: 3, 2049: 1}  # magic -> number of dimensions
_FETCH_FIX = "run `gentransfer data download mnist` or set GENTRANSFER_DATA to a folder holding mnist/"


def _read_gz(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"MNIST file not found: {path}", _FETCH_FIX)
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a readable gzip file ({err})", _FETCH_FIX) from None


def read_idx(raw: bytes, source: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Parse decompressed IDX bytes into a uint8 array (N,) or (N, rows, cols).

    Raises:
        DataError: the bytes are not IDX (bad magic) or are truncated / too long.
    """
    if len(raw) < 8:
        raise DataError(f"{source} is too short to be an IDX file ({len(raw)} bytes)", _FETCH_FIX)
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in _MAGIC:
        raise DataError(f"{source} is not an IDX file (magic {magic}, expected 2051 or 2049)", _FETCH_FIX)
    ndim = _MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source} has a truncated IDX header", _FETCH_FIX)
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{source} is truncated or padded: {len(raw)} bytes, IDX header says {expected}",
            _FETCH_FIX,
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _load_array(root: Path, split: Split, kind: str, verify: bool) -> np.ndarray:
    name, md5 = MNIST_FILES[(split, kind)]
    path = root / "mnist" / name
    raw = _read_gz(path)
    if verify and hashlib.md5(raw).hexdigest() != md5:
        raise DataError(
            f"{path} has the wrong content (MD5 of decompressed data is not {md5})", _FETCH_FIX
        )
    return read_idx(raw, path)


@lru_cache(maxsize=4)
def _load_cached(root: Path, split: Split, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    images = _load_array(root, split, "images", verify)
    labels = _load_array(root, split, "labels", verify)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"MNIST {split} images {images.shape} and labels {labels.shape} do not match",
            _FETCH_FIX,
        )
    return images, labels


def load_mnist(
    split: Split = "train",
    *,
    size: int | None = None,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST as float images in [0, 1].

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        size: resize to ``size x size`` with antialiasing (16 matches USPS); ``None`` keeps 28.
        root: data root (default: :func:`gentransfer.data.data_root`).
        verify: check the MD5 of the decompressed files.

    Returns:
        ``(images, labels)``: float32 ``N x 1 x H x W`` in [0, 1] and int64 ``N``.

    Example:
        >>> x, y = load_mnist("test", size=16)  # doctest: +SKIP
        >>> x.shape
        torch.Size([10000, 1, 16, 16])
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown MNIST split {split!r}", "use split='train' or split='test'")
    images, labels = _load_cached(data_root(root).resolve(), split, verify)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    if size is not None and size != x.shape[-1]:
        x = resize_images(x, size)
    return x, torch.from_numpy(labels.astype(np.int64))
