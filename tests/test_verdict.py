"""Did the source help? ``evaluate`` and ``report`` put the transfer run beside scratch on the user's rows."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_cli_workflow import FAST, cli, design_files

from gentransfer.pipeline.evaluate import W1_SPLITS, score_run
from gentransfer.pipeline.verdict import CLEAR_T, verdict


def _scored(strategy: str, nll: np.ndarray, w1: float = 0.5) -> tuple[dict, np.ndarray]:
    return ({"run": strategy, "strategy": strategy, "nll": float(nll.mean()), "w1": w1, "w1_floor": 0.3,
             "rows": len(nll)}, nll)


def test_verdict_reads_the_paired_gain():
    rng = np.random.default_rng(0)
    scratch = rng.normal(3.0, 1.0, 400)
    helped = verdict([_scored("auto -> finetune", scratch - 0.3 + rng.normal(0, 0.2, 400)),
                      _scored("scratch", scratch)])
    assert helped.outcome == "helped" and helped.t > CLEAR_T
    assert helped.gain == pytest.approx(0.3, abs=0.05)
    assert helped.sentence().startswith("The source helped") and "finetune beat scratch" in helped.headline()
    hurt = verdict([_scored("scratch", scratch), _scored("lora", scratch + 0.3 + rng.normal(0, 0.2, 400))])
    assert hurt.outcome == "hurt" and "Use scratch" in hurt.sentence()
    # a difference far below what 400 rows resolve (se about 0.05)
    unclear = verdict([_scored("finetune", scratch + rng.normal(0, 1.0, 400) * 1.0), _scored("scratch", scratch)])
    assert abs(unclear.t) < CLEAR_T and unclear.outcome == "unclear"
    assert unclear.sentence().startswith("No detectable difference")
    assert verdict([_scored("scratch", scratch)]) is None  # nothing to compare with
    (t, nt), (sc, ns) = _scored("freeze-shared", scratch - 0.3), _scored("scratch", scratch)
    t["rows"] = sc["rows"] = 2000  # the likelihood on 400 of 2,000 test rows: the sentence says so
    assert "on 400 of your 2,000 test rows" in verdict([(t, nt), (sc, ns)]).sentence()


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("verdict")
    design_files(d, np.random.default_rng(1), 2000, 150, 400)
    assert cli("fit-source", "--data", "source.npz", "--family", "flow", "--out", "src", *FAST, cwd=d).returncode == 0
    out = cli("fit-target", "--source", "src", "--data", "target.npz", "--strategy", "auto", "--out", "tgt", *FAST[:4],
              cwd=d)
    assert out.returncode == 0, out.stderr
    assert "validation rows: negative log-likelihood per row, nats" in out.stdout  # the guard states its units
    return d


def test_evaluate_puts_auto_beside_its_scratch_candidate(auto_run):
    out = cli("evaluate", "--model", "tgt", "--data", "test.npz", "--out", "scores.json", cwd=auto_run)
    assert out.returncode == 0, out.stderr
    scores = json.loads((auto_run / "scores.json").read_text())
    runs = {r["run"]: r for r in scores["runs"]}
    chosen = json.loads((auto_run / "tgt" / "metrics.json").read_text())["strategy"]
    assert runs["tgt"]["strategy"] == f"auto -> {chosen}"  # what auto chose, wherever a strategy is shown
    assert f"auto -> {chosen}" in out.stdout
    other = "scratch" if chosen != "scratch" else scores["versus_scratch"]["transfer_run"].split("/")[-1]
    candidate = f"tgt/candidates/{other}"
    assert candidate in runs  # the comparison candidate scored on the same rows
    v = scores["versus_scratch"]
    transfer, scratch = runs[v["transfer_run"]], runs[v["scratch_run"]]
    # the headline's numbers are evaluate's numbers
    assert v["nll_transfer"] == transfer["nll"] and v["nll_scratch"] == scratch["nll"]
    assert v["gain"] == pytest.approx(scratch["nll"] - transfer["nll"], abs=1e-9)
    assert v["w1_transfer"] == transfer["w1"] and v["w1_scratch"] == scratch["w1"]
    # the W1 gain is the two runs' half-splits paired: the same splits, one per W1_SPLITS
    assert len(transfer["w1_splits"]) == len(scratch["w1_splits"]) == W1_SPLITS == v["w1_splits"]
    paired = np.asarray(scratch["w1_splits"]) - np.asarray(transfer["w1_splits"])
    assert v["w1_gain"] == pytest.approx(paired.mean()) and v["w1_gain_se"] == pytest.approx(paired.std(ddof=1))
    assert v["headline"] in out.stdout and v["sentence"] in out.stdout
    assert v["rows"] == 400 and v["outcome"] in ("helped", "hurt", "unclear", "mixed")


def test_candidates_are_run_folders_every_command_accepts(auto_run):
    for name in ("scratch", "freeze-shared", "finetune"):
        run = f"tgt/candidates/{name}"
        out = cli("evaluate", "--model", run, "--data", "test.npz", cwd=auto_run)
        assert out.returncode == 0 and f"| {name} |" in out.stdout, out.stderr
        assert cli("sample", "--model", run, "--cond", "test.npz", "--n", "1", "--out", f"{name}.npz",
                   cwd=auto_run).returncode == 0
    out = cli("report", "tgt/candidates/finetune", "tgt/candidates/scratch", "--data", "test.npz",
              "--out", "candidates.html", cwd=auto_run)
    assert out.returncode == 0, out.stderr
    page = (auto_run / "candidates.html").read_text()
    assert "Did the source help?" in page and "finetune" in page


def test_report_opens_with_the_answer_and_its_numbers(auto_run):
    assert cli("evaluate", "--model", "tgt", "--data", "test.npz", "--out", "s.json", "--overwrite",
               cwd=auto_run).returncode == 0
    v = json.loads((auto_run / "s.json").read_text())["versus_scratch"]
    out = cli("report", "tgt", "--data", "test.npz", "--out", "report.html", cwd=auto_run)
    assert out.returncode == 0, out.stderr
    page = (auto_run / "report.html").read_text()
    body = page[page.index("<body>"):]
    answer = body.index("Did the source help?")
    assert answer < body.index("Scores on") < body.index("Negative-transfer guard") < body.index("Settings and fit")
    import html

    assert html.escape(v["sentence"]) in page and html.escape(v["headline"]) in page
    assert "read a negative value as 0" in page  # units and direction stated
    assert re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", page)  # NLL with its 95% interval
    assert (auto_run / "report.html").stat().st_mode & 0o044 == 0o044  # readable by others


def test_report_without_data_says_how_to_get_the_answer(auto_run):
    assert cli("report", "tgt", "--out", "bare.html", cwd=auto_run).returncode == 0
    assert "report RUN --data" in (auto_run / "bare.html").read_text()


@pytest.mark.parametrize("rows, noted", [(30, True), (150, False)])
def test_a_check_on_few_rows_says_it_cannot_tell(rows, noted):
    """On 30-40 held-out rows nearly any model scores about 1.0x the floor: say so (benchmarks/check_rows.py)."""
    from gentransfer.pipeline.fit import _say_check

    check = {"w1": 1.01, "floor": 1.0, "ratio": 1.01, "rows": rows, "outside_range": 0.0}
    said = []
    _say_check(check, said.append)
    assert ("too few to tell" in " ".join(said)) == noted


def test_refit_fits_the_choice_again_on_every_row_for_the_candidates_passes(auto_run):
    out = cli("fit-target", "--source", "src", "--data", "target.npz", "--strategy", "auto", "--refit", "--out",
              "refit", *FAST[:4], cwd=auto_run)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((auto_run / "refit" / "metrics.json").read_text())
    refit = metrics["refit"]
    assert refit["rows"] == 150 and refit["candidate_rows"] == metrics["n_train"] < 150
    assert refit["steps"] == round(refit["candidate_best_step"] * 150 / refit["candidate_rows"])
    out = cli("evaluate", "--model", "refit", "--data", "test.npz", cwd=auto_run)
    assert out.returncode == 0 and "The two saw different rows" in out.stdout  # its candidate saw fewer: said


def test_guard_by_w1_keeps_the_candidate_whose_draws_sit_closest_to_the_validation_rows(auto_run):
    """``--guard-by w1``: every candidate scored by the W1 of its draws to the validation rows (the
    numbers the report records are validation_w1_rows' own), the lowest kept."""
    from gentransfer.data.tabular import Columns
    from gentransfer.pipeline.runfolder import RunFolder
    from gentransfer.pipeline.validation import validation_w1_rows
    from gentransfer.transfer.guard import guard_rows

    out = cli("fit-target", "--source", "src", "--data", "target.npz", "--strategy", "auto", "--guard-by", "w1",
              "--out", "tgt-w1", *FAST[:4], cwd=auto_run)
    assert out.returncode == 0, out.stderr
    assert "W1 of the candidate's draws to the validation rows" in out.stdout
    report = json.loads((auto_run / "tgt-w1" / "transfer_report.json").read_text())
    assert report["rule"] == "lowest" and report["threshold"] is None
    losses = report["losses"]
    assert report["chosen"] == min(losses, key=losses.get) and set(losses) == {"scratch", "freeze-shared", "finetune"}
    data = Columns().load(auto_run / "target.npz")
    _, val = guard_rows(len(data), 0)
    run = RunFolder(auto_run / "tgt-w1")
    assert run.config()["guard_by"] == "w1" and report["n_validation"] == len(val)
    again = validation_w1_rows(run.candidates()["scratch"].path, data, val, seed=0)
    assert again.mean() == pytest.approx(losses["scratch"], rel=1e-6)
    # the likelihood guard on the same rows ranks by another yardstick: its losses are nats, not distances
    nll = json.loads((auto_run / "tgt" / "transfer_report.json").read_text())["losses"]
    assert all(v > 0 for v in losses.values()) and nll != losses
    page = cli("report", "tgt-w1", "--out", "w1.html", cwd=auto_run)
    assert page.returncode == 0, page.stderr
    assert "Chosen by --guard-by w1" in (auto_run / "w1.html").read_text()


def test_encode_rows_is_how_evaluate_scores_a_typed_table(tmp_path):
    """With one role (x), the guard's encoding gives compare_samples' W1 to the digit."""
    import csv

    from gentransfer.data.tabular import Columns
    from gentransfer.metrics import wasserstein1
    from gentransfer.pipeline.evaluate import compare_samples
    from gentransfer.pipeline.validation import encode_rows

    rng = np.random.default_rng(0)
    for name, n in (("real", 40), ("fake", 60)):
        with (tmp_path / f"{name}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["height", "colour"])
            w.writerows([[f"{rng.normal(170, 10):.2f}", rng.choice(["red", "blue", "green"])] for _ in range(n)])
    columns = Columns(x_columns=["height", "colour"], categorical_columns=["colour"])
    real, fake = columns.load(tmp_path / "real.csv"), columns.load(tmp_path / "fake.csv")
    a, b = encode_rows(real, fake)
    assert a.shape == (40, 4) and b.shape == (60, 4)  # height, and colour one-hot over its 3 categories
    assert wasserstein1(a, b) == pytest.approx(compare_samples(real, fake, "w1")["value"], rel=1e-9)


def test_guard_by_w1_counts_a_candidate_that_cannot_be_scored_as_the_worst(auto_run, monkeypatch):
    """A candidate whose draws are NaN loses every row (as a NaN likelihood does); the fit goes on."""
    import gentransfer.pipeline.validation as validation
    from gentransfer.errors import CheckpointError

    real = validation.validation_w1_rows

    def nan_for_scratch(run, *args, **kwargs):
        if str(run).endswith("scratch"):
            raise CheckpointError("the model generated NaN or inf values", "re-fit the run (lower lr)")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(validation, "validation_w1_rows", nan_for_scratch)
    out = cli("fit-target", "--source", "src", "--data", "target.npz", "--strategy", "auto", "--guard-by", "w1",
              "--out", "tgt-nan", *FAST[:4], cwd=auto_run)
    assert out.returncode == 0, out.stderr
    assert "note: scratch could not be scored (the model generated NaN or inf values)" in out.stdout
    report = json.loads((auto_run / "tgt-nan" / "transfer_report.json").read_text())
    assert report["chosen"] != "scratch" and report["losses"]["scratch"] == float("inf")


def test_half_split_se_tracks_the_spread_over_fresh_test_sets():
    """The W1 gain's se (the spread over 10 half-splits of one test set) against the spread of the
    gain itself over 40 fresh test sets of the same law: half-sampling should be about right (0.85-1.17
    in benchmarks/results/w1_halfsplit.md), never a fraction of it, and the gain's sign right."""
    from gentransfer.pipeline.evaluate import half_splits, split_w1

    gains, ses = [], []
    for s in range(40):
        rng = np.random.default_rng(100 + s)
        x, noise = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
        cuts = half_splits(len(x), s, 10)
        d = np.asarray(split_w1(noise + 0.25, x, cuts)) - np.asarray(split_w1(noise + 0.05, x, cuts))
        gains.append(d.mean())
        ses.append(d.std(ddof=1))
    spread = float(np.std(gains, ddof=1))
    assert 0.7 < np.mean(ses) / spread < 1.6, (np.mean(ses), spread)
    assert np.mean(gains) > 3 * spread / np.sqrt(len(gains))  # the nearer model is nearer on average


def _with_splits(result: tuple[dict, np.ndarray], splits: list[float]) -> tuple[dict, np.ndarray]:
    result[0]["w1_splits"] = splits
    return result


def test_both_measures_make_the_answer():
    rng = np.random.default_rng(3)
    scratch = rng.normal(3.0, 1.0, 400)
    noise = lambda: list(rng.normal(0, 0.01, 10))  # noqa: E731
    base = np.full(10, 0.5)
    same_nll = scratch + rng.normal(0, 1.0, 400)  # no detectable likelihood difference
    better_nll = scratch - 0.3 + rng.normal(0, 0.2, 400)

    def answer(transfer_nll, transfer_w1, scratch_w1):
        return verdict([_with_splits(_scored("finetune", transfer_nll), list(transfer_w1)),
                        _with_splits(_scored("scratch", scratch), list(scratch_w1))])

    # W1 alone resolves a gain: helped, and the sentence says which measure did
    v = answer(same_nll, base + noise(), base + 0.05 + np.array(noise()))
    assert v.outcome == "helped" and v.w1_t > v.w1_clear and abs(v.t) < CLEAR_T
    assert v.w1_clear == pytest.approx(2.262, abs=1e-3)  # t's 97.5% point on 9 degrees of freedom
    assert v.w1_gain == pytest.approx(0.05, abs=0.01) and v.w1_splits == 10
    assert v.sentence().startswith("The source helped: the samples of the transferred model (finetune) are "
                                   "closer to your 400 test rows in W1 by 0.04")
    assert "within what these rows resolve" in v.sentence() and "10 half-splits" in v.headline()
    # a W1 t between 2 and 2.26 does not resolve on 9 degrees of freedom
    v = answer(same_nll, base, base + 0.0221 + 0.01 * np.array([1, -1] * 5))  # t = 2.10
    assert 2 < v.w1_t < v.w1_clear and v.outcome == "unclear"
    # likelihood says helped, W1 says hurt, both beyond noise: mixed, and the sentence says so
    v = answer(better_nll, base + 0.05 + np.array(noise()), base + noise())
    assert v.outcome == "mixed" and v.t > CLEAR_T and v.w1_t < -CLEAR_T
    assert v.sentence().startswith("The two measures disagree") and "farther from" in v.sentence()
    # W1 resolves a loss, likelihood nothing: hurt, with the advice
    v = answer(same_nll, base + 0.05 + np.array(noise()), base + noise())
    assert v.outcome == "hurt" and "Use scratch" in v.sentence()
    # neither resolves: unclear, both differences named
    v = answer(same_nll, base + noise(), base + noise())
    assert v.outcome == "unclear" and "in W1" in v.sentence()
    # a run whose samples were not numbers has no W1 gain; a NaN likelihood gain reads t = nan, not 0
    v = verdict([_with_splits(_scored("finetune", better_nll), [np.nan] * 10),
                 _with_splits(_scored("scratch", scratch), list(base))])
    assert v.w1_gain is None and v.outcome == "helped"
    v = answer(np.full(400, np.nan), base + noise(), base + noise())
    assert np.isnan(v.t) and "t = nan" in v.headline() and v.to_dict()["w1_t"] == v.w1_t
    # split lists that do not pair (another seed's splits, or none) leave W1 without a se, as before
    v = verdict([_with_splits(_scored("finetune", better_nll), [0.5] * 10), _scored("scratch", scratch)])
    assert v.w1_gain is None and v.outcome == "helped" and "half-splits" not in v.headline()


def test_half_splits_leave_the_other_scores_as_they_were(auto_run):
    """Asking for half-splits adds them and moves no other number (cut 0 is evaluate's W1 as before);
    the same run and seed give the same splits."""
    from gentransfer.data.tabular import Columns

    table = Columns().load(auto_run / "test.npz")
    plain, nll = score_run(auto_run / "tgt", table, seed=4)
    split, nll_split = score_run(auto_run / "tgt", table, seed=4, w1_splits=3)
    assert "w1_splits" not in plain and len(split["w1_splits"]) == 3
    assert split["w1_splits"][0] == plain["w1"]  # cut 0 is the table's cut
    assert {k: v for k, v in split.items() if k != "w1_splits"} == plain and np.array_equal(nll, nll_split)
    assert score_run(auto_run / "tgt", table, seed=4, w1_splits=3)[0]["w1_splits"] == split["w1_splits"]
    assert len(set(split["w1_splits"])) == 3  # three different cuts
