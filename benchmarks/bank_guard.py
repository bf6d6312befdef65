"""Issue 30: the guard's decision rules replayed on the bank's development cells.

For every finished cell of ``bank.py`` (rows.jsonl), the per-row validation losses of auto's
candidates are recomputed from their run folders on the guard's own validation rows (the same
rows, scale and seed as the guard; each candidate's mean is checked against the guard's recorded
one), cached in ``guard_rows.jsonl``, and every rule below picks a candidate from them. A rule's
regret is its pick's held-out NLL minus the oracle's (the lowest held-out NLL of the cell's
candidates, nats per row), and beside it the share of cells where the pick is within 2 se of the
oracle (the se of the paired held-out difference is not recorded per row, so the cell's two NLL
standard errors combine as independent: conservative).

The rules were fixed before this replay ran (2026-12-05), from the pilot's reading only:
- ``signed-rank``: the shipped guard (the best transfer by median kept if a one-sided Wilcoxon test
  says it beats scratch, p < 0.05);
- ``lowest-mean`` / ``lowest-median``: the candidate with the lowest mean / median validation loss;
- ``paired-t``: the best transfer by mean kept if its mean gain over scratch is > 1.645 se;
- ``scratch-must-prove``: the best transfer (by median) kept unless scratch beats it (one-sided
  Wilcoxon p < 0.05): the burden of proof on scratch;
- ``always-finetune``, ``always-scratch``, ``finetune-if-n_t<k`` (k fitted on the development half).

    python benchmarks/bank_guard.py --runs /work/runs/bank --results benchmarks/results/bank
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def validation_rows(cell: Path, seed: int) -> dict[str, list[float]]:
    """Per-row validation losses of each candidate of ``cell/auto`` on the guard's validation rows."""
    from gentransfer.data.tabular import Columns
    from gentransfer.pipeline.runfolder import RunFolder
    from gentransfer.transfer.guard import guard_rows

    auto = RunFolder(cell / "auto")
    config = auto.config()
    data = Columns().or_recorded(config, str(cell / "target.csv")).load(str(cell / "target.csv"))
    _, _, scaling = auto.read()
    x, (z, zc) = scaling.training_rows(data, seed), scaling.conditions(data)
    _, val = guard_rows(len(x), seed)
    take = lambda a: None if a is None else a[val]  # noqa: E731
    out = {}
    for name, run in auto.candidates().items():
        model, _, _ = run.read()
        out[name] = model.heldout_loss_rows(x[val], take(z), take(zc), seed=seed).tolist()
    return out


