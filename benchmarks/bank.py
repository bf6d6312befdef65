"""Issue 30's bank: is the guard's answer right on real source/target pairs? (runner, resumable)

For each (pair, n_t, seed) of ``bank_pairs.PAIRS`` (and ``bank_digits.DIGIT_PAIRS``): n_t target rows
drawn at random, held-out rows from the rest (at most 2,000; only rows whose categories the drawn target
rows and the source contain, since a run knows only the categories it saw), one source run per pair
reused across n_t and seeds, then ``fit-target --strategy auto``: its candidates (scratch, freeze-shared
where the source has a shared part, finetune) are the arms, so no arm is fitted twice. Every candidate
and the guard's choice are scored by ``gentransfer evaluate`` on the held-out rows: NLL per row (nats,
the data's units), W1 beside its floor. The oracle is the candidate with the lowest held-out NLL; a
rule's regret is its pick's NLL minus the oracle's. Rules: the guard (auto), always scratch, always
finetune, always freeze-shared, and the lowest validation loss in the guard's own table (no test; the
guard without its signed-rank test).

Every command is what a user types, with the CLI's defaults and ``--family`` (flows: exact held-out
likelihoods, the fastest fits). Rows append to ``--results/rows.jsonl``; a row already there is
skipped, so a stopped run resumes. Column types: f continuous, i integer, c and b categorical; a
pair's ``unit`` column (a panel id) is dropped after the draw, which puts whole units on one side
(``draw_target``).

    pip install -c constraints.txt -e '.[bank]'
    python benchmarks/bank.py --pairs C01_diamonds_good,U01_tenmile_female --n-target 200 --seeds 0,1 \\
        --out runs/bank --results benchmarks/results/bank
    python benchmarks/bank.py --summarise --results benchmarks/results/bank
    python benchmarks/bank.py --pairs dev --n-target 50,200,1000 --seeds 0,1,2,3,4 \\
        --out runs/bank --results benchmarks/results/bank                 # the development half
    python benchmarks/bank.py --arms lora,pooled --pairs dev ...            # arms on its finished cells
    python benchmarks/bank.py --sdv copula,ctgan,tvae,copula-pooled ...     # SDV's sets (the peers extra)
    python benchmarks/bank.py --quick --out runs/bank-quick --results runs/bank-quick   # 3 cells

The other routes, each in its own --out and --results (a folder holds one route: ``route.json``),
scored by ``bank_score.py`` with the same oracle and judged by the same bars; protocol fixed on
2026-12-05 before any of their cells ran. Both are subsets because of their cost: the latent route's
smoke cell (U01, n_t = 200, beside the flow bank and its oracle) took 20 minutes for its source and
61 for auto's three two-stage candidates (32 CPU-minutes in all with evaluate), against 10 s and 11 s
with plain flows: about 6 hours of the 2 cores for the 30 cells below, plus the oracle (3 minutes a
cell). Measured when they ran (2026-12-05, session 8, one thread per process): 30 minutes for the 30
cells as two runners, auto 59-136 s a cell; the smoke cell's cost was torch's second thread on
shared cores (benchmarks/README.md, "Threads"). Run every route with OMP_NUM_THREADS=1.

- The latent route (the paper's unconditional SEC: P_U kept, decoder fitted): the six U pairs (U01-U03
  development, U04-U06 confirmation), flows, ``--latent-dim half`` (ceil(d_x / 2): 2 for three or four
  columns, 3 for U06, 5 for U05), n_t = 200, seeds 0-4 (30 cells). Its guard (lowest validation W1)
  is judged, not changed, on these cells.
- Diffusion: in each half the three pairs whose flow source fitted fastest in this bank (a rule that
  reads no result): U01, C09, C07 (development) and C02, C16, N04 (confirmation; N04 is a control),
  n_t = 200, seeds 0-4 (30 cells), ``--family diffusion``.

    python benchmarks/bank.py --pairs U01_tenmile_female,U02_chem97_female,U03_cpssw8_female,U04_movies_comedy,\
U05_baseball_1951_1980,U06_nafld_male --latent-dim half --n-target 200 --seeds 0,1,2,3,4 \
        --out runs/bank-latent --results benchmarks/results/bank-latent
    python benchmarks/bank.py --pairs U01_tenmile_female,C09_budgetfood_town1,C07_gss_2010s,C02_cps1988_west,\
C16_gapminder_europe,N04_cps1988_zshuffled --family diffusion --n-target 200 --seeds 0,1,2,3,4 \
        --out runs/bank-diffusion --results benchmarks/results/bank-diffusion

The image pairs (``bank_digits``: MNIST -> USPS and its transposed-source control, read from the data
root; protocol in ``results/bank-digits/protocol.md``):

    GENTRANSFER_DATA=../shared/data python benchmarks/bank.py --pairs digits --n-target 50,200,1000 \
        --seeds 0,1,2,3,4 --out runs/bank-digits --results benchmarks/results/bank-digits
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HELD_OUT = 2000
MIN_HELD_OUT = 1000  # a cell runs only if the target keeps this many rows beyond its n_t
TYPES = {"f": "continuous", "i": "integer", "c": "categorical", "b": "categorical"}


def cli(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "gentransfer", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"gentransfer {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _flags(spec: dict) -> list[str]:
    """The column roles and types of a pair record as command-line flags."""
    flags = []
    for role in ("x", "z", "zc"):
        if spec[role]:
            flags += [f"--{role}-columns", ",".join(spec[role])]
    types: dict[str, list[str]] = {}
    for role in ("x", "z", "zc"):
        for name, code in spec[role].items():
            types.setdefault(TYPES[code], []).append(name)
    for kind, names in types.items():
        flags += [f"--{kind}-columns", ",".join(names)]
    return flags


def _seen(rows, reference, columns) -> np.ndarray:
    """Rows of ``rows`` whose categorical values all appear in ``reference``."""
    keep = np.ones(len(rows), dtype=bool)
    for c in columns:
        keep &= rows[c].isin(set(reference[c])).to_numpy()
    return keep


def draw_target(tgt, n_t: int, seed: int, unit: str | None = None):
    """The n_t target rows a fit sees and the rest (held-out candidates), seeded. With a panel
    ``unit`` column, whole units go to one side: units in a seeded order fill the n_t rows (the last
    one cut), and held-out rows come only from units the fit never saw."""
    rng = np.random.default_rng(seed)
    if unit is None or unit not in tgt.columns:
        order = rng.permutation(len(tgt))
        return tgt.iloc[order[:n_t]], tgt.iloc[order[n_t:]]
    units = tgt[unit].unique()
    units = units[rng.permutation(len(units))]
    sizes = tgt.groupby(unit).size().reindex(units).to_numpy()
    k = int(np.searchsorted(np.cumsum(sizes), n_t)) + 1  # units needed to reach n_t rows
    inside = tgt[tgt[unit].isin(set(units[:k]))]
    inside = inside.iloc[rng.permutation(len(inside))][:n_t]
    rest = tgt[~tgt[unit].isin(set(units[:k]))]
    return inside, rest.iloc[rng.permutation(len(rest))]


def cells(pairs: list[str], n_targets: list[int], seeds: list[int]) -> list[tuple[str, int, int]]:
    """Every (pair, n_t, seed) to run, seed by seed (so a stopped bank has every pair at its first
    seeds), and only the n_t a pair's target allows with ``MIN_HELD_OUT`` rows left to score."""
    from bank_pairs import target_rows

    sizes = {p: target_rows(p) for p in pairs}
    return [(p, n, s) for s in seeds for n in n_targets for p in pairs if sizes[p] - n >= MIN_HELD_OUT]


