"""Issue 30: what `evaluate`'s answer says on the bank's real cells, before and after it read W1.

For each scored cell of the chosen seeds (``results/bank/score/cells.jsonl``), the command a user
types, ``gentransfer evaluate --model auto --data heldout.csv`` (the guard's choice beside its
comparison candidate on the cell's up to 2,000 held-out rows), and from its JSON: the answer now
(NLL and W1 with their se: helped / hurt / mixed / unclear) and the answer the likelihood alone
gives (|t| >= 2, what `evaluate` said before). Beside them the oracle's W1 difference between the
same two candidates (mean over its 10-40 draws of samples against all held-out rows, with the se of
those draws; the same rows, so a check of consistency, not independent truth): where both resolve a
W1 difference, do they agree in sign? Protocol fixed before the first cell ran (2026-12-05, session
7); seed 0 of both halves.

    python benchmarks/bank_answers.py --runs runs/bank --seeds 0     # results/bank/answers.{jsonl,md}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bank"


def _oracle(cell: dict, transfer: str, scratch: str) -> tuple[float, float] | None:
    """The oracle's W1(scratch) - W1(transfer): mean over draws and its se (None if either is missing)."""
    c = cell["candidates"]
    if transfer not in c or scratch not in c:
        return None
    a, b = np.asarray(c[scratch]["w1"]), np.asarray(c[transfer]["w1"])
    return float(a.mean() - b.mean()), float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))


def answer(here: Path) -> dict:
    out = here / "answer-s7.json"
    done = subprocess.run([sys.executable, "-m", "gentransfer", "evaluate", "--model", "auto", "--data", "heldout.csv",
                           "--out", out.name, "--overwrite"], cwd=here, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-300:])
    return json.loads(out.read_text())["versus_scratch"]


def readings(v: dict) -> dict:
    """The answer now, the likelihood-only answer (the same verdict without its half-splits: what
    ``evaluate`` said before) and the W1 bar, all from the library's own Verdict."""
    from gentransfer.pipeline.verdict import Verdict

    now = Verdict(**{f.name: v[f.name] for f in fields(Verdict)})
    before = replace(now, w1_gain=None, w1_gain_se=None, w1_splits=0)
    return {"outcome": now.outcome, "before": before.outcome, "w1_clear": now.w1_clear}


def summarise(rows: list[dict]) -> str:
    ok = [r for r in rows if "error" not in r]
    lines = [f"# evaluate's answer on the bank's cells ({len(ok)} cells; bank_answers.py)\n",
             "## Now (NLL and W1) against the likelihood alone (before)\n",
             "| before \\ now | helped | hurt | mixed | unclear |", "|---|---|---|---|---|"]
    table = Counter((r["before"], r["outcome"]) for r in ok)
    for before in ("helped", "hurt", "unclear"):
        lines.append(f"| {before} | " + " | ".join(str(table[(before, now)]) for now in
                                                   ("helped", "hurt", "mixed", "unclear")) + " |")
    w1_res = [r for r in ok if abs(r["w1_t"]) >= r["w1_clear"]]
    both = [r for r in w1_res if r["oracle"] and abs(r["oracle"][0]) >= 2 * r["oracle"][1]]
    agree = sum(np.sign(r["w1_gain"]) == np.sign(r["oracle"][0]) for r in both)
    sign_all = [r for r in ok if r["oracle"] and abs(r["oracle"][0]) >= 2 * r["oracle"][1]]
    agree_all = sum(np.sign(r["w1_gain"]) == np.sign(r["oracle"][0]) for r in sign_all)
    lines += ["", f"- W1 resolved (|t| >= 2.26 on 10 cuts) in {len(w1_res)} of {len(ok)} cells; where the oracle "
              f"also resolves the same two candidates (> 2 se), the signs agree in {agree} of {len(both)}.",
              f"- Where the oracle resolves, the 10-cut W1 gain has its sign (resolved or not) in {agree_all} of "
              f"{len(sign_all)} cells.",
              "- By n_t (now): " + "; ".join(
                  f"{n}: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r['outcome'] for r in ok
                                                                              if r['n_t'] == n).items()))
                  for n in sorted({r['n_t'] for r in ok}))]
    changed = [r for r in ok if r["before"] != r["outcome"]]
    lines += ["", "## Cells whose answer changed", "", "| pair | n_t | seed | compared | before | now | NLL t | "
              "W1 gain ± se (t) | oracle W1 gain ± se |", "|---|---|---|---|---|---|---|---|---|"]
    for r in changed:
        o = f"{r['oracle'][0]:+.4f} ± {r['oracle'][1]:.4f}" if r["oracle"] else "-"
        lines.append(f"| {r['pair']} | {r['n_t']} | {r['seed']} | {r['transfer']} vs scratch | {r['before']} | "
                     f"{r['outcome']} | {r['t']:+.1f} | {r['w1_gain']:+.4f} ± {r['w1_gain_se']:.4f} ({r['w1_t']:+.1f}) "
                     f"| {o} |")
    failed = [r for r in rows if "error" in r]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{r['pair']} {r['n_t']} {r['seed']}: {r['error']}" for r in failed)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args()
    log = RESULTS / "answers.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if not args.summarise:
        seeds = {int(s) for s in args.seeds.split(",")}
        cells = {}
        for line in (RESULTS / "score" / "cells.jsonl").read_text().splitlines():
            c = json.loads(line)
            cells[(c["pair"], c["n_t"], c["seed"])] = c  # the last record of a cell is its score
        seen = {(r["pair"], r["n_t"], r["seed"]) for r in rows}
        todo = [k for k in sorted(cells) if k[2] in seeds and k not in seen]
        for i, (pair, n_t, seed) in enumerate(todo):
            here = Path(args.runs) / pair / f"nt{n_t}-seed{seed}"
            row = {"pair": pair, "n_t": n_t, "seed": seed}
            try:
                v = answer(here)
                transfer, scratch = (Path(v[k]).name for k in ("transfer_run", "scratch_run"))
                chosen = json.loads((here / "auto" / "metrics.json").read_text())["strategy"]
                transfer = chosen if transfer == "auto" else transfer
                scratch = chosen if scratch == "auto" else scratch
                row.update({k: v[k] for k in ("t", "w1_gain", "w1_gain_se", "w1_t")}, **readings(v),
                           transfer=transfer, oracle=_oracle(cells[(pair, n_t, seed)], transfer, scratch))
            except (RuntimeError, KeyError, TypeError) as err:
                row["error"] = str(err)[:300]
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
            print(f"[{i + 1}/{len(todo)}] {pair} n_t={n_t} seed={seed}: {row.get('outcome', row.get('error'))}",
                  flush=True)
    text = summarise(rows)
    (RESULTS / "answers.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
