"""Properties every transferable model x every strategy must have (STYLE.md, lesson 7).

For each registered model class with a shared part and each strategy: the transfer plan and the
frozen parts survive save / load; the reloaded model gives identical log-likelihoods and samples
for the same seed; after a fit, frozen parameters are bit-identical and received no gradient,
and every trainable parameter received one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gentransfer import STRATEGIES, CouplingFlow, DiffusionModel, fit, load_pretrained, transfer
from gentransfer.config import REGISTRY
from gentransfer.diffusion import UNetEps
from gentransfer.errors import ConfigError
from gentransfer.latent import FlowLatentModel, LatentModel, fit_latent
from gentransfer.nn import SharedEmbedding

TINY = {"steps": 3, "batch_size": 16, "eval_every": 3, "val_fraction": 0.25}
TINY_UNET = {"sample_size": 8, "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4}


def _unet_diffusion() -> DiffusionModel:
    embedding = SharedEmbedding(1, 32, n_classes=10)  # 4 x the first UNet width
    return DiffusionModel(x_dim=64, z_dim=1, embedding=embedding, network=UNetEps(64, 32, **TINY_UNET),
                          sample_steps=3, likelihood_steps=2)


# name -> (build a source, draw data (x, z, zc) for it)
MODELS = {
    "flow": (lambda: CouplingFlow(x_dim=2, z_dim=3, zc_dim=1, coupling="affine", hidden=8),
             lambda rng, n: (rng.normal(size=(n, 2)), rng.normal(size=(n, 3)), rng.uniform(size=(n, 1)))),
    "diffusion": (lambda: DiffusionModel(x_dim=2, z_dim=3, zc_dim=1, hidden=8, depth=1, sample_steps=3,
                                         likelihood_steps=3),
                  lambda rng, n: (rng.normal(size=(n, 2)), rng.normal(size=(n, 3)), rng.uniform(size=(n, 1)))),
    "unet-diffusion": (_unet_diffusion,
                       lambda rng, n: (rng.uniform(-1, 1, size=(n, 64)), rng.integers(0, 10, size=(n, 1)), None)),
    "latent-flow": (lambda: LatentModel(x_dim=4, prior_family="flow", prior_config={"hidden": 8}, hidden=8),
                    lambda rng, n: (rng.normal(size=(n, 4)), None, None)),
    "latent-diffusion": (lambda: LatentModel(x_dim=4, prior_family="diffusion",
                                             prior_config={"hidden": 8, "depth": 1, "sample_steps": 3}, hidden=8),
                         lambda rng, n: (rng.normal(size=(n, 4)), None, None)),
    "exact-latent-flow": (lambda: FlowLatentModel(x_dim=2, prior_config={"n_layers": 2, "hidden": 8}, hidden=8),
                          lambda rng, n: (rng.normal(size=(n, 2)), None, None)),
}


POOLED_REFUSED = {"unet-diffusion", "latent-flow", "latent-diffusion", "exact-latent-flow"}  # no room for a domain


def _pooled_refused(request, source, strategy) -> bool:
    """pooled on a model that cannot take its domain indicator: one clear error (checked here)."""
    if strategy != "pooled" or request.node.callspec.params["case"] not in POOLED_REFUSED:
        return False
    with pytest.raises(ConfigError, match="pooled adds a domain indicator to the conditions"):
        transfer(source, strategy)
    return True


def test_every_transferable_model_class_is_covered():
    transferable = {cls for cls in REGISTRY.values() if hasattr(cls, "shared_part")}
    covered = {type(build()) for build, _ in MODELS.values()}
    assert transferable <= covered, f"add {transferable - covered} to MODELS"


def _jittered(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():  # move every weight off its initialisation, so copies are visible
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _log_prob(model, x, z, zc) -> torch.Tensor:
    torch.manual_seed(5)  # Hutchinson's probes (high-dimensional diffusion) come from the global generator
    if isinstance(model, LatentModel):
        return model.log_prob(x, draws=64, generator=torch.Generator().manual_seed(5))
    return model.log_prob(x, z, zc).detach()


def _sample(model, z, zc) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)  # one signature for every model, the latent one included
    if z is None and zc is None:
        return model.sample(n=6, generator=gen)
    return model.sample(z, zc, generator=gen)


def _fit(model, x, z, zc) -> None:
    if isinstance(model, LatentModel):
        fit_latent(model, x, autoencoder_train=TINY, prior_train=TINY, likelihood_train=TINY, draws=32,
                   bank_size=64)
    else:
        fit(model, x, z, zc, train=TINY)


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    torch.manual_seed(0)
    build, data = MODELS[request.param]
    return _jittered(build()), data


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_save_load_keeps_the_plan_and_the_behaviour(case, strategy, tmp_path, request):
    source, data = case
    if _pooled_refused(request, source, strategy):
        return
    torch.manual_seed(1)
    target = _jittered(transfer(source, strategy))
    target.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.transfer_plan == target.transfer_plan
    assert loaded.transfer_plan.strategy == strategy
    flags = {k: p.requires_grad for k, p in loaded.named_parameters()}
    assert flags == {k: p.requires_grad for k, p in target.named_parameters()}
    part = getattr(loaded, loaded.shared_part)
    assert all(p.requires_grad == (strategy not in ("freeze-shared", "lora")) for p in part.parameters())
    rows = data(np.random.default_rng(2), 6)
    x, z, zc = (None if a is None else torch.as_tensor(a, dtype=torch.float32) for a in rows)
    assert torch.equal(_log_prob(target, x, z, zc), _log_prob(loaded, x, z, zc))
    assert torch.equal(_sample(target, z, zc), _sample(loaded, z, zc))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_fit_trains_exactly_the_unfrozen_parameters(case, strategy, tmp_path, request):
    source, data = case
    if _pooled_refused(request, source, strategy):
        return
    torch.manual_seed(1)
    target = transfer(source, strategy)
    target.save_pretrained(tmp_path / "m")
    target = load_pretrained(tmp_path / "m")  # the defect: a reloaded target must stay as transferred
    before = {k: p.detach().clone() for k, p in target.named_parameters()}
    _fit(target, *data(np.random.default_rng(3), 48))
    plan = target.transfer_plan
    assert set(plan.frozen) == ({target.shared_part} if strategy in ("freeze-shared", "lora") else set())
    assert (plan.adapters is not None) == (strategy == "lora")
    for name, p in target.named_parameters():
        if plan.is_frozen(name):
            assert not p.requires_grad and p.grad is None, name
            assert torch.equal(p, before[name]), name
        else:
            assert p.requires_grad and p.grad is not None, f"{name} received no gradient"
    assert any(not torch.equal(p, before[k]) for k, p in target.named_parameters() if p.requires_grad)
