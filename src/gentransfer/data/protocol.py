"""The paper's MNIST -> USPS protocol (Tian & Shen, Sec. 5).

The 7,291 USPS training images are split 70/30 by a seeded permutation into 5,103 images to fit
on and 2,188 held-out images to score with (2,188 = ceil(0.3 x 7,291)); the digit-3 experiment
keeps only the threes of both parts (about 198 held out).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from gentransfer.data.images import resize_images
from gentransfer.data.mnist import load_mnist
from gentransfer.data.usps import load_usps
from gentransfer.errors import DataError

__all__ = ["UspsSplit", "usps_paper_split", "mnist_source", "stratified_subset", "HELDOUT_FRACTION"]

HELDOUT_FRACTION = 0.3


@dataclass(frozen=True)
class UspsSplit:
    """Fit / held-out USPS images (``N x 1 x 16 x 16`` in [0, 1]), labels, and their row indices
    in the USPS training set, with the seed and digit filter used."""

    fit_x: torch.Tensor
    fit_y: torch.Tensor
    heldout_x: torch.Tensor
    heldout_y: torch.Tensor
    fit_index: torch.Tensor
    heldout_index: torch.Tensor
    seed: int
    digit: int | None


def _check_digit(digit: int | None) -> None:
    if digit is not None and digit not in range(10):
        raise DataError(f"digit must be 0..9 or None, got {digit!r}", "pass a digit between 0 and 9")


def usps_paper_split(
    seed: int = 0,
    *,
    digit: int | None = None,
    root: str | os.PathLike[str] | None = None,
) -> UspsSplit:
    """Split the USPS training set as the paper does: 5,103 fit / 2,188 held-out images.

    Args:
        seed: seed of the permutation (record it with the results).
        digit: keep only this digit in both parts (the paper's unconditional digit-3 example).
        root: data root.

    Example:
        >>> s = usps_paper_split(seed=0)  # doctest: +SKIP
        >>> len(s.fit_x), len(s.heldout_x)
        (5103, 2188)
    """
    _check_digit(digit)
    x, y = load_usps("train", root=root)
    n_heldout = math.ceil(HELDOUT_FRACTION * len(x))
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    held, fit = perm[:n_heldout], perm[n_heldout:]
    if digit is not None:
        fit, held = fit[y[fit] == digit], held[y[held] == digit]
    return UspsSplit(x[fit], y[fit], x[held], y[held], fit, held, seed, digit)


def stratified_subset(labels: np.ndarray | torch.Tensor, n: int, *, seed: int = 0) -> np.ndarray:
    """Indices of a seeded, class-stratified subset of ``n`` rows, nested across ``n``.

    Each class is shuffled (seeded); its ``j``-th row of ``n_c`` gets the position
    ``(j + 1/2) / n_c``, and the subset of size ``n`` is the ``n`` rows of smallest position (ties
    by class). So every class keeps its share of the rows (to within one), and a smaller subset
    is always part of a larger one: a data-poor target is the start of a richer one. The indices
    are returned sorted, so ``n = len(labels)`` gives every row in its own order.
    """
    y = np.asarray(labels).reshape(-1)
    if not isinstance(n, int | np.integer) or not 1 <= n <= len(y):
        raise DataError(f"cannot take a subset of {n!r} rows from {len(y)}", f"pass 1 <= n <= {len(y)}")
    rng = np.random.default_rng(seed)
    keys, order = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        keys.append((np.arange(len(rows)) + 0.5) / len(rows))
        order.append(rows)
    keys_all, rows_all = np.concatenate(keys), np.concatenate(order)
    first = np.argsort(keys_all, kind="stable")[:n]
    return np.sort(rows_all[first])


def _balanced_quota(n: int, sizes: list[int]) -> list[int]:
    """Split ``n`` into per-class counts as equal as the class sizes allow (water-filling)."""
    quota = [0] * len(sizes)
    left, open_ = n, sorted(range(len(sizes)), key=lambda i: sizes[i])
    while open_:
        share, extra = divmod(left, len(open_))
        smallest = open_[0]
        if sizes[smallest] <= share:  # this class is exhausted: take all of it and re-share
            quota[smallest] = sizes[smallest]
            left -= sizes[smallest]
            open_.pop(0)
            continue
        for rank, i in enumerate(sorted(open_)):
            quota[i] = share + (rank < extra)
        break
    return quota


def mnist_source(
    n: int | None = None,
    *,
    seed: int = 0,
    digit: int | None = None,
    size: int = 16,
    root: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded, class-balanced subset of the MNIST training images, resized to ``size``.

    Args:
        n: number of images (``None``: all that qualify). Classes get equal shares; a class
            with too few images gives its unused share to the others (so ``n=60000`` is all).
        seed: seed of the subset draw.
        digit: keep only this digit (then ``n`` counts images of that digit).
        size: output side length (16 matches USPS).
        root: data root.
    """
    _check_digit(digit)
    x, y = load_mnist("train", root=root)
    rng = np.random.default_rng(seed)
    digits = [digit] if digit is not None else list(range(10))
    pools = [rng.permutation(np.flatnonzero(y.numpy() == d)) for d in digits]
    available = sum(len(p) for p in pools)
    if n is None:
        n = available
    if n < 1 or n > available:
        raise DataError(
            f"cannot draw n={n} MNIST images (only {available} available)", f"pass 1 <= n <= {available}"
        )
    quota = _balanced_quota(n, [len(p) for p in pools])
    idx = np.sort(np.concatenate([p[:q] for p, q in zip(pools, quota, strict=True)]))
    xs = x[torch.from_numpy(idx)]
    return (resize_images(xs, size) if size != xs.shape[-1] else xs), y[torch.from_numpy(idx)]
