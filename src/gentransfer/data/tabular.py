"""User data: ``.npz`` (arrays ``x`` and optional ``z`` / ``zc`` / ``y``) or ``.csv`` (named columns).

``x`` is what is generated, ``z`` the shared block of the conditions, ``zc`` the task-specific
block and ``y`` an optional label. Everything is validated here, at the boundary: later code can
trust a :class:`Table`.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gentransfer.data.schema import KINDS, ColumnSpec, infer_column, is_missing, parse_number
from gentransfer.data.table import Table
from gentransfer.errors import DataError

__all__ = ["Table", "Columns", "load_table", "validate_array"]

_ROLES = ("x", "z", "zc", "y")


@dataclass
class Columns:
    """Which columns of a ``.csv`` file hold each role, and their types (an ``.npz`` file names its
    arrays instead, and every column of it is continuous).

    Attributes:
        x_columns: CSV columns of x (default: every column not named in another role or dropped).
        z_columns: CSV columns of the shared condition block z.
        zc_columns: CSV columns of the task-specific conditions zc.
        categorical_columns: columns to model as categories (default: inferred from the values).
        integer_columns: columns to model as whole numbers (default: inferred).
        boolean_columns: columns to model as true / false (default: inferred).
        continuous_columns: columns to model as real numbers (default: inferred).
        drop_columns: columns to leave out (free text, identifiers).
        missing: what an empty or NA cell does: error (one line naming the columns and counts) or
            drop (leave its row out).
    """

    x_columns: list[str] | None = None
    z_columns: list[str] | None = None
    zc_columns: list[str] | None = None
    categorical_columns: list[str] | None = None
    integer_columns: list[str] | None = None
    boolean_columns: list[str] | None = None
    continuous_columns: list[str] | None = None
    drop_columns: list[str] | None = None
    missing: Literal["error", "drop"] = "error"

    def load(self, path: str | os.PathLike[str], *, require_x: bool = True) -> Table:
        """:func:`load_table` with these columns and types."""
        return load_table(path, x=self.x_columns, z=self.z_columns, zc=self.zc_columns, require_x=require_x,
                          types=self.types(), drop=self.drop_columns, missing=self.missing)

    def types(self) -> dict[str, str]:
        """Column name -> declared type; a column declared twice is an error."""
        types: dict[str, str] = {}
        for kind in KINDS:
            for name in getattr(self, f"{kind}_columns") or ():
                if name in types and types[name] != kind:
                    raise DataError(f"column {name!r} is declared both {types[name]} and {kind}", "declare it once")
                types[name] = kind
        return types

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def or_recorded(self, recorded: dict[str, Any], path: str | os.PathLike[str] | None,
                    roles: tuple[str, ...] = ("x", "z", "zc")) -> Columns:
        """These columns, or, when none is named and ``path`` is a CSV file, those a run recorded
        (``recorded``: its config) for ``roles``, with the declared types of their columns: a target,
        its samples' conditions (``roles=("z", "zc")``) and its test rows keep the source's roles and
        types unless told otherwise."""
        given = {k: v for k, v in asdict(self).items() if k != "missing"}
        if any(v is not None for v in given.values()) or path is None or not str(path).lower().endswith(".csv"):
            return self
        # without x, only the condition columns' types apply (x's may name columns the file lacks)
        names = None if "x" in roles else {c for r in roles for c in recorded.get(f"{r}_columns") or []}
        kept: dict[str, list[str]] = {}
        for key in given:
            values = recorded.get(key)
            if not isinstance(values, list):
                continue
            if key in ("x_columns", "z_columns", "zc_columns"):
                if key.removesuffix("_columns") in roles:
                    kept[key] = values
            elif names is None or any(c in names for c in values):
                kept[key] = values if names is None else [c for c in values if c in names]
        return Columns(**kept, missing=self.missing) if kept else self


def validate_array(a: object, name: str, source: str, *, ndim: int = 2) -> np.ndarray:
    """Return ``a`` as a finite float64 array with ``ndim`` dims (1-D columns become N x 1)."""
    if np.iscomplexobj(a):  # numpy would drop the imaginary part with only a warning
        raise DataError(f"{source}: '{name}' holds complex numbers", "store real numbers (e.g. real and "
                        "imaginary parts as two columns)")
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{source}: '{name}' is not numeric ({err})", "store numbers only") from None
    if ndim == 2 and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != ndim:
        raise DataError(
            f"{source}: '{name}' has {arr.ndim} dimensions, expected {ndim}",
            "store one row per sample" + (" and one column per feature" if ndim == 2 else ""),
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise DataError(f"{source}: '{name}' is empty", "provide at least one row with values")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=tuple(range(1, arr.ndim))).sum())
        raise DataError(f"{source}: '{name}' has NaN or inf in {bad} rows", "drop or impute those rows")
    return arr


def _finish(arrays: dict[str, object], source: str, require_x: bool = True) -> Table:
    if not require_x and not any(arrays.get(r) is not None for r in _ROLES):
        raise DataError(f"{source} holds no conditions", "store arrays 'z' / 'zc' (npz) or name their columns (csv)")
    if require_x and "x" not in arrays:
        raise DataError(
            f"{source} has no 'x' data", "name the generated variables 'x' (npz) or pass x columns (csv)"
        )
    checked = {
        role: validate_array(arrays[role], role, source, ndim=1 if role == "y" else 2)
        for role in _ROLES
        if arrays.get(role) is not None
    }
    first = next(iter(checked))
    n = len(checked[first])
    for role, arr in checked.items():
        if len(arr) != n:
            raise DataError(
                f"{source}: '{role}' has {len(arr)} rows but '{first}' has {n}",
                "give every array one row per sample",
            )
    y = checked.get("y")
    if y is not None:
        if not np.all(y == np.round(y)):
            raise DataError(f"{source}: labels 'y' are not whole numbers", "store integer class labels")
        checked["y"] = y.astype(np.int64)
    return Table(source=source, **checked)


def _check_npz_sizes(path: Path) -> None:
    """Refuse an array whose header claims more data than its file holds, before numpy allocates it."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(fh)
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > info.file_size:
                    raise DataError(f"{path}: array '{info.filename[:-4]}' claims shape {shape} "
                                    f"({claimed:,} bytes) but the file holds {info.file_size:,}",
                                    "the file is corrupt or truncated: save it again with numpy.savez")


