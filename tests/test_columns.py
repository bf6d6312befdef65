"""Real tables: constant columns left out and restored exactly, bounded columns in range by construction."""

import json

import numpy as np
import pytest

from gentransfer.data.columns import EDGE, SPREAD, ColumnTransform, parse_bounds
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError, ConfigError, DataError


def pixel_table(n=400, seed=0):
    """Like a small image table: column 0 always 0, columns 1-2 piled at 0 and 16, column 3 Gaussian."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 4))
    x[:, 1] = np.clip(rng.normal(4, 6, n), 0, 16).round()
    x[:, 2] = np.clip(rng.normal(12, 6, n), 0, 16).round()
    x[:, 3] = rng.normal(0, 1, n)
    return x


def test_auto_detects_constant_and_piled_columns_and_round_trips():
    x = pixel_table()
    t = ColumnTransform.fit(x)
    assert t.constant == {0: 0.0} and t.model_width == 3 and t.bounded == [1, 2]
    assert (t.lower[1], t.upper[1]) == (0.0, 16.0) and t.lower[3] is None  # a Gaussian column is not bounded
    u = t.forward(x)
    assert u.shape == (400, 3) and np.allclose(u.mean(0), 0, atol=1e-9) and np.allclose(u.std(0), 1)
    back = t.inverse(u)
    assert np.array_equal(back[:, 0], x[:, 0])  # restored exactly
    assert np.allclose(back, x, atol=1e-9)  # values at the ends come back exactly, the rest by the bijection


def test_any_model_output_maps_inside_the_range():
    t = ColumnTransform.fit(pixel_table())
    wild = np.random.default_rng(1).normal(0, 50, (5000, 3))  # far outside anything the data had
    x = t.inverse(wild)
    assert x[:, 1].min() >= 0 and x[:, 1].max() <= 16 and x[:, 2].min() >= 0 and x[:, 2].max() <= 16
    assert (x[:, 0] == 0).all() and np.isfinite(x).all()
    assert x[:, 3].min() < -10  # an unbounded column is not clipped
    # a value just inside an end is put on it (within EDGE of the range), one further in is not
    edge = np.zeros((2, 3))
    edge[:, 0] = (np.log([EDGE / 2, 2 * EDGE]) - np.log1p(-np.array([EDGE / 2, 2 * EDGE])) - t.mean[0]) / t.std[0]
    assert t.inverse(edge)[0, 1] == 0.0 and t.inverse(edge)[1, 1] == pytest.approx(2 * EDGE * 16)


def test_training_rows_spread_each_ends_atom_over_the_band_that_maps_back_onto_it():
    x = pixel_table()
    t = ColumnTransform.fit(x)
    plain = t.forward(x)
    spread = t.forward(x, rng=np.random.default_rng(0))
    assert np.array_equal(spread, t.forward(x, rng=np.random.default_rng(0)))  # seeded: a resume sees the same rows
    inside = (x[:, 1] > EDGE * 16) & (x[:, 1] < 16 * (1 - EDGE))
    at_end = x[:, 1] == 0
    assert np.array_equal(spread[inside, 0], plain[inside, 0])  # values inside the range are untouched
    assert at_end.sum() > 50 and len(np.unique(spread[at_end, 0])) == at_end.sum()  # the atom is spread out
    low = (np.log(SPREAD * EDGE) - np.log1p(-SPREAD * EDGE) - t.mean[0]) / t.std[0]
    assert spread[at_end, 0].min() >= low - 1e-9 and spread[at_end, 0].max() <= plain[at_end, 0].max() + 1e-9
    assert np.allclose(t.inverse(spread), x, atol=1e-9)  # and every spread value maps back onto its end
    assert np.array_equal(spread[:, 2], t.forward(x)[:, 2])  # an unbounded column is untouched


def test_a_table_on_one_scale_bounds_its_unpiled_columns_too():
    x = pixel_table()
    x[:, 3] = 8 + x[:, 3]  # a central pixel: inside 0-16, never at 0 or 16
    t = ColumnTransform.fit(x)
    assert t.bounded == [1, 2, 3] and (t.lower[3], t.upper[3]) == (0.0, 16.0)
    assert np.allclose(t.inverse(t.forward(x)), x)
    x[0, 3] = 20.0  # leaves the scale: not bounded by it
    assert ColumnTransform.fit(x).bounded == [1, 2]


def test_columns_of_other_units_are_not_bounded_by_the_piled_ones_range():
    """A survey: income top-coded (piled at its max), prestige piled at its min, age free. Income's
    range [234, 341672] is no scale for age: bounded by it, ages 19-89 became one point after the
    logit (standardised spread 1e-14) and every fit on the table diverged (the bank's gss pair)."""
    rng = np.random.default_rng(0)
    n = 400
    income = np.minimum(rng.lognormal(10, 1, n), 341672.0)
    income[:10] = 341672.0
    prestige = np.maximum(rng.normal(40, 13, n).round(), 16.0)
    prestige[:10] = 16.0
    age = rng.uniform(19, 89, n)
    t = ColumnTransform.fit(np.c_[income, age, prestige])
    assert t.bounded == [0, 2] and t.lower[1] is None
    assert np.all(np.asarray(t.std) > 1e-3)


def test_log_abs_det_is_the_jacobian_of_forward():
    """evaluate turns the model's density into the data's with it: check it by finite differences."""
    x = pixel_table()
    x[:, 3] = 8 + x[:, 3]
    t = ColumnTransform.fit(x)
    rows = x[(x[:, 1] > 1) & (x[:, 1] < 15) & (x[:, 2] > 1) & (x[:, 2] < 15)][:20]  # inside the clamp
    h = 1e-6
    numeric = sum(np.log(np.abs((t.forward(rows + h * np.eye(4)[j]) - t.forward(rows - h * np.eye(4)[j]))[:, k]
                                / (2 * h))) for k, j in enumerate(t.modelled))
    assert np.allclose(t.log_abs_det(rows), numeric, atol=1e-5)


def test_given_bounds_and_none():
    x = pixel_table()
    t = ColumnTransform.fit(x, bounds=(-100.0, 100.0))
    assert t.bounded == [1, 2, 3]
    assert ColumnTransform.fit(x, bounds="none").bounded == []
    with pytest.raises(DataError, match="outside --bounds 0:16"):
        ColumnTransform.fit(x, bounds=(0.0, 16.0))  # the Gaussian column leaves it
    with pytest.raises(DataError, match="every x column is constant"):
        ColumnTransform.fit(np.ones((5, 2)))
    assert parse_bounds("0:16") == (0.0, 16.0) and parse_bounds(None) == "auto"
    for bad in ("16:0", "a:b", "0:inf", "1"):
        with pytest.raises(ConfigError, match="--bounds"):
            parse_bounds(bad)


def test_saved_transform_is_checked_and_the_first_format_still_reads():
    t = ColumnTransform.fit(pixel_table())
    again = ColumnTransform.from_dict(json.loads(json.dumps(t.to_dict())), 3, "scaling.json")
    assert again == t
    old = ColumnTransform.from_dict({"mean": [1.0, 2.0], "std": [1.0, 3.0]}, 2, "scaling.json")
    assert old.constant == {} and old.bounded == [] and np.allclose(old.inverse(np.zeros((1, 2))), [[1.0, 2.0]])
    for bad in ({**t.to_dict(), "std": [1.0, 0.0, 1.0]}, {**t.to_dict(), "width": 9}, {"mean": [1.0]}, [1, 2]):
        with pytest.raises(CheckpointError, match="scaling of x"):
            ColumnTransform.from_dict(bad, 3, "scaling.json")


def test_runs_keep_samples_in_range_and_constants_exact(tmp_path):
    from gentransfer.pipeline import fit_source, fit_target, sample_run

    def table(seed):
        x = pixel_table(300, seed)
        z = (x[:, 1:2] > 4).astype(float)  # a class label the image depends on
        return Table(x=x, z=z, source=f"table{seed}")

    train = {"steps": 60, "batch_size": 64, "eval_every": 30, "val_fraction": 0.2}
    for family in ("flow", "diffusion"):
        src = fit_source(table(0), family, tmp_path / f"src-{family}", train=train, log=lambda *_: None)
        config = json.loads((src / "config.json").read_text())
        assert config["columns"] == {"constant_columns": [0], "bounded_columns": [1, 2], "modelled_columns": 3}
        tgt = fit_target(src, table(1), "finetune", tmp_path / f"tgt-{family}", train=train, log=lambda *_: None)
        x = sample_run(tgt, 20, Table(z=np.array([[0.0], [1.0]])), seed=0)["x"]
        assert x.shape == (40, 4) and (x[:, 0] == 0).all()
        assert x[:, 1:3].min() >= 0 and x[:, 1:3].max() <= 16


def test_defaults_grow_with_the_data():
    from gentransfer.pipeline import data_defaults

    model, train = data_defaults("diffusion", 3, 500)
    assert model == {"hidden": 128, "depth": 3, "sampler": "sde-dpm++", "sample_steps": 50}
    assert train["steps"] == 10000 and train["batch_size"] == 256 and train["patience"] == 10  # the diffusion floor
    assert data_defaults("diffusion", 3, 500, latent_dim=2)[1]["steps"] == 2000  # a latent prior: the common floor
    assert data_defaults("flow", 3, 500)[1]["steps"] == 2000
    model, train = data_defaults("diffusion", 58, 20000)  # 64 pixels less 6 constant corners
    assert model["hidden"] == 256 and train["steps"] == 15625 and train["eval_every"] == 312
    model, train = data_defaults("flow", 64, 20000)
    assert (model["hidden"], model["n_layers"], model["coupling"]) == (128, 12, "affine") and train["steps"] == 7813
    assert data_defaults("flow", 2, 50)[0] == {"hidden": 64, "depth": 2, "n_layers": 4, "coupling": "additive"}
    assert data_defaults("flow", 2, 50, role="target")[0] == {} and data_defaults("flow", 2, 50)[1]["batch_size"] == 50


def test_cli_says_what_the_data_chose_and_scores_the_heldout_rows(tmp_path, capsys):
    from gentransfer.cli import main

    x = pixel_table(300)
    np.savez(tmp_path / "d.npz", x=x, z=(x[:, 1:2] > 4).astype(float))
    assert main(["fit-source", "--data", str(tmp_path / "d.npz"), "--family", "flow", "--out", str(tmp_path / "run"),
                 "--steps", "40", "--hidden", "32"]) == 0
    out = capsys.readouterr().out
    assert "settings chosen from the data (3 modelled columns, 300 rows): depth 2, n_layers 4" in out
    assert "steps" not in out.split("chosen from the data")[1].split("\n")[0]  # --steps was given: not chosen
    assert "1 constant columns left out" in out and "held-out check: W1" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["steps"] == 40 and config["train"]["patience"] == 8 and config["model"]["hidden"] == 32
    check = json.loads((tmp_path / "run" / "metrics.json").read_text())["heldout_check"]
    assert check["rows"] == 60 and check["outside_range"] < 0.05 and check["floor"] > 0  # only column 3 may leave
    assert check["ratio"] == pytest.approx(check["w1"] / check["floor"])


def test_heldout_check_with_a_floor_of_0_says_it_cannot_compare():
    """Held-out rows that repeat the training rows exactly give a floor of 0: no ratio, no warning."""
    import torch

    from gentransfer.pipeline.evaluate import heldout_check
    from gentransfer.pipeline.fit import _say_check
    from gentransfer.pipeline.scaling import Scaling

    class Shifted(torch.nn.Module):
        def sample(self, z=None, zc=None, n=None, generator=None):
            return torch.ones(n, 2, dtype=torch.float64)

    x = np.random.default_rng(0).normal(size=(20, 2))
    data = Table(x=x, source="d")
    rows = np.arange(10)
    check = heldout_check(Shifted(), Scaling(ColumnTransform.fit(x)), data, rows, rows)
    assert check["floor"] == 0.0 and check["ratio"] is None and check["w1"] > 0
    said = []
    _say_check(check, said.append)
    assert len(said) == 1 and "floor 0: cannot compare" in said[0] and "inf" not in said[0]


def test_evaluate_scores_runs_side_by_side_on_heldout_rows(tmp_path, capsys):
    from gentransfer.cli import main
    from gentransfer.pipeline import evaluate_run

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    x = np.clip(rng.normal(labels[:, None] * 4.0, 2.0, (600, 2)), 0, 16)  # bounded, piled at 0
    np.savez(tmp_path / "fit.npz", x=x[:400], z=labels[:400, None].astype(float))
    np.savez(tmp_path / "test.npz", x=x[400:], z=labels[400:, None].astype(float))
    train = ["--steps", "300", "--batch-size", "128", "--eval-every", "100", "--n-classes", "3"]
    fit = ["--data", str(tmp_path / "fit.npz"), "--family", "flow"]
    assert main(["fit-source", *fit, "--out", str(tmp_path / "good"), *train]) == 0
    assert main(["fit-source", *fit, "--out", str(tmp_path / "bad"), *train[:1], "5", *train[2:]]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "good"), "--model", str(tmp_path / "bad"), "--data",
                 str(tmp_path / "test.npz"), "--out", str(tmp_path / "scores.json")]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| run | family | strategy | NLL per row (± se) | W1 | W1 floor | MMD^2 | MMD^2 floor | "
                            "W1 within class |")
    good, bad = json.loads((tmp_path / "scores.json").read_text())["runs"]
    assert good["nll_rows"] == 200 and good["nll"] + 3 * good["nll_se"] < bad["nll"]  # 300 steps beat 5
    assert good["w1"] < bad["w1"] and set(good["w1_per_class"]) == {"0", "1", "2"}
    direct = evaluate_run(tmp_path / "good", Table(x=x[400:], z=labels[400:, None].astype(float)))
    assert direct["nll"] == pytest.approx(good["nll"])
    assert main(["evaluate", "--model", str(tmp_path / "good")]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_report_is_one_page_with_settings_guard_curves_and_pictures(tmp_path, capsys):
    from html.parser import HTMLParser

    from gentransfer.cli import main

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    x = np.clip(rng.normal(labels[:, None] * 4.0, 2.0, (500, 3)), 0, 16)
    np.savez(tmp_path / "src.npz", x=x[:300], z=labels[:300, None].astype(float))
    np.savez(tmp_path / "tgt.npz", x=x[300:400] + 0.5, z=labels[300:400, None].astype(float))
    np.savez(tmp_path / "test.npz", x=x[400:] + 0.5, z=labels[400:, None].astype(float))
    fast = ["--steps", "60", "--eval-every", "20"]
    assert main(["fit-source", "--data", str(tmp_path / "src.npz"), "--family", "flow", "--n-classes", "3",
                 "--out", str(tmp_path / "src"), *fast]) == 0
    assert main(["fit-target", "--source", str(tmp_path / "src"), "--data", str(tmp_path / "tgt.npz"), "--strategy",
                 "auto", "--out", str(tmp_path / "tgt"), *fast]) == 0
    page = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "src"), str(tmp_path / "tgt"), "--data", str(tmp_path / "test.npz"),
                 "--out", str(page)]) == 0

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.headings, self.text, self._tag = 0, [], [], None

        def handle_starttag(self, tag, attrs):
            self._tag = tag
            src = dict(attrs).get("src", "")
            self.images += tag == "img" and src.startswith("data:image/png;base64,iVBOR")

        def handle_data(self, data):
            self.text.append(data)
            if self._tag in ("h2", "h3"):
                self.headings.append(data)

    parsed = Page()
    parsed.feed(page.read_text())
    text = " ".join(parsed.text)
    # a training curve and a pair plot per run: the source, the auto run and the candidate it is compared with
    assert parsed.images == 6
    assert parsed.headings.count("Settings") == 3
    assert "Negative-transfer guard" in parsed.headings and "Did the source help?" in text
    assert "Held-out check: W1" in text and "W1 within class" in text and "← chosen" in text
    assert main(["report", str(tmp_path / "src"), "--out", str(page)]) == 2  # exists: refused, page kept
    assert "already exists" in capsys.readouterr().err and parsed.images == 6


