"""Domain Guidance: w = 1 is the fine-tuned model, w = 0 the source; the weight chosen on held-out rows."""

import numpy as np
import pytest
import torch

from gentransfer import CouplingFlow, DiffusionModel, fit, transfer
from gentransfer.diffusion.guidance import DomainGuidance, guidance_losses
from gentransfer.errors import ConfigError
from gentransfer.nn import SharedEmbedding


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    z = torch.randint(0, 3, (300, 1), generator=g).float()
    x_s = torch.randn(300, 2, generator=g) + z
    x_t = torch.randn(300, 2, generator=g) - z
    torch.manual_seed(0)
    source = DiffusionModel(x_dim=2, z_dim=1, embedding=SharedEmbedding(1, 4, n_classes=3), hidden=16, depth=1,
                            sampler="ancestral", sample_steps=10)
    fit(source, x_s, z, steps=60, eval_every=20)
    target = transfer(source, "finetune")
    fit(target, x_t, z, steps=60, eval_every=20)
    return source, target, x_t, z


def _draw(model, z, seed=1):
    return model.sample(z, generator=torch.Generator().manual_seed(seed))


def test_weight_one_is_the_target_and_zero_the_source_exactly(pair):
    source, target, _, z = pair
    assert torch.equal(_draw(DomainGuidance(target, source, 1.0), z[:50]), _draw(target, z[:50]))
    assert torch.equal(_draw(DomainGuidance(target, source, 0.0), z[:50]), _draw(source, z[:50]))
    assert not torch.equal(_draw(DomainGuidance(target, source, 2.0), z[:50]), _draw(target, z[:50]))


def test_guidance_losses_at_one_are_the_target_held_out_loss(pair):
    source, target, x, z = pair
    losses = guidance_losses(target, source, [0.0, 1.0, 2.0], x[:40], z[:40], seed=3)
    assert losses[1.0] == pytest.approx(float(np.mean(target.heldout_loss_rows(x[:40], z[:40], seed=3))), rel=1e-5)
    assert losses[0.0] == pytest.approx(float(np.mean(source.heldout_loss_rows(x[:40], z[:40], seed=3))), rel=1e-5)
    # the target was fitted to these rows' law and the source to another: guidance toward the source costs
    assert losses[1.0] < losses[0.0]


def test_a_pair_that_cannot_be_guided_is_refused(pair):
    source, target, _, _ = pair
    with pytest.raises(ConfigError, match="diffusion"):
        DomainGuidance(CouplingFlow(x_dim=2), source, 1.0)
    with pytest.raises(ConfigError, match="shape"):
        DomainGuidance(transfer(source, "finetune", x_dim=3), source, 1.0)
    with pytest.raises(ConfigError, match="finite"):
        DomainGuidance(target, source, float("nan"))


def test_sample_run_guides_an_image_target_by_its_source_run(tmp_path):
    from gentransfer.data.images import image_table
    from gentransfer.data.tabular import Table
    from gentransfer.pipeline import fit_source, fit_target, sample_run

    rng = np.random.default_rng(0)
    images, labels = rng.random((40, 1, 8, 8)), rng.integers(0, 2, 40)
    model = {"block_out_channels": [8, 16], "norm_num_groups": 4, "sample_steps": 2}
    train = {"steps": 2, "eval_every": 2, "batch_size": 8}
    fit_source(image_table(images, labels, "source"), "diffusion", tmp_path / "s", model=model, train=train,
               score_heldout=False, log=lambda *a: None)
    fit_target(tmp_path / "s", image_table(1 - images, labels, "target"), "finetune", tmp_path / "t", train=train,
               score_heldout=False, log=lambda *a: None)
    plain, one = sample_run(tmp_path / "t", 2, None), sample_run(tmp_path / "t", 2, None, guidance=1.0)
    zero, source = sample_run(tmp_path / "t", 2, None, guidance=0.0), sample_run(tmp_path / "s", 2, None)
    assert np.array_equal(plain["x"], one["x"]) and np.array_equal(zero["x"], source["x"])
    assert not np.array_equal(sample_run(tmp_path / "t", 2, None, guidance=2.0)["x"], plain["x"])
    with pytest.raises(ConfigError, match="not a fit-target run"):
        sample_run(tmp_path / "s", 2, None, guidance=1.5)
    x = rng.normal(size=(60, 2))
    fit_source(Table(x=x, source="s"), "diffusion", tmp_path / "ts", model={"hidden": 8, "depth": 1},
               train=train, score_heldout=False, log=lambda *a: None)
    fit_target(tmp_path / "ts", Table(x=x + 1, source="t"), "finetune", tmp_path / "tt", train=train,
               score_heldout=False, log=lambda *a: None)
    with pytest.raises(ConfigError, match="scale x differently"):
        sample_run(tmp_path / "tt", 2, None, guidance=1.5)
