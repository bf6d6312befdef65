"""Fetch the datasets from their public homes, for users with internet access.

Never called by tests or CI (they read ``$GENTRANSFER_DATA``). Each file is downloaded to a
temporary name beside its destination, verified, and only then renamed into place, so an
interrupted or corrupt download never replaces a good file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gentransfer.data.mnist import MNIST_FILES
from gentransfer.data.paths import data_root
from gentransfer.data.usps import USPS_COUNTS, USPS_LIBSVM_FILES, read_usps_libsvm
from gentransfer.errors import DataError

__all__ = ["DATASETS", "download", "install_verified", "verify_mnist_file", "verify_usps_libsvm_file"]

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
USPS_MIRRORS = ("https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",)


def verify_mnist_file(path: Path, md5: str) -> None:
    """Check the MD5 of a gzip file's decompressed content (mirrors re-wrap the .gz)."""
    try:
        with gzip.open(path, "rb") as fh:
            digest = hashlib.md5(fh.read()).hexdigest()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable gzip file ({err})", "download it again") from None
    if digest != md5:
        raise DataError(f"{path}: decompressed MD5 {digest} != expected {md5}", "download it again")


def verify_usps_libsvm_file(path: Path, split: str) -> None:
    """LIBSVM USPS files carry no published checksum: check size and exact class counts."""
    _, y = read_usps_libsvm(path)
    counts = tuple(int(c) for c in np.bincount(y, minlength=10))
    if counts != USPS_COUNTS[split]:
        raise DataError(f"{path}: class counts {counts} are not those of USPS {split}", "download it again")


def install_verified(tmp: Path, dest: Path, verify: Callable[[Path], None]) -> Path:
    """Verify ``tmp`` and atomically rename it to ``dest``; on failure delete ``tmp`` only.

    ``dest`` is never touched unless ``tmp`` passed ``verify``.
    """
    try:
        verify(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return dest


def _fetch(url: str, dest_dir: Path) -> Path:
    """Stream ``url`` into a temporary file in ``dest_dir`` (same file system: rename is atomic)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _files(name: str) -> list[tuple[str, tuple[str, ...], Callable[[Path], None]]]:
    if name == "mnist":
        return [
            (fname, MNIST_MIRRORS, lambda p, md5=md5: verify_mnist_file(p, md5))
            for fname, md5 in MNIST_FILES.values()
        ]
    if name == "usps":
        return [
            (fname, USPS_MIRRORS, lambda p, s=split: verify_usps_libsvm_file(p, s))
            for split, fname in USPS_LIBSVM_FILES.items()
        ]
    raise DataError(f"unknown dataset {name!r}", f"choose one of {sorted(DATASETS)}")


DATASETS = ("mnist", "usps")


def download(name: str, root: str | os.PathLike[str] | None = None, *, force: bool = False) -> list[Path]:
    """Download, verify and install one dataset under the data root; return the installed paths.

    Files already present are kept unless ``force``.
    """
    folder = data_root(root) / name
    installed = []
    for fname, mirrors, verify in _files(name):
        dest = folder / fname
        if dest.is_file() and not force:
            installed.append(dest)
            continue
        errors = []
        for base in mirrors:
            try:
                installed.append(install_verified(_fetch(base + fname, folder), dest, verify))
                break
            except (OSError, DataError) as err:
                errors.append(f"{base}: {err}")
        else:
            tried = " | ".join(errors)
            raise DataError(f"could not fetch {fname}: {tried}", "check your internet connection")
    return installed
