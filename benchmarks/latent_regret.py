"""Issue 30: the latent route's ``auto`` judged by the regret and safety bars, on its recorded rows.

The latent route's guard was judged by a label ("transfer on default, scratch on misspecified"),
which the oracle showed to be wrong at small scale; issue 30 replaces it with the bank's bars:

- **regret**: the guard's choice is within 2 noise sd of the oracle's best candidate in >= 90% of cells;
- **safety**: where scratch beats every transfer candidate by more than 2 noise sd, the guard keeps
  scratch in >= 90% of those cells.

The rows are ``latent_auto.py``'s (``results/latent_auto_w1``: n_s = 2,000, 1,000-step caps, seeds
3-9, both designs and prior families; ``results/latent_auto_16k``: n_s = 16,000, uncapped, seeds 0-4):
each candidate's oracle is one exact W1 from 2,000 of its samples to 2,000 fresh target rows, in the
target run's model columns. The run folders are gone, so the oracle's draw noise is measured here on
the design itself: for each row, the target run's column transform is rebuilt exactly (it is fitted on
the row's 200 seeded target rows), and W1 from 2,000 draws of the *true* target law to the same fresh
rows is taken over 10 independent draws; its sd is the noise of one candidate's oracle (a model's
sample noise is of the same order: the same n, d and law up to the model's error). A difference of
two candidates then has noise sd * sqrt(2).

    python benchmarks/latent_regret.py
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "results"
SOURCES = {"latent_auto_w1": "n_s 2,000, 1,000-step caps, seeds 3-9", "latent_auto_16k": "n_s 16,000, uncapped"}
DRAWS = 10
CANDIDATES = ("scratch", "freeze_shared", "finetune")


@functools.cache
def noise_sd(design_name: str, seed: int, n_target: int = 200) -> float:
    """sd over ``DRAWS`` draws of W1(2,000 true target draws, the row's fresh rows) in model columns."""
    from gentransfer.data.columns import ColumnTransform
    from gentransfer.metrics import wasserstein1
    from gentransfer.simulation.unconditional_designs import get_unconditional_design

    design = get_unconditional_design(design_name, 8)
    scale = ColumnTransform.fit(design.sample_target(n_target, np.random.default_rng([seed, 1])), "auto")
    fresh = scale.forward(design.sample_target(2000, np.random.default_rng([seed, 99])))
    values = [wasserstein1(scale.forward(design.sample_target(2000, np.random.default_rng([seed, 500 + k]))), fresh)
              for k in range(DRAWS)]
    return float(np.std(values, ddof=1))


def judge(row: dict, sd: float) -> dict:
    oracle = {c.replace("_", "-"): float(row[f"oracle_{c}"]) for c in CANDIDATES}
    best = min(oracle, key=oracle.get)
    tie = 2 * sd * np.sqrt(2)
    regret = oracle[row["chosen"]] - oracle[best]
    scratch_clearly = all(oracle[t] - oracle["scratch"] > tie for t in ("freeze-shared", "finetune"))
    return {"regret": regret, "within": regret <= tie, "scratch_clearly_best": scratch_clearly,
            "kept_scratch": row["chosen"] == "scratch", "regret_sd": regret / (sd * np.sqrt(2)), "best": best}


def main() -> None:
    lines = ["| rows | design | prior family | cells | noise sd (median) | within 2 sd of the best | "
             "scratch clearly best | guard kept scratch there | chosen / best |",
             "|---|---|---|---|---|---|---|---|---|"]
    total = {"cells": 0, "within": 0, "safety_cells": 0, "safety_kept": 0}
    misses = []
    for name, label in SOURCES.items():
        rows = list(csv.DictReader((HERE / name / "results.csv").open()))
        for design in sorted({r["design"] for r in rows}):
            for family in sorted({r["family"] for r in rows}):
                cell = [r for r in rows if r["design"] == design and r["family"] == family]
                if not cell:
                    continue
                sds = [noise_sd(design, int(r["seed"])) for r in cell]
                got = [judge(r, sd) for r, sd in zip(cell, sds, strict=True)]
                safe = [g for g in got if g["scratch_clearly_best"]]
                pairs = ", ".join(f"{r['chosen']}/{g['best']}" for r, g in zip(cell, got, strict=True))
                lines.append(f"| {label} | {design} | {family} | {len(cell)} | {np.median(sds):.4f} | "
                             f"{sum(g['within'] for g in got)} / {len(got)} | {len(safe)} | "
                             f"{sum(g['kept_scratch'] for g in safe)} / {len(safe)} | {pairs} |")
                total["cells"] += len(got)
                total["within"] += sum(g["within"] for g in got)
                total["safety_cells"] += len(safe)
                total["safety_kept"] += sum(g["kept_scratch"] for g in safe)
                misses += [f"- {label}, {design}, {family}, seed {r['seed']}: chose {r['chosen']}, best {g['best']}, "
                           f"regret {g['regret']:.3f} W1 ({g['regret_sd']:.1f} noise sd of a difference)"
                           for r, g in zip(cell, got, strict=True) if not g["within"]]
    text = "\n".join(lines) + "\n\n"
    text += (f"Regret bar: within 2 noise sd of the best in {total['within']} of {total['cells']} cells "
             f"({total['within'] / total['cells']:.0%}; the bar is 90%). Safety bar: scratch clearly best in "
             f"{total['safety_cells']} cells, kept by the guard in {total['safety_kept']}.\n\nMisses:\n"
             + "\n".join(misses) + "\n")
    out = HERE / "latent_regret.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
