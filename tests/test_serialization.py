"""save_pretrained / load_pretrained: JSON config + safetensors, identical behaviour after reload."""

import json

import pytest
import torch

from gentransfer import CheckpointError, CouplingFlow, DiffusionModel, load_pretrained, transfer


@pytest.mark.parametrize(
    "make",
    [
        lambda: CouplingFlow(x_dim=2, z_dim=3, zc_dim=1, coupling="affine", hidden=8),
        lambda: DiffusionModel(x_dim=2, z_dim=3, zc_dim=1, hidden=8, depth=1, sample_steps=4,
                                     likelihood_steps=4),
    ],
)
def test_round_trip_gives_identical_log_prob_and_samples(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["class"] == type(model).__name__ and meta["config"]["x_dim"] == 2
    loaded = load_pretrained(tmp_path / "m")
    z, zc, x = torch.randn(7, 3), torch.rand(7, 1), torch.randn(7, 2)
    assert torch.equal(model.log_prob(x, z, zc).detach(), loaded.log_prob(x, z, zc).detach())
    a = model.sample(z, zc, generator=torch.Generator().manual_seed(1))
    b = loaded.sample(z, zc, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_transferred_target_round_trips(tmp_path):
    source = CouplingFlow(x_dim=3, z_dim=3, zc_dim=2, hidden=8)
    target = transfer(source, "freeze-shared", x_dim=2, zc_dim=1)
    target.save_pretrained(tmp_path / "t")
    loaded = load_pretrained(tmp_path / "t")
    assert loaded.x_dim == 2 and loaded.zc_dim == 1
    assert torch.equal(loaded.embedding.net[0].weight, source.embedding.net[0].weight)


def test_corrupt_weights_and_configs_raise_checkpoint_errors(tmp_path):
    CouplingFlow(x_dim=2, z_dim=1, hidden=8).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"class": "CouplingFlow", "config": {}, "format": 99}))
    with pytest.raises(CheckpointError, match="config format 99"):
        load_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"class": "os.system", "config": {}, "format": 2}))
    with pytest.raises(CheckpointError, match="unknown component class"):
        load_pretrained(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_pretrained(tmp_path / "nowhere")