def prepare(pair: str, n_t: int, seed: int, root: Path) -> tuple[Path, dict, list[str], list[str]]:
    """Write source.csv (once per pair), and target.csv / heldout.csv for (n_t, seed); returns the cell's
    folder, the pair record, and the source's and the target's column flags (a zc column only the
    source has is not the target's)."""
    from bank_pairs import load_pair, spec_of

    src, tgt, spec = load_pair(pair)
    columns = list(spec["x"]) + list(spec["z"]) + list(spec["zc"])
    categorical = [c for r in ("x", "z", "zc") for c, code in spec[r].items() if code in "cb"]
    folder = root / pair
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "source.csv").is_file():
        src[columns].to_csv(folder / "source.csv", index=False)
    here = folder / f"nt{n_t}-seed{seed}"
    here.mkdir(exist_ok=True)
    tgt = tgt[_seen(tgt, src, [c for c in categorical if c in spec["z"] or c in spec["zc"]])]
    fit_rows, rest = draw_target(tgt, n_t, seed, spec.get("unit"))
    rest = rest[_seen(rest, fit_rows, categorical)].iloc[:HELD_OUT]
    mine = {r: {c: k for c, k in spec[r].items() if c in tgt.columns} for r in ("x", "z", "zc")}
    fit_rows[[c for c in columns if c in tgt.columns]].to_csv(here / "target.csv", index=False)
    rest[[c for c in columns if c in tgt.columns]].to_csv(here / "heldout.csv", index=False)
    assert spec_of(pair) is spec
    return here, spec, _flags(spec), _flags(mine)


