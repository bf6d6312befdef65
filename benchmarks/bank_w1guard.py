"""Issue 30, after the confirmation half's first reading: can a guard that decides by W1 meet the bars?

Why. The bars judge the guard against the W1 oracle (``bank_score.py``), but the guard decides by
held-out NLL on its validation rows. Choosing by the NLL measured on the 1,000+ held-out rows, the
limit that k-fold or repeated splits approach, picks a candidate within noise of the W1-best in 79 of
136 development cells (58%), below the guard's own 87 (64%) and far below the 90% bar; it keeps
scratch in 3 of 15 clear-scratch cells (``python benchmarks/bank_w1guard.py --ceiling``). More
validation rows cannot move a likelihood guard toward a W1 bar; a guard that compares the
candidates in the bar's own distance might.

The rule family (fixed 2026-12-05, session 6, before any W1 validation value was computed). For a
cell, the guard's validation rows (``guard_rows``: the same 20% of ``target.csv`` the candidates
were not fitted on) are the real rows; each candidate draws ``REPEAT`` samples per validation row
(given that row's conditions on a conditional pair; ``REPEAT`` x the validation rows on a plain
one), ``DRAWS`` times with fixed seeds, and its validation W1 is the mean over draws of the exact W1
between the draw and the validation rows, on every column encoded as the oracle encodes them
(categories one-hot, numbers over the sd of all n_t target rows: what the guard may see;
``gentransfer.pipeline.validation.encode_rows``, which ``fit-target --guard-by w1`` uses). Then
``w1(m)``: keep the best transfer by validation W1 when its W1 is at most (1 + m) x scratch's, else
scratch; m in ``MARGINS`` (m < 0: transfer must win by a share; inf: always the best transfer by
validation W1). Two smoke cells (C01 n_t 200 and U01 n_t 50, seed 0; not scored against any oracle)
timed it (under 3 s a cell) and set ``REPEAT`` and ``DRAWS`` (draw-to-draw sd about 1-5% of the W1).

Selection and confirmation (fixed with the family). The member chosen is the one with the largest
min(hit rate, safety rate) on the development cells the W1 oracle scored, ties to the lower mean W1
regret over the floor, then the m closest to 0 (the criterion that chose rank(0.5)). It is confirmed
only on confirmation cells of seeds 3 and 4, none of which had been fitted when this was fixed,
beside the frozen guard (rank(0.5)) and always finetune on the same cells, by the three bars.

    python benchmarks/bank_w1guard.py --ceiling
    OMP_NUM_THREADS=1 python benchmarks/bank_w1guard.py --runs /work/runs/bank --half dev
    OMP_NUM_THREADS=1 python benchmarks/bank_w1guard.py --runs /work/runs/bank --half conf --seeds 3,4
    python benchmarks/bank_w1guard.py --summarise
    python benchmarks/bank_w1guard.py --results benchmarks/results/bank-digits --runs runs/bank-digits --half conf
    python benchmarks/bank_w1guard.py --results benchmarks/results/bank-digits --replay 0   # the chosen w1(0) there
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bank_score as bs  # noqa: E402

REPEAT = 50  # samples per validation row
DRAWS = 5  # independent draws per candidate (their sd is the validation W1's sampling noise)
MARGINS = (-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, math.inf)
SEED = 31_000  # draw seeds: SEED + crc32(name) % 10**6 * 10 + draw
RESULTS = HERE / "results" / "bank"
CACHE = RESULTS / "w1guard.jsonl"


def validation_w1(here: Path, spec: dict, seed: int) -> dict[str, list[float]]:
    """Each guard candidate's validation W1 over ``DRAWS`` draws (``here``: a cell's folder)."""
    import pandas as pd

    from gentransfer.cli.outputs import recorded
    from gentransfer.data.tabular import Columns
    from gentransfer.metrics import wasserstein1
    from gentransfer.pipeline.validation import encode_rows
    from gentransfer.transfer.guard import guard_rows

    target = pd.read_csv(here / "target.csv")
    _, val = guard_rows(len(target), seed)
    header = list(target.columns)
    columns = bs._pair_columns(spec, header)
    runs = {p.name: p for p in sorted((here / "auto" / "candidates").glob("*")) if (p / "config.json").is_file()}
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "target.csv").write_bytes((here / "target.csv").read_bytes())
        real_all = columns.load(tmp / "target.csv")
        pd.concat([target.iloc[val]] * REPEAT, ignore_index=True).to_csv(tmp / "cond.csv", index=False)
        for name, run in runs.items():
            given = [c for r in ("z", "zc") for c in recorded(run).get(f"{r}_columns") or [] if c in header]
            cond = (Columns().or_recorded(recorded(run), tmp / "cond.csv", ("z", "zc"))
                    .load(tmp / "cond.csv", require_x=False) if given else None)
            got = []
            for d in range(DRAWS):
                draw_seed = SEED + zlib.crc32(name.encode()) % 10**6 * 10 + d
                every, drawn = encode_rows(real_all, bs._draw(run, columns, cond, REPEAT * len(val), draw_seed, tmp))
                got.append(wasserstein1(every[val], drawn))
            out[name] = got
    return out


def rule_w1(m: float):
    """w1(m) on a cell's validation W1 means (candidate -> mean)."""
    def rule(w: dict[str, float]) -> str:
        best = min((n for n in w if n != "scratch"), key=w.get)
        return best if m == math.inf or w[best] <= (1 + m) * w["scratch"] else "scratch"
    return rule


