"""Summaries of sweep results, for every experiment: one table writer and one plot over an ``arm`` column.

Rows are the tidy rows of a results CSV plus a derived ``arm`` (what is compared: a strategy, or
a route such as ``latent/freeze-shared``). A *setting* is the value of the experiment's ``group``
columns (e.g. design and family); within a setting each arm is scored at every source size
``n_s``, and the baselines (``scratch``, which uses no source) once at ``n_s = 0``. Gains are
paired by seed: the mean over seeds of ``error(baseline) - error(arm)``, positive when the arm
is better, with its standard error.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from gentransfer.files import atomic_write_bytes

__all__ = ["aggregate", "paired_gain", "gain_over", "trend", "summary_markdown", "plot_sweep", "plot_gains"]

Row = dict[str, Any]


def _setting(row: Row, group: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in group)


def aggregate(rows: Sequence[Row], metric: str, group: Sequence[str]) -> dict[tuple, tuple[float, float, int]]:
    """``(setting..., arm, n_s) -> (mean, standard error over seeds, count)``."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        groups[(*_setting(r, group), r["arm"], int(r["n_s"]))].append(float(r[metric]))
    out = {}
    for key, vals in groups.items():
        v = np.asarray(vals)
        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
        out[key] = (float(v.mean()), se, len(v))
    return out


def paired_gain(base: dict[int, float], other: dict[int, float]) -> tuple[float, float, int]:
    """Mean over shared seeds of ``base - other``, its standard error and the number of seeds."""
    diffs = np.asarray([base[s] - other[s] for s in sorted(set(base) & set(other))])
    if len(diffs) < 2:  # one seed: the difference, without a standard error
        return (float(diffs[0]) if len(diffs) else float("nan")), float("nan"), len(diffs)
    return float(diffs.mean()), float(diffs.std(ddof=1) / np.sqrt(len(diffs))), len(diffs)


def gain_over(rows: Sequence[Row], metric: str, setting: dict[str, Any], arm: str, n_s: int,
              baseline: str = "scratch", higher_better: bool = False) -> tuple[float, float, int]:
    """Paired (by seed) mean of ``baseline - arm`` at ``n_s`` within ``setting``, its se and count.

    Positive means ``arm`` is better: the smaller error, or with ``higher_better`` (an accuracy)
    the larger score, ``arm - baseline``. Baseline rows are taken at any ``n_s`` (a target-only
    baseline has ``n_s = 0``).
    """
    def values(name: str, size: int | None) -> dict[int, float]:
        return {int(r["seed"]): float(r[metric]) for r in rows
                if r["arm"] == name and all(str(r[k]) == str(v) for k, v in setting.items())
                and (size is None or int(r["n_s"]) == size)}
    if higher_better:
        return paired_gain(values(arm, n_s), values(baseline, None))
    return paired_gain(values(baseline, None), values(arm, n_s))


def trend(rows: Sequence[Row], metric: str, setting: dict[str, Any], arm: str) -> float:
    """Spearman correlation of the arm's mean error with ``n_s`` (negative: error falls with n_s)."""
    group = list(setting)
    agg = aggregate([r for r in rows if all(str(r[k]) == str(v) for k, v in setting.items())], metric, group)
    pts = sorted((k[-1], v[0]) for k, v in agg.items() if k[-2] == arm)
    if len(pts) < 3:
        return float("nan")
    return float(spearmanr([p[0] for p in pts], [p[1] for p in pts]).statistic)


def _natural(key: tuple) -> tuple:
    """Sort numbers as numbers (n_t 50 before 200), names as names."""
    def part(v: Any) -> tuple:
        try:
            return (0, float(v), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(v))
    return tuple(part(v) for v in key)


def _mean_se(mean: float, se: float) -> str:
    return f"{mean:.4f} ± {se:.4f}" if np.isfinite(se) else f"{mean:.4f}"


