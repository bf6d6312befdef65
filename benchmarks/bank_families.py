"""Issue 30: two routes on the same cells. The diffusion subset (``bank.py --family diffusion``)
draws the same target and held-out rows as the flow bank for each (pair, n_t, seed) (checked:
identical files), so each candidate's oracle W1 over the cell's floor can be paired across families.

Reading (fixed 2026-12-05, session 7, before any diffusion cell's oracle value was looked at): for
each strategy (scratch, finetune, freeze-shared where the pair has a shared part), the guard's pick
and the cell's best candidate, the mean W1 over the floor in each family over the cells both scored,
and the paired difference diffusion minus flow with its se and t; and per family, the gain of the
best transfer strategy over scratch (paired over cells). The oracle's per-candidate W1 is the mean
over its draws (``score/cells.jsonl``; the last record of a cell); the floor is each family's own
record of the same rows' floor.

    python benchmarks/bank_families.py --flow benchmarks/results/bank --diffusion benchmarks/results/bank-diffusion

The same pairing serves the latent route (``bank.py --latent-dim half``: flows with the paper's
unconditional SEC, P_U kept and the decoder fitted), whose cells also draw the flow bank's rows
(checked: the 60 target and held-out files of its 30 cells identical). Its reading, fixed 2026-12-05
(session 8) before any pairing of the two routes was computed: the same table, latent minus plain
flow, over the cells both scored; a strategy's name means the same step in both (freeze-shared keeps
P_U in the latent route, the source's shared layers in the plain one).

    python benchmarks/bank_families.py --flow benchmarks/results/bank --diffusion benchmarks/results/bank-latent \
        --label latent --out benchmarks/results/bank-latent/vs_flow.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bank_score import _jsonl, _key, _paired_text  # noqa: E402  (the oracle's own readers)


def _cells(results: Path) -> dict[tuple, dict]:
    """The oracle's records of a route, the last one per cell."""
    return {_key(c): c for c in _jsonl(results / "score" / "cells.jsonl")}


def _chosen(results: Path) -> dict[tuple, str]:
    return {_key(r): r["chosen"] for r in _jsonl(results / "rows.jsonl") if "error" not in r}


def _over_floor(cell: dict) -> dict[str, float]:
    floor = float(np.mean(cell["floor"]["w1"]))
    return {name: float(np.mean(c["w1"])) / floor for name, c in cell["candidates"].items() if c.get("w1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flow", default="benchmarks/results/bank")
    parser.add_argument("--diffusion", default="benchmarks/results/bank-diffusion",
                        help="the other route's results (diffusion, or the latent route with --label latent)")
    parser.add_argument("--label", default="diffusion", help="the other route's name in the table")
    parser.add_argument("--out", help="where the table goes (default: families.md in the other route's results)")
    args = parser.parse_args()
    flow, diff, label = Path(args.flow), Path(args.diffusion), args.label
    cf, cd = _cells(flow), _cells(diff)
    kf, kd = _chosen(flow), _chosen(diff)
    both = sorted(set(cf) & set(cd) & set(kf) & set(kd))
    lines = [f"# Flow and {label} on the same cells ({len(both)} cells; bank_families.py)\n",
             "Mean W1 over the cell's floor (lower is better); paired over the cells where both have the row.\n",
             f"| model | cells | flow | {label} | {label} minus flow, paired |", "|---|---|---|---|---|"]
    rows = {}
    for key in both:
        f, d = _over_floor(cf[key]), _over_floor(cd[key])
        pick = {"the guard's pick (auto)": (f.get(kf[key]), d.get(kd[key])), "the best candidate": (min(f.values()),
                                                                                                   min(d.values()))}
        for name in ("scratch", "finetune", "freeze-shared"):
            if name in f and name in d:
                pick[name] = (f[name], d[name])
        for name, pair in pick.items():
            if None not in pair:
                rows.setdefault(name, []).append(pair)
    for name in ("scratch", "finetune", "freeze-shared", "the guard's pick (auto)", "the best candidate"):
        got = rows.get(name, [])
        if got:
            a, b = zip(*got, strict=True)
            lines.append(f"| {name} | {len(got)} | {np.mean(a):.3f} | {np.mean(b):.3f} | "
                         f"{_paired_text(np.asarray(b) - np.asarray(a))} |")
    lines += ["", "Gain of the best transfer candidate over scratch in each family (W1 over the floor, scratch "
              "minus best transfer, paired over cells; > 0: the source helped):", ""]
    for name, cells in (("flow", cf), (label, cd)):
        gains = []
        for key in both:
            o = _over_floor(cells[key])
            transfer = [v for k, v in o.items() if k in ("finetune", "freeze-shared")]
            if "scratch" in o and transfer:
                gains.append(o["scratch"] - min(transfer))
        helped = sum(g > 0 for g in gains)
        lines.append(f"- {name}: {_paired_text(np.asarray(gains))}, over {len(gains)} cells; "
                     f"transfer ahead in {helped}")
    lines += ["", "Cells: " + ", ".join(f"{p} {n} s{s}" for p, n, s in both)]
    text = "\n".join(lines) + "\n"
    Path(args.out or diff / "families.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
