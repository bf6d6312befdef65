"""The conditional simulation: true density, evaluation wiring, sweep resume, report."""

import csv

import numpy as np
import pytest
import torch

from gentransfer.errors import ConfigError
from gentransfer.experiments.report import gain_over, summary_markdown, trend
from gentransfer.experiments.sweep import run_sweep
from gentransfer.simulation import ConditionalStudy, evaluate_conditional, get_design
from gentransfer.simulation.conditional import build_jobs


class Oracle:
    """A 'model' that is the true target law: KL and TV must be ~0 and W1 at its floor."""

    def __init__(self, design, shift=0.0):
        self.design, self.shift = design, shift

    def log_prob(self, x, z, zc):
        return torch.as_tensor(self.design.target_log_prob(np.asarray(x) - self.shift, np.asarray(z), np.asarray(zc)))

    def sample(self, z, zc, generator=None):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        x = self.design.sample_target_given(np.asarray(z), np.asarray(zc), np.random.default_rng(seed))
        return torch.as_tensor(x + self.shift)


def test_true_density_is_normalised_and_matches_samples():
    design = get_design("default")
    rng = np.random.default_rng(0)
    z, zc = design.sample_conditions(1, 1, rng)
    mu, sd = design.target_params(z, zc)
    g = np.linspace(-6, 6, 801)
    xx, yy = np.meshgrid(mu[0, 0] + g * sd[0, 0], mu[0, 1] + g * sd[0, 1])
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    dens = np.exp(design.target_log_prob(pts, np.repeat(z, len(pts), 0), np.repeat(zc, len(pts), 0)))
    cell = (g[1] - g[0]) ** 2 * sd[0, 0] * sd[0, 1]
    assert dens.sum() * cell == pytest.approx(1.0, abs=1e-3)


def test_source_and_target_share_h_only_in_the_default_design():
    z = np.random.default_rng(1).normal(size=(2000, 10))
    default, miss = get_design("default"), get_design("misspecified")
    assert np.array_equal(default.h_source(z), default.h_target(z))
    corr = np.corrcoef(miss.h_source(z)[:, 0], miss.h_target(z)[:, 0])[0, 1]
    assert abs(corr) < 0.1  # orthogonal directions of a Gaussian: independent embeddings


def test_oracle_scores_zero_kl_and_floor_w1():
    design = get_design("default")
    scores = evaluate_conditional(Oracle(design), design, n_conditions=16, per_condition=32)
    assert abs(scores["KL"]) < 1e-9 and abs(scores["TV"]) < 1e-9
    assert scores["W1"] == pytest.approx(scores["W1_floor"], rel=0.3)
    worse = evaluate_conditional(Oracle(design, shift=0.5), design, n_conditions=16, per_condition=32)
    assert worse["KL"] > 1.0 and worse["TV"] > 0.3 and worse["W1"] > scores["W1"] + 0.3


def test_job_grid_and_bad_settings():
    study = ConditionalStudy(designs=["default"], families=["flow"], n_source=[10, 20], seeds=[0, 1])
    jobs = build_jobs(study)
    assert len(jobs) == 2 * (1 + 2)
    assert sorted(j["n_s"] for j in jobs if j["strategies"] == ["scratch"]) == [0, 0]
    with pytest.raises(ConfigError, match="unknown or no families"):
        build_jobs(ConditionalStudy(families=["gan"]))


def _fake_job(job):
    return [{"k": job["k"], "v": job["k"] ** 2}]


def test_sweep_resumes_after_a_torn_write(tmp_path):
    path = tmp_path / "r.csv"
    jobs = [{"k": k} for k in range(5)]
    rows = run_sweep(jobs[:3], _fake_job, path, ["k", "v"], ["k"], lambda j: [{"k": j["k"]}], progress=False)
    assert [int(r["v"]) for r in rows] == [0, 1, 4]
    with open(path, "a") as fh:
        fh.write("3,")  # a kill in the middle of a row
    calls = []
    rows = run_sweep(jobs, lambda j: calls.append(j["k"]) or _fake_job(j), path, ["k", "v"], ["k"],
                     lambda j: [{"k": j["k"]}], progress=False)
    assert sorted(calls) == [3, 4]
    assert sorted(int(r["k"]) for r in rows) == [0, 1, 2, 3, 4]
    with open(path) as fh:
        assert len(list(csv.reader(fh))) == 6


def test_report_reads_gains_and_trends():
    rows = []
    for seed in range(4):
        rows.append({"design": "d", "family": "f", "arm": "scratch", "n_s": 0, "seed": seed,
                     "KL": 1.0 + 0.01 * seed})
        for n_s, err in ((10, 0.8), (100, 0.5), (1000, 0.3)):
            rows.append({"design": "d", "family": "f", "arm": "freeze-shared", "n_s": n_s, "seed": seed,
                         "KL": err + 0.02 * seed})
    setting = {"design": "d", "family": "f"}
    gain, se, n = gain_over(rows, "KL", setting, "freeze-shared", 1000)
    assert n == 4 and gain == pytest.approx(0.7 - 0.01 * 1.5, abs=1e-9)
    assert trend(rows, "KL", setting, "freeze-shared") == pytest.approx(-1.0)
    table = summary_markdown(rows, ("design", "family"), ("KL",), floor=None)
    assert "| d | f | freeze-shared | 1000 | 0.3300 ± 0.0129 | +0.6850 (+106.1) | -1.00 |" in table
    assert "| d | f | scratch | 0 | 1.0150 ± 0.0065 | — | — |" in table


def test_summary_and_gain_plot_for_scores_that_rise(tmp_path):
    """An accuracy gains when it rises; each metric beside its own floor column; one seed gives the
    difference without a standard error; the gain plot is written per arm against n_t."""
    from gentransfer.experiments.report import plot_gains

    rows = []
    for seed in range(3):
        for n_t in (50, 5103):
            rows.append({"n_t": n_t, "arm": "scratch", "n_s": 0, "seed": seed, "acc": 0.5 + 0.1 * seed,
                         "FD": 9.0, "FD_floor": 1.0, "acc_real": 0.97})
            rows.append({"n_t": n_t, "arm": "lora", "n_s": 60000, "seed": seed, "acc": 0.8 + 0.1 * seed + 0.01 * seed,
                         "FD": 4.0 + seed, "FD_floor": 1.0, "acc_real": 0.97})
    table = summary_markdown(rows, ("n_t",), ("FD", "acc"), floors={"FD": "FD_floor", "acc": "acc_real"},
                             higher_better=("acc",))
    assert "| n_t | arm | n_s | FD (mean ± se) | acc (mean ± se) | FD floor | acc floor |" in table
    # FD: 9 - (4, 5, 6) = 5, 4, 3 -> +4 (se 0.577); acc: +0.30, +0.31, +0.32 -> +0.31 (se 0.00577)
    assert ("| 50 | lora | 60000 | 5.0000 ± 0.5774 | 0.9100 ± 0.0635 | 1.0000 | 0.9700 | +4.0000 (+6.9) | "
            "+0.3100 (+53.7) |") in table
    one_seed = summary_markdown([r for r in rows if r["seed"] == 0], ("n_t",), ("FD",), floor=None)
    assert "| 50 | lora | 60000 | 4.0000 | +5.0000 |" in one_seed
    out = plot_gains(rows, tmp_path / "gain.png", "t", "n_t", ("FD", "acc"), higher_better=("acc",))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
