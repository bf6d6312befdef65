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
- ``signed-rank``: the guard shipped before issue 30 (the best transfer by median kept if a one-sided Wilcoxon test
  says it beats scratch, p < 0.05);
- ``lowest-mean`` / ``lowest-median``: the candidate with the lowest mean / median validation loss;
- ``paired-t``: the best transfer by mean kept if its mean gain over scratch is > 1.645 se;
- ``scratch-must-prove``: the best transfer (by median) kept unless scratch beats it (one-sided
  Wilcoxon p < 0.05): the burden of proof on scratch;
- ``always-finetune``, ``always-scratch``, ``finetune-if-n_t<k`` (k fitted on the development half).

The frontier (fixed 2026-12-05, session 3, before the development half's last 105 cells ran and
before their scoring): the replay above showed a trade, not a winner, so the guard's rule is chosen
from two one-parameter families that span it, each "keep the best transfer if its evidence against
scratch on the validation rows exceeds c, else scratch":
- ``rank(c)``: the signed-rank statistic of loss(scratch) - loss(best transfer by median),
  standardised (z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24), zero differences dropped, ties
  averaged); the guard before is about rank(1.645), scratch-must-prove about rank(-1.645);
- ``mean(c)``: the paired t of the same difference with the best transfer by mean; mean(1.645) is
  paired-t, mean(0) is lowest-mean between scratch and the best transfer;
for c in ``THRESHOLDS`` (-inf: always the best transfer). The choice, made once on every development
cell the W1 oracle has scored when the development half's last base cell was fitted (2026-12-05,
session 3; that replay is results/bank/guard_rules_at_freeze.md): the member with the largest
min(hit rate, safety rate) (the two bars' rates; a cell where scratch is clearly best counts for
safety), ties broken by the lower mean W1 regret over the floor, then by the rank family, then by
the c closest to 0. The NLL oracle's table is reported beside it and decides nothing.

    cd benchmarks && python bank_guard.py --runs ../runs/bank --results results/bank
    python benchmarks/bank_guard.py --runs runs/bank --results benchmarks/results/bank --restore-p05
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from gentransfer.transfer.guard import THRESHOLD, choose_strategy


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


def rule_scratch_must_prove(rows, n_t):
    best = _best_transfer(rows, np.median)
    return "scratch" if _wilcoxon_greater(rows[best] - rows["scratch"]) < 0.05 else best


THRESHOLDS = (-math.inf, -3.0, -2.0, -1.645, -1.0, -0.5, 0.0, 0.5, 1.0, 1.645, 2.0, 3.0)


def paired_t(diff: np.ndarray) -> float:
    if len(diff) < 2 or not np.all(np.isfinite(diff)):
        return float("nan")  # no evidence either way: nan > c is False, so scratch
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    return float(diff.mean() / se) if se > 0 else (math.copysign(math.inf, diff.mean()) if diff.mean() else 0.0)


def rule_threshold(family: str, c: float):
    """rank(c) or mean(c): the best transfer if its evidence against scratch exceeds ``c``, else scratch.
    rank(c) is the library's guard at threshold c (the same code decides)."""
    if family == "rank":
        return lambda rows, n_t: choose_strategy(rows, threshold=c).chosen

    def rule(rows, n_t):
        best = _best_transfer(rows, np.mean)
        return best if paired_t(rows["scratch"] - rows[best]) > c else "scratch"
    return rule


def threshold_rules() -> dict[tuple[str, float], object]:
    """(family, c) -> rule, for both families and every c in ``THRESHOLDS``."""
    return {(name, c): rule_threshold(name, c) for name in ("rank", "mean") for c in THRESHOLDS}


