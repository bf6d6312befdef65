"""Summaries of sweep results: tables, transfer-vs-scratch tests, and plots against ``n_s``."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

__all__ = ["aggregate", "gain_over_scratch", "summary_markdown", "plot_sweep"]

Row = dict[str, Any]


def _num(v: Any) -> float:
    return float(v)


def aggregate(rows: Sequence[Row], metric: str) -> dict[tuple[str, str, str, int], tuple[float, float, int]]:
    """``(design, family, strategy, n_s) -> (mean, standard error over seeds, count)``."""
    groups: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    for r in rows:
        groups[(r["design"], r["family"], r["strategy"], int(r["n_s"]))].append(_num(r[metric]))
    out = {}
    for key, vals in groups.items():
        v = np.asarray(vals)
        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
        out[key] = (float(v.mean()), se, len(v))
    return out


def gain_over_scratch(rows: Sequence[Row], metric: str, design: str, family: str, strategy: str,
                      n_s: int) -> tuple[float, float, int]:
    """Paired (by seed) mean of ``scratch - strategy`` at ``n_s``, its standard error and count.

    Positive means the transfer strategy has the smaller error.
    """
    scratch = {int(r["seed"]): _num(r[metric]) for r in rows
               if (r["design"], r["family"], r["strategy"]) == (design, family, "scratch")}
    other = {int(r["seed"]): _num(r[metric]) for r in rows
             if (r["design"], r["family"], r["strategy"], int(r["n_s"])) == (design, family, strategy, n_s)}
    diffs = np.asarray([scratch[s] - other[s] for s in sorted(set(scratch) & set(other))])
    if len(diffs) < 2:
        return float("nan"), float("nan"), len(diffs)
    return float(diffs.mean()), float(diffs.std(ddof=1) / np.sqrt(len(diffs))), len(diffs)


def trend(rows: Sequence[Row], metric: str, design: str, family: str, strategy: str) -> float:
    """Spearman correlation of the mean error with ``n_s`` (negative: error falls with n_s)."""
    agg = aggregate(rows, metric)
    pts = sorted((k[3], v[0]) for k, v in agg.items() if k[:3] == (design, family, strategy))
    if len(pts) < 3:
        return float("nan")
    return float(spearmanr([p[0] for p in pts], [p[1] for p in pts]).statistic)


def summary_markdown(rows: Sequence[Row], metrics: Sequence[str] = ("KL", "TV", "W1")) -> str:
    """A markdown table: per design, family and strategy, the error at the largest ``n_s`` (mean
    +- se over seeds), the paired gain over scratch in units of its standard error, and the
    Spearman trend over ``n_s``."""
    if not rows:
        return "(no results)\n"
    aggs = {m: aggregate(rows, m) for m in metrics}
    lines = []
    header = ["design", "family", "strategy", "n_s"] + [f"{m} (mean ± se)" for m in metrics]
    header += [f"{m} gain/se" for m in metrics] + [f"{m} Spearman" for m in metrics]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    keys = sorted({k[:3] for k in aggs[metrics[0]]})
    for design, family, strategy in keys:
        sizes = sorted(k[3] for k in aggs[metrics[0]] if k[:3] == (design, family, strategy))
        n_s = sizes[-1]
        cells = [design, family, strategy, str(n_s)]
        for m in metrics:
            mean, se, _ = aggs[m][(design, family, strategy, n_s)]
            cells.append(f"{mean:.4f} ± {se:.4f}")
        for m in metrics:
            if strategy == "scratch":
                cells.append("—")
                continue
            gain, se, _ = gain_over_scratch(rows, m, design, family, strategy, n_s)
            cells.append(f"{gain / se:+.1f}" if se and np.isfinite(se) and se > 0 else "n/a")
        for m in metrics:
            rho = trend(rows, m, design, family, strategy)
            cells.append("—" if strategy == "scratch" else "n/a" if np.isnan(rho) else f"{rho:+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_sweep(rows: Sequence[Row], path: str | os.PathLike[str], design: str,
               metrics: Sequence[str] = ("KL", "TV", "W1"), floor_metric: str | None = "W1_floor") -> Path:
    """Error against ``n_s`` (log scale), mean ± se per strategy, scratch as a horizontal band;
    one panel per family (rows) and metric (columns). Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gentransfer.config import atomic_write_bytes

    sel = [r for r in rows if r["design"] == design]
    families = sorted({r["family"] for r in sel})
    fig, axes = plt.subplots(len(families), len(metrics), figsize=(4.2 * len(metrics), 3.3 * len(families)),
                             squeeze=False)
    for i, family in enumerate(families):
        for j, m in enumerate(metrics):
            ax, agg = axes[i][j], aggregate(sel, m)
            strategies = sorted({k[2] for k in agg if k[1] == family})
            for strategy in strategies:
                pts = sorted((k[3], v) for k, v in agg.items() if k[1] == family and k[2] == strategy)
                if strategy == "scratch":
                    mean, se, _ = pts[0][1]
                    ax.axhline(mean, color="k", ls="--", lw=1.2, label="scratch (target only)")
                    ax.axhspan(mean - se, mean + se, color="k", alpha=0.1)
                    continue
                xs = [p[0] for p in pts]
                ax.errorbar(xs, [p[1][0] for p in pts], yerr=[p[1][1] for p in pts], marker="o", capsize=3,
                            label=strategy)
            if m == "W1" and floor_metric and floor_metric in sel[0]:
                floor = np.mean([_num(r[floor_metric]) for r in sel if r["family"] == family])
                ax.axhline(floor, color="gray", ls=":", lw=1, label="real-vs-real floor")
            ax.set_xscale("log")
            sizes = sorted({k[3] for k in agg if k[1] == family and k[2] != "scratch"})
            if sizes:
                ax.set_xticks(sizes, [str(n) for n in sizes], fontsize=7)
                ax.minorticks_off()
            ax.set_xlabel("source size n_s")
            ax.set_title(f"{design} · {family} · {m}")
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    out = Path(path)
    atomic_write_bytes(out, buf.getvalue())
    return out