def _key(c: dict) -> tuple:
    return c["pair"], c["n_t"], c["seed"]


def run(runs: Path, half: str, seeds: set[int] | None) -> None:
    from bank_pairs import spec_of

    done = {_key(r) for r in bs._jsonl(CACHE)} if CACHE.exists() else set()
    cells = [c for c in bs.load_cells(RESULTS, runs) if c["half"] == half and _key(c) not in done
             and (seeds is None or c["seed"] in seeds)]
    for i, c in enumerate(cells, 1):
        here = runs / c["pair"] / f"nt{c['n_t']}-seed{c['seed']}"
        w = validation_w1(here, spec_of(c["pair"]), c["seed"])
        with CACHE.open("a") as f:
            f.write(json.dumps({"pair": c["pair"], "n_t": c["n_t"], "seed": c["seed"], "w1": w}) + "\n")
        print(f"[{i}/{len(cells)}] {c['pair']} n_t={c['n_t']} seed={c['seed']}: "
              + ", ".join(f"{n} {np.mean(v):.3f}" for n, v in w.items()), flush=True)


def _rates(cells: list[dict], pick) -> dict:
    got = [bs.rule_regret(c, pick) for c in cells]
    safe = [c for c in cells if bs._scratch_wins(c)]
    return {"hits": sum(g["hit"] for g in got), "n": len(got), "kept": sum(pick(c) == "scratch" for c in safe),
            "safe": len(safe), "regret": np.array([g["scaled"] for g in got])}


def _line(name: str, r: dict) -> str:
    reg = r["regret"]
    se = reg.std(ddof=1) / math.sqrt(len(reg)) if len(reg) > 1 else math.nan
    return (f"| {name} | {r['hits']} of {r['n']} ({r['hits'] / max(r['n'], 1):.0%}) | {r['kept']} of {r['safe']} | "
            f"{reg.mean():.3f} ± {se:.3f} |")


def ceiling() -> str:
    """The NLL-on-held-out pick against the W1 oracle, both halves."""
    def nll_pick(c):
        s = {k: v["mean"] for k, v in c["scores"]["nll"].items() if k in c["candidates"] and not math.isnan(v["mean"])}
        return min(s, key=s.get)
    lines = ["| half | rule | W1 hits | safety | mean W1 regret / floor (± se) |", "|---|---|---|---|---|"]
    cells = bs.load_cells(RESULTS)
    for half in ("dev", "conf"):
        mine = [c for c in cells if c["half"] == half]
        for name, pick in (("the guard (rank(0.5))", lambda c: c["chosen_now"] or c["chosen"]),
                           ("lowest NLL on the 1,000+ held-out rows", nll_pick),
                           ("always finetune", lambda c: "finetune")):
            lines.append(_line(f"{half}: {name}", _rates(mine, pick)).replace(f"| {half}: ", f"| {half} | "))
    return "\n".join(lines)


def _beside(cells: list[dict], m: float, w: dict, title: str, frozen: bool = False) -> list[str]:
    """w1(m) beside the guard and always finetune by n_t, with the paired differences over all cells."""
    picks = {f"w1({m:g})": lambda c: rule_w1(m)(w[_key(c)]),
             "rank(0.5), the frozen guard": (lambda c: c["chosen"]) if frozen else (lambda c: c["chosen_now"]
                                                                                    or c["chosen"]),
             "always finetune": lambda c: "finetune"}
    lines = [f"### {title}", "", "| n_t | rule | W1 hits | safety | mean W1 regret / floor (± se) |",
             "|---|---|---|---|---|"]
    for n_t in [*sorted({c["n_t"] for c in cells}), "all"]:
        mine = [c for c in cells if n_t == "all" or c["n_t"] == n_t]
        lines += [_line(name, _rates(mine, p)).replace("| ", f"| {n_t} | ", 1) for name, p in picks.items()]
    got = {n: _rates(cells, p)["regret"] for n, p in picks.items()}
    first = next(iter(got))
    lines += [""] + [f"- {other} minus {first}, paired over the {len(cells)} cells: "
                     f"{bs._paired_text(got[other] - got[first])}" for other in list(got)[1:]]
    return lines + [""]