def _again(out: Path) -> str:
    """--resume a source fit a stopped bank left with a checkpoint (a large source takes an hour), else
    --overwrite."""
    saved = out.parent / f".{out.name}.partial" / "checkpoints" / "train_state.safetensors"
    return "--resume" if saved.is_file() else "--overwrite"


def latent_size(spec: dict, latent_dim: str | None) -> int | None:
    """``--latent-dim``: None (a plain model of x), a number, or ``half`` (ceil(d_x / 2), x's columns)."""
    if latent_dim is None:
        return None
    return -(-len(spec["x"]) // 2) if latent_dim == "half" else int(latent_dim)


def one(pair: str, n_t: int, seed: int, root: Path, family: str, latent_dim: str | None = None) -> dict:
    here, spec, flags, target_flags = prepare(pair, n_t, seed, root)
    source = root / pair / "source"
    latent = latent_size(spec, latent_dim)
    began = time.perf_counter()
    if not (source / "config.json").is_file():
        cli("fit-source", "--data", str(root / pair / "source.csv"), "--family", family, "--out", str(source),
            _again(source), *flags, *(["--latent-dim", str(latent)] if latent else []), cwd=here)
    source_seconds = time.perf_counter() - began
    began = time.perf_counter()
    cli("fit-target", "--source", str(source), "--data", "target.csv", "--strategy", "auto", "--out", "auto",
        "--overwrite", "--seed", str(seed), *target_flags, cwd=here)
    fit_seconds = time.perf_counter() - began
    metrics = json.loads((here / "auto" / "metrics.json").read_text())
    guard = metrics["auto"]
    candidates = sorted(p.name for p in (here / "auto" / "candidates").iterdir() if p.is_dir())
    runs = [f"auto/candidates/{c}" for c in candidates]
    args = [a for r in runs for a in ("--model", r)]
    cli("evaluate", *args, "--data", "heldout.csv", "--out", "scores.json", "--overwrite", cwd=here)
    scored = {r["run"].split("/")[-1]: r for r in json.loads((here / "scores.json").read_text())["runs"]}
    return {"pair": pair, "kind": spec["kind"], "n_t": n_t, "seed": seed, "family": family, "latent_dim": latent,
            "rule": guard.get("rule", "signed-rank"), "held_out": scored[candidates[0]]["rows"],
            "chosen": guard["chosen"], "p_value": guard["p_value"],
            "threshold": guard.get("threshold"),  # the guard's z threshold (None: the p < 0.05 rule before issue 30)
            "validation": guard["losses"], "n_validation": guard["n_validation"],
            "nll": {c: scored[c]["nll"] for c in candidates}, "nll_se": {c: scored[c]["nll_se"] for c in candidates},
            "w1": {c: scored[c]["w1"] for c in candidates}, "w1_floor": scored[candidates[0]]["w1_floor"],
            "seconds": {"source": round(source_seconds), "auto": round(fit_seconds)}}


QUICK = ("C09_budgetfood_town1", "U01_tenmile_female", "N01_diamonds_shuffled")  # a conditional, a plain, a control
ARMS = ("lora", "pooled")  # fitted apart from auto, on the rows auto's candidates were fitted on


def arm(row: dict, name: str, root: Path, family: str) -> dict:
    """Fit ``name`` on the cell's guard rows (the 80% of target.csv that auto's candidates were fitted
    on, same seed, same settings) into ``arm-NAME`` and score it on the held-out rows as ``one`` does."""
    import pandas as pd

    from gentransfer.transfer.guard import guard_rows

    here, spec, flags, target_flags = prepare(row["pair"], row["n_t"], row["seed"], root)
    target = pd.read_csv(here / "target.csv")
    target.iloc[guard_rows(len(target), row["seed"])[0]].to_csv(here / "target-fit.csv", index=False)
    extra = ["--source-data", str(root / row["pair"] / "source.csv")] if name == "pooled" else []
    began = time.perf_counter()
    cli("fit-target", "--source", str(root / row["pair"] / "source"), "--data", "target-fit.csv", "--strategy",
        name, "--out", f"arm-{name}", "--overwrite", "--seed", str(row["seed"]), *target_flags, *extra, cwd=here)
    seconds = time.perf_counter() - began
    cli("evaluate", "--model", f"arm-{name}", "--data", "heldout.csv", "--out", f"scores-{name}.json", "--overwrite",
        cwd=here)
    scored = json.loads((here / f"scores-{name}.json").read_text())["runs"][0]
    return {"pair": row["pair"], "n_t": row["n_t"], "seed": row["seed"], "arm": name, "nll": scored["nll"],
            "nll_se": scored["nll_se"], "w1": scored["w1"], "seconds": round(seconds)}


def _arms(rows: list[dict], names: list[str], root: Path, results: Path, family: str) -> None:
    out = results / "arms.jsonl"
    done = {(r["pair"], r["n_t"], r["seed"], r["arm"]) for r in map(json.loads, out.read_text().splitlines())} \
        if out.exists() else set()
    todo = [(r, a) for a in names for r in rows
            if "error" not in r and (r["pair"], r["n_t"], r["seed"], a) not in done]
    began = time.perf_counter()
    for i, (row, name) in enumerate(todo):
        try:
            got = arm(row, name, root, family)
        except Exception as err:  # noqa: BLE001  a refusal is a finding: recorded
            got = {"pair": row["pair"], "n_t": row["n_t"], "seed": row["seed"], "arm": name, "error": str(err)[:500]}
        with out.open("a") as f:
            f.write(json.dumps(got) + "\n")
        spent = time.perf_counter() - began
        print(f"[{i + 1}/{len(todo)}] {name} {row['pair']} n_t={row['n_t']} seed={row['seed']}: "
              f"{got.get('nll', got.get('error'))}; {spent / 60:.0f} min so far, about "
              f"{spent / (i + 1) * (len(todo) - i - 1) / 60:.0f} min left", flush=True)


def _sdv(rows, n: int, known, seed: int):
    """SDV 2.x GaussianCopulaSynthesizer (its defaults) fitted on ``rows``: ``n`` rows, or one row
    per row of ``known`` (the held-out conditions) when the pair is conditional."""
    synth = _synth("copula", rows, seed)
    return _drawn(synth.sample(n) if known is None else synth.sample_remaining_columns(known), rows.columns)


SYNTHS = ("copula", "ctgan", "tvae")  # SDV 2.x single-table synthesizers, each at its defaults


def _synth(name: str, rows, seed: int):
    """SDV's synthesizer ``name`` (its defaults) fitted on ``rows``."""
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    kind = {"copula": GaussianCopulaSynthesizer, "ctgan": CTGANSynthesizer, "tvae": TVAESynthesizer}[name]
    synth = kind(Metadata.detect_from_dataframes({"t": rows}, infer_keys=None))
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)
    synth.fit({"t": rows})
    return synth


