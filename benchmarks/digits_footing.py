"""Summarise the MNIST -> USPS grid on equal footing (issue 26, ``configs/digits-footing.toml``).

    python benchmarks/digits_footing.py RUN [RUN ...] --out benchmarks/results/digits_footing

Reads every run folder's rows (finished jobs and the arms of a stopped job, as
``digits_transfer.py`` does) and writes into ``--out``: the tidy rows (``results.csv``, every
column of the study: the step kept, the images it was judged on, the learning rate, whether early
stopping ended the fit, the source's steps and plateau), and ``summary.md``:

- per n_t and arm: each metric (mean ± se over seeds), the median step kept, the share of fits
  ended by early stopping, the learning rate;
- per n_t and arm: the paired gain over scratch in FD, KID, conditional accuracy, recall and pixel
  W1 (positive: the arm is better), its standard error, the t statistic on (seeds - 1) degrees of
  freedom and its two-sided p-value;
- the same paired comparisons of the SEC estimator against the warm-started variant and
  finetune, and of Domain Guidance against finetune (and the weights it chose);
- the n_s trend where n_s was swept: per seed, the least-squares slope of the metric on log10 n_s;
  over seeds, the mean slope, its se, t on (seeds - 1) df and p (seed as a paired effect).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from digits_transfer import run_rows, unique_rows
from scipy import stats

from gentransfer.digits.study import COLUMNS

METRICS = {"FD": False, "KID": False, "cond_acc": True, "recall": True, "W1": False}  # name: higher is better
ARMS = ("scratch", "freeze-shared", "freeze-shared-warm", "finetune", "lora", "domain-guidance", "source-only")


def _values(rows: list[dict], n_t: int, arm: str, metric: str, n_s: int | None = None) -> dict[int, float]:
    return {int(r["seed"]): float(r[metric]) for r in rows
            if int(r["n_t"]) == n_t and r["strategy"] == arm and r.get(metric) not in (None, "")
            and (n_s is None or int(r["n_s"]) == n_s)}


def paired(better: dict[int, float], worse: dict[int, float], higher: bool) -> tuple[float, float, int, float, float]:
    """Mean over shared seeds of the gain of ``better`` over ``worse`` (positive: ``better`` is
    better), its se, the number of seeds, t and the two-sided p on seeds - 1 degrees of freedom."""
    seeds = sorted(set(better) & set(worse))
    d = np.array([(better[s] - worse[s]) if higher else (worse[s] - better[s]) for s in seeds])
    if len(d) < 2:
        return (float(d[0]) if len(d) else math.nan), math.nan, len(d), math.nan, math.nan
    se = float(d.std(ddof=1) / math.sqrt(len(d)))
    t = float(d.mean() / se) if se > 0 else math.nan
    return float(d.mean()), se, len(d), t, float(2 * stats.t.sf(abs(t), len(d) - 1)) if se > 0 else math.nan


def _fmt_gain(g: tuple[float, float, int, float, float]) -> str:
    mean, se, n, t, p = g
    if n < 2:
        return f"{mean:+.3f} (1 seed)" if n else "—"
    return f"{mean:+.3f} ± {se:.3f} (t {t:+.1f}, p {p:.2g})"


def _largest_ns(rows: list[dict], n_t: int) -> int:
    return max((int(r["n_s"]) for r in rows if int(r["n_t"]) == n_t), default=0)


def arm_table(rows: list[dict]) -> str:
    lines = ["| n_t | arm | seeds | " + " | ".join(METRICS) + " | step kept (median) | ended by early stopping | lr |",
             "|" + "---|" * (len(METRICS) + 6)]
    for n_t in sorted({int(r["n_t"]) for r in rows}):
        top = _largest_ns(rows, n_t)
        for arm in ARMS:
            cell = [r for r in rows if int(r["n_t"]) == n_t and r["strategy"] == arm
                    and int(r["n_s"]) in (0, top)]
            if not cell:
                continue
            vals = []
            for m in METRICS:
                v = np.array([float(r[m]) for r in cell if r.get(m) not in (None, "")])
                vals.append(f"{v.mean():.3f} ± {v.std(ddof=1) / math.sqrt(len(v)):.3f}" if len(v) > 1
                            else (f"{v.mean():.3f}" if len(v) else "—"))
            kept = [float(r["best_step"]) for r in cell if r.get("best_step") not in (None, "")]
            ended = [r["plateau"] in (True, "True") for r in cell if r.get("plateau") not in (None, "")]
            lrs = sorted({r["lr"] for r in cell if r.get("lr") not in (None, "")})
            lines.append(f"| {n_t} | {arm} | {len(cell)} | " + " | ".join(vals) +
                         f" | {np.median(kept):.0f} | {sum(ended)}/{len(ended)} | {', '.join(lrs)} |"
                         if kept else f"| {n_t} | {arm} | {len(cell)} | " + " | ".join(vals) + " | — | — | — |")
    return "\n".join(lines) + "\n"


def gain_table(rows: list[dict], pairs: list[tuple[str, str]]) -> str:
    lines = ["| n_t | arm | over | " + " | ".join(f"{m} gain" for m in METRICS) + " |",
             "|" + "---|" * (len(METRICS) + 3)]
    for n_t in sorted({int(r["n_t"]) for r in rows}):
        top = _largest_ns(rows, n_t)
        for arm, base in pairs:
            a_ns = None if arm == "scratch" else top
            b_ns = None if base == "scratch" else top
            gains = [paired(_values(rows, n_t, arm, m, a_ns), _values(rows, n_t, base, m, b_ns), higher)
                     for m, higher in METRICS.items()]
            if all(g[2] == 0 for g in gains):
                continue
            lines.append(f"| {n_t} | {arm} | {base} | " + " | ".join(_fmt_gain(g) for g in gains) + " |")
    return "\n".join(lines) + "\n"


def trend_table(rows: list[dict]) -> str:
    lines = ["| n_t | arm | metric | n_s values | seeds | mean slope per decade of n_s (± se) | t | p |",
             "|---|---|---|---|---|---|---|---|"]
    for n_t in sorted({int(r["n_t"]) for r in rows}):
        for arm in ARMS[1:]:
            cell = [r for r in rows if int(r["n_t"]) == n_t and r["strategy"] == arm and int(r["n_s"]) > 0]
            sizes = sorted({int(r["n_s"]) for r in cell})
            if len(sizes) < 2:
                continue
            for m in METRICS:
                slopes = []
                for seed in sorted({int(r["seed"]) for r in cell}):
                    pts = [(math.log10(int(r["n_s"])), float(r[m])) for r in cell if int(r["seed"]) == seed]
                    if len({p[0] for p in pts}) >= 2:
                        slopes.append(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])
                if len(slopes) < 2:
                    continue
                s = np.array(slopes)
                se = s.std(ddof=1) / math.sqrt(len(s))
                t = s.mean() / se if se > 0 else math.nan
                p = 2 * stats.t.sf(abs(t), len(s) - 1) if se > 0 else math.nan
                lines.append(f"| {n_t} | {arm} | {m} | {', '.join(map(str, sizes))} | {len(s)} | "
                             f"{s.mean():+.4f} ± {se:.4f} | {t:+.2f} | {p:.2g} |")
    return "\n".join(lines) + "\n"


def guidance_table(rows: list[dict]) -> str:
    lines = ["| n_t | weights chosen (seed: w) |", "|---|---|"]
    for n_t in sorted({int(r["n_t"]) for r in rows}):
        chosen = [(int(r["seed"]), r["guidance_weight"]) for r in rows
                  if int(r["n_t"]) == n_t and r["strategy"] == "domain-guidance"]
        if chosen:
            lines.append(f"| {n_t} | " + ", ".join(f"{s}: {w}" for s, w in sorted(chosen)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows, repeats = unique_rows([r for run in args.runs for r in run_rows(Path(run))])
    rows = [r for r in rows if r["setting"] == "conditional"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    over_scratch = [(arm, "scratch") for arm in ARMS[1:]]
    sec = [("freeze-shared", "freeze-shared-warm"), ("freeze-shared", "finetune"), ("domain-guidance", "finetune"),
           ("lora", "finetune")]
    text = (f"Rows: {len(rows)} from {', '.join(args.runs)}. {repeats}Gains are paired by seed: positive means the "
            "first arm is better (lower FD, KID, W1; higher accuracy and recall); t is on (seeds - 1) degrees of "
            "freedom, so with 3 seeds a t of 2.2 is p = 0.16.\n\n"
            "## Every arm\n\n" + arm_table(rows) + "\n## Gain over scratch\n\n" + gain_table(rows, over_scratch)
            + "\n## The SEC estimator, Domain Guidance and LoRA against their neighbours\n\n" + gain_table(rows, sec)
            + "\n## Domain Guidance's weight, chosen on each fit's validation images\n\n" + guidance_table(rows)
            + "\n## The n_s trend (seed as a paired effect)\n\n" + trend_table(rows))
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