def summary_markdown(rows: Sequence[Row], group: Sequence[str], metrics: Sequence[str],
                     baselines: Sequence[str] = ("scratch",), floor: str | None = "W1_floor", *,
                     floors: dict[str, str] | None = None, higher_better: Sequence[str] = ()) -> str:
    """One markdown table: per setting and arm, each metric at the largest ``n_s`` (mean ± se over
    seeds), the real-vs-real floor, the paired gain over each baseline in units of its standard
    error, and the Spearman trend of the metric over ``n_s``.

    ``floor`` is one floor column shown once; ``floors`` (``metric -> column``) shows one per
    metric instead. Metrics in ``higher_better`` (accuracies) gain when they rise.
    """
    if not rows:
        return "(no results)\n"
    aggs = {m: aggregate(rows, m, group) for m in metrics}
    floors = {m: c for m, c in (floors or {}).items() if m in metrics and c in rows[0]}
    single = floor if not floors and floor and floor in rows[0] else None
    header = [*group, "arm", "n_s", *(f"{m} (mean ± se)" for m in metrics)]
    header += ["floor"] if single else [f"{m} floor" for m in floors]
    header += [f"{m} gain over {b} (/se)" for b in baselines for m in metrics] + [f"{m} Spearman" for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for *setting, arm in sorted({k[:-1] for k in aggs[metrics[0]]}, key=_natural):
        where = dict(zip(group, setting, strict=True))
        n_s = max(k[-1] for k in aggs[metrics[0]] if k[:-1] == (*setting, arm))
        cells = [*setting, arm, str(n_s)]
        cells += [_mean_se(*aggs[m][(*setting, arm, n_s)][:2]) for m in metrics]
        for column in [single] if single else floors.values():
            sel = [float(r[column]) for r in rows if _setting(r, group) == tuple(setting)]
            cells.append(f"{np.mean(sel):.4f}")
        for b in baselines:
            for m in metrics:
                gain, se, _ = gain_over(rows, m, where, arm, n_s, b, m in higher_better) \
                    if arm not in baselines else (0, 0, 0)
                cells.append("—" if arm in baselines else f"{gain:+.4f} ({gain / se:+.1f})"
                             if np.isfinite(se) and se > 0 else f"{gain:+.4f}" if np.isfinite(gain) else "n/a")
        for m in metrics:
            rho = trend(rows, m, where, arm)
            cells.append("—" if arm in baselines else "n/a" if np.isnan(rho) else f"{rho:+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _save(fig, path: str | os.PathLike[str]) -> Path:
    """Write a figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    out = Path(path)
    atomic_write_bytes(out, buf.getvalue())
    return out


def plot_sweep(rows: Sequence[Row], path: str | os.PathLike[str], title: str, panel: str,
               metrics: Sequence[str] = ("W1",), floor: str | None = "W1_floor",
               floors: dict[str, str] | None = None) -> Path:
    """Error against ``n_s`` (log scale), mean ± se per arm, target-only arms as horizontal bands;
    one panel per value of ``panel`` (rows of the figure) and metric (columns); a dotted line at
    each metric's floor column (``floors``, else ``floor`` for W1 and ``{metric}_floor``).
    Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted({str(r[panel]) for r in rows})
    fig, axes = plt.subplots(len(values), len(metrics), figsize=(4.2 * len(metrics), 3.3 * len(values)),
                             squeeze=False)
    for i, value in enumerate(values):
        sel = [r for r in rows if str(r[panel]) == value]
        for j, m in enumerate(metrics):
            ax, agg = axes[i][j], aggregate(sel, m, ())
            for arm in sorted({k[0] for k in agg}):
                pts = sorted((k[1], v) for k, v in agg.items() if k[0] == arm)
                if [p[0] for p in pts] == [0]:  # a target-only baseline: a horizontal reference
                    mean, se, _ = pts[0][1]
                    style = {"color": "k", "ls": "--"} if arm.endswith("scratch") else {"color": "gray", "ls": "-."}
                    if arm.startswith("plain"):
                        style["color"] = "tab:brown"
                    ax.axhline(mean, lw=1.2, label=f"{arm} (target only)", **style)
                    if np.isfinite(se):
                        ax.axhspan(mean - se, mean + se, color=style["color"], alpha=0.1)
                    continue
                ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts], yerr=[p[1][1] for p in pts], marker="o",
                            capsize=3, label=arm)
            column = (floors or {}).get(m, floor if m == "W1" else f"{m}_floor")
            if column and column in sel[0] and all(r[column] not in (None, "") for r in sel):
                ax.axhline(np.mean([float(r[column]) for r in sel]), color="gray", ls=":", lw=1,
                           label="real-vs-real floor")
            ax.set_xscale("log")
            sizes = sorted({k[1] for k in agg if k[1] > 0})
            if sizes:
                ax.set_xticks(sizes, [str(n) for n in sizes], fontsize=7)
                ax.minorticks_off()
            ax.set_xlabel("source size n_s")
            ax.set_title(f"{title} · {value} · {m}")
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    return _save(fig, path)


def plot_gains(rows: Sequence[Row], path: str | os.PathLike[str], title: str, axis: str, metrics: Sequence[str],
               baseline: str = "scratch", higher_better: Sequence[str] = ()) -> Path:
    """Paired gain over ``baseline`` against ``axis`` (e.g. the target size n_t, log scale): one line
    per arm at its largest ``n_s``, error bars one paired standard error, one panel per metric;
    above zero the arm is better. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.4), squeeze=False)
    values = sorted({int(r[axis]) for r in rows})
    arms = sorted({r["arm"] for r in rows} - {baseline})
    for ax, m in zip(axes[0], metrics, strict=True):
        for arm in arms:
            pts = []
            for v in values:
                sel = [r for r in rows if int(r[axis]) == v]
                sizes = [int(r["n_s"]) for r in sel if r["arm"] == arm]
                if sizes:
                    gain, se, _ = gain_over(sel, m, {}, arm, max(sizes), baseline, m in higher_better)
                    pts.append((v, gain, se if np.isfinite(se) else 0.0))
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                            capsize=3, label=arm)
        ax.axhline(0.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_xticks(values, [str(v) for v in values], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel(axis)
        ax.set_ylabel(f"{m}: gain over {baseline}" + (" (arm - scratch)" if m in higher_better else
                                                       " (scratch - arm)"))
        ax.set_title(f"{title} · {m}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)
