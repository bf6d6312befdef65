"""Summaries of sweep results: tables, transfer-vs-scratch tests, and plots against ``n_s``."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

__all__ = ["aggregate", "gain_over_scratch", "summary_markdown", "unconditional_markdown", "plot_sweep"]

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


def paired_gain(base: dict[int, float], other: dict[int, float]) -> tuple[float, float, int]:
    """Mean over shared seeds of ``base - other``, its standard error and the number of seeds."""
    diffs = np.asarray([base[s] - other[s] for s in sorted(set(base) & set(other))])
    if len(diffs) < 2:
        return float("nan"), float("nan"), len(diffs)
    return float(diffs.mean()), float(diffs.std(ddof=1) / np.sqrt(len(diffs))), len(diffs)


def gain_over_scratch(rows: Sequence[Row], metric: str, design: str, family: str, strategy: str,
                      n_s: int) -> tuple[float, float, int]:
    """Paired (by seed) mean of ``scratch - strategy`` at ``n_s``, its standard error and count.

    Positive means the transfer strategy has the smaller error.
    """
    scratch = {int(r["seed"]): _num(r[metric]) for r in rows
               if (r["design"], r["family"], r["strategy"]) == (design, family, "scratch")}
    other = {int(r["seed"]): _num(r[metric]) for r in rows
             if (r["design"], r["family"], r["strategy"], int(r["n_s"])) == (design, family, strategy, n_s)}
    return paired_gain(scratch, other)


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
                if [p[0] for p in pts] == [0]:  # a target-only baseline: a horizontal reference
                    mean, se, _ = pts[0][1]
                    style = {"color": "k", "ls": "--"} if strategy == "scratch" else {"color": "gray", "ls": "-."}
                    ax.axhline(mean, lw=1.2, label=f"{strategy} (target only)", **style)
                    ax.axhspan(mean - se, mean + se, color=style["color"], alpha=0.1)
                    continue
                xs = [p[0] for p in pts]
                ax.errorbar(xs, [p[1][0] for p in pts], yerr=[p[1][1] for p in pts], marker="o", capsize=3,
                            label=strategy)
            if m == "W1" and floor_metric and floor_metric in sel[0]:
                floor = np.mean([_num(r[floor_metric]) for r in sel if r["family"] == family])
                ax.axhline(floor, color="gray", ls=":", lw=1, label="real-vs-real floor")
            ax.set_xscale("log")
            sizes = sorted({k[3] for k in agg if k[1] == family and k[3] > 0})
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


def _route(r: Row) -> str:
    return f"{r['model']}/{r['strategy']}"


def _paired(rows: Sequence[Row], a: str, b: str, **where: Any) -> tuple[float, float, int]:
    """Paired-by-seed mean and se of ``W1[b] - W1[a]`` (positive: route ``a`` is better)."""
    def pick(route: str) -> dict[int, float]:
        def keep(r: Row) -> bool:  # scratch rows have n_s = 0 whatever n_s is asked for
            return all(str(r[k]) == str(v) for k, v in where.items() if not (k == "n_s" and route.endswith("scratch")))

        return {int(r["seed"]): _num(r["W1"]) for r in rows if _route(r) == route and keep(r)}
    return paired_gain(pick(b), pick(a))


def unconditional_markdown(rows: Sequence[Row], d_main: int) -> str:
    """Main table (at ``d_main``, largest ``n_s``) and the ``d`` sweep table of the unconditional study."""
    if not rows:
        return "(no results)\n"
    out = [f"### W1 at the largest n_s, d = {d_main} (mean ± se over seeds; floor = real vs real)", "",
           "| design | family | n_s | latent/freeze-shared | plain/finetune | latent/scratch | plain/scratch | floor "
           "| gain vs latent/scratch (/se) | gain vs plain/scratch (/se) | Spearman(W1, n_s) |",
           "|" + "---|" * 11]
    main = [r for r in rows if int(r["d"]) == d_main]
    for design, family in sorted({(r["design"], r["family"]) for r in main}):
        sel = [r for r in main if (r["design"], r["family"]) == (design, family)]
        sizes = sorted({int(r["n_s"]) for r in sel if int(r["n_s"]) > 0})
        if not sizes:
            continue
        n_s = sizes[-1]
        cells = [design, family, str(n_s)]
        for route in ("latent/freeze-shared", "plain/finetune", "latent/scratch", "plain/scratch"):
            vals = [_num(r["W1"]) for r in sel
                    if _route(r) == route and (route.endswith("scratch") or int(r["n_s"]) == n_s)]
            cells.append(f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1) / np.sqrt(len(vals)):.3f}" if len(vals) > 1
                         else (f"{vals[0]:.3f}" if vals else "—"))
        cells.append(f"{np.mean([_num(r['W1_floor']) for r in sel]):.3f}")
        for base in ("latent/scratch", "plain/scratch"):
            gain, se, _ = _paired(sel, "latent/freeze-shared", base, n_s=n_s)
            cells.append(f"{gain:+.3f} ({gain / se:+.1f})" if np.isfinite(se) and se > 0 else "n/a")
        means = [(n, np.mean([_num(r["W1"]) for r in sel
                              if _route(r) == "latent/freeze-shared" and int(r["n_s"]) == n])) for n in sizes]
        rho = spearmanr([m[0] for m in means], [m[1] for m in means]).statistic if len(means) >= 3 else float("nan")
        cells.append("n/a" if np.isnan(rho) else f"{rho:+.2f}")
        out.append("| " + " | ".join(cells) + " |")
    sweep = [r for r in rows if r["design"] == "default"]
    dims = sorted({int(r["d"]) for r in sweep})
    if len(dims) > 1:
        out += ["", "### Gain of transfer against the ambient dimension d (default design, largest n_s)", "",
                "| family | d | n_s | latent/freeze-shared | best scratch | floor | gain (/se) "
                "| W1 ratio transfer / best scratch |",
                "|" + "---|" * 8]
        for family in sorted({r["family"] for r in sweep}):
            for d in dims:
                sel = [r for r in sweep if r["family"] == family and int(r["d"]) == d]
                sizes = sorted({int(r["n_s"]) for r in sel if int(r["n_s"]) > 0})
                if not sizes:
                    continue
                n_s = sizes[-1]
                frz = [_num(r["W1"]) for r in sel if _route(r) == "latent/freeze-shared" and int(r["n_s"]) == n_s]
                scratch = {route: np.mean([_num(r["W1"]) for r in sel if _route(r) == route])
                           for route in ("latent/scratch", "plain/scratch") if any(_route(r) == route for r in sel)}
                best = min(scratch, key=scratch.get)
                gain, se, _ = _paired(sel, "latent/freeze-shared", best, n_s=n_s)
                floor = np.mean([_num(r["W1_floor"]) for r in sel])
                ratio = gain / se if se else float("nan")
                out.append(f"| {family} | {d} | {n_s} | {np.mean(frz):.3f} | {scratch[best]:.3f} ({best}) "
                           f"| {floor:.3f} | {gain:+.3f} ({ratio:+.1f}) | {np.mean(frz) / scratch[best]:.2f} |")
    return "\n".join(out) + "\n"
