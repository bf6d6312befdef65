"""Issue 30's oracle: every candidate of every finished bank cell scored on its held-out rows, over K draws.

What is scored. A cell is a (pair, n_t, seed) row of ``<results>/rows.jsonl`` without an error whose
folder ``<runs>/<pair>/nt<n_t>-seed<seed>/`` exists. Its candidates are the run folders of the guard's
candidates (``auto/candidates/<name>``: scratch, freeze-shared where the pair has a shared part,
finetune) and any ``arm-<name>/`` run folder beside them; its peers are the ``sdv-*.csv`` sample sets
there (one fixed draw each: scored once, K = 1, their noise not measured). For each candidate K
independent sample sets are drawn in-process (``sample_table``): one sample per held-out row given
that row's conditions (conditional pairs), or as many rows as ``heldout.csv`` (unconditional), each
with its own seed. Each set is compared with the held-out rows exactly as ``gentransfer evaluate
--real heldout.csv --fake samples.csv --floor`` compares them (``compare_samples``): every column (x
and the conditions) read with the pair's declared types, encoded (categories one-hot, numbers over the
held-out rows' sd) for the exact W1, and the table report's detection AUC (a gradient-boosted
classifier's held-out AUC at telling real from generated rows, 0.5 = indistinguishable) beside its
real-vs-real floor; the W1 floor is W1 between two halves of the held-out rows (``--floor``: n =
half the held-out rows, so it sits above what a perfect model scores at the full size). Draw d uses
evaluation seed d for every candidate (the same real halves and classifier split), so the floors are
one per draw seed. Held-out NLL per candidate (nats per row, the data's units) comes from rows.jsonl
(deterministic; an ``arm-*`` missing there is scored once by ``score_run``, seed 0, as ``evaluate
--model`` does).

K and the noise. The smallest W1 difference called real is ``REAL_SHARE`` = 2% of the cell's W1
floor (fixed before any candidate was scored: a 2% change of what a perfect model scores is below
anything a user would act on, and about the floor's own split-to-split sd). A fixed K meets "the se of
a difference of two candidates, sqrt(se_a^2 + se_b^2) with se = draw sd / sqrt(K), at most a third of
it" when sqrt(2 / K) x draw sd <= 2% / 3 of the floor. The pilot (``--pilot``: 4 cells x 10 draws,
``score/pilot.json``, tabled in the summary) measured draw sds of 0.7-2.3% of the floor for most
candidates (K 2-25) but 15% where a floor of 0.21 sits far below every candidate (K ~ 1,000), so K is
sequential: every candidate gets K0 = ``DRAWS`` = 10 draws; then the two candidates of every pair
that is neither resolved (difference > 3 se of the difference: 3, not 2, for the repeated looks) nor
measured finely enough (se of the difference <= 2% / 3 of the floor) get ``STEP`` = 5 more, up to
``MAX_DRAWS`` = 40. The summary counts the pairs left undecided at 40 and reports their se. Detection
rides on the same draws; its noise (draw sd ~0.005-0.025 AUC) is reported beside ``REAL_DETECTION``
= 0.02, not targeted.

Tie rule. Per cell and metric, "best" is the candidate with the lowest mean; another candidate whose
mean is within 2 se of the difference of the best is tied with it. A rule's pick is a hit when it is
the best or tied with it; its regret is its mean minus the best's (W1 also over the cell's floor, so
pairs weigh equally). The regret oracle is the best of the guard's candidates (what it chooses
among); the best over every arm is counted beside it. Development and confirmation halves
(``split.json``) are summarised apart; "finetune if n_t < k" takes k from the development half only.

    python benchmarks/bank_score.py --runs /work/runs/bank --results benchmarks/results/bank \\
        --pilot C01_diamonds_good:200:0,U01_tenmile_female:50:0,C14_tv16_black:1000:1,N03_gss_swapped:200:1
    nice -n 5 python benchmarks/bank_score.py --runs /work/runs/bank --results benchmarks/results/bank
    python benchmarks/bank_score.py --results benchmarks/results/bank --summarise
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import math
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bank import RULES as bank_rules  # noqa: E402
from bank import TYPES  # noqa: E402  (the pair records' type codes, as the runner passes them)

REAL_SHARE = 0.02  # the smallest W1 difference called real, as a share of the cell's W1 floor
REAL_DETECTION = 0.02  # the smallest detection-AUC difference called real
TIE_SD = 2.0  # differences within this many se of the difference are ties
DRAWS = 10  # K0: every candidate's first draws (a stable sd); the pilot's reading is in pilot.json
STEP = 5  # then this many more at a time for the candidates of an undecided pair (``undecided``)
MAX_DRAWS = 40  # ... up to this many (the se of a pair still undecided there is reported, not hidden)
DECIDED_SD = 3.0  # a pair whose difference exceeds this many se is resolved: no more draws (3, not 2: many looks)
SAMPLE_SEED = 7_000  # sample seeds: SAMPLE_SEED + crc32(name) % 10**6 * 100 + draw (independent per candidate)
GUARD = ("scratch", "freeze-shared", "finetune")  # the guard's candidates, in this order in tables
METRICS = ("w1", "nll", "detection")


# ------------------------------------------------------------------------------------------ the noise
def noise(values) -> dict:
    """Mean, draw-to-draw sd and the se of the mean of per-draw metric values (sd and se NaN for one
    draw: its noise is not measured)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    n = len(v)
    if n == 0:
        return {"mean": math.nan, "sd": math.nan, "se": math.nan, "n": 0}
    sd = float(v.std(ddof=1)) if n > 1 else math.nan
    return {"mean": float(v.mean()), "sd": sd, "se": sd / math.sqrt(n) if n > 1 else math.nan, "n": n}


def se_diff(a: dict, b: dict) -> float:
    """The se of the difference of two independent means (an unmeasured se counts as 0)."""
    return math.sqrt(sum(0.0 if math.isnan(s["se"]) else s["se"] ** 2 for s in (a, b)))


def tied(a: dict, b: dict, sds: float = TIE_SD) -> bool:
    """Are two means within ``sds`` se of their difference (a tie)?"""
    return abs(a["mean"] - b["mean"]) <= sds * se_diff(a, b)


def best(scores: dict[str, dict]) -> tuple[str, list[str]]:
    """The candidate with the lowest mean and every candidate tied with it (itself first)."""
    scored = {k: v for k, v in scores.items() if not math.isnan(v["mean"])}
    top = min(scored, key=lambda k: scored[k]["mean"])
    return top, [top] + sorted(k for k in scored if k != top and tied(scored[k], scored[top]))