def _drawn(drawn, columns):
    return (drawn["t"] if isinstance(drawn, dict) else drawn)[list(columns)]


def sdv_sets(row: dict, root: Path, names: tuple[str, ...] = SYNTHS) -> dict:
    """SDV peers for a finished cell, written as ``sdv-NAME.csv`` (fitted on the n_t target rows) and
    ``sdv-NAME-pooled.csv`` (fitted on the source's rows and the target's with a ``domain`` column, as a
    practitioner pools, sampled under domain = target): as many rows as heldout.csv. The copula is given
    each held-out row's conditions where the pair has them (``sample_remaining_columns``, exact for it), as
    gentransfer's runs are; CTGAN and TVAE draw whole rows, their conditions included (their conditional
    sampling is by rejection, hours for 2,000 distinct continuous rows), which adds their conditions'
    error to their W1: a handicap recorded with each set. Seconds per set are returned, or the set's
    error (a set that fails is recorded and the next set still runs)."""
    import pandas as pd
    from bank_pairs import spec_of

    spec, here = spec_of(row["pair"]), root / row["pair"] / f"nt{row['n_t']}-seed{row['seed']}"
    held = pd.read_csv(here / "heldout.csv")
    target = pd.read_csv(here / "target.csv")
    source = pd.read_csv(root / row["pair"] / "source.csv")[list(target.columns)]
    conditions = [c for r in ("z", "zc") for c in spec[r] if c in held.columns]
    out = {}
    for entry in names:  # "ctgan" (the target's rows), "ctgan-pooled" (both tasks' rows)
        name, pooled = entry.removesuffix("-pooled"), entry.endswith("-pooled")
        if name not in SYNTHS:
            raise ValueError(f"unknown SDV set {entry!r}: one of {SYNTHS}, each optionally -pooled")
        file = here / f"sdv-{entry}.csv"
        if file.is_file():
            continue
        began = time.perf_counter()
        try:
            drawn, how = _sdv_set(name, pooled, source, target, held, conditions, row["seed"])
        except Exception as err:  # noqa: BLE001  (one set's failure, recorded; the cell's other sets still run)
            out[file.name] = {"error": str(err)[:500]}
            continue
        drawn.to_csv(file, index=False)
        out[file.name] = {"seconds": round(time.perf_counter() - began, 1), "how": how}
    return out