def summarise() -> str:
    w = {(r["pair"], r["n_t"], r["seed"]): {n: float(np.mean(v)) for n, v in r["w1"].items()} for r in bs._jsonl(CACHE)}
    cells = [c for c in bs.load_cells(RESULTS) if _key(c) in w]
    dev = [c for c in cells if c["half"] == "dev"]
    lines = ["# A W1 guard replayed (bank_w1guard.py)", "",
             "## The ceiling of a likelihood guard: the lowest held-out NLL against the W1 oracle", "", ceiling(), "",
             "## The W1 rule family on the development half", "",
             f"{len(dev)} development cells with validation W1.", "",
             "| rule | W1 hits | safety | mean W1 regret / floor (± se) |", "|---|---|---|---|"]
    scored = {}
    for m in MARGINS:
        r = _rates(dev, lambda c, m=m: rule_w1(m)(w[_key(c)]))
        scored[m] = r
        lines.append(_line(f"w1({m:g})", r))
    for name, pick in (("rank(0.5), the frozen guard", lambda c: c["chosen_now"] or c["chosen"]),
                       ("always finetune", lambda c: "finetune")):
        lines.append(_line(name, _rates(dev, pick)))
    rate = lambda r: min(r["hits"] / r["n"], r["kept"] / r["safe"] if r["safe"] else 1.0)  # noqa: E731
    chosen = min(MARGINS, key=lambda m: (-rate(scored[m]), scored[m]["regret"].mean(), abs(m)))
    lines += ["", f"Chosen by the fixed criterion: **w1({chosen:g})**.", ""]
    lines += _beside(dev, chosen, w, "Development cells by n_t")
    conf = [c for c in cells if c["half"] == "conf" and c["seed"] in (3, 4)]
    if conf:
        lines += [f"## Confirmation: {len(conf)} cells of seeds 3 and 4", "",
                  "| rule | W1 hits | safety | mean W1 regret / floor (± se) |", "|---|---|---|---|"]
        picks = {f"w1({chosen:g})": lambda c: rule_w1(chosen)(w[_key(c)]),
                 "rank(0.5), the frozen guard": lambda c: c["chosen"], "always finetune": lambda c: "finetune"}
        got = {n: _rates(conf, p) for n, p in picks.items()}
        lines += [_line(n, r) for n, r in got.items()]
        lines += [""] + _beside(conf, chosen, w, "Confirmation cells (seeds 3 and 4) by n_t", frozen=True)
    seen = [c for c in cells if c["half"] == "conf" and c["seed"] not in (3, 4)]
    if seen:
        lines += [f"## Confirmation pairs, seeds 0-2: {len(seen)} cells (not the confirmation)", "",
                  "These cells had been fitted and scored, and the likelihood guard judged on them, before the "
                  "W1 rule was proposed (its NLL ceiling was read on them too); the rule was chosen on the "
                  "development cells only, but these cells are reported apart from seeds 3 and 4.", ""]
        lines += _beside(seen, chosen, w, "By n_t", frozen=True)
    return "\n".join(lines) + "\n"


def replay(m: float) -> str:
    """w1(m) beside the frozen guard and always finetune on every cell of ``RESULTS`` with validation W1
    (another route's or the image pairs' results folder: no rule is chosen on them)."""
    w = {(r["pair"], r["n_t"], r["seed"]): {n: float(np.mean(v)) for n, v in r["w1"].items()} for r in bs._jsonl(CACHE)}
    cells = [c for c in bs.load_cells(RESULTS) if _key(c) in w]
    return "\n".join([f"# w1({m:g}) replayed on {RESULTS.name} (bank_w1guard.py --replay)", "",
                      *_beside(cells, m, w, f"{len(cells)} cells by n_t", frozen=True)]) + "\n"


def main() -> None:
    global RESULTS, CACHE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="the bank's results folder (rows, score/)")
    ap.add_argument("--replay", type=float, help="only replay w1(M) on the folder's cells (writes w1guard.md)")
    ap.add_argument("--runs", type=Path)
    ap.add_argument("--half", choices=("dev", "conf"))
    ap.add_argument("--seeds", type=lambda s: {int(v) for v in s.split(",")})
    ap.add_argument("--ceiling", action="store_true")
    ap.add_argument("--summarise", action="store_true")
    a = ap.parse_args()
    RESULTS, CACHE = a.results, a.results / "w1guard.jsonl"
    if a.replay is not None:
        text = replay(a.replay)
        (RESULTS / "w1guard.md").write_text(text)
        print(text)
    elif a.ceiling:
        print(ceiling())
    elif a.summarise:
        text = summarise()
        (RESULTS / "w1guard.md").write_text(text)
        print(text)
    else:
        run(a.runs, a.half, a.seeds)


if __name__ == "__main__":
    main()
