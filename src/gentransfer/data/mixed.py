"""Typed columns on a model's continuous scale, and back: integers, categories, booleans.

Both model families are densities on real vectors, so a discrete column is *dequantised*, as
flows on discrete data are (Theis et al. 2016; argmax flows, Hoogeboom et al. 2021), and the same
encoding serves diffusion (which, like TabDDPM's Gaussian half, then models every column on one
continuous scale):

- an **integer** column ``k`` becomes ``k + u``, ``u ~ U[0, 1)`` for the rows a model trains on
  (``k + 0.5`` otherwise), bounded to ``[min, max + 1)`` through the logit of
  :class:`~gentransfer.data.columns.ColumnTransform`; a sample is floored, so it comes back a whole
  number inside the range seen;
- a **categorical** (or boolean) column with ``K`` categories becomes ``K`` columns, a box per
  category: category ``c`` is a point with coordinate ``c`` in ``(0, 1)`` and every other in
  ``(-1, 0)``, drawn uniformly in training (the box's centre otherwise). The box's argmax is
  ``c``, so a sample's category is the argmax of its block: only categories seen in the data come
  back. Each box has volume 1, so the model's density there is a lower bound on the category's
  probability (uniform dequantisation);
- a **continuous** column goes through :class:`ColumnTransform` as in an untyped table.

:class:`MixedTransform` is the x side of a typed table's scales; :class:`MixedConditions` the z or
zc side (categories one-hot, numbers standardised: conditions are inputs, not modelled). Both carry
their columns' :class:`~gentransfer.data.schema.ColumnSpec` and re-code another table's categories
by name (:func:`recode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gentransfer.data.columns import ColumnTransform, Standardize
from gentransfer.data.schema import ColumnSpec
from gentransfer.errors import CheckpointError, DataError

__all__ = ["MixedTransform", "MixedConditions", "recode", "union_codes", "one_hot_scaled", "stack_tables"]

FIX = "re-create the run (scaling.json is written by fit-source / fit-target)"


def recode(codes: np.ndarray, given: tuple[ColumnSpec, ...] | None, fitted: tuple[ColumnSpec, ...], source: str,
           role: str) -> np.ndarray:
    """``codes`` of the columns ``given`` (a table's own categories) as codes of the columns
    ``fitted`` (a run's): the same columns by name and type; a category the run never saw is a
    one-line error naming it."""
    names = [c.name for c in fitted]
    if given is None:
        if any(c.discrete for c in fitted):
            raise DataError(f"{source}: {role} has no typed columns, but the run models {role} columns {names} with "
                            "categories", "pass a .csv file with the same columns as the run's data")
        return codes
    if [c.name for c in given] != names:
        raise DataError(f"{source}: {role} columns are {[c.name for c in given]}, but the run's are {names}",
                        f"name the run's {role} columns, in its order")
    out = np.array(codes, dtype=np.float64, copy=True)
    for j, (mine, theirs) in enumerate(zip(given, fitted, strict=True)):
        if theirs.discrete != mine.discrete:
            raise DataError(f"{source}: column {mine.name!r} is {mine.kind} here but {theirs.kind} in the run",
                            f"declare it {theirs.kind} (--{theirs.kind}-columns {mine.name})")
        if not theirs.discrete:
            continue
        unseen = sorted({mine.categories[int(k)] for k in codes[:, j]} - set(theirs.categories))
        if unseen:
            raise DataError(f"{source}: column {mine.name!r} has categories {unseen[:5]} the run never saw "
                            f"(it knows {list(theirs.categories)[:8]})", "drop those rows, or fit the run with them")
        index = {c: i for i, c in enumerate(theirs.categories)}
        out[:, j] = [index[mine.categories[int(k)]] for k in codes[:, j]]
    return out


def union_codes(a: Any, b: Any, role: str = "x") -> tuple[tuple[ColumnSpec, ...], np.ndarray, np.ndarray]:
    """Two typed tables' ``role`` columns on one coding: the same columns by name (and kind), each
    category's code its place among the categories of both tables."""
    sa, sb = a.specs(role), b.specs(role)
    if sa is None or sb is None or [c.name for c in sa] != [c.name for c in sb]:
        names = [[c.name for c in s] if s else None for s in (sa, sb)]
        raise DataError(f"{a.source} and {b.source} have different {role} columns ({names[0]} and {names[1]})",
                        f"give both files the same {role} columns")
    va, vb = getattr(a, role), getattr(b, role)
    specs, xa, xb = [], np.array(va, copy=True), np.array(vb, copy=True)
    for j, (ca, cb) in enumerate(zip(sa, sb, strict=True)):
        if ca.discrete != cb.discrete:
            raise DataError(f"column {ca.name!r} is {ca.kind} in {a.source} but {cb.kind} in {b.source}",
                            f"declare it the same in both (--{ca.kind}-columns {ca.name})")
        if not ca.discrete:
            specs.append(ca)
            continue
        union = tuple(sorted(set(ca.categories) | set(cb.categories)))
        index = {c: i for i, c in enumerate(union)}
        xa[:, j] = [index[ca.categories[int(k)]] for k in va[:, j]]
        xb[:, j] = [index[cb.categories[int(k)]] for k in vb[:, j]]
        specs.append(ColumnSpec(ca.name, ca.kind, union))
    return tuple(specs), xa, xb



def one_hot_scaled(codes: np.ndarray, specs, sd: np.ndarray) -> np.ndarray:
    """Columns of ``codes`` (rows x columns) on one numeric scale: a categorical one (``specs``,
    from :func:`union_codes`; ``None``: none is) one-hot over its categories, any other over its ``sd``."""
    return np.concatenate([np.eye(len(specs[j].categories))[codes[:, j].astype(int)]
                           if specs is not None and specs[j].discrete else codes[:, j:j + 1] / sd[j]
                           for j in range(codes.shape[1])], axis=1)

def stack_tables(a: Any, b: Any) -> Any:
    """The rows of table ``a`` then those of ``b`` as one table: the same roles, widths and (for typed
    tables) columns by name, each categorical column coded over the categories of both."""
    from dataclasses import replace

    arrays, columns = {}, {}
    for role in ("x", "z", "zc"):
        va, vb = getattr(a, role), getattr(b, role)
        if (va is None) != (vb is None):
            have, lack = (a, b) if vb is None else (b, a)
            raise DataError(f"{have.source} has {role} columns but {lack.source} has none",
                            f"give both files the same {role} columns")
        if va is None:
            continue
        if (a.specs(role) is None) != (b.specs(role) is None):
            raise DataError(f"{a.source} and {b.source} differ in kind (a typed .csv and an .npz file)",
                            "give both tasks' rows in the same kind of file")
        if a.specs(role) is not None:
            specs, va, vb = union_codes(a, b, role)
            # each file's types were read from its own values: a column integer in one and continuous in
            # the other is continuous (categorical where boolean meets categorical)
            wider = lambda c: replace(c, kind="categorical" if c.discrete else "continuous")  # noqa: E731
            columns[role] = tuple(wider(c) if c.kind != theirs.kind else c
                                  for c, theirs in zip(specs, b.specs(role), strict=True))
        elif va.shape[1] != vb.shape[1]:
            raise DataError(f"{role} has {va.shape[1]} columns in {a.source} but {vb.shape[1]} in {b.source}",
                            f"give both files the same {role} columns")
        arrays[role] = np.concatenate([va, vb])
    return replace(b, **arrays, y=None, source=f"{a.source} and {b.source}", columns=columns or None)


def _blocks(specs: tuple[ColumnSpec, ...]) -> list[tuple[int, int]]:
    """``(data column, number of categories)`` of each discrete column."""
    return [(j, len(c.categories)) for j, c in enumerate(specs) if c.discrete]


@dataclass
class MixedTransform:
    """A typed table's x (codes, N x width) <-> the model's columns (numbers, then category boxes).

    Attributes:
        specs: each data column's spec.
        numeric: the :class:`ColumnTransform` of the continuous and integer columns (integers
            dequantised, bounded to ``[min, max + 1)``).
    """

    specs: tuple[ColumnSpec, ...]
    numeric: ColumnTransform | None

    @property
    def width(self) -> int:
        return len(self.specs)

    @property
    def numbers(self) -> list[int]:
        return [j for j, c in enumerate(self.specs) if not c.discrete]

    @property
    def model_width(self) -> int:
        return (self.numeric.model_width if self.numeric else 0) + sum(k for _, k in _blocks(self.specs))

    @classmethod
    def fit(cls, x: np.ndarray, specs: tuple[ColumnSpec, ...], bounds: str | tuple[float, float] = "auto",
            source: str = "data") -> MixedTransform:
        """The transform of ``x`` (codes) with columns ``specs``."""
        numbers = [j for j, c in enumerate(specs) if not c.discrete]
        if not numbers:
            return cls(tuple(specs), None)
        centred = _dequantised(x, specs, numbers, None)
        ints = {k: (float(x[:, j].min()), float(x[:, j].max()) + 1.0)
                for k, j in enumerate(numbers) if specs[j].kind == "integer"}
        return cls(tuple(specs), ColumnTransform.fit(centred, bounds, source, fixed=ints))

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Codes (N x width) -> model space; with ``rng`` (training rows) integers and categories are
        drawn inside their cells, without it at the cells' centres."""
        x = np.asarray(x, dtype=np.float64)
        parts = []
        if self.numeric is not None:
            parts.append(self.numeric.forward(_dequantised(x, self.specs, self.numbers, rng), rng))
        for j, k in _blocks(self.specs):
            codes = x[:, j].astype(int)
            box = rng.uniform(-1.0, 0.0, (len(x), k)) if rng is not None else np.full((len(x), k), -0.5)
            box[np.arange(len(x)), codes] += 1.0
            parts.append(box)
        return np.concatenate(parts, axis=1)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """Model space -> codes: integers floored into their range, each category the argmax of its box."""
        u = np.asarray(u, dtype=np.float64)
        x = np.empty((len(u), self.width))
        start = 0
        if self.numeric is not None:
            start = self.numeric.model_width
            values = self.numeric.inverse(u[:, :start])
            for k, j in enumerate(self.numbers):
                if self.specs[j].kind == "integer":  # bounded to [min, max + 1): floored into [min, max]
                    values[:, k] = np.floor(values[:, k])
                    if self.numeric.upper[k] is not None:
                        values[:, k] = np.clip(values[:, k], self.numeric.lower[k], self.numeric.upper[k] - 1.0)
                x[:, j] = values[:, k]
        for j, k in _blocks(self.specs):
            x[:, j] = u[:, start:start + k].argmax(axis=1)
            start += k
        return x

    def log_abs_det(self, x: np.ndarray) -> np.ndarray:
        """``log |d forward / dx|`` per row at the cells' centres (a category's box adds 0)."""
        if self.numeric is None:
            return np.zeros(len(x))
        return self.numeric.log_abs_det(_dequantised(np.asarray(x, dtype=np.float64), self.specs, self.numbers, None))

    def describe(self) -> dict[str, Any]:
        d = self.numeric.describe() if self.numeric else {"constant_columns": [], "bounded_columns": []}
        to_data = self.numbers
        return {"columns": [c.to_dict() for c in self.specs],
                "constant_columns": [to_data[k] for k in d["constant_columns"]],
                "bounded_columns": [to_data[k] for k in d["bounded_columns"]], "modelled_columns": self.model_width}

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.specs],
                "numeric": None if self.numeric is None else self.numeric.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, model_width: int, where: str) -> MixedTransform:
        try:
            specs = tuple(ColumnSpec.from_dict(c) for c in d["columns"])
            numbers = sum(not c.discrete for c in specs)
            numeric = None if d["numeric"] is None else ColumnTransform.from_dict(
                d["numeric"], model_width - sum(k for _, k in _blocks(specs)), where)
            ok = (numeric is None) == (numbers == 0) and (numeric is None or numeric.width == numbers)
        except (TypeError, ValueError, KeyError, CheckpointError):
            ok = False
        if not ok:
            raise CheckpointError(f"{where}: the typed scaling of x does not fit the model's {model_width} columns",
                                  FIX)
        return cls(specs, numeric)


