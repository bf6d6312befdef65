"""Transfer strategies, identically for both families: what is shared, frozen and trained."""

import numpy as np
import pytest
import torch

from gentransfer import ConfigError, CouplingFlow, DataError, DiffusionModel, fit, transfer
from gentransfer.transfer import STRATEGIES

FAMILIES = {
    "flow": lambda **kw: CouplingFlow(hidden=16, **kw),
    "diffusion": lambda **kw: DiffusionModel(hidden=16, depth=2, sample_steps=5, likelihood_steps=5, **kw),
}


def _data(n, x_dim, zc_dim, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    zc = rng.uniform(-1, 1, size=(n, zc_dim))
    x = np.concatenate([np.tanh(z[:, :1]) + zc[:, :1], rng.normal(size=(n, x_dim - 1))], axis=1)
    return x, z, zc


@pytest.fixture(scope="module", params=list(FAMILIES))
def fitted_source(request):
    torch.manual_seed(0)
    source = FAMILIES[request.param](x_dim=3, z_dim=4, zc_dim=2)
    fit(source, *_data(200, 3, 2), steps=30, eval_every=10)
    return source


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_moves_the_right_parts(fitted_source, strategy):
    source_state = _snapshot(fitted_source)
    dims = {"x_dim": 3, "zc_dim": 2} if strategy == "lora" else {"x_dim": 2, "zc_dim": 1}  # lora: the source's
    target = transfer(fitted_source, strategy, **dims)
    assert target.transfer_plan.strategy == strategy and target.family == fitted_source.family
    assert target.embedding is not fitted_source.embedding
    same_h = all(torch.equal(a, b) for a, b in zip(target.embedding.state_dict().values(),
                                                    fitted_source.embedding.state_dict().values(), strict=True))
    assert same_h == (strategy not in ("scratch", "pooled"))  # pooled: a fresh model, fitted on both tasks' rows
    before = _snapshot(target.embedding)
    result = fit(target, *_data(120, dims["x_dim"], dims["zc_dim"], seed=1), steps=30, eval_every=10)
    after = _snapshot(target.embedding)
    frozen = all(torch.equal(before[k], after[k]) for k in before)
    assert frozen == (strategy in ("freeze-shared", "lora"))
    assert result.strategy == strategy
    # the source is never modified by fitting a target
    assert all(torch.equal(source_state[k], v) for k, v in fitted_source.state_dict().items())


def test_lora_refuses_a_head_of_other_widths(fitted_source):
    """lora freezes every source weight: head layers of other shapes would start random and stay so."""
    with pytest.raises(ConfigError, match="x has 2 modelled columns, the source's 3; the target's zc has 1 columns"):
        transfer(fitted_source, "lora", x_dim=2, zc_dim=1)
    with pytest.raises(ConfigError, match="zc has 0 columns, the source's 2"):
        transfer(fitted_source, "lora", zc_dim=0)
    assert transfer(fitted_source, "finetune", x_dim=2, zc_dim=1).transfer_plan.strategy == "finetune"


def test_frozen_embedding_gets_no_gradient(fitted_source):
    target = transfer(fitted_source, "freeze-shared", x_dim=2, zc_dim=1)
    x, z, zc = (torch.as_tensor(a, dtype=torch.float32) for a in _data(16, 2, 1))
    target(x, z, zc).backward()
    assert all(p.grad is None for p in target.embedding.parameters())
    assert all(p.grad is not None for p in target.head_parameters())


def test_finetune_copies_head_tensors_where_shapes_allow(fitted_source):
    same_dims = transfer(fitted_source, "finetune")
    for k, v in fitted_source.state_dict().items():
        assert torch.equal(same_dims.state_dict()[k], v)
    other_dims = transfer(fitted_source, "finetune", x_dim=2, zc_dim=1)
    copied = [k for k, v in other_dims.state_dict().items()
              if not k.startswith("embedding.") and k in fitted_source.state_dict()
              and fitted_source.state_dict()[k].shape == v.shape
              and torch.equal(fitted_source.state_dict()[k], v)]
    assert copied, "hidden layers of matching shape should start from the source"


def test_warm_started_freeze_shared_keeps_h_frozen_and_starts_from_the_source_head(fitted_source):
    cold = transfer(fitted_source, "freeze-shared")
    warm = transfer(fitted_source, "freeze-shared", warm_start=True)
    src = fitted_source.state_dict()
    assert all(torch.equal(warm.state_dict()[k], v) for k, v in src.items())
    assert not all(torch.equal(cold.state_dict()[k], v) for k, v in src.items() if not k.startswith("embedding."))
    lr_scales = (cold.transfer_plan.lr_scale, warm.transfer_plan.lr_scale,
                 transfer(fitted_source, "finetune").transfer_plan.lr_scale)
    assert lr_scales == (1.0, 0.3, 0.3)
    before = _snapshot(warm.embedding)
    fit(warm, *_data(120, 3, 2, seed=1), steps=20, eval_every=10)
    assert all(torch.equal(before[k], v) for k, v in warm.embedding.state_dict().items())
    with pytest.raises(ConfigError, match="scratch starts from fresh weights"):
        transfer(fitted_source, "scratch", warm_start=True)


def test_unknown_strategy_and_mismatched_shared_block(fitted_source):
    with pytest.raises(ConfigError, match="unknown transfer strategy 'freeze'"):
        transfer(fitted_source, "freeze", x_dim=2)
    with pytest.raises(ConfigError, match="shared embedding takes z of dimension 4"):
        transfer(fitted_source, "freeze-shared", x_dim=2, zc_dim=1, z_dim=5)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda x, z, zc: (x[:, :1], z, zc), "'x' has 1 columns but the model expects 2"),
        (lambda x, z, zc: (x, z[:, :3], zc), "'z' has 3 columns but the model expects 4"),
        (lambda x, z, zc: (np.where(np.arange(len(x))[:, None] == 3, np.nan, x), z, zc), "'x' has NaN"),
        (lambda x, z, zc: (x, z[:-1], zc), "'z' has 39 rows but x has 40"),
        (lambda x, z, zc: (x, z, None), "needs conditions 'zc'"),
    ],
)
def test_bad_target_data_fails_before_training(fitted_source, mutate, match):
    target = transfer(fitted_source, "freeze-shared", x_dim=2, zc_dim=1)
    before = _snapshot(target)
    with pytest.raises(DataError, match=match):
        fit(target, *mutate(*_data(40, 2, 1)), steps=5)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_training_is_seeded(fitted_source):
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        target = transfer(fitted_source, "finetune", x_dim=2, zc_dim=1)
        fit(target, *_data(60, 2, 1), steps=20, seed=5)
        runs.append(_snapshot(target))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_batch_larger_than_data_is_clamped(fitted_source):
    target = transfer(fitted_source, "scratch", x_dim=2, zc_dim=1)
    result = fit(target, *_data(30, 2, 1), steps=10, batch_size=10_000, eval_every=5)
    assert result.n_train == 24 and result.n_val == 6 and np.isfinite(result.best_val_loss)


def test_lora_rank_scales_with_the_head_and_an_explicit_rank_wins():
    pytest.importorskip("peft")
    from gentransfer.diffusion.unet import unet_diffusion

    def rank(model, **kw):
        return transfer(model, "lora", **kw).transfer_plan.adapters["rank"]

    wide = DiffusionModel(x_dim=64, z_dim=1, hidden=256, depth=3)  # the real-table default at 64 columns
    assert rank(wide) == 16 and rank(wide, lora_rank=4) == 4
    assert rank(DiffusionModel(x_dim=2, z_dim=1, hidden=64)) == 4  # never below 4
    # the digits benchmark's CPU UNet keeps the rank its recorded LoRA rows were fitted with
    unet = unet_diffusion((1, 16, 16), 10, block_out_channels=[16, 32, 32], norm_num_groups=8)
    assert rank(unet) == 4
    target = transfer(wide, "lora")
    adapter = dict(target.named_parameters())["network.net.2.lora_A.default.weight"]
    assert adapter.shape == (16, 256)
