"""USPS digits (Hull 1994): the HDF5 packaging, or the LIBSVM ``usps.bz2`` / ``usps.t.bz2`` files.

HDF5: groups ``train`` / ``test``, each with ``data`` (float32, N x 256, row-major 16x16 in [0, 1])
and ``target`` (digit 0..9). LIBSVM: one line per image, ``label idx:value ...`` with labels 1..10
(digit + 1) and values in [-1, 1].
"""

from __future__ import annotations

import bz2
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gentransfer.data.paths import data_root
from gentransfer.errors import DataError

__all__ = ["USPS_COUNTS", "USPS_H5_SHA256", "load_usps", "read_usps_h5", "read_usps_libsvm"]

Split = Literal["train", "test"]

USPS_H5_SHA256 = "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36"
USPS_LIBSVM_FILES = {"train": "usps.bz2", "test": "usps.t.bz2"}
# Class counts of the standard USPS release; they also verify files that carry no checksum.
USPS_COUNTS = {
    "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
    "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
}
_FIX = "run `gentransfer data download usps` (LIBSVM files) or place usps/usps.h5 under GENTRANSFER_DATA"


def read_usps_h5(path: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of the HDF5 packaging as (float32 N x 256, int64 N)."""
    import h5py  # local import: only this reader needs it

    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path} is not a readable HDF5 file ({err})", _FIX) from None
    with fh:
        if split not in fh or "data" not in fh[split] or "target" not in fh[split]:
            raise DataError(
                f"{path} lacks the group {split}/data or {split}/target expected of USPS", _FIX
            )
        x = np.asarray(fh[split]["data"][:], dtype=np.float32)
        y = np.asarray(fh[split]["target"][:], dtype=np.int64)
    return x, y


def read_usps_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a LIBSVM USPS file as (float32 N x 256 in [0, 1], int64 digits 0..9).

    Features absent from a line are zero in LIBSVM's convention, i.e. 0.5 after rescaling.
    """
    if not path.is_file():
        raise DataError(f"USPS file not found: {path}", _FIX)
    rows, labels, lineno = [], [], 0
    try:
        opener = bz2.open if path.suffix == ".bz2" else open
        with opener(path, "rt") as fh:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 - reported on error
                parts = line.split()
                if not parts:
                    continue
                row = np.zeros(256, dtype=np.float32)
                labels.append(int(float(parts[0])))
                for item in parts[1:]:
                    idx, val = item.split(":")
                    row[int(idx) - 1] = float(val)
                rows.append(row)
    except (OSError, EOFError, ValueError, IndexError) as err:
        raise DataError(f"{path} is not a valid LIBSVM USPS file at line {lineno} ({err})", _FIX) from None
    if not rows:
        raise DataError(f"{path} holds no images", _FIX)
    y = np.asarray(labels, dtype=np.int64) - 1
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{path} has labels outside 1..10", _FIX)
    x = (np.stack(rows) + 1.0) / 2.0
    return x.astype(np.float32), y


def _check(x: np.ndarray, y: np.ndarray, path: Path, split: Split) -> None:
    if x.ndim != 2 or x.shape[1] != 256 or len(x) != len(y):
        raise DataError(
            f"{path}: USPS {split} data has shape {x.shape} with {len(y)} labels, expected N x 256", _FIX
        )
    if not np.isfinite(x).all() or x.min() < -1e-6 or x.max() > 1 + 1e-6:
        raise DataError(f"{path}: USPS {split} pixels are not finite values in [0, 1]", _FIX)
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{path}: USPS {split} labels are outside 0..9", _FIX)


@lru_cache(maxsize=4)
def _load_cached(root: Path, split: Split, verify: bool) -> tuple[np.ndarray, np.ndarray, Path]:
    h5 = root / "usps" / "usps.h5"
    if h5.is_file():
        if verify and hashlib.sha256(h5.read_bytes()).hexdigest() != USPS_H5_SHA256:
            raise DataError(f"{h5} has the wrong SHA-256 (expected {USPS_H5_SHA256[:12]}...)", _FIX)
        x, y = read_usps_h5(h5, split)
        path = h5
    else:
        path = root / "usps" / USPS_LIBSVM_FILES[split]
        if not path.is_file():
            raise DataError(f"USPS not found: neither {h5} nor {path} exists", _FIX)
        x, y = read_usps_libsvm(path)
        if verify and tuple(np.bincount(y, minlength=10)) != USPS_COUNTS[split]:
            raise DataError(f"{path} does not hold the standard USPS {split} class counts", _FIX)
    _check(x, y, path, split)
    return x, y, path


def load_usps(
    split: Split = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load USPS as float images in [0, 1].

    Reads ``usps/usps.h5`` under the data root when present (SHA-256 checked), else the LIBSVM
    files ``usps/usps.bz2`` (train) and ``usps/usps.t.bz2`` (test), checked by class counts.

    Args:
        split: ``"train"`` (7,291 images) or ``"test"`` (2,007).
        root: data root (default: :func:`gentransfer.data.data_root`).
        verify: check the checksum (HDF5) or the class counts (LIBSVM).

    Returns:
        ``(images, labels)``: float32 ``N x 1 x 16 x 16`` in [0, 1] and int64 ``N``.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown USPS split {split!r}", "use split='train' or split='test'")
    x, y, _ = _load_cached(data_root(root).resolve(), split, verify)
    return torch.from_numpy(x.copy()).reshape(-1, 1, 16, 16), torch.from_numpy(y.copy())