def _sdv_set(name: str, pooled: bool, source, target, held, conditions: list[str], seed: int):
    """One SDV sample set of ``sdv_sets`` and how its conditions were met."""
    import pandas as pd

    rows = pd.concat([source.assign(domain="source"), target.assign(domain="target")]) if pooled else target
    synth = _synth(name, rows, seed)
    if name == "copula" and conditions:  # the copula conditions exactly on the held-out rows' values
        known = held[conditions].assign(domain="target") if pooled else held[conditions]
        return _drawn(synth.sample_remaining_columns(known), target.columns), "given the held-out conditions"
    # CTGAN / TVAE meet continuous conditions only by rejection: 2,000 distinct rows take hours
    from sdv.sampling import Condition

    drawn = (synth.sample_from_conditions([Condition({"domain": "target"}, num_rows=len(held))])
             if pooled else synth.sample(len(held)))
    return _drawn(drawn, target.columns), "joint rows (their own conditions)" if conditions else "rows"


def peers(row: dict, root: Path) -> dict:
    """Every candidate of the row's auto run and SDV's GaussianCopula (target rows alone, and source
    and target rows pooled) as sample sets: the same held-out conditions where the pair has them,
    each scored against the held-out rows by ``evaluate --real --fake --floor`` (W1 on the encoded
    columns beside its floor, detection AUC, column shapes and pair trends)."""
    import pandas as pd
    from bank_pairs import spec_of

    spec, here = spec_of(row["pair"]), root / row["pair"] / f"nt{row['n_t']}-seed{row['seed']}"
    held = pd.read_csv(here / "heldout.csv")
    conditions = [c for r in ("z", "zc") for c in spec[r]]
    sets = {}
    for name in row["nll"]:
        args = ["--cond", "heldout.csv", "--n", "1"] if conditions else ["--n", str(len(held))]
        cli("sample", "--model", f"auto/candidates/{name}", *args, "--out", f"sampled-{name}.csv", "--overwrite",
            "--seed", str(row["seed"]), cwd=here)
        sets[name] = f"sampled-{name}.csv"
    target = pd.read_csv(here / "target.csv")
    source = pd.read_csv(root / row["pair"] / "source.csv")[list(target.columns)]
    known = held[conditions] if conditions else None
    for name, rows in (("sdv copula", target), ("sdv copula, pooled", pd.concat([source, target]))):
        _sdv(rows, len(held), known, row["seed"]).to_csv(here / f"{name.replace(' ', '-')}.csv", index=False)
        sets[name] = f"{name.replace(' ', '-')}.csv"
    scores = {}
    for name, file in sets.items():
        r = json.loads(cli("evaluate", "--real", "heldout.csv", "--fake", file, "--floor", cwd=here))
        t = r["table"]
        scores[name] = {"w1": r["value"], "w1_floor": r["floor_w1"], "detection_auc": t["detection_auc"],
                        "detection_floor": t["detection_auc_floor"], "shapes": t["column_shapes"]["mean"],
                        "trends": t["column_pair_trends"]["mean"]}
    return {"pair": row["pair"], "n_t": row["n_t"], "seed": row["seed"], "chosen": row["chosen"], "scores": scores}