def regret(scores: dict[str, dict], pick: str) -> dict:
    """A pick's regret against the best of ``scores``: raw, in se of the difference, and whether it
    is a hit (the best or tied with it)."""
    top, ties = best(scores)
    raw = scores[pick]["mean"] - scores[top]["mean"]
    se = se_diff(scores[pick], scores[top])
    return {"pick": pick, "best": top, "ties": ties, "raw": raw, "hit": pick in ties,
            "sd_units": raw / se if se > 0 else (0.0 if raw == 0 else math.inf)}


def choose_draws(rel_sd: float, share: float = REAL_SHARE, ratio: float = 3.0) -> int:
    """The draws K that make the se of a difference of two candidates (each with draw sd ``rel_sd``,
    in the same units as ``share``) at most ``share / ratio``: sqrt(2 / K) sd <= share / ratio."""
    return max(2, math.ceil(2 * (ratio * rel_sd / share) ** 2))


# ------------------------------------------------------------------------------------------ the rules
def finetune_below(k: float):
    """The rule "finetune if n_t < k, else scratch"."""
    return lambda cell: "finetune" if cell["n_t"] < k else "scratch"


RULES = bank_rules  # the runner's rules: a scored cell keeps the row's chosen and validation


def oracle(cell: dict, metric: str = "w1") -> dict[str, dict]:
    """The guard's candidates' scores in ``metric`` (the set the rules choose among)."""
    return {k: v for k, v in cell["scores"][metric].items() if k in cell["candidates"]}


def rule_regret(cell: dict, rule, metric: str = "w1") -> dict:
    """A rule's regret in one cell; W1's also over the cell's floor (``scaled``)."""
    got = regret(oracle(cell, metric), rule(cell))
    got["scaled"] = got["raw"] / cell["w1_floor"] if metric == "w1" else got["raw"]
    return got


def fit_k(cells: list[dict], metric: str = "w1") -> tuple[float, dict]:
    """k of "finetune if n_t < k" with the lowest mean regret (W1: over the floor) on ``cells``,
    among the n_t grid's values and infinity (k = the smallest n_t: always scratch; inf: always
    finetune); the smallest such k on a tie. Returns k and each k's mean regret."""
    grid = sorted({c["n_t"] for c in cells}) + [math.inf]
    means = {k: float(np.mean([rule_regret(c, finetune_below(k), metric)["scaled"] for c in cells])) for k in grid}
    return min(grid, key=lambda k: (means[k], k)), means


# ------------------------------------------------------------------------------------------ scoring
def _header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return next(csv.reader(f))


def _pair_columns(spec: dict, header: list[str], roles: bool = False):
    """The pair's columns in ``header`` (a target may lack a source-only zc) with their declared types:
    every column as x (a sample set compared as ``evaluate --real --fake`` reads it), or with its roles
    (``roles``: held-out rows to score a run on)."""
    from gentransfer.data.tabular import Columns

    have = {r: [c for c in spec[r] if c in header] for r in ("x", "z", "zc")}
    types: dict[str, list[str]] = {}
    for role in ("x", "z", "zc"):
        for name in have[role]:
            types.setdefault(f"{TYPES[spec[role][name]]}_columns", []).append(name)
    if roles:
        return Columns(**{f"{r}_columns": have[r] or None for r in ("x", "z", "zc")}, **types)
    return Columns(x_columns=[c for r in ("x", "z", "zc") for c in have[r]], **types)