def _load_npz(path: Path, require_x: bool = True) -> Table:
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, MemoryError) as err:
        raise DataError(f"{path} is not a readable .npz file ({err})", "save it with numpy.savez") from None
    if require_x and np.ndim(arrays.get("x")) == 4:  # N x C x H x W: images, class labels in z
        from gentransfer.data.images import image_table

        extra = sorted(set(arrays) - {"x", "z"})
        if extra:
            raise DataError(f"{path} holds images (x is 4-D) and arrays {extra}", "keep only x and class labels z")
        return image_table(arrays["x"], arrays.get("z"), str(path))
    unknown = sorted(set(arrays) - set(_ROLES))
    if unknown:
        raise DataError(f"{path} has unexpected arrays {unknown}", f"keep only arrays named {list(_ROLES)}")
    return _finish(arrays, str(path), require_x)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the non-blank rows of a CSV file (a byte-order mark dropped)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path} is not a readable text .csv file ({err})", "save it as UTF-8 CSV") from None
    if not rows or not rows[0]:
        raise DataError(f"{path} is empty", "write a header row of column names and data rows")
    header = [h.strip() for h in rows[0]]
    if all(parse_number(h) is not None for h in header):
        raise DataError(f"the first row of {path} holds numbers, not column names",
                        f"add a header row of names (e.g. {','.join(f'x{i}' for i in range(min(3, len(header))))})")
    if any(not h for h in header):
        raise DataError(f"{path} has a column without a name (column {header.index('') + 1})", "name every column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path} has duplicate column names {dupes}", "give every column a unique name")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if not body:
        raise DataError(f"{path} has a header but no data rows", "add at least one data row")
    for i, r in enumerate(body, 2):
        if len(r) != len(header):
            raise DataError(f"{path} line {i} has {len(r)} fields, header has {len(header)}", "fix that row")
    return header, body


def _load_csv(path: Path, columns: dict[str, Sequence[str] | None], types: dict[str, str], drop: Sequence[str],
              missing: str, require_x: bool = True) -> Table:
    header, body = _read_csv(path)
    named = {c for cols in columns.values() if cols for c in cols}
    unknown = sorted((named | set(types) | set(drop)) - set(header))
    if unknown:
        raise DataError(f"{path} has no columns {unknown}; it has {header}", "pick columns from the header")
    if not columns.get("x") and require_x:
        columns = {**columns, "x": [h for h in header if h not in named and h not in drop]}
    used = [c for cols in columns.values() if cols for c in cols]
    body = _rows_without_missing(path, header, body, used, missing)
    arrays: dict[str, object] = {}
    specs: dict[str, tuple[ColumnSpec, ...]] = {}
    for role, cols in columns.items():
        if not cols:
            continue
        coded = [infer_column(c, [r[header.index(c)] for r in body], types.get(c), str(path)) for c in cols]
        block = np.stack([values for _, values in coded], axis=1)
        arrays[role] = block[:, 0] if role == "y" else block
        specs[role] = tuple(spec for spec, _ in coded)
    return replace(_finish(arrays, str(path), require_x), columns={r: s for r, s in specs.items() if r != "y"},
                   header=tuple(h for h in header if h in used))


