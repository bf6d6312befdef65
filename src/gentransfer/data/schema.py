"""The types of a table's columns: continuous, integer, categorical or boolean; inferred, or declared.

A CSV column arrives as text. :func:`infer_column` decides its type the way SDV's metadata
detection does, from the values themselves:

- ``true`` / ``false`` (any case) only: **boolean**;
- numbers only: **integer** when every value is written as a whole number (``12``, ``-3``; not
  ``12.0``), else **continuous**; a whole number beyond 2^53 cannot be held exactly in a float, so
  such a column is refused as an identifier;
- anything else: **categorical** when its values repeat (at most ``MAX_CATEGORIES`` distinct ones,
  and, from 20 rows on, on average at least twice each), else refused: free text or identifiers
  are not modelled.

A declared type (``--categorical-columns`` ...) wins over the inferred one. Values are coded for
the model: a categorical or boolean column holds the index of its value among the column's
categories (sorted: numbers by value, text alphabetically; booleans false, true), an integer column
its integer value. :class:`ColumnSpec` records a column's name, type and categories, so samples
come back as the user's values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gentransfer.errors import DataError

__all__ = ["ColumnSpec", "ColumnKind", "KINDS", "MISSING", "MAX_CATEGORIES", "infer_column", "parse_number",
           "is_missing"]

ColumnKind = Literal["continuous", "integer", "categorical", "boolean"]
KINDS: tuple[str, ...] = ("continuous", "integer", "categorical", "boolean")
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})  # lower-cased, stripped
MAX_CATEGORIES = 100
EXACT_INT = 2**53  # the largest integers a float64 holds exactly
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")  # no "1_000", "inf", "nan", "0x1f"
_WHOLE = re.compile(r"^[+-]?\d+$")
_BOOLEAN = {"false": 0, "true": 1}
_INFINITE = re.compile(r"^[+-]?inf(inity)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, type and, for a categorical or boolean one, its categories in code order."""

    name: str
    kind: str = "continuous"
    categories: tuple[str, ...] | None = None

    @property
    def discrete(self) -> bool:
        """Categorical or boolean: modelled by category, not by value."""
        return self.kind in ("categorical", "boolean")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "categories": None if self.categories is None
                else list(self.categories)}

    @classmethod
    def from_dict(cls, d: Any) -> ColumnSpec:
        if not (isinstance(d, dict) and isinstance(d.get("name"), str) and d.get("kind") in KINDS
                and (d.get("categories") is None or isinstance(d["categories"], list))):
            raise ValueError(f"not a column: {d!r}")
        categories = d.get("categories")
        return cls(d["name"], d["kind"], None if categories is None else tuple(str(c) for c in categories))

    def describe(self, codes: np.ndarray) -> str:
        """One phrase for the printed summary, e.g. ``region categorical (4: midwest, ...)``."""
        if self.discrete:
            shown = ", ".join(self.categories[:4]) + (", ..." if len(self.categories) > 4 else "")
            return f"{self.name} {self.kind} ({len(self.categories)}: {shown})"
        if self.kind == "integer":
            return f"{self.name} integer ({int(codes.min())}..{int(codes.max())})"
        return f"{self.name} continuous"


def is_missing(value: str) -> bool:
    return value.strip().lower() in MISSING


def parse_number(text: str) -> float | None:
    """``text`` as a number if it is written as one (strictly: no ``1_000``, ``inf`` or ``nan``)."""
    t = text.strip()
    return float(t) if _NUMBER.match(t) else None


def _category_order(values: set[str]) -> list[str]:
    numbers = {v: parse_number(v) for v in values}
    if all(n is not None for n in numbers.values()):
        return sorted(values, key=lambda v: (numbers[v], v))
    return sorted(values)


def infer_column(name: str, values: Sequence[str], declared: str | None, source: str) -> tuple[ColumnSpec, np.ndarray]:
    """The column's spec and its coded values (float64), from its text ``values`` (no missing ones).

    ``declared`` is the user's type for it, if any. Raises a one-line :class:`DataError` for a
    column that is none of the four types (free text, identifiers, huge integers) or does not fit
    its declared type.
    """
    stripped = [v.strip() for v in values]
    infinite = sum(bool(_INFINITE.match(v)) for v in stripped)
    if infinite:
        raise DataError(f"{source}: column {name!r} has infinite values in {infinite} rows", "drop or fix those rows")
    distinct = set(stripped)
    numbers = [parse_number(v) for v in stripped]
    numeric = all(n is not None for n in numbers)
    kind = declared or _inferred_kind(name, stripped, distinct, numeric, source)
    if kind in ("continuous", "integer"):
        if not numeric:
            bad = next(v for v, n in zip(stripped, numbers, strict=True) if n is None)
            raise DataError(f"{source}: column {name!r} is declared {kind} but holds {bad!r}",
                            f"declare it categorical (--categorical-columns {name}), or fix the value")
        coded = np.asarray(numbers, dtype=np.float64)
        if not np.isfinite(coded).all():
            raise DataError(f"{source}: column {name!r} has values too large for a float", "rescale it")
        if kind == "integer" and not np.all(coded == np.round(coded)):
            raise DataError(f"{source}: column {name!r} is declared integer but holds fractions",
                            f"declare it continuous (--continuous-columns {name})")
        if kind == "integer" and np.abs(coded).max() >= EXACT_INT:
            raise DataError(f"{source}: column {name!r} holds integers beyond 2^53, which a float cannot hold exactly "
                            "(an identifier?)", f"drop it (--drop-columns {name}) or rescale it")
        return ColumnSpec(name, kind), coded
    if kind == "boolean":
        lowered = [v.lower() for v in stripped]
        if not set(lowered) <= set(_BOOLEAN) and not set(stripped) <= {"0", "1"}:
            raise DataError(f"{source}: column {name!r} is declared boolean but holds {sorted(distinct)[:4]}",
                            "use true/false or 0/1, or declare it categorical")
        coded = np.asarray([_BOOLEAN.get(v, None) if v in _BOOLEAN else int(v) for v in lowered], dtype=np.float64)
        return ColumnSpec(name, "boolean", ("false", "true")), coded
    order = _category_order(distinct)
    if len(order) > MAX_CATEGORIES and declared != "categorical":
        raise DataError(f"{source}: column {name!r} has {len(order)} categories", f"drop it (--drop-columns {name})")
    index = {v: i for i, v in enumerate(order)}
    return ColumnSpec(name, "categorical", tuple(order)), np.asarray([index[v] for v in stripped], dtype=np.float64)


def _inferred_kind(name: str, values: list[str], distinct: set[str], numeric: bool, source: str) -> str:
    if {v.lower() for v in distinct} <= set(_BOOLEAN):
        return "boolean"
    if numeric:
        whole = all(_WHOLE.match(v) for v in values)
        if whole and any(abs(int(v)) >= EXACT_INT for v in distinct):
            raise DataError(f"{source}: column {name!r} holds whole numbers beyond 2^53, which a float cannot hold "
                            "exactly (an identifier?)", f"drop it (--drop-columns {name}), or declare it continuous")
        return "integer" if whole else "continuous"
    if len(distinct) > MAX_CATEGORIES or (len(values) >= 20 and len(distinct) > len(values) / 2):
        raise DataError(f"{source}: column {name!r} looks like free text or an identifier ({len(distinct)} distinct "
                        f"values in {len(values)} rows)",
                        f"drop it (--drop-columns {name}), or declare it categorical (--categorical-columns {name})")
    return "categorical"