def members(here: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """A cell's candidates (the guard's candidates and ``arm-*`` run folders) and peers (``sdv-*.csv``)."""
    runs = {p.name: p for p in sorted((here / "auto" / "candidates").glob("*")) if (p / "config.json").is_file()}
    runs.update({p.name[4:]: p for p in sorted(here.glob("arm-*")) if (p / "config.json").is_file()})
    return runs, {p.stem: p for p in sorted(here.glob("sdv-*.csv"))}


def _stamp(path: Path) -> list:
    """A file's size and modification time: a refitted run or redrawn held-out set scores afresh."""
    model = path / "model" / "model.safetensors" if path.is_dir() else path
    st = (model if model.exists() else path).stat()
    return [st.st_size, round(st.st_mtime, 3)]


def _draw(run: Path, columns, cond, n: int, seed: int, tmp: Path):
    """One sample set of ``run`` as a table of every column (through the CSV the CLI writes)."""
    from gentransfer.pipeline.sample import sample_table, write_samples

    table = sample_table(run, 1 if cond is not None else n, cond, seed=seed)
    write_samples(table, tmp / "fake.csv")
    return columns.load(tmp / "fake.csv")


def _compare(real, fake, seed: int, floor: bool) -> dict:
    from gentransfer.pipeline.evaluate import compare_samples

    r = compare_samples(real, fake, "w1", seed=seed, floor=floor)
    t = r.get("table") or {}
    return {"w1": r["value"], "w1_floor": r.get("floor_w1"), "detection": t.get("detection_auc"),
            "detection_floor": t.get("detection_auc_floor")}


def undecided(scores: dict[str, dict], floor: float, share: float = REAL_SHARE) -> set[str]:
    """Candidates in a pair whose difference is neither resolved (beyond ``DECIDED_SD`` se of the
    difference) nor measured finely enough (se of the difference above ``share`` x floor / 3)."""
    need: set[str] = set()
    names = sorted(scores)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            s = se_diff(scores[a], scores[b])
            if s > share * floor / 3 and abs(scores[a]["mean"] - scores[b]["mean"]) <= DECIDED_SD * s:
                need |= {a, b}
    return need


def _needs(rec: dict, draws: int, most: int) -> dict[str, int]:
    """Draws each candidate of a cached record still needs: up to ``draws`` for all, then ``STEP``
    more for those in an undecided pair, up to ``most``."""
    got = {n: len(g["w1"]) for n, g in rec["candidates"].items() if "error" not in g}
    short = {n: draws - k for n, k in got.items() if k < draws}
    if short or not rec["floor"]["w1"]:
        return short
    floor = noise(rec["floor"]["w1"])["mean"]
    more = undecided({n: noise(rec["candidates"][n]["w1"]) for n in got}, floor)
    return {n: min(STEP, most - got[n]) for n in more if got[n] < most}


def score_cell(row: dict, root: Path, draws: int = DRAWS, old: dict | None = None, most: int = MAX_DRAWS) -> dict:
    """Score one cell (topping up ``old``, the cell's cached record, where it still holds): ``draws``
    sample sets per candidate, then more for candidates in undecided pairs, up to ``most``."""
    from bank_pairs import spec_of

    from gentransfer.cli.outputs import recorded
    from gentransfer.data.tabular import Columns
    from gentransfer.errors import GentransferError

    spec = spec_of(row["pair"])
    here = root / row["pair"] / f"nt{row['n_t']}-seed{row['seed']}"
    header = _header(here / "heldout.csv")
    columns = _pair_columns(spec, header)
    real = columns.load(here / "heldout.csv")
    began = time.perf_counter()
    stamp = _stamp(here / "heldout.csv")
    fresh = {"pair": row["pair"], "kind": row.get("kind", spec["kind"]), "n_t": row["n_t"], "seed": row["seed"],
             "held_out": len(real), "heldout_stamp": stamp, "floor": {"w1": [], "detection": []},
             "candidates": {}, "peers": {}}
    rec = old if old is not None and old.get("heldout_stamp") == stamp else fresh
    rec = json.loads(json.dumps(rec))  # a copy
    runs, peers = members(here)
    for name, run in runs.items():
        got = rec["candidates"].get(name)
        if got is None or got.get("stamp") != _stamp(run) or "error" in got:
            rec["candidates"][name] = {"stamp": _stamp(run), "w1": [], "detection": []}
    for name in [n for n in rec["candidates"] if n not in runs]:  # a run folder that went away
        del rec["candidates"][name]
    with tempfile.TemporaryDirectory() as tmp:
        while need := _needs(rec, draws, most):
            for name, extra in need.items():
                got, run = rec["candidates"][name], runs[name]
                given = [c for r in ("z", "zc") for c in recorded(run).get(f"{r}_columns") or [] if c in header]
                cond = (Columns().or_recorded(recorded(run), here / "heldout.csv", ("z", "zc"))
                        .load(here / "heldout.csv", require_x=False) if given else None)
                try:
                    for d in range(len(got["w1"]), len(got["w1"]) + extra):
                        fake = _draw(run, columns, cond, len(real),
                                     SAMPLE_SEED + zlib.crc32(name.encode()) % 10**6 * 100 + d, Path(tmp))
                        need_floor = d >= len(rec["floor"]["w1"])
                        s = _compare(real, fake, d, need_floor)
                        got["w1"].append(s["w1"])
                        got["detection"].append(s["detection"])
                        if need_floor:
                            rec["floor"]["w1"].append(s["w1_floor"])
                            rec["floor"]["detection"].append(s["detection_floor"])
                except GentransferError as err:  # recorded, not hidden (a run that samples NaN, ...)
                    got["error"] = str(err)[:300]
        for name, run in runs.items():
            got = rec["candidates"][name]
            if name not in row.get("nll", {}) and "nll" not in got and "error" not in got:
                got.update(_nll(run, spec, here))
        for name, path in peers.items():
            if name in rec["peers"] and rec["peers"][name].get("stamp") == _stamp(path):
                continue
            try:
                s = _compare(real, columns.load(path), 0, not rec["floor"]["w1"])
            except GentransferError as err:
                rec["peers"][name] = {"stamp": _stamp(path), "error": str(err)[:300]}
                continue
            if not rec["floor"]["w1"]:
                rec["floor"]["w1"].append(s["w1_floor"])
                rec["floor"]["detection"].append(s["detection_floor"])
            rec["peers"][name] = {"stamp": _stamp(path), "w1": [s["w1"]], "detection": [s["detection"]]}
    rec["draws"], rec["max_draws"] = draws, most
    rec["seconds"] = round(rec.get("seconds", 0) + time.perf_counter() - began, 1)
    return rec


def _nll(run: Path, spec: dict, here: Path) -> dict:
    """An arm's held-out NLL, as ``evaluate --model RUN --data heldout.csv`` scores it (seed 0)."""
    from gentransfer.pipeline.evaluate import score_run

    columns = _pair_columns(spec, _header(here / "heldout.csv"), roles=True)
    result, _ = score_run(run, columns.load(here / "heldout.csv"), seed=0)
    return {"nll": result["nll"], "nll_se": result["nll_se"]}


def complete(rec: dict | None, here: Path, draws: int, most: int = MAX_DRAWS) -> bool:
    """Does a cached record cover the cell's candidates and peers as they are now, at ``draws``
    (and the undecided pairs' extra draws up to ``most``)?"""
    if rec is None or rec.get("heldout_stamp") != _stamp(here / "heldout.csv"):
        return False
    runs, peers = members(here)
    return (set(runs) == set(rec["candidates"])
            and all(rec["candidates"][n].get("stamp") == _stamp(p) and "error" not in rec["candidates"][n]
                    for n, p in runs.items())
            and all(n in rec["peers"] and rec["peers"][n].get("stamp") == _stamp(p) for n, p in peers.items())
            and not _needs(rec, draws, most))


# ------------------------------------------------------------------------------------------ reading
def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _key(r: dict) -> tuple:
    return r["pair"], r["n_t"], r["seed"]


def finished(results: Path, root: Path | None) -> list[dict]:
    """The runner's rows without an error (the last one per cell) whose folder exists."""
    rows = {_key(r): r for r in _jsonl(results / "rows.jsonl")}
    return [r for r in rows.values() if "error" not in r
            and (root is None or (root / r["pair"] / f"nt{r['n_t']}-seed{r['seed']}" / "heldout.csv").is_file())]


def halves(results: Path) -> dict[str, str]:
    """Each pair's half: the results folder's split.json, else the flow bank's (the split is one for
    every route: a diffusion or latent bank keeps its pairs' halves); the image pairs' is ``bank_digits.HALF``."""
    split = results / "split.json"
    split = split if split.exists() else Path(__file__).parent / "results" / "bank" / "split.json"
    from bank_digits import DIGIT_PAIRS, HALF  # the image pairs' half, declared by their own rule

    found = {p: v["half"] for p, v in json.loads(split.read_text())["pairs"].items()} if split.exists() else {}
    return {**dict.fromkeys(DIGIT_PAIRS, HALF), **found}


def build_cell(row: dict, rec: dict, half: str) -> dict:
    """One cell for the summaries: the runner's row (the guard's pick, validation, NLL) and its scores."""
    scores: dict[str, dict] = {m: {} for m in METRICS}
    candidates = [n for n, g in rec["candidates"].items() if "error" not in g]
    for name in candidates:
        g = rec["candidates"][name]
        scores["w1"][name] = noise(g["w1"])
        scores["detection"][name] = noise(g["detection"])
        nll, se = row.get("nll", {}).get(name, g.get("nll")), row.get("nll_se", {}).get(name, g.get("nll_se"))
        scores["nll"][name] = ({"mean": nll, "se": se, "sd": math.nan, "n": 1} if nll is not None
                               else {"mean": math.nan, "se": math.nan, "sd": math.nan, "n": 0})
    peers = {n: {"w1": noise(g["w1"]), "detection": noise(g["detection"])}
             for n, g in rec["peers"].items() if "error" not in g}
    return {"pair": row["pair"], "kind": row.get("kind", rec.get("kind")), "half": half, "n_t": row["n_t"],
            "seed": row["seed"], "chosen": row["chosen"], "p_value": row.get("p_value"),
            "validation": row.get("validation", {}), "guard_candidates": sorted(row.get("validation", {})),
            "candidates": [n for n in candidates if n in row.get("validation", {})] or candidates,
            "arms": candidates, "scores": scores, "peers": peers,
            "w1_floor": noise(rec["floor"]["w1"])["mean"], "w1_floor_sd": noise(rec["floor"]["w1"])["sd"],
            "detection_floor": noise(rec["floor"]["detection"])["mean"], "held_out": rec["held_out"],
            "errors": {n: g["error"] for d in (rec["candidates"], rec["peers"]) for n, g in d.items() if "error" in g}}


def guard_now(row: dict, replayed: dict | None) -> str | None:
    """The pick of the library's guard as it is now: the row's own where it ran under the current
    threshold (the confirmation half), else replayed on the candidates' per-row validation losses
    that ``bank_guard.py`` cached (the development half, fitted under the p < 0.05 rule); None when
    neither is at hand."""
    from gentransfer.transfer.guard import THRESHOLD, choose_strategy

    if row.get("threshold") == THRESHOLD:
        return row["chosen"]
    if replayed is None:
        return None
    return choose_strategy({n: np.array(v) for n, v in replayed["rows"].items()}, threshold=THRESHOLD).chosen


def load_cells(results: Path, root: Path | None = None) -> list[dict]:
    score = results / "score"
    recs = {_key(r): r for r in _jsonl(score / "cells.jsonl")}
    replayed = {_key(r): r for r in _jsonl(results / "guard_rows.jsonl")}
    half = halves(results)
    return [{**build_cell(row, recs[_key(row)], half.get(row["pair"], "?")),
             "chosen_now": guard_now(row, replayed.get(_key(row)))}
            for row in sorted(finished(results, root), key=lambda r: (half.get(r["pair"], "?"), r["pair"], r["n_t"],
                                                                      r["seed"]))
            if _key(row) in recs and row["chosen"] in [n for n, g in recs[_key(row)]["candidates"].items()
                                                        if "error" not in g]]


# ------------------------------------------------------------------------------------------ outputs
TIDY = ["half", "pair", "kind", "n_t", "seed", "name", "role", "chosen_by_guard", "held_out",
        "nll", "nll_se", "w1_mean", "w1_sd", "w1_se", "w1_floor", "w1_floor_sd", "w1_over_floor",
        "detection_mean", "detection_sd", "detection_se", "detection_floor", "draws_w1", "draws_detection"]


def tidy_rows(cells: list[dict]) -> list[dict]:
    out = []
    for c in cells:
        sets = [(n, "arm", c["scores"]["w1"][n], c["scores"]["detection"][n], c["scores"]["nll"][n]) for n in c["arms"]]
        sets += [(n, "peer", p["w1"], p["detection"], None) for n, p in c["peers"].items()]
        for name, role, w1, det, nll in sets:
            out.append({"half": c["half"], "pair": c["pair"], "kind": c["kind"], "n_t": c["n_t"], "seed": c["seed"],
                        "name": name, "role": role, "chosen_by_guard": int(name == c["chosen"]),
                        "held_out": c["held_out"], "nll": _g(nll and nll["mean"]), "nll_se": _g(nll and nll["se"]),
                        "w1_mean": _g(w1["mean"]), "w1_sd": _g(w1["sd"]), "w1_se": _g(w1["se"]),
                        "w1_floor": _g(c["w1_floor"]), "w1_floor_sd": _g(c["w1_floor_sd"]),
                        "w1_over_floor": _g(w1["mean"] / c["w1_floor"]), "detection_mean": _g(det["mean"]),
                        "detection_sd": _g(det["sd"]), "detection_se": _g(det["se"]),
                        "detection_floor": _g(c["detection_floor"]), "draws_w1": w1["n"], "draws_detection": det["n"]})
    return out


def _g(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"


def _f(v: float, digits: int = 3) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _mean_se(v) -> str:
    v = np.asarray(v, dtype=float)
    if len(v) == 0:
        return "—"
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return f"{v.mean():.3f} ± {_f(se)}"


def _paired_text(d: np.ndarray) -> str:
    """A paired difference over cells: mean ± se, t."""
    if len(d) < 2:
        return f"{d.mean():+.3f}" if len(d) else "—"
    se = d.std(ddof=1) / math.sqrt(len(d))
    return f"{d.mean():+.3f} ± {se:.3f}, t = {d.mean() / se:+.1f}" if se > 0 else f"{d.mean():+.3f} ± 0"


def _k_text(k: float) -> str:
    return "inf" if k == math.inf else str(int(k))


def rules_for(k: float, cells: list[dict] | None = None) -> dict:
    """The rules of the summaries; the guard as it is now beside the guard as the cells ran, where
    every cell of ``cells`` has its pick (``guard_now``) and it can differ from the run's."""
    from gentransfer.transfer.guard import THRESHOLD

    now = {}
    if cells and all(c.get("chosen_now") for c in cells) and any(c["chosen_now"] != c["chosen"] for c in cells):
        now = {f"guard now (z > {THRESHOLD:g}, replayed)": lambda cell: cell["chosen_now"]}
    return {**RULES, **now, f"finetune if n_t < {_k_text(k)} (k from dev)": finetune_below(k)}


def half_summary(cells: list[dict], k: float, k_means: dict) -> list[str]:
    """The summary of one half: the oracle per metric, regret per rule, the bars, confusion, misses."""
    lines: list[str] = []
    nts = sorted({c["n_t"] for c in cells})
    rules = rules_for(k, cells)
    lines += [f"{len(cells)} cells, {len({c['pair'] for c in cells})} pairs, n_t {nts}, seeds "
              f"{sorted({c['seed'] for c in cells})}.", ""]
    # the oracle per metric
    lines += ["### The oracle per metric (best of the guard's candidates; ties within 2 se of the difference)", "",
              "| metric | n_t | cells | " + " | ".join(f"{g} best alone" for g in GUARD) + " | tie at the top | "
              "noise: median se of a difference (W1 over floor; NLL nats; AUC) |", "|---" * (5 + len(GUARD)) + "|"]
    for metric in METRICS:
        for n_t in nts:
            mine = [c for c in cells if c["n_t"] == n_t]
            tops = [best(oracle(c, metric)) for c in mine]
            alone = {g: sum(t == g and len(ts) == 1 for t, ts in tops) for g in GUARD}
            ses = [se_diff(o[a], o[b]) / (c["w1_floor"] if metric == "w1" else 1.0)
                   for c in mine for o in [oracle(c, metric)] for a in o for b in o if a < b]
            med = _f(float(np.median(ses)), 4) if ses else "—"
            lines.append(f"| {metric} | {n_t} | {len(mine)} | " + " | ".join(str(alone[g]) for g in GUARD)
                         + f" | {sum(len(ts) > 1 for _, ts in tops)} | {med} |")
    lines += ["", f"The lowest W1 and the lowest NLL are the same candidate in "
              f"{sum(best(oracle(c, 'w1'))[0] == best(oracle(c, 'nll'))[0] for c in cells)} of {len(cells)} cells. "
              "NLL's tie rule uses each candidate's se over the held-out rows, unpaired (rows.jsonl keeps no per-row "
              "NLL): heavy tails make that se large, so NLL ties often."]
    lines += [""] + noise_lines(cells)
    arms = sorted({a for c in cells for a in c["arms"]} - set(GUARD))
    if arms:
        lines += ["", "Best over every arm in W1 (the guard's candidates and " + ", ".join(arms) + "): " + ", ".join(
            f"{a} {sum(best(c['scores']['w1'])[0] == a for c in cells)}" for a in sorted({a for c in cells
                                                                                      for a in c["arms"]}))]
    # regret per rule
    for metric, unit in (("w1", "W1 regret over the cell's floor"), ("nll", "NLL regret, nats per row"),
                         ("detection", "detection-AUC regret")):
        lines += ["", f"### Regret by n_t: {unit} (mean ± se over cells; hits = within 2 se of the best)", "",
                  "| n_t | rule | mean regret | " + ("raw W1 regret | " if metric == "w1" else "")
                  + "hits (share) | worst |", "|---|---|---|" + ("---|" if metric == "w1" else "") + "---|---|"]
        for n_t in nts + ["all"]:
            mine = [c for c in cells if n_t == "all" or c["n_t"] == n_t]
            for name, rule in rules.items():
                got = [rule_regret(c, rule, metric) for c in mine]
                got = [g for g in got if not math.isnan(g["raw"])]
                if not got:
                    continue
                hits = sum(g["hit"] for g in got)
                raw = f"{_mean_se([g['raw'] for g in got])} | " if metric == "w1" else ""
                lines.append(f"| {n_t} | {name} | {_mean_se([g['scaled'] for g in got])} | {raw}"
                             f"{hits} of {len(got)} ({hits / len(got):.0%}) | {max(g['scaled'] for g in got):.3f} |")
    # the bars
    guard = [rule_regret(c, RULES["guard (auto)"]) for c in cells]
    hits = sum(g["hit"] for g in guard)
    safe = [c for c in cells if _scratch_wins(c)]
    kept = sum(c["chosen"] == "scratch" for c in safe)
    scaled = {name: np.array([rule_regret(c, r)["scaled"] for c in cells]) for name, r in rules.items()}
    means = {name: float(v.mean()) for name, v in scaled.items()}
    lines += ["", "### The guard's bars (W1)", "",
              f"- Regret: the guard's pick is within 2 se of the best in {hits} of {len(cells)} cells "
              f"({hits / len(cells):.0%}; bar >= 90%: {'met' if hits >= 0.9 * len(cells) else 'not met'}).",
              f"- Safety: scratch beats every transfer strategy by more than 2 se in {len(safe)} cells; the guard "
              f"kept scratch in {kept} of them" + (f" ({kept / len(safe):.0%}; bar >= 90%: "
                                                   f"{'met' if kept >= 0.9 * len(safe) else 'not met'})." if safe
                                                   else " (no such cell yet).")
              + "".join(f" Not kept: {c['pair']} n_t={c['n_t']} seed={c['seed']} ({c['chosen']})."
                        for c in safe if c["chosen"] != "scratch"),
              "- Better than simple rules (mean W1 regret over the floor; the guard's "
              f"{means['guard (auto)']:.3f}; in brackets the rule's minus the guard's, paired over the cells, "
              "± its se, and t = that over its se): " + "; ".join(
                  f"{n} {v:.3f} ({'guard lower' if means['guard (auto)'] < v else 'guard NOT lower'}: "
                  f"{_paired_text(scaled[n] - scaled['guard (auto)'])})"
                  for n, v in means.items() if n != "guard (auto)"),
              f"- k of \"finetune if n_t < k\", fitted on the development half: {_k_text(k)} (dev mean regret per k: "
              + ", ".join(f"{_k_text(kk)} {v:.3f}" for kk, v in k_means.items()) + ")."]
    # confusion
    cols = sorted({" ≈ ".join(sorted(g["ties"])) for g in guard})
    lines += ["", "### Confusion: the guard's pick (rows) against the best in W1 (columns; tied candidates "
              "joined by ≈)", "", "| chosen | " + " | ".join(cols) + " |", "|---" * (1 + len(cols)) + "|"]
    for pick in [g for g in GUARD if any(c["chosen"] == g for c in cells)]:
        lines.append(f"| {pick} | " + " | ".join(
            str(sum(g["pick"] == pick and " ≈ ".join(sorted(g["ties"])) == col for g in guard)) for col in cols) + " |")
    # by pair
    lines += ["", "### Regret by pair (W1 over the floor; the guard and the simple rules)", "",
              "| pair | kind | cells | guard hits | " + " | ".join(rules) + " |", "|---" * (4 + len(rules)) + "|"]
    for pair in sorted({c["pair"] for c in cells}):
        mine = [c for c in cells if c["pair"] == pair]
        hit = sum(rule_regret(c, RULES["guard (auto)"])["hit"] for c in mine)
        lines.append(f"| {pair} | {mine[0]['kind']} | {len(mine)} | {hit} of {len(mine)} | " + " | ".join(
            f"{np.mean([rule_regret(c, r)['scaled'] for c in mine]):.3f}" for r in rules.values()) + " |")
    # misses
    misses = [(c, g) for c, g in zip(cells, guard, strict=True) if not g["hit"]]
    lines += ["", f"### Every miss of the guard in W1 ({len(misses)})", "",
              "| pair | n_t | seed | chosen (p) | best (tied) | regret | regret / floor | regret in se |",
              "|---|---|---|---|---|---|---|---|"]
    for c, g in misses:
        lines.append(f"| {c['pair']} | {c['n_t']} | {c['seed']} | {c['chosen']} ({_f(c['p_value'], 2)}) | "
                     f"{' ≈ '.join(g['ties'])} | {g['raw']:.4f} | {g['raw'] / c['w1_floor']:.3f} | "
                     f"{g['sd_units']:.1f} |")
    # peers beside the arms
    peers = sorted({p for c in cells for p in c["peers"]})
    if peers:
        lines += ["", "### Arms and peers on the same held-out rows (W1 over floor; detection AUC, floor ~0.5; "
                  "peers: one draw, noise not measured)", "",
                  "| n_t | set | cells | W1 / floor | detection AUC | beats sdv-copula in W1 | "
                  "the guard's pick beats it in W1 |", "|---|---|---|---|---|---|---|"]
        for n_t in nts:
            mine = [c for c in cells if c["n_t"] == n_t and c["peers"]]
            for name in ["guard's pick"] + sorted({a for c in mine for a in c["arms"]}) + peers:
                got = []
                for c in mine:
                    s = (c["scores"]["w1"].get(c["chosen"]) and (c["scores"]["w1"][c["chosen"]],
                                                                c["scores"]["detection"][c["chosen"]])
                         if name == "guard's pick" else
                         (c["scores"]["w1"][name], c["scores"]["detection"][name]) if name in c["arms"] else
                         (c["peers"][name]["w1"], c["peers"][name]["detection"]) if name in c["peers"] else None)
                    if s:
                        got.append((c, *s))
                if not got:
                    continue
                ref = [(c, w) for c, w, _ in got if "sdv-copula" in c["peers"]]
                wins = sum(w["mean"] < c["peers"]["sdv-copula"]["w1"]["mean"] for c, w in ref)
                picked = [(c, w) for c, w, _ in got if c["chosen"] in c["scores"]["w1"]]
                beaten = sum(c["scores"]["w1"][c["chosen"]]["mean"] < w["mean"] for c, w in picked)
                ratio = _mean_se([w["mean"] / c["w1_floor"] for c, w, _ in got])
                lines.append(f"| {n_t} | {name} | {len(got)} | {ratio}"
                             f" | {_mean_se([d['mean'] for _, _, d in got if not math.isnan(d['mean'])])} | "
                             f"{wins} of {len(ref)} | "
                             + ("—" if name == "guard's pick" else f"{beaten} of {len(picked)}") + " |")
    # every cell
    lines += ["", "### Every cell (W1 mean ± se over draws, over the floor; best and ties per metric)", "",
              "| pair | n_t | seed | floor | " + " | ".join(GUARD) + " | best W1 | best NLL | best detection | guard |",
              "|---" * (8 + len(GUARD)) + "|"]
    for c in cells:
        w = c["scores"]["w1"]
        lines.append(f"| {c['pair']} | {c['n_t']} | {c['seed']} | {c['w1_floor']:.3f} | " + " | ".join(
            f"{w[g]['mean'] / c['w1_floor']:.3f} ± {w[g]['se'] / c['w1_floor']:.3f}" if g in w else "—" for g in GUARD)
            + " | " + " | ".join(" ≈ ".join(best(oracle(c, m))[1]) for m in METRICS) + f" | {c['chosen']} |")
    return lines


def noise_lines(cells: list[dict]) -> list[str]:
    """How finely the draws measured each cell: every pair of candidates resolved, within the target
    noise, or neither at the most draws; the draws; the median se of a difference."""
    resolved = fine = left = 0
    worst, ses, det = [], [], []
    for c in cells:
        w, d, floor = c["scores"]["w1"], c["scores"]["detection"], c["w1_floor"]
        names = sorted(w)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                s = se_diff(w[a], w[b])
                ses.append(s / floor)
                det.append(se_diff(d[a], d[b]))
                if s <= REAL_SHARE * floor / 3:
                    fine += 1
                elif abs(w[a]["mean"] - w[b]["mean"]) > DECIDED_SD * s:
                    resolved += 1
                else:
                    left += 1
                    worst.append(s / floor)
    draws = [v["n"] for c in cells for v in c["scores"]["w1"].values()]
    return [f"Noise (W1): of {resolved + fine + left} pairs of candidates, {fine} were measured to a se of the "
            f"difference <= {REAL_SHARE:.0%} / 3 of the floor, {resolved} more were resolved beyond {DECIDED_SD:g} se, "
            f"and {left} were neither at the most draws" + (f" (their se / floor up to {max(worst):.4f})" if worst
                                                            else "") + f". Draws per candidate: median "
            f"{int(np.median(draws))}, {min(draws)}-{max(draws)}. Median se of a difference: {np.median(ses):.4f} of "
            f"the floor in W1 (target <= {REAL_SHARE / 3:.4f}); {np.median(det):.4f} AUC in detection (a third of "
            f"{REAL_DETECTION} would be {REAL_DETECTION / 3:.4f})."]


def _scratch_wins(c: dict) -> bool:
    """Does scratch beat every transfer strategy by more than 2 se of the difference (W1)?"""
    o = oracle(c)
    return "scratch" in o and len(o) > 1 and all(
        o[g]["mean"] - o["scratch"]["mean"] > TIE_SD * se_diff(o[g], o["scratch"]) for g in o if g != "scratch")


def pilot_text(pilot: dict) -> list[str]:
    rows = pilot["rows"]
    ks = sorted(r["k_needed"] for r in rows)
    top = max(rows, key=lambda r: r["w1_rel_sd"])
    lines = ["## The protocol: the smallest real difference, the pilot's noise and K", "",
             f"The smallest W1 difference called real, fixed before any candidate was scored: {REAL_SHARE:.0%} of the "
             f"cell's W1 floor (detection AUC: {REAL_DETECTION}). A fixed K meets it when sqrt(2 / K) x (draw sd / "
             f"floor) <= {REAL_SHARE:.0%} / 3. The pilot ({len({r['cell'] for r in rows})} cells x {pilot['draws']} "
             f"draws per candidate, {pilot['seconds_per_draw']:.1f} s per draw on the shared cores):", "",
             "| cell | candidate | W1 mean (/ floor) | W1 floor (sd over splits) | W1 draw sd / floor | K needed | "
             "detection mean | detection draw sd | K needed (detection) | detection floor |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['name']} | {r['w1_mean']:.3f} ({r['w1_mean'] / r['w1_floor']:.2f}) | "
                     f"{r['w1_floor']:.4f} ({r['w1_floor_sd']:.4f}) | {r['w1_rel_sd']:.4f} | {r['k_needed']} | "
                     f"{r['detection_mean']:.3f} | {r['detection_sd']:.4f} | {r['k_detection']} | "
                     f"{r['detection_floor']:.3f} |")
    lines += ["", f"K needed per candidate: median {int(np.median(ks))}, largest {ks[-1]} ({top['cell']}, "
              f"{top['name']}: a draw sd of {top['w1_rel_sd']:.1%} of a floor far below the candidates' W1). One "
              f"fixed K for every cell would be the largest; the differences it is needed for are, there, many times "
              f"the noise. So K is sequential: every candidate gets K0 = {DRAWS} draws; then the candidates of each "
              f"pair that is neither resolved (difference > {DECIDED_SD:g} se of the difference; 3, not 2, for the "
              f"repeated looks) nor fine enough (se of the difference <= {REAL_SHARE:.0%} x floor / 3) get {STEP} "
              f"more, up to {MAX_DRAWS}. Every pair thus ends resolved, within the target noise, or at {MAX_DRAWS} "
              f"draws (counted below). Detection rides on the same draws; its noise is reported, not targeted.", ""]
    return lines


def summarise(results: Path, root: Path | None) -> tuple[str, list[dict], float]:
    score = results / "score"
    cells = load_cells(results, root)
    pilot = json.loads((score / "pilot.json").read_text()) if (score / "pilot.json").exists() else None
    text = ["# The bank's oracle: every candidate scored over K sample draws (issue 30)", "",
            "Written by `benchmarks/bank_score.py` (its docstring states the protocol). W1: exact, on every column "
            "(x and conditions) encoded and standardised, against the held-out rows; floor: W1 between two halves "
            "of the held-out rows (n = half of them), as `evaluate --real --fake --floor`. Detection: held-out AUC "
            "of a gradient-boosted classifier, real vs generated. NLL from rows.jsonl. Tidy table: tidy.csv. The "
            "floor compares two halves (n = half the held-out rows) while a candidate's W1 uses every held-out row, "
            "so a good candidate can score below the floor (W1 / floor < 1): read the floor as the cell's scale.", ""]
    text += pilot_text(pilot) if pilot else ["(no pilot yet)", ""]
    waiting = len(finished(results, root)) - len(cells)
    text += [f"Cells scored: {len(cells)} of the {len(cells) + waiting} finished rows in rows.jsonl"
             + (f" ({waiting} not scored yet, or their guard's pick could not be scored)." if waiting else "."), ""]
    dev = [c for c in cells if c["half"] == "dev"]
    k, k_means = fit_k(dev) if dev else (math.inf, {})
    for half, title in (("dev", "Development half"), ("conf", "Confirmation half"), ("?", "Pairs outside split.json")):
        mine = [c for c in cells if c["half"] == half]
        if half == "?" and not mine:
            continue
        note = ["(k is fitted on these cells: the k rule's regret here is in-sample.)", ""] if half == "dev" else []
        text += [f"## {title}", ""] + (note + half_summary(mine, k, k_means) if mine else ["No scored cells yet."])
        text += [""]
    errors = [(c, n, e) for c in cells for n, e in c["errors"].items()]
    if errors:
        text += ["## Sets that could not be scored", ""] + [f"- {c['pair']} n_t={c['n_t']} seed={c['seed']} {n}: {e}"
                                                           for c, n, e in errors]
    return "\n".join(text) + "\n", cells, k


def plots(cells: list[dict], k: float, score: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({c["pair"] for c in cells})
    if not pairs:
        return
    cols = min(4, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * max(cols, 3), max(2.8 * rows, 4)), squeeze=False, sharex=True)
    for ax, pair in zip(axes.flat, pairs, strict=False):
        mine = [c for c in cells if c["pair"] == pair]
        arms = sorted({a for c in mine for a in c["arms"]} - {"scratch"})
        for arm in arms:
            xs, ys, es = [], [], []
            for n_t in sorted({c["n_t"] for c in mine}):
                g = [(c["scores"]["w1"]["scratch"]["mean"] - c["scores"]["w1"][arm]["mean"]) / c["w1_floor"]
                     for c in mine if c["n_t"] == n_t and arm in c["arms"] and "scratch" in c["arms"]]
                if g:
                    xs.append(n_t)
                    ys.append(np.mean(g))
                    es.append(np.std(g, ddof=1) / math.sqrt(len(g)) if len(g) > 1 else 0.0)
            ax.errorbar(xs, ys, yerr=es, marker="o", ms=3, capsize=2, label=arm)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted({c["n_t"] for c in mine}), [str(n) for n in sorted({c["n_t"] for c in mine})])
        ax.set_title(f"{pair} ({mine[0]['half']})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    fig.supxlabel("n_t (target rows)")
    fig.supylabel("W1 gain over scratch / floor (mean ± se over seeds)", fontsize=9)  # fits a one-row map
    fig.suptitle("Transfer map: (W1 scratch - W1 arm) / floor; above 0 the arm beats scratch", fontsize=10)
    fig.tight_layout()
    fig.savefig(score / "transfer_map.png", dpi=120)
    plt.close(fig)

    found = [h for h in ("dev", "conf") if any(c["half"] == h for c in cells)]
    fig, axes = plt.subplots(1, len(found), figsize=(5.5 * len(found), 4), squeeze=False)
    for ax, half in zip(axes.flat, found, strict=True):
        mine = [c for c in cells if c["half"] == half]
        nts = sorted({c["n_t"] for c in mine})
        for i, (name, rule) in enumerate(rules_for(k, mine).items()):
            ys, es = [], []
            for n_t in nts:
                g = [rule_regret(c, rule)["scaled"] for c in mine if c["n_t"] == n_t]
                ys.append(np.mean(g))
                es.append(np.std(g, ddof=1) / math.sqrt(len(g)) if len(g) > 1 else 0.0)
            label = "guard as the cells ran (auto)" if name == "guard (auto)" else name
            ax.errorbar(np.array(nts) * (1 + 0.03 * (i - 2)), ys, yerr=es, marker="o", capsize=2, label=label,
                        lw=2.5 if name.startswith("guard") else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(bottom=0)
        ax.set_xticks(nts, [str(n) for n in nts])
        ax.set_xlabel("n_t (target rows)")
        ax.set_ylabel("mean W1 regret / floor (± se over cells; symlog)")
        ax.set_title(f"{half} half: {len(mine)} cells")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(score / "regret.png", dpi=120)
    plt.close(fig)


def write_outputs(results: Path, root: Path | None) -> str:
    score = results / "score"
    score.mkdir(parents=True, exist_ok=True)
    text, cells, k = summarise(results, root)
    with (score / "tidy.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, TIDY)
        w.writeheader()
        w.writerows(tidy_rows(cells))
    (score / "summary.md").write_text(text)
    plots(cells, k, score)
    return text


# ------------------------------------------------------------------------------------------ the runs
def run(results: Path, root: Path, draws: int, pairs: set[str] | None, only: set[tuple] | None = None,
        most: int = MAX_DRAWS) -> list[dict]:
    """Score every finished cell not yet complete in the cache (appending to score/cells.jsonl)."""
    score = results / "score"
    score.mkdir(parents=True, exist_ok=True)
    cache = score / "cells.jsonl"
    recs = {_key(r): r for r in _jsonl(cache)}
    todo = [r for r in finished(results, root) if (pairs is None or r["pair"] in pairs)
            and (only is None or _key(r) in only)
            and not complete(recs.get(_key(r)), root / r["pair"] / f"nt{r['n_t']}-seed{r['seed']}", draws, most)]
    began = time.perf_counter()
    from gentransfer.errors import GentransferError

    for i, row in enumerate(todo):
        try:
            rec = score_cell(row, root, draws, recs.get(_key(row)), most)
        except GentransferError as err:  # said, not cached: the next run tries again
            print(f"[{i + 1}/{len(todo)}] {row['pair']} n_t={row['n_t']} seed={row['seed']}: not scored: {err}",
                  flush=True)
            continue
        with cache.open("a") as f:  # locked: two oracles on disjoint --pairs may share the cache
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(rec) + "\n")
        recs[_key(row)] = rec
        spent = time.perf_counter() - began
        print(f"[{i + 1}/{len(todo)}] {row['pair']} n_t={row['n_t']} seed={row['seed']}: draws "
              + ", ".join(f"{n} {len(g['w1'])}" for n, g in rec["candidates"].items())
              + f"; {len(rec['peers'])} peers; {rec['seconds']:.0f} s in all; "
              f"about {spent / (i + 1) * (len(todo) - i - 1) / 60:.0f} min left", flush=True)
    return [recs[_key(r)] for r in finished(results, root) if _key(r) in recs and (only is None or _key(r) in only)]


def pilot(results: Path, root: Path, cells: list[tuple], draws: int) -> dict:
    """Score ``cells`` with exactly ``draws`` draws per candidate (kept in the cache as the cells'
    first draws) and measure the draw-to-draw noise; for each candidate the K a fixed-K protocol
    would need (``choose_draws``)."""
    recs = run(results, root, draws, None, set(cells), most=draws)
    rows = []
    for rec in recs:
        floor = noise(rec["floor"]["w1"][:draws])
        for name, g in rec["candidates"].items():
            if "error" in g:
                continue
            w1, det = noise(g["w1"][:draws]), noise(g["detection"][:draws])
            rows.append({"cell": f"{rec['pair']} n_t={rec['n_t']} seed={rec['seed']}", "name": name, "draws": w1["n"],
                         "w1_mean": w1["mean"], "w1_floor": floor["mean"], "w1_floor_sd": floor["sd"],
                         "w1_rel_sd": w1["sd"] / floor["mean"], "k_needed": choose_draws(w1["sd"] / floor["mean"]),
                         "detection_mean": det["mean"], "detection_sd": det["sd"],
                         "k_detection": choose_draws(det["sd"], REAL_DETECTION),
                         "detection_floor": noise(rec["floor"]["detection"][:draws])["mean"]})
    spent = sum(rec["seconds"] for rec in recs) / sum(len(rec["candidates"]) * draws for rec in recs)
    out = {"cells": [list(c) for c in cells], "draws": draws, "rows": rows, "seconds_per_draw": spent,
           "real_share": REAL_SHARE, "real_detection": REAL_DETECTION}
    (results / "score" / "pilot.json").write_text(json.dumps(out, indent=1))
    return out


def _cell(text: str) -> tuple:
    pair, n_t, seed = text.split(":")
    return pair, int(n_t), int(seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="/work/runs/bank", help="the runner's --out (cell folders)")
    parser.add_argument("--results", default=str(HERE / "results" / "bank"), help="rows.jsonl and split.json here; "
                        "scores written to its score/ folder")
    parser.add_argument("--draws", type=int, default=DRAWS, help=f"K0: first draws per candidate (default {DRAWS})")
    parser.add_argument("--max-draws", type=int, default=MAX_DRAWS,
                        help=f"most draws for a candidate of an undecided pair (default {MAX_DRAWS})")
    parser.add_argument("--pairs", help="score only these pairs (comma-separated)")
    parser.add_argument("--summarise", action="store_true", help="only write the summaries from the cache")
    parser.add_argument("--scored-only", action="store_true",
                        help="top up only the cells already in the cache (new peers or arms on scored cells), "
                        "leaving unscored cells unscored")
    parser.add_argument("--pilot", help="pair:n_t:seed,... : measure the draw noise on these cells and choose K")
    parser.add_argument("--pilot-draws", type=int, default=10)
    args = parser.parse_args()
    results, root = Path(args.results), Path(args.runs).absolute()
    if args.pilot:
        got = pilot(results, root, [_cell(c) for c in args.pilot.split(",")], args.pilot_draws)
        print("\n".join(pilot_text(got)))
        return
    if not args.summarise:
        only = {_key(r) for r in _jsonl(results / "score" / "cells.jsonl")} if args.scored_only else None
        run(results, root, args.draws, set(args.pairs.split(",")) if args.pairs else None, only, most=args.max_draws)
    print(write_outputs(results, root if root.is_dir() else None))


if __name__ == "__main__":
    main()