def _rows_without_missing(path: Path, header: list[str], body: list[list[str]], used: list[str],
                          missing: str) -> list[list[str]]:
    """The rows with a value in every used column; with ``missing="error"``, one line naming the
    columns with empty or NA cells and their counts."""
    index = [header.index(c) for c in used]
    holes = {c: sum(is_missing(r[j]) for r in body) for c, j in zip(used, index, strict=True)}
    holes = {c: n for c, n in holes.items() if n}
    if not holes:
        return body
    if missing != "drop":
        listed = ", ".join(f"{c} ({n})" for c, n in holes.items())
        raise DataError(f"{path} has missing values in {listed}",
                        "pass --missing drop to leave those rows out, or fill them in")
    kept = [r for r in body if not any(is_missing(r[j]) for j in index)]
    if not kept:
        raise DataError(f"{path}: every row has a missing value", "fill them in, or choose other columns")
    return kept


def _check_column_names(named: dict[str, list[str]], path: Path) -> None:
    """Each column may be named once, in one role (else data would silently move between roles)."""
    seen: dict[str, str] = {}
    for role, cols in named.items():
        for c in cols:
            if not isinstance(c, str) or not c:
                raise DataError(f"column names must be non-empty strings, got {c!r} for {role}", "name CSV columns")
            if c in seen:
                where = f"twice in {role}" if seen[c] == role else f"in both {seen[c]} and {role}"
                raise DataError(f"column {c!r} of {path} is named {where}", "name each column once, in one role")
            seen[c] = role


def load_table(
    path: str | os.PathLike[str],
    *,
    x: Sequence[str] | None = None,
    z: Sequence[str] | None = None,
    zc: Sequence[str] | None = None,
    y: str | None = None,
    require_x: bool = True,
    types: dict[str, str] | None = None,
    drop: Sequence[str] | None = None,
    missing: str = "error",
) -> Table:
    """Load and validate user data.

    Args:
        path: a ``.npz`` file (arrays ``x`` and optional ``z``, ``zc``, ``y``; an ``x`` of
            ``N x C x H x W`` images with class labels ``z``), a ``.csv`` file with a header row, or
            a folder of PNG images (:func:`gentransfer.data.images.load_image_folder`).
        x, z, zc: CSV column names of each role; ``x`` defaults to every column not named in
            another role. Each column at most once; an error for ``.npz`` (its arrays are the roles).
        y: CSV column name of an integer label.
        require_x: ``False`` for files of conditions only (``z`` / ``zc``), as ``sample --cond`` reads.
        types: CSV column name -> declared type (continuous, integer, categorical, boolean); the
            others are inferred (:mod:`gentransfer.data.schema`).
        drop: CSV columns left out.
        missing: ``"error"`` (an empty or NA cell is a one-line error) or ``"drop"`` (its row is
            left out).

    Raises:
        DataError: missing or unreadable file, unsupported format, NaN/inf, empty data,
            mismatched lengths, duplicate or unknown column names.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
        >>> np.savez(p, x=np.zeros((3, 2)), z=np.ones(3))
        >>> t = load_table(p); t.x.shape, t.z.shape
        ((3, 2), (3, 1))
    """
    p = Path(path)
    if p.is_dir() and require_x:
        if any(cols for cols in (x, z, zc, y)):
            raise DataError(f"columns were named, but {p} is a folder of images", "drop the column options")
        from gentransfer.data.images import load_image_folder

        return load_image_folder(p)
    if not p.is_file():
        raise DataError(f"data file not found: {p}", "check the path")
    suffix = p.suffix.lower()
    named = {role: list(cols) for role, cols in (("x", x), ("z", z), ("zc", zc), ("y", [y] if y else None)) if cols}
    if suffix == ".npz":
        if named or types or drop:
            raise DataError(f"columns {sorted(named)} were named, but {p} is an .npz file whose arrays are its roles",
                            "drop the column options (they name .csv columns), or store arrays x, z, zc")
        return _load_npz(p, require_x)
    if suffix == ".csv":
        _check_column_names({**named, **({"drop": list(drop)} if drop else {})}, p)
        return _load_csv(p, {"x": x, "z": z, "zc": zc, "y": [y] if y else None}, types or {}, list(drop or ()),
                         missing, require_x)
    raise DataError(f"unsupported data format '{p.suffix}' for {p}", "use a .npz or .csv file")