def peers_summary(rows: list[dict]) -> str:
    """Per n_t and sample set: W1 over its floor and detection AUC (means over rows), and on how many
    rows it beat SDV's copula fitted on the target rows alone in W1."""
    lines = ["| n_t | sample set | W1 / floor (mean) | detection AUC (mean; 0.5 = indistinguishable) | "
             "beats SDV copula (target rows) in W1 |", "|---|---|---|---|---|"]
    for n_t in sorted({r["n_t"] for r in rows}):
        mine = [r for r in rows if r["n_t"] == n_t]
        for name in ("guard's choice", "scratch", "freeze-shared", "finetune", "sdv copula", "sdv copula, pooled"):
            got = [(r["scores"][r["chosen"]] if name == "guard's choice" else r["scores"].get(name), r) for r in mine]
            got = [(s, r) for s, r in got if s is not None]
            if not got:
                continue
            ratio = np.mean([s["w1"] / s["w1_floor"] for s, _ in got])
            auc = np.mean([s["detection_auc"] for s, _ in got])
            wins = sum(s["w1"] < r["scores"]["sdv copula"]["w1"] for s, r in got)
            lines.append(f"| {n_t} | {name} | {ratio:.2f} | {auc:.3f} | {wins} of {len(got)} |")
    return "\n".join(lines) + "\n"


RULES = {
    "guard (auto)": lambda r: r["chosen"],
    "always scratch": lambda r: "scratch",
    "always finetune": lambda r: "finetune",
    "always freeze-shared": lambda r: "freeze-shared" if "freeze-shared" in r["validation"] else "finetune",
    "lowest validation loss": lambda r: min(r["validation"], key=r["validation"].get),
}


