"""pooled: one model on the source's rows and the target's, a domain indicator in zc (issue 30)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gentransfer import CouplingFlow, fit, load_pretrained, transfer
from gentransfer.cli import main
from gentransfer.data.mixed import stack_tables
from gentransfer.data.tabular import Columns
from gentransfer.errors import DataError
from gentransfer.pipeline.sample import sample_table
from gentransfer.transfer import pool


def test_pool_stacks_both_tasks_and_marks_the_domain():
    rng = np.random.default_rng(0)
    x, z, zc = pool((rng.normal(size=(5, 2)), rng.normal(size=(5, 3)), rng.normal(size=(5, 1))),
                    (rng.normal(size=(2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 1))))
    assert x.shape == (7, 2) and z.shape == (7, 3) and zc.shape == (7, 2)
    assert zc[:, -1].tolist() == [0.0] * 5 + [1.0] * 2
    with pytest.raises(DataError, match="zc in both tasks' rows or in neither"):
        pool((x, None, zc), (x, None, None))


def test_a_pooled_model_supplies_the_target_domain_itself(tmp_path):
    torch.manual_seed(0)
    source = CouplingFlow(x_dim=2, z_dim=3, zc_dim=1, hidden=16, n_layers=2)
    target = transfer(source, "pooled")
    with torch.no_grad():  # a fresh flow starts at the identity: move it so the conditions matter
        for p in target.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert target.zc_dim == 2 and target.given_zc_dim == 1 and target.domain == 1.0
    assert target.embedding is not source.embedding
    target.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.transfer_plan == target.transfer_plan
    rng = np.random.default_rng(1)
    x, z, zc = rng.normal(size=(6, 2)), rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    explicit = loaded.log_prob(x, z, np.c_[zc, np.ones(6)])
    assert torch.equal(loaded.log_prob(x, z, zc), explicit)
    assert not torch.equal(loaded.log_prob(x, z, np.c_[zc, np.zeros(6)]), explicit)
    # a plan saved before pooled existed (no "domain" key) still loads, as no pooled model
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert "domain" not in transfer(source, "finetune").transfer_plan.to_dict()
    del meta["transfer_plan"]["domain"]
    meta["config"]["zc_dim"] = 2
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    assert load_pretrained(tmp_path / "m").domain is None


def test_a_pooled_model_names_the_zc_its_caller_gives():
    """Its errors count the caller's columns, not the domain column (a user told to pass 2 columns might
    fill the domain with 0 and sample the source); a 1-D zc is one column, as for any model."""
    model = transfer(CouplingFlow(x_dim=2, zc_dim=1, hidden=8, n_layers=2), "pooled")
    x = np.zeros((4, 2))
    with pytest.raises(DataError, match=r"needs conditions 'zc' \(1 columns\)"):
        model.log_prob(x, None, None)
    with pytest.raises(DataError, match="expects 1 .a pooled model adds its domain indicator itself"):
        model.log_prob(x, None, np.zeros((4, 3)))
    assert torch.equal(model.log_prob(x, None, np.ones(4)), model.log_prob(x, None, np.ones((4, 1))))


def test_domain_guidance_and_a_stray_domain_are_refused():
    from gentransfer import DiffusionModel
    from gentransfer.diffusion.guidance import DomainGuidance
    from gentransfer.errors import CheckpointError, ConfigError
    from gentransfer.transfer import TransferPlan

    src = DiffusionModel(x_dim=2, hidden=8, depth=1)
    with pytest.raises(ConfigError, match="a pooled run already holds the source's rows"):
        DomainGuidance(transfer(src, "pooled"), src, 1.5)
    plan = {"strategy": "finetune", "warm_start": True, "lr_scale": 1.0, "frozen": [], "adapters": None,
            "domain": 1.0}
    with pytest.raises(CheckpointError, match="invalid transfer_plan"):
        TransferPlan.from_dict(plan)
    assert TransferPlan.from_dict({**plan, "strategy": "pooled"}).domain == 1.0


def test_a_column_typed_differently_in_the_two_files_is_pooled_as_the_wider_type(tmp_path):
    """Each file's types are read from its own values: whole numbers in the source and fractions in the
    target make a continuous column (the source's integer type would floor the target's samples)."""
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0], "n": [0, 1, 2, 3]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"x": [4.0, 5.0, 4.5], "n": [1.5, 1.2, 1.8]}).to_csv(tmp_path / "t.csv", index=False)
    cols = Columns(x_columns=["x", "n"])
    source, target = cols.load(tmp_path / "s.csv"), cols.load(tmp_path / "t.csv")
    assert [c.kind for c in source.specs("x")] == ["continuous", "integer"]
    both = stack_tables(source, target)
    assert [c.kind for c in both.specs("x")] == ["continuous", "continuous"]


def test_a_pooled_fit_learns_the_target_apart_from_the_source():
    """Source x ~ N(0, 1), target x ~ N(3, 1), 1,000 and 100 rows: the pooled model's target samples
    sit at the target's mean, its source-domain samples at the source's (a model that ignored the
    indicator would put both near the pooled mean, 0.27)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = transfer(CouplingFlow(x_dim=2, hidden=32, n_layers=4), "pooled")
    x, z, zc = pool((rng.normal(size=(1000, 2)), None, None), (rng.normal(size=(100, 2)) + 3.0, None, None))
    fit(model, x, z, zc, steps=400, batch_size=128, lr=5e-3, eval_every=100, patience=100, seed=0)
    gen = torch.Generator().manual_seed(1)
    as_target = model.sample(n=4000, generator=gen).numpy()
    as_source = model.sample(zc=np.zeros((4000, 1)), generator=gen).numpy()
    assert as_target.shape == (4000, 2)
    assert abs(as_target.mean() - 3.0) < 0.35, as_target.mean()
    assert abs(as_source.mean()) < 0.35, as_source.mean()


