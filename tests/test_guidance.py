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