def _dequantised(x: np.ndarray, specs: tuple[ColumnSpec, ...], numbers: list[int],
                 rng: np.random.Generator | None) -> np.ndarray:
    """The continuous and integer columns, integers moved into their cell ``[k, k + 1)``."""
    out = np.array(x[:, numbers], dtype=np.float64, copy=True)
    for k, j in enumerate(numbers):
        if specs[j].kind == "integer":
            out[:, k] += rng.uniform(0.0, 1.0, len(out)) if rng is not None else 0.5
    return out


@dataclass(frozen=True)
class MixedConditions:
    """Typed conditions (z or zc) as the model's input: categories one-hot, numbers standardised."""

    specs: tuple[ColumnSpec, ...]
    numeric: Standardize | None

    @property
    def width(self) -> int:
        return sum(len(c.categories) if c.discrete else 1 for c in self.specs)

    @classmethod
    def fit(cls, a: np.ndarray, specs: tuple[ColumnSpec, ...], name: str, source: str) -> MixedConditions:
        numbers = [j for j, c in enumerate(specs) if not c.discrete]
        return cls(tuple(specs), Standardize.fit(a[:, numbers], name, source) if numbers else None)

    def forward(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        numbers = [j for j, c in enumerate(self.specs) if not c.discrete]
        scaled = self.numeric.forward(a[:, numbers]) if self.numeric is not None else None
        parts, k = [], 0
        for j, c in enumerate(self.specs):
            if c.discrete:
                parts.append(np.eye(len(c.categories))[a[:, j].astype(int)])
            else:
                parts.append(scaled[:, k:k + 1])
                k += 1
        return np.concatenate(parts, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.specs],
                "numeric": None if self.numeric is None else self.numeric.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, width: int, where: str) -> MixedConditions:
        try:
            specs = tuple(ColumnSpec.from_dict(c) for c in d["columns"])
            numbers = sum(not c.discrete for c in specs)
            numeric = None if d["numeric"] is None else Standardize.from_dict(d["numeric"], numbers, where)
            made = cls(specs, numeric)
            ok = made.width == width and (numeric is None) == (numbers == 0)
        except (TypeError, ValueError, KeyError, CheckpointError):
            ok = False
        if not ok:
            raise CheckpointError(f"{where} does not fit the model's {width} condition columns", FIX)
        return made