def test_a_pooled_run_of_x_alone_samples_and_is_scored(tmp_path, monkeypatch):
    """Without conditions the pooled model's only zc column is its domain: sample --n and evaluate
    need nothing from the user (evaluate first refused: 'needs conditions zc', found by the bank)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)}).to_csv("src.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=80) + 1, "b": rng.normal(size=80)}).to_csv("tgt.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=60) + 1, "b": rng.normal(size=60)}).to_csv("test.csv", index=False)
    train = ["--steps", "60", "--eval-every", "30"]
    assert main(["fit-source", "--data", "src.csv", "--family", "flow", "--out", "s", "--hidden", "16", *train]) == 0
    assert main(["fit-target", "--source", "s", "--data", "tgt.csv", "--strategy", "pooled", "--source-data",
                 "src.csv", "--out", "p", *train]) == 0
    assert main(["sample", "--model", "p", "--n", "7", "--out", "drawn.csv"]) == 0
    assert len(pd.read_csv("drawn.csv")) == 7
    assert main(["evaluate", "--model", "p", "--data", "test.csv", "--out", "scores.json"]) == 0
    assert np.isfinite(json.loads((tmp_path / "scores.json").read_text())["runs"][0]["nll"])


def test_stack_tables_codes_categories_over_both_files(tmp_path):
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"x": [4.0, 5.0], "c": ["c", "a"]}).to_csv(tmp_path / "t.csv", index=False)
    cols = Columns(x_columns=["x"], zc_columns=["c"], categorical_columns=["c"])
    both = stack_tables(cols.load(tmp_path / "s.csv"), cols.load(tmp_path / "t.csv"))
    specs = both.specs("zc")
    assert specs[0].categories == ("a", "b", "c")
    assert [specs[0].categories[int(k)] for k in both.zc[:, 0]] == ["a", "b", "a", "c", "a"]
    assert both.x[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_fit_target_pooled_from_the_command_line(tmp_path, monkeypatch):
    """The CLI's pooled run on a typed CSV: a category only the source has is kept, the run samples
    the target's columns back, and evaluate scores it beside the source."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)

    def rows(n, shift, kinds):
        k = rng.choice(kinds, n)
        return pd.DataFrame({"y": rng.normal(size=n) + shift + (k == "a"), "k": k, "n": rng.integers(0, 4, n)})

    rows(600, 0.0, ["a", "b", "c"]).to_csv("src.csv", index=False)
    rows(120, 2.0, ["a", "b"]).to_csv("tgt.csv", index=False)
    rows(300, 2.0, ["a", "b"]).to_csv("test.csv", index=False)
    roles = ["--x-columns", "y,n", "--z-columns", "k", "--categorical-columns", "k", "--integer-columns", "n"]
    train = ["--steps", "100", "--eval-every", "50", "--hidden", "16"]
    assert main(["fit-source", "--data", "src.csv", "--family", "flow", "--out", "s", *roles, *train]) == 0
    assert main(["fit-target", "--source", "s", "--data", "tgt.csv", "--strategy", "pooled", "--source-data",
                 "src.csv", "--out", "p", "--steps", "100", "--eval-every", "50"]) == 0
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["pooled"] == {"source_data": "src.csv", "source_rows": 600, "target_rows": 120}
    drawn = sample_table("p", 1, Columns(z_columns=["k"], categorical_columns=["k"]).load("test.csv", require_x=False))
    assert drawn.x.shape == (300, 2) and np.isin(drawn.x[:, 1], np.arange(4)).all()
    assert main(["evaluate", "--model", "p", "--data", "test.csv", "--out", "scores.json"]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())["runs"]
    assert scores[0]["strategy"] == "pooled" and np.isfinite(scores[0]["nll"])
