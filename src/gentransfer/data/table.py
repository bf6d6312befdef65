"""The validated arrays every loader returns: :class:`Table`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Table"]


@dataclass(frozen=True)
class Table:
    """Validated arrays: ``x`` (N x d_x), optional ``z`` (N x d_z), ``zc`` (N x d_zc), ``y`` (N,).

    Images (:mod:`gentransfer.data.images`) are flattened into ``x`` in [0, 1]; ``image_shape``
    (C, H, W) says so, and ``classes`` names the class labels in ``z`` (a PNG folder's subfolders).
    A CSV file's columns are typed (:mod:`gentransfer.data.schema`): ``columns`` holds each role's
    :class:`~gentransfer.data.schema.ColumnSpec` list, and a categorical or boolean column holds the
    codes of its categories (``None``: every column continuous, as an ``.npz`` file's).
    """

    x: np.ndarray | None = None
    z: np.ndarray | None = None
    zc: np.ndarray | None = None
    y: np.ndarray | None = None
    source: str = "<arrays>"
    image_shape: tuple[int, int, int] | None = None
    classes: tuple[str, ...] | None = None
    columns: dict[str, tuple] | None = None
    header: tuple[str, ...] | None = None  # a CSV file's columns in its order

    def specs(self, role: str) -> tuple | None:
        """The :class:`~gentransfer.data.schema.ColumnSpec` of each column of ``role``, if typed."""
        return None if self.columns is None else self.columns.get(role)

    def typed(self, role: str) -> bool:
        """Does ``role`` hold a column that is not continuous?"""
        return any(c.kind != "continuous" for c in self.specs(role) or ())

    def __len__(self) -> int:
        return len(next(a for a in (self.x, self.z, self.zc, self.y) if a is not None))

    def take(self, rows: np.ndarray) -> Table:
        """These rows of every array (indices, or a boolean mask), types and source kept."""
        arrays = {r: getattr(self, r) for r in ("x", "z", "zc", "y")}
        return replace(self, **{r: a[rows] for r, a in arrays.items() if a is not None})

    def repeat(self, n: int) -> Table:
        """Every row ``n`` times in a row (``n`` samples per condition row)."""
        return self.take(np.repeat(np.arange(len(self)), n))
