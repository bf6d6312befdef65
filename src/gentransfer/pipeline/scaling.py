"""A run's scales: how the data's x, z and zc map to the model's (``scaling.json``).

One protocol for the three: a scaler has ``forward`` (data -> model), ``to_dict`` and
``from_dict``; x's also ``inverse``, ``log_abs_det`` and ``describe``. x is a table's
:class:`~gentransfer.data.columns.ColumnTransform` (a typed table's
:class:`~gentransfer.data.mixed.MixedTransform`) or an image's
:class:`~gentransfer.data.images.PixelScale`; z and zc are each a
:class:`~gentransfer.data.columns.Standardize` (a typed table's
:class:`~gentransfer.data.mixed.MixedConditions`), or ``None`` where they are kept as they are (class
labels, which a lookup embedding reads) or absent. The shared block ``z`` is scaled with the
*source's* statistics and categories in both tasks, since the embedding ``h`` was learned on them.
A typed table's categories are matched by name (:func:`~gentransfer.data.mixed.recode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gentransfer.data.columns import ColumnTransform, Standardize
from gentransfer.data.images import PixelScale
from gentransfer.data.mixed import MixedConditions, MixedTransform, recode
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError

__all__ = ["Scaling", "XScaler", "fit_conditions"]

XScaler = ColumnTransform | MixedTransform | PixelScale
CondScaler = Standardize | MixedConditions


def fit_conditions(data: Table, role: str) -> CondScaler | None:
    """The scaler of ``data``'s ``role`` (z or zc): its categories one-hot and its numbers
    standardised if the table is typed, else standardised."""
    values = getattr(data, role)
    if values is None:
        return None
    specs = data.specs(role)
    if specs is not None and data.typed(role):
        return MixedConditions.fit(values, specs, role, data.source)
    return Standardize.fit(values, role, data.source)


def fit_x(data: Table, bounds: str | tuple[float, float]) -> ColumnTransform | MixedTransform:
    """x's scaler: a typed table's (names, types and categories kept) or a plain one's."""
    specs = data.specs("x")
    if specs is not None:
        return MixedTransform.fit(data.x, specs, bounds, data.source)
    return ColumnTransform.fit(data.x, bounds, data.source)


@dataclass(frozen=True)
class Scaling:
    """The scalers of x, z and zc of one run."""

    x: XScaler
    z: CondScaler | None = None
    zc: CondScaler | None = None

    @classmethod
    def fit(cls, x: XScaler, data: Table, *, z: bool = True) -> Scaling:
        """``x``'s scaler with z (unless ``z=False``: kept as labels) and zc fitted on ``data``."""
        return cls(x, fit_conditions(data, "z") if z else None, fit_conditions(data, "zc"))

    def width(self, role: str, data: Table) -> int:
        """The model's width of ``role`` (0 when ``data`` has none): one-hot categories included."""
        scaler, values = getattr(self, role), getattr(data, role)
        if values is None:
            return 0
        return scaler.width if isinstance(scaler, MixedConditions) else values.shape[1]

    def codes(self, data: Table, role: str) -> np.ndarray | None:
        """``data``'s ``role`` in this run's coding: a typed table's categories re-coded by name."""
        values, scaler = getattr(data, role), getattr(self, role)
        specs = getattr(scaler, "specs", None)
        if values is None or specs is None:
            return values
        return recode(values, data.specs(role), specs, data.source, role)

    def conditions(self, data: Table | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``data``'s z and zc on the model's scale (each as it is where its scaler is ``None``)."""
        if data is None:
            return None, None
        out = []
        for role in ("z", "zc"):
            values, scaler = self.codes(data, role), getattr(self, role)
            out.append(values if values is None or scaler is None else scaler.forward(values))
        return out[0], out[1]

    def checked_conditions(self, model: Any, data: Table) -> tuple[np.ndarray | None, np.ndarray | None]:
        """:meth:`conditions`, checked against ``model``: the widths in the user's units where the
        conditions are numbers, the columns and categories by name where they are typed, and those
        the model needs present."""
        if not any(isinstance(s, MixedConditions) for s in (self.z, self.zc)):
            model.validate(None, data.z, data.zc)
        z, zc = self.conditions(data)
        model.validate(None, z, zc)
        return z, zc

    def training_rows(self, data: Table, seed: int) -> np.ndarray:
        """The x rows a model fits: a table's bounded ends spread over their edge bands and its
        integers and categories drawn inside their cells (seeded, so a resumed fit sees the same rows);
        images as they are."""
        x = self.codes(data, "x")
        if isinstance(self.x, PixelScale):
            return self.x.forward(x)
        return self.x.forward(x, rng=np.random.default_rng([seed, 31]))

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x.to_dict(), "z": None if self.z is None else self.z.to_dict(),
                "zc": None if self.zc is None else self.zc.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, model: Any, where: str) -> Scaling:
        """Read (and check against ``model``'s widths) a ``scaling.json``."""
        if not isinstance(d, dict) or set(d) != {"x", "z", "zc"}:
            raise CheckpointError(f"{where} must map x, z and zc to their scaling",
                                  "re-create the run (scaling.json is written by fit-source / fit-target)")
        entry = d["x"] if isinstance(d["x"], dict) else {}
        reader = PixelScale if "image_shape" in entry else MixedTransform if "columns" in entry else ColumnTransform
        x = reader.from_dict(d["x"], model.x_dim, where)
        conditions = []
        for key, width in (("z", model.z_dim), ("zc", getattr(model, "given_zc_dim", model.zc_dim))):
            entry = d[key]
            if entry is None:
                conditions.append(None)
            else:
                reader = MixedConditions if isinstance(entry, dict) and "columns" in entry else Standardize
                conditions.append(reader.from_dict(entry, width, f"{where}: the scaling of {key}"))
        return cls(x, *conditions)