def summarise(rows: list[dict]) -> str:
    """Regret per rule (mean ± se over (pair, seed), per n_t), the oracle's picks and the guard's."""
    lines = [f"{len(rows)} (pair, n_t, seed) rows, {len({r['pair'] for r in rows})} pairs", "",
             "| n_t | rule | mean regret, nats per row (± se) | median | share of rows with regret 0 | worst |",
             "|---|---|---|---|---|---|"]
    for n_t in sorted({r["n_t"] for r in rows}):
        mine = [r for r in rows if r["n_t"] == n_t]
        for name, rule in RULES.items():
            regret = np.array([r["nll"][rule(r)] - min(r["nll"].values()) for r in mine])
            se = regret.std(ddof=1) / np.sqrt(len(regret)) if len(regret) > 1 else float("nan")
            lines.append(f"| {n_t} | {name} | {regret.mean():.3f} ± {se:.3f} | {np.median(regret):.3f} | "
                         f"{np.mean(regret == 0):.2f} | {regret.max():.3f} |")
    lines += ["", "| pair | n_t | seed | oracle | guard chose (p) | NLL per candidate |", "|---|---|---|---|---|---|"]
    for r in rows:
        oracle = min(r["nll"], key=r["nll"].get)
        nll = ", ".join(f"{c} {v:.3f}" for c, v in r["nll"].items())
        lines.append(f"| {r['pair']} | {r['n_t']} | {r['seed']} | {oracle} | {r['chosen']} ({r['p_value']:.2g}) | "
                     f"{nll} |")
    return "\n".join(lines) + "\n"


def check_route(root: Path, family: str, latent_dim: str | None) -> None:
    """One --out holds one route (family, latent size): its sources and cells are reused across calls, so
    a call with another route would fit targets on the wrong source. The route is recorded in
    ``route.json``; a folder with pair folders and no record is the flow bank's (before the record)."""
    want = {"family": family, "latent_dim": latent_dim}
    marker = root / "route.json"
    if marker.is_file():
        have = json.loads(marker.read_text())
    elif root.is_dir() and any(p.is_dir() for p in root.iterdir()):
        have = {"family": "flow", "latent_dim": None}
    else:
        root.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(want) + "\n")
        return
    if have != want:
        raise SystemExit(f"error: {root} holds the bank of family {have['family']} with latent_dim "
                         f"{have['latent_dim']}, not {family} with {latent_dim}; fix: give this route its own --out "
                         "(and --results)")