RULES = {"signed-rank p<0.05 (the guard before)": rule_signed_rank, "lowest-mean": rule_lowest_mean,
         "lowest-median": rule_lowest_median, "paired-t": rule_threshold("mean", 1.645),
         "scratch-must-prove": rule_scratch_must_prove,
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


def with_w1(cells: list[dict], scored: list[dict]) -> list[tuple[dict, dict]]:
    """Each replayed cell beside its ``bank_score`` cell (the W1-scored ones only)."""
    key = lambda c: (c["pair"], c["n_t"], c["seed"])  # noqa: E731
    by_key = {key(c): c for c in scored}
    return [(c, by_key[key(c)]) for c in cells if key(c) in by_key]


def w1_picks(both: list[tuple[dict, dict]], rule) -> list[dict]:
    """A rule's regret (``bank_score.rule_regret``) in each W1-scored cell, picking on the replayed rows."""
    from bank_score import rule_regret

    return [rule_regret(s, lambda _s, c=c: rule(c["rows"], c["n_t"])) for c, s in both]


def w1_table(both: list[tuple[dict, dict]], rules: dict) -> str:
    """The same rules against ``bank_score.py``'s W1 oracle (mean over draws; a hit is a pick within 2 se
    of the difference from the best; regret over the cell's W1 floor), and the bars."""
    lines = [f"## Against the W1 oracle ({len(both)} cells scored by bank_score.py)", "",
             "| n_t | rule | mean W1 regret / floor (± se) | within 2 se of the best | safety: kept scratch where it "
             "was clearly best |", "|---|---|---|---|---|"]
    for n_t in [*sorted({c["n_t"] for c, _ in both}), "all"]:
        mine = [(c, s) for c, s in both if n_t == "all" or c["n_t"] == n_t]
        for name, rule in rules.items():
            got = w1_picks(mine, rule)
            r = np.array([g["scaled"] for g in got])
            clear = [g for g in got if _clearly(g)]
            kept = sum(g["pick"] == "scratch" for g in clear)
            lines.append(f"| {n_t} | {name} | {r.mean():.3f} ± {r.std(ddof=1) / np.sqrt(len(r)):.3f} | "
                         f"{sum(g['hit'] for g in got)} of {len(got)} | {kept} of {len(clear)} |")
    return "\n".join(lines)


def _nll_clearly_scratch(cell: dict) -> bool:
    nll, se = cell["nll"], cell["nll_se"]
    return min(nll, key=nll.get) == "scratch" and all(
        nll[n] - nll["scratch"] > 2 * float(np.hypot(se[n], se["scratch"])) for n in nll if n != "scratch")


def frontier(cells: list[dict], both: list[tuple[dict, dict]]) -> tuple[str, str]:
    """Every member of the two threshold families on the W1-scored cells ``both`` (hit rate, safety
    rate, mean regret) with the NLL oracle's on ``cells`` beside it, and the member the docstring's
    criterion chooses."""
    nll_safe = [c for c in cells if _nll_clearly_scratch(c)]
    members = {f"{fam}({c:g})": (fam, c, rule) for (fam, c), rule in threshold_rules().items()}
    members["signed-rank p<0.05 (the guard before)"] = (None, None, rule_signed_rank)
    rows = []
    for name, (fam, c_value, rule) in members.items():
        got = w1_picks(both, rule)
        clear = [g for g in got if _clearly(g)]  # the same cells for every rule: scratch clearly best
        if not clear:
            raise SystemExit("no W1 cell where scratch is clearly best: the criterion needs the safety rate")
        r = np.array([g["scaled"] for g in got])
        picks = [rule(c["rows"], c["n_t"]) for c in cells]
        nll = [regret(c, p) for c, p in zip(cells, picks, strict=True)]
        kept = [p == "scratch" for c, p in zip(cells, picks, strict=True) if _nll_clearly_scratch(c)]
        rows.append({"name": name, "family": fam, "c": c_value, "hit": np.mean([g["hit"] for g in got]),
                     "safe": np.mean([g["pick"] == "scratch" for g in clear]), "regret": r.mean(),
                     "regret_se": r.std(ddof=1) / np.sqrt(len(r)), "nll_hit": np.mean([w for _, w in nll]),
                     "nll_safe": np.mean(kept) if kept else float("nan"), "nll_regret": np.mean([g for g, _ in nll])})

    def order(r):
        return (-min(r["hit"], r["safe"]), r["regret"], r["family"] != "rank", abs(r["c"]))
    chosen = min((r for r in rows if r["family"] is not None), key=order)["name"]
    n_clear = sum(_clearly(g) for g in w1_picks(both, rule_signed_rank))
    lines = [f"## The frontier: rank(c) and mean(c) ({len(both)} W1-scored cells, {len(cells)} NLL cells)", "",
             f"W1 safety cells (scratch clearly best): {n_clear}; NLL safety cells: {len(nll_safe)}. "
             "Chosen by the fixed criterion (largest min(hit, safety) by W1, then the lowest W1 regret, then "
             f"the rank family, then c closest to 0): **{chosen}**; the library's guard uses "
             f"rank({THRESHOLD:g}) (`gentransfer.transfer.guard.THRESHOLD`).",
             "", "| rule | W1 hit rate | W1 safety | W1 regret / floor (± se) | NLL hit rate | NLL safety | "
             "NLL regret (nats) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']}{' <- chosen' if r['name'] == chosen else ''} | {r['hit']:.2f} | {r['safe']:.2f} | "
                     f"{r['regret']:.3f} ± {r['regret_se']:.3f} | {r['nll_hit']:.2f} | {r['nll_safe']:.2f} | "
                     f"{r['nll_regret']:.3f} |")
    if chosen != f"rank({THRESHOLD:g})":
        print(f"note: on these cells the criterion picks {chosen}; the guard was frozen at rank({THRESHOLD:g})")
    return "\n".join(lines), chosen


def arms_table(cells: list[dict]) -> str:
    """Each arm against finetune on the scored cells (``bank_score.load_cells``) where the arm ran
    (paired W1 gain over the floor, mean ± se over cells, t), and how often it is the best of every
    arm fitted there."""
    from bank_score import best

    lines = ["## Arms against finetune (W1 over the floor; > 0: the arm is closer)", "",
             "| n_t | arm | cells | gain over finetune (± se) | t | best of every arm |", "|---|---|---|---|---|---|"]
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


def restore_p05_choice(results: Path, runs: Path) -> int:
    """Development rows fitted after guard.py took the new rule (2026-12-05 05:33: the runner's CLI
    imports the edited library) recorded that rule's choice; put back the p < 0.05 guard's, which the
    same run determines exactly (its best transfer by median, kept if the one-sided signed-rank p the
    run recorded, scipy's, is < 0.05), keeping the run's as ``chosen_as_run``. Idempotent (run it
    again after later rows); run it only while ``bank.py`` is not appending to rows.jsonl. Returns
    the rows changed."""
    split = json.loads((results / "split.json").read_text())["pairs"]
    path = results / "rows.jsonl"
    rows, changed = [json.loads(line) for line in path.read_text().splitlines()], 0
    for r in rows:
        report = runs / r["pair"] / f"nt{r['n_t']}-seed{r['seed']}" / "auto" / "transfer_report.json"
        if "error" in r or split[r["pair"]]["half"] != "dev" or "chosen_as_run" in r or not report.exists():
            continue
        got = json.loads(report.read_text())
        if got.get("threshold") is None:
            continue
        r["chosen_as_run"], r["threshold_as_run"] = r["chosen"], got["threshold"]
        r["threshold"] = None  # the choice below is the p < 0.05 rule's
        r["chosen"] = got["best_transfer"] if got["p_value"] < 0.05 else "scratch"
        changed += 1
    if not changed:
        return 0
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/bank")
    parser.add_argument("--results", default="benchmarks/results/bank")
    parser.add_argument("--restore-p05", action="store_true", help="see restore_p05_choice(); then exit")
    args = parser.parse_args()
    results, runs = Path(args.results), Path(args.runs)
    if args.restore_p05:
        print(f"{restore_p05_choice(results, runs)} development rows given back the p < 0.05 guard's choice")
        return
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
    rules = {**RULES, f"rank({THRESHOLD:g}) (the guard now)": rule_threshold("rank", THRESHOLD),
             f"finetune-if-n_t<{fitted}": lambda rows, n_t: "finetune" if n_t < fitted else "scratch"}
    from bank_score import load_cells

    scored = load_cells(results)  # once: the W1 tables and the arms read the same scored cells
    both = with_w1(cells, scored)
    text = (f"{len(cells)} development cells, {len({c['pair'] for c in cells})} pairs; the replayed validation "
            f"means differ from the guard's recorded ones by at most {worst:.2g}\n\n"
            "## Against the NLL oracle (nats per held-out row)\n\n" + table(cells, rules) + "\n\n"
            + w1_table(both, rules) + "\n\n" + frontier(cells, both)[0] + "\n\n"
            + arms_table(scored) + "\n")
    (results / "guard_rules.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
