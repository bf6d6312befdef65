"""The validated arrays every loader returns: :class:`Table`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Table"]


@dataclass(frozen=True)
class Table:
    """Validated arrays: ``x`` (N x d_x), optional ``z`` (N x d_z), ``zc`` (N x d_zc), ``y`` (N,).

    Images (:mod:`gentransfer.data.images`) are flattened into ``x`` in [0, 1]; ``image_shape``
    (C, H, W) says so, and ``classes`` names the class labels in ``z`` (a PNG folder's subfolders).
    """

    x: np.ndarray | None = None
    z: np.ndarray | None = None
    zc: np.ndarray | None = None
    y: np.ndarray | None = None
    source: str = "<arrays>"
    image_shape: tuple[int, int, int] | None = None
    classes: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(next(a for a in (self.x, self.z, self.zc, self.y) if a is not None))