def _pairs(text: str) -> list[str]:
    """``--pairs``: names, ``dev`` / ``conf`` for a half of the frozen split of the tables, or ``digits``
    for the image pairs (``bank_digits``)."""
    if text == "digits":
        from bank_digits import DIGIT_PAIRS

        return list(DIGIT_PAIRS)
    if text in ("dev", "conf"):
        split = json.loads((Path(__file__).parent / "results" / "bank" / "split.json").read_text())["pairs"]
        return [p for p, v in split.items() if v["half"] == text]
    return text.split(",")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="dev", help="pair names, dev / conf (a half of the split), or digits")
    parser.add_argument("--n-target", default="200")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--family", default="flow")
    parser.add_argument("--latent-dim", default=None,
                        help="the latent route on pairs without z: fit-source --latent-dim K (a number, or half: "
                        "ceil(d_x / 2)); give it its own --out and --results")
    parser.add_argument("--out", default="runs/bank")
    parser.add_argument("--results", default="benchmarks/results/bank")
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick subset: {','.join(QUICK)} at n_t = 200, seed 0 (give it its own --out "
                        "and --results)")
    parser.add_argument("--peers", action="store_true",
                        help="score the finished rows' candidates beside SDV's GaussianCopula (the peers extra)")
    parser.add_argument("--sdv", default="", help=f"write SDV's sample sets for the finished cells: "
                        f"{','.join(SYNTHS)}, each optionally -pooled (fitted on both tasks' rows)")
    parser.add_argument("--arms", default="", help=f"fit these arms on the finished cells: {','.join(ARMS)}")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.n_target, args.seeds = ",".join(QUICK), "200", "0"
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    rows_file = results / "rows.jsonl"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    if args.sdv:
        log = results / "sdv.jsonl"
        wanted, n_targets = set(_pairs(args.pairs)), {int(n) for n in args.n_target.split(",")}
        seeds = {int(x) for x in args.seeds.split(",")}
        for r in sorted(rows, key=lambda r: (r["seed"], r["n_t"])):
            if "error" in r or r["pair"] not in wanted or r["n_t"] not in n_targets or r["seed"] not in seeds:
                continue
            try:
                got = sdv_sets(r, Path(args.out).absolute(), tuple(args.sdv.split(",")))
            except Exception as err:  # noqa: BLE001
                got = {"error": str(err)[:500]}
            with log.open("a") as f:
                f.write(json.dumps({"pair": r["pair"], "n_t": r["n_t"], "seed": r["seed"], **got}) + "\n")
            print(f"sdv {r['pair']} n_t={r['n_t']} seed={r['seed']}: {got}", flush=True)
        return
    if args.arms:
        wanted = set(_pairs(args.pairs)) if args.pairs else None
        n_targets = {int(n) for n in args.n_target.split(",")}
        seeds = {int(x) for x in args.seeds.split(",")}
        finished = [r for r in rows if (wanted is None or r["pair"] in wanted) and r["n_t"] in n_targets
                    and r["seed"] in seeds]
        finished.sort(key=lambda r: (r["seed"], r["n_t"]))
        _arms(finished, args.arms.split(","), Path(args.out).absolute(), results, args.family)
        return
    if args.peers:
        _peers(rows, Path(args.out).absolute(), results, {int(n) for n in args.n_target.split(",")})
        return
    if not args.summarise:
        root = Path(args.out).absolute()
        check_route(root, args.family, args.latent_dim)
        if args.latent_dim is not None:
            from bank_pairs import spec_of

            given = [p for p in _pairs(args.pairs) if spec_of(p)["z"]]
            if given:
                raise SystemExit(f"error: the latent route models x alone, but {', '.join(given)} have z; fix: "
                                 "pass pairs without z (the U pairs)")
        done = {(r["pair"], r["n_t"], r["seed"]) for r in rows}
        todo = [c for c in cells(_pairs(args.pairs), [int(n) for n in args.n_target.split(",")],
                                 [int(s) for s in args.seeds.split(",")]) if c not in done]
        began = time.perf_counter()
        for i, (pair, n_t, seed) in enumerate(todo):
            try:
                row = one(pair, n_t, seed, root, args.family, args.latent_dim)
            except Exception as err:  # noqa: BLE001  recorded, not hidden: a pair the CLI refuses is a finding
                row = {"pair": pair, "n_t": n_t, "seed": seed, "error": str(err)[:500]}
            with rows_file.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
            done = time.perf_counter() - began
            print(f"[{i + 1}/{len(todo)}] {pair} n_t={n_t} seed={seed}: {row.get('chosen', row.get('error'))}; "
                  f"{done / 60:.0f} min so far, about {done / (i + 1) * (len(todo) - i - 1) / 60:.0f} min left",
                  flush=True)
    good = [r for r in rows if "error" not in r]
    text = summarise(good) if good else "no rows\n"
    failed = [r for r in rows if "error" in r]
    if failed:
        text += "\nRefused or failed:\n" + "\n".join(f"- {r['pair']} n_t={r['n_t']} seed={r['seed']}: {r['error']}"
                                                     for r in failed) + "\n"
    (results / "summary.md").write_text(text)
    print(text)


def _peers(rows: list[dict], root: Path, results: Path, n_targets: set[int]) -> None:
    out = results / "peers.jsonl"
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    seen = {(r["pair"], r["n_t"], r["seed"]) for r in done}
    for row in rows:
        if "error" in row or row["n_t"] not in n_targets or (row["pair"], row["n_t"], row["seed"]) in seen:
            continue
        try:
            scored = peers(row, root)
        except RuntimeError as err:
            scored = {"pair": row["pair"], "n_t": row["n_t"], "seed": row["seed"], "error": str(err)[:500]}
        with out.open("a") as f:
            f.write(json.dumps(scored) + "\n")
        done.append(scored)
        print(f"peers: {row['pair']} n_t={row['n_t']} seed={row['seed']}", flush=True)
    (results / "peers.md").write_text(peers_summary([r for r in done if "error" not in r]))
    print((results / "peers.md").read_text())


if __name__ == "__main__":
    main()