def test_unconditional_tables_fit_transfer_sample_and_score(tmp_path, capsys):
    """Data without z: a plain model of x; finetune / auto transfer it; freeze-shared is refused."""
    from gentransfer.cli import main

    rng = np.random.default_rng(0)
    src = np.c_[rng.normal(0, 1, 1000), rng.gamma(2.0, 1.0, 1000)]
    tgt = np.c_[rng.normal(0.5, 1, 300), rng.gamma(2.5, 1.0, 300)]
    np.savez(tmp_path / "src.npz", x=src)
    np.savez(tmp_path / "tgt.npz", x=tgt[:200])
    np.savez(tmp_path / "test.npz", x=tgt[200:])
    fast = ["--steps", "200", "--eval-every", "50"]
    assert main(["fit-source", "--data", str(tmp_path / "src.npz"), "--family", "flow", "--out", str(tmp_path / "s"),
                 *fast]) == 0
    assert "no shared conditions z: a plain model of x" in capsys.readouterr().out
    for strategy in ("finetune", "auto"):
        assert main(["fit-target", "--source", str(tmp_path / "s"), "--data", str(tmp_path / "tgt.npz"),
                     "--strategy", strategy, "--out", str(tmp_path / strategy), *fast]) == 0
    out = capsys.readouterr().out
    assert "freeze-shared" not in out.split("strategy        held-out loss")[1]  # auto: scratch vs finetune only
    assert main(["sample", "--model", str(tmp_path / "auto"), "--n", "100", "--out", str(tmp_path / "x.npz")]) == 0
    x = np.load(tmp_path / "x.npz")["x"]
    assert x.shape == (100, 2) and np.isfinite(x).all()
    assert main(["evaluate", "--model", str(tmp_path / "finetune"), "--data", str(tmp_path / "test.npz")]) == 0
    assert "| finetune |" in capsys.readouterr().out
    assert main(["fit-target", "--source", str(tmp_path / "s"), "--data", str(tmp_path / "tgt.npz"), "--strategy",
                 "freeze-shared", "--out", str(tmp_path / "no"), *fast]) == 2
    assert "no shared part to freeze" in capsys.readouterr().err and not (tmp_path / "no").exists()