def _wilcoxon_greater(diff: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    return float(wilcoxon(diff, alternative="greater").pvalue) if np.any(diff != 0) else 1.0


def _best_transfer(rows: dict[str, np.ndarray], center) -> str:
    return min((n for n in rows if n != "scratch"), key=lambda n: float(center(rows[n])))


def rule_signed_rank(rows, n_t):
    best = _best_transfer(rows, np.median)
    return best if _wilcoxon_greater(rows["scratch"] - rows[best]) < 0.05 else "scratch"


def rule_lowest_mean(rows, n_t):
    return min(rows, key=lambda n: float(rows[n].mean()))


def rule_lowest_median(rows, n_t):
    return min(rows, key=lambda n: float(np.median(rows[n])))


def rule_paired_t(rows, n_t):
    best = _best_transfer(rows, np.mean)
    d = rows["scratch"] - rows[best]
    return best if d.mean() > 1.645 * d.std(ddof=1) / np.sqrt(len(d)) else "scratch"


def rule_scratch_must_prove(rows, n_t):
    best = _best_transfer(rows, np.median)
    return "scratch" if _wilcoxon_greater(rows[best] - rows["scratch"]) < 0.05 else best


RULES = {"signed-rank (shipped)": rule_signed_rank, "lowest-mean": rule_lowest_mean,
         "lowest-median": rule_lowest_median, "paired-t": rule_paired_t, "scratch-must-prove": rule_scratch_must_prove,
         "always-finetune": lambda rows, n_t: "finetune", "always-scratch": lambda rows, n_t: "scratch"}


def regret(cell: dict, pick: str) -> tuple[float, bool]:
    """The pick's held-out NLL over the oracle's, and whether it is within 2 se of it."""
    nll, se = cell["nll"], cell["nll_se"]
    best = min(nll, key=nll.get)
    gap = nll[pick] - nll[best]
    return gap, gap <= 2 * float(np.hypot(se[pick], se[best]))


def table(cells: list[dict], rules: dict) -> str:
    lines = ["| n_t | rule | mean regret (± se) | median | within 2 se of the oracle | picks |",
             "|---|---|---|---|---|---|"]
    for n_t in sorted({c["n_t"] for c in cells}):
        mine = [c for c in cells if c["n_t"] == n_t]
        for name, rule in rules.items():
            picks = [rule(c["rows"], n_t) for c in mine]
            got = [regret(c, p) for c, p in zip(mine, picks, strict=True)]
            r = np.array([g for g, _ in got])
            se = r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else float("nan")
            counts = {p: picks.count(p) for p in sorted(set(picks))}
            lines.append(f"| {n_t} | {name} | {r.mean():.3f} ± {se:.3f} | {np.median(r):.3f} | "
                         f"{np.mean([w for _, w in got]):.2f} ({len(r)}) | {counts} |")
    return "\n".join(lines)


def w1_table(cells: list[dict], rules: dict, results: Path) -> str:
    """The same rules against ``bank_score.py``'s W1 oracle (mean over draws; a hit is a pick within 2 se
    of the difference from the best; regret over the cell's W1 floor), and the bars."""
    from bank_score import load_cells, rule_regret

    scored = {(c["pair"], c["n_t"], c["seed"]): c for c in load_cells(results)}
    key = lambda c: (c["pair"], c["n_t"], c["seed"])  # noqa: E731
    both = [(c, scored[key(c)]) for c in cells if key(c) in scored]
    lines = [f"## Against the W1 oracle ({len(both)} cells scored by bank_score.py)", "",
             "| n_t | rule | mean W1 regret / floor (± se) | within 2 se of the best | safety: kept scratch where it "
             "was clearly best |", "|---|---|---|---|---|"]
    for n_t in [*sorted({c["n_t"] for c, _ in both}), "all"]:
        mine = [(c, s) for c, s in both if n_t == "all" or c["n_t"] == n_t]
        for name, rule in rules.items():
            got = [rule_regret(s, lambda _s, c=c, rule=rule: rule(c["rows"], c["n_t"])) for c, s in mine]
            r = np.array([g["scaled"] for g in got])
            clear = [g for g in got if _clearly(g)]
            kept = sum(g["pick"] == "scratch" for g in clear)
            lines.append(f"| {n_t} | {name} | {r.mean():.3f} ± {r.std(ddof=1) / np.sqrt(len(r)):.3f} | "
                         f"{sum(g['hit'] for g in got)} of {len(got)} | {kept} of {len(clear)} |")
    return "\n".join(lines)


def arms_table(results: Path) -> str:
    """Each arm against finetune on the cells where the arm ran (paired W1 gain over the floor, mean ±
    se over cells, t), and how often it is the best of every arm fitted there."""
    from bank_score import best, load_cells

    lines = ["## Arms against finetune (W1 over the floor; > 0: the arm is closer)", "",
             "| n_t | arm | cells | gain over finetune (± se) | t | best of every arm |", "|---|---|---|---|---|---|"]
    cells = load_cells(results)
    for n_t in sorted({c["n_t"] for c in cells}):
        mine = [c for c in cells if c["n_t"] == n_t]
        for arm in ("lora", "pooled", "freeze-shared", "scratch"):
            have = [c for c in mine if arm in c["scores"]["w1"] and set(c["arms"]) >= {"lora", "pooled"}]
            if len(have) < 2:
                continue
            w = [c["scores"]["w1"] for c in have]
            g = np.array([(s["finetune"]["mean"] - s[arm]["mean"]) / c["w1_floor"]
                          for s, c in zip(w, have, strict=True)])
            se = g.std(ddof=1) / np.sqrt(len(g))
            top = sum(best(s)[0] == arm for s in w)
            lines.append(f"| {n_t} | {arm} | {len(g)} | {g.mean():+.3f} ± {se:.3f} | {g.mean() / se:.1f} | {top} |")
    return "\n".join(lines)


def _clearly(g: dict) -> bool:
    """Scratch best and no transfer tied with it (the safety bar's cells)."""
    return g["best"] == "scratch" and len(g["ties"]) == 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/bank")
    parser.add_argument("--results", default="benchmarks/results/bank")
    args = parser.parse_args()
    results, runs = Path(args.results), Path(args.runs)
    split = json.loads((results / "split.json").read_text())["pairs"]
    cache_file = results / "guard_rows.jsonl"
    cache = {(c["pair"], c["n_t"], c["seed"]): c for c in map(json.loads, cache_file.read_text().splitlines())} \
        if cache_file.exists() else {}
    rows = [json.loads(line) for line in (results / "rows.jsonl").read_text().splitlines()]
    cells = []
    for r in rows:
        if "error" in r or split[r["pair"]]["half"] != "dev":
            continue
        key = (r["pair"], r["n_t"], r["seed"])
        if key not in cache:
            cell = runs / r["pair"] / f"nt{r['n_t']}-seed{r['seed']}"
            got = validation_rows(cell, r["seed"])
            means = {n: float(np.mean(v)) for n, v in got.items()}
            off = max(abs(means[n] - r["validation"][n]) for n in means)
            cache[key] = {"pair": r["pair"], "n_t": r["n_t"], "seed": r["seed"], "rows": got, "replay_error": off}
            with cache_file.open("a") as f:
                f.write(json.dumps(cache[key]) + "\n")
        cells.append({**r, "rows": {n: np.array(v) for n, v in cache[key]["rows"].items()},
                      "replay_error": cache[key]["replay_error"]})
    worst = max(c["replay_error"] for c in cells)
    # finetune if n_t < k, k fitted on these (development) cells
    grid = sorted({c["n_t"] for c in cells})
    ks = [*grid, grid[-1] + 1]
    fitted = min(ks, key=lambda k: np.mean([regret(c, "finetune" if c["n_t"] < k else "scratch")[0] for c in cells]))
    rules = {**RULES, f"finetune-if-n_t<{fitted}": lambda rows, n_t: "finetune" if n_t < fitted else "scratch"}
    text = (f"{len(cells)} development cells, {len({c['pair'] for c in cells})} pairs; the replayed validation "
            f"means differ from the guard's recorded ones by at most {worst:.2g}\n\n"
            "## Against the NLL oracle (nats per held-out row)\n\n" + table(cells, rules) + "\n\n"
            + w1_table(cells, rules, results) + "\n\n" + arms_table(results) + "\n")
    (results / "guard_rules.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
