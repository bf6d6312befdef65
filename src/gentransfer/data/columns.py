"""How a table's columns map to a model's space, and back: the x side of a run's ``scaling.json``.

Real tables have columns a density model should not see as they are:

- **constant** columns (a pixel that is always 0): left out of the model and restored exactly;
- **bounded** columns (intensities on 0-16, shares in [0, 1]): mapped through a logit of their
  position in ``[lower, upper]``, so every generated value lies inside the range *by
  construction* (the inverse is a sigmoid), not by clipping afterwards;
- every modelled column is then standardised.

Bounds come from ``--bounds``: ``auto`` (the default) bounds a column by its observed range when
its values pile up at an edge (at least 1% of the rows, and 2 or more, equal its minimum or its
maximum: pixel intensities, percentages, clipped counts), and when more than half of the
modelled columns pile up so, the table is taken to be on one scale and every other column is
bounded by the range the piled ones span (a central pixel that never reaches 0 is still an
intensity); ``none`` bounds nothing; ``LO:HI`` bounds every column by the same known range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gentransfer.errors import CheckpointError, ConfigError, DataError

__all__ = ["ColumnTransform", "Standardize", "parse_bounds", "check_spread", "EDGE"]

EDGE = 0.01  # a bounded value within EDGE of its range's ends (as a share of the range) sits at the end
PILE = 0.01  # auto: the share of rows at an edge that marks a column as bounded
SAME_SCALE = 0.25  # auto: an unpiled column shares a table's one scale when its range spans this much of it
SPREAD = 0.1  # training rows at an end are spread over [SPREAD * EDGE, EDGE] of the range next to it


def check_spread(a: np.ndarray, name: str, source: str) -> None:
    """One line for columns of ``a`` that vary (min < max) by too little to standardise: their
    standard deviation underflows to 0 or to a subnormal number (values near 1e-320, or a spread
    below about 1e-154, whose squares underflow)."""
    lo, hi = a.min(axis=0), a.max(axis=0)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):  # overflow is the callers' own error
        sd = a.std(axis=0)
    bad = [j for j in range(a.shape[1]) if lo[j] < hi[j] and sd[j] < np.finfo(np.float64).tiny]
    if bad:
        spread = max(float(hi[j] - lo[j]) for j in bad)
        raise DataError(f"{source}: {name} columns {bad[:5]} vary by at most {spread:.3g}, too little to standardise "
                        "(their spread underflows)", f"rescale {name} (e.g. change its units)")


def parse_bounds(text: str | None) -> str | tuple[float, float]:
    """``"auto"``, ``"none"`` or ``"LO:HI"`` (one range for every column) -> the setting."""
    if text in (None, "auto", "none"):
        return text or "auto"
    try:
        lo, hi = (float(v) for v in str(text).split(":"))
    except ValueError:
        raise ConfigError(f"--bounds {text!r} is not auto, none or LO:HI", "pass e.g. --bounds 0:16") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"--bounds {text!r} needs finite LO < HI", "pass e.g. --bounds 0:16")
    return lo, hi


@dataclass
class ColumnTransform:
    """The map between data columns (``width`` of them) and the model's columns.

    Attributes:
        width: columns of the data.
        constant: ``column -> value`` of the constant columns (not modelled).
        lower, upper: per data column, the range of a bounded column (``None``: unbounded).
        mean, std: per modelled column, the standardisation (after the logit, where bounded).

    Example:
        >>> x = np.array([[0.0, 5.0, 1.0], [0.0, 7.0, 16.0], [0.0, 6.0, 16.0]])
        >>> t = ColumnTransform.fit(x, bounds=(0.0, 16.0))
        >>> t.constant, t.model_width
        ({0: 0.0}, 2)
        >>> bool(np.allclose(t.inverse(t.forward(x)), x, atol=0.2))
        True
    """

    width: int
    constant: dict[int, float]
    lower: list[float | None]
    upper: list[float | None]
    mean: list[float]
    std: list[float]

    @property
    def modelled(self) -> list[int]:
        """The data columns the model sees, in order."""
        return [j for j in range(self.width) if j not in self.constant]

    @property
    def model_width(self) -> int:
        return self.width - len(self.constant)

    @property
    def bounded(self) -> list[int]:
        return [j for j in range(self.width) if self.lower[j] is not None]

    @classmethod
    def fit(cls, x: np.ndarray, bounds: str | tuple[float, float] = "auto", source: str = "data", *,
            fixed: dict[int, tuple[float, float]] | None = None) -> ColumnTransform:
        """Detect constant and bounded columns of ``x`` (N x d) and fit the standardisation;
        ``fixed`` gives some columns their range whatever ``bounds`` says (a dequantised integer
        column's ``[min, max + 1)``)."""
        x = np.asarray(x, dtype=np.float64)
        n, width = x.shape
        fixed = fixed or {}
        lo, hi = x.min(axis=0), x.max(axis=0)
        constant = {j: float(lo[j]) for j in range(width) if lo[j] == hi[j]}
        if len(constant) == width:
            raise DataError(f"{source}: every x column is constant", "there is nothing to model: check the columns")
        check_spread(x, "x", source)
        lower: list[float | None] = [None] * width
        upper: list[float | None] = [None] * width
        if isinstance(bounds, tuple):
            b_lo, b_hi = bounds
            outside = [j for j in range(width) if j not in fixed and (lo[j] < b_lo or hi[j] > b_hi)]
            if outside:
                raise DataError(f"{source}: x columns {outside[:5]} have values outside --bounds {b_lo:g}:{b_hi:g} "
                                f"(from {lo.min():g} to {hi.max():g})", "widen --bounds, or pass --bounds auto")
            lower = [None if j in constant else float(b_lo) for j in range(width)]
            upper = [None if j in constant else float(b_hi) for j in range(width)]
        elif bounds == "auto":
            pile = max(2, math.ceil(PILE * n))
            free = [j for j in range(width) if j not in constant and j not in fixed]
            for j in free:
                if (x[:, j] == lo[j]).sum() >= pile or (x[:, j] == hi[j]).sum() >= pile:
                    lower[j], upper[j] = float(lo[j]), float(hi[j])
            piled = [j for j in free if lower[j] is not None]
            if 2 * len(piled) > len(free):  # a table on one scale (pixels): bound the rest by its range
                scale_lo, scale_hi = min(lower[j] for j in piled), max(upper[j] for j in piled)
                for j in free:  # only a column that spans a good part of that scale: income's range is
                    # no scale for age (a logit over [16, 341672] squeezes ages 19-89 to one point)
                    if (lower[j] is None and scale_lo <= lo[j] and hi[j] <= scale_hi
                            and hi[j] - lo[j] >= SAME_SCALE * (scale_hi - scale_lo)):
                        lower[j], upper[j] = scale_lo, scale_hi
        elif bounds != "none":
            raise ConfigError(f"unknown bounds {bounds!r}", "pass auto, none or LO:HI")
        for j, (f_lo, f_hi) in fixed.items():
            lower[j], upper[j] = (None, None) if j in constant else (float(f_lo), float(f_hi))
        transform = cls(width, constant, lower, upper, [0.0] * (width - len(constant)), [1.0] * (width - len(constant)))
        u = transform._unscaled(x)
        with np.errstate(over="ignore", invalid="ignore"):
            mean, sd = u.mean(axis=0), u.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(sd).all()):
            raise DataError(f"{source}: 'x' has values too large to standardise (|x| up to {np.abs(x).max():.3g})",
                            "rescale x (e.g. change its units)")
        transform.mean, transform.std = mean.tolist(), np.where(sd > 0, sd, 1.0).tolist()
        return transform

    def _unscaled(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        u = np.asarray(x, dtype=np.float64)[:, self.modelled].copy()
        for k, j in enumerate(self.modelled):
            if self.lower[j] is not None:
                t = (u[:, k] - self.lower[j]) / (self.upper[j] - self.lower[j])
                if rng is None:
                    t = np.clip(t, EDGE, 1 - EDGE)
                else:  # spread each end's atom over the band that inverse() maps back onto it
                    t = np.where(t <= EDGE, rng.uniform(SPREAD * EDGE, EDGE, len(t)), t)
                    t = np.where(t >= 1 - EDGE, 1 - rng.uniform(SPREAD * EDGE, EDGE, len(t)), t)
                u[:, k] = np.log(t) - np.log1p(-t)
        return u

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Data (N x width) -> model space (N x model_width).

        With ``rng`` (the rows a model trains on), a bounded value at one of its range's ends (within
        ``EDGE``) is drawn uniformly from the band ``[SPREAD * EDGE, EDGE]`` next to that end
        instead of sitting on its edge: pixel tables put a large share of their rows exactly at 0,
        a point mass on which a likelihood-trained flow's density has no maximum (its held-out loss
        spikes). :meth:`inverse` maps the whole band back onto the end, so samples keep the atom."""
        return (self._unscaled(x, rng) - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """Model space (N x model_width) -> data (N x width): bounded columns inside their range,
        values within ``EDGE`` of an end put on it, constant columns restored exactly."""
        u = np.asarray(u, dtype=np.float64) * np.asarray(self.std) + np.asarray(self.mean)
        x = np.empty((len(u), self.width))
        for j, value in self.constant.items():
            x[:, j] = value
        for k, j in enumerate(self.modelled):
            if self.lower[j] is None:
                x[:, j] = u[:, k]
                continue
            with np.errstate(over="ignore"):
                t = 1.0 / (1.0 + np.exp(-u[:, k]))
            snap = EDGE * (1 + 1e-6)  # the ends themselves come back through logit/sigmoid rounding
            t = np.where(t <= snap, 0.0, np.where(t >= 1 - snap, 1.0, t))
            x[:, j] = self.lower[j] + t * (self.upper[j] - self.lower[j])
        return x

    def log_abs_det(self, x: np.ndarray) -> np.ndarray:
        """``log |d forward / d x|`` per row, over the modelled columns: the term that turns the
        model's density into a density of the data (a value at a bounded column's end is scored
        as if ``EDGE`` inside it, where the logit is clamped)."""
        total = np.zeros(len(x))
        for k, j in enumerate(self.modelled):
            total -= math.log(self.std[k])
            if self.lower[j] is not None:
                width = self.upper[j] - self.lower[j]
                t = np.clip((np.asarray(x[:, j], dtype=np.float64) - self.lower[j]) / width, EDGE, 1 - EDGE)
                total -= np.log(t) + np.log1p(-t) + math.log(width)
        return total

    def describe(self) -> dict[str, Any]:
        """What was detected, for config.json and the log."""
        return {"constant_columns": sorted(self.constant), "bounded_columns": self.bounded,
                "modelled_columns": self.model_width}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["constant"] = {str(k): v for k, v in self.constant.items()}
        return d

    @classmethod
    def from_dict(cls, d: Any, model_width: int, where: str) -> ColumnTransform:
        """Read (and check) the x entry of a ``scaling.json``; the first format, ``{mean, std}``
        only, is a transform without constant or bounded columns."""
        fix = "re-create the run (scaling.json is written by fit-source / fit-target)"
        if isinstance(d, dict) and set(d) == {"mean", "std"}:
            n = len(d["mean"]) if isinstance(d["mean"], list) else -1
            d = {"width": n, "constant": {}, "lower": [None] * max(n, 0), "upper": [None] * max(n, 0), **d}
        keys = {"width", "constant", "lower", "upper", "mean", "std"}
        try:
            if not isinstance(d, dict) or set(d) != keys:
                raise ValueError
            width, constant = int(d["width"]), {int(k): float(v) for k, v in d["constant"].items()}
            t = cls(width, constant, list(d["lower"]), list(d["upper"]), [float(v) for v in d["mean"]],
                    [float(v) for v in d["std"]])
            ok = (len(t.lower) == len(t.upper) == width and t.model_width == model_width == len(t.mean) == len(t.std)
                  and all(0 <= j < width for j in constant) and min(t.std) > 0
                  and all(math.isfinite(v) for v in [*t.mean, *t.std, *constant.values()])
                  and all((a is None) == (b is None) and (a is None or a < b)
                          for a, b in zip(t.lower, t.upper, strict=True)))
        except (TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise CheckpointError(f"{where}: the scaling of x does not fit the model's {model_width} columns", fix)
        return t


@dataclass(frozen=True)
class Standardize:
    """Conditions (``z``, ``zc``) on a model's scale: each column minus its mean, over its standard
    deviation (1 for a constant column); the z and zc entries of a run's ``scaling.json``.

    Example:
        >>> s = Standardize.fit(np.array([[1.0, 5.0], [3.0, 5.0]]), "z", "demo")
        >>> s.forward(np.array([[3.0, 5.0]])).tolist(), s.to_dict()
        ([[1.0, 0.0]], {'mean': [2.0, 5.0], 'std': [1.0, 1.0]})
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, a: np.ndarray, name: str, source: str) -> Standardize:
        """The standardisation of ``a``'s columns; one line where they overflow (|values| near 1e308)
        or vary by too little (:func:`check_spread`)."""
        with np.errstate(over="ignore", invalid="ignore"):
            mean, sd = a.mean(axis=0), a.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(sd).all()):
            raise DataError(f"{source}: '{name}' has values too large to standardise (|{name}| up to "
                            f"{np.abs(a).max():.3g})", f"rescale {name} (e.g. change its units)")
        check_spread(a, name, source)
        return cls(tuple(mean.tolist()), tuple(np.where(sd > 0, sd, 1.0).tolist()))

    @property
    def width(self) -> int:
        return len(self.mean)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return (a - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: Any, width: int, where: str) -> Standardize:
        """Read (and check) a z or zc entry of a ``scaling.json``: ``width`` finite means and
        positive standard deviations."""
        ok = isinstance(d, dict) and set(d) == {"mean", "std"} and all(
            isinstance(v, list) and len(v) == width and all(
                isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in v)
            for v in d.values()) and min(d["std"], default=1.0) > 0
        if not ok:
            raise CheckpointError(f"{where} is not {width} finite means and positive standard deviations",
                                  "re-create the run (scaling.json is written by fit-source / fit-target)")
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))
