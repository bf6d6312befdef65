"""A run's scales: how the data's x, z and zc map to the model's (``scaling.json``).

One protocol for the three: a scaler has ``forward`` (data -> model), ``to_dict`` and
``from_dict``; x's also ``inverse``, ``log_abs_det`` and ``describe``. x is a table's
:class:`~gentransfer.data.columns.ColumnTransform` or an image's
:class:`~gentransfer.data.images.PixelScale`; z and zc are each a
:class:`~gentransfer.data.columns.Standardize`, or ``None`` where they are kept as they are (class
labels, which a lookup embedding reads) or absent. The shared block ``z`` is standardised with the
*source's* statistics in both tasks, since the embedding ``h`` was learned on that scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gentransfer.data.columns import ColumnTransform, Standardize
from gentransfer.data.images import PixelScale
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError

__all__ = ["Scaling", "XScaler"]

XScaler = ColumnTransform | PixelScale


@dataclass(frozen=True)
class Scaling:
    """The scalers of x, z and zc of one run."""

    x: XScaler
    z: Standardize | None = None
    zc: Standardize | None = None

    @classmethod
    def fit(cls, x: XScaler, data: Table, *, z: bool = True) -> Scaling:
        """``x``'s scaler with z (unless ``z=False``: kept as labels) and zc standardised on ``data``."""
        return cls(x, Standardize.fit(data.z, "z", data.source) if z and data.z is not None else None,
                   Standardize.fit(data.zc, "zc", data.source) if data.zc is not None else None)

    def conditions(self, z: np.ndarray | None, zc: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``z`` and ``zc`` on the model's scale (each as it is where its scaler is ``None``)."""
        return tuple(a if a is None or s is None else s.forward(a)  # type: ignore[return-value]
                     for a, s in ((z, self.z), (zc, self.zc)))

    def training_rows(self, x: np.ndarray, seed: int) -> np.ndarray:
        """The x rows a model fits: a table's bounded ends spread over their edge bands (seeded, so a
        resumed fit sees the same rows; :meth:`ColumnTransform.forward`); images as they are."""
        if isinstance(self.x, ColumnTransform):
            return self.x.forward(x, rng=np.random.default_rng([seed, 31]))
        return self.x.forward(x)

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x.to_dict(), "z": None if self.z is None else self.z.to_dict(),
                "zc": None if self.zc is None else self.zc.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, model: Any, where: str) -> Scaling:
        """Read (and check against ``model``'s widths) a ``scaling.json``."""
        if not isinstance(d, dict) or set(d) != {"x", "z", "zc"}:
            raise CheckpointError(f"{where} must map x, z and zc to their scaling",
                                  "re-create the run (scaling.json is written by fit-source / fit-target)")
        reader = PixelScale if isinstance(d["x"], dict) and "image_shape" in d["x"] else ColumnTransform
        x = reader.from_dict(d["x"], model.x_dim, where)
        z, zc = (None if d[key] is None else Standardize.from_dict(d[key], width, f"{where}: the scaling of {key}")
                 for key, width in (("z", model.z_dim), ("zc", model.zc_dim)))
        return cls(x, z, zc)
