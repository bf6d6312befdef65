"""Unconditional transfer through a shared latent: the prior is the shared part."""

import numpy as np
import pytest
import torch

from gentransfer import ConfigError, DataError, load_pretrained, transfer
from gentransfer.latent import LatentModel, fit_latent
from gentransfer.latent.model import GUARD_DRAWS
from gentransfer.metrics import wasserstein1
from gentransfer.simulation.unconditional import UnconditionalStudy, build_jobs
from gentransfer.simulation.unconditional_designs import get_unconditional_design

TINY = {"steps": 20, "eval_every": 10, "batch_size": 64}


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    design = get_unconditional_design("default", 4)
    model = LatentModel(x_dim=4, prior_family="flow", prior_config={"hidden": 16}, hidden=16)
    fit_latent(model, design.sample_source(300, np.random.default_rng(0)), autoencoder_train=TINY,
               prior_train=TINY)
    return model


def test_freeze_shared_keeps_the_prior_bit_identical(source):
    target = transfer(source, "freeze-shared")
    assert target.prior_is_frozen() and not source.prior_is_frozen()
    prior_before = {k: v.clone() for k, v in target.prior.state_dict().items()}
    ae_before = {k: v.clone() for k, v in target.autoencoder.state_dict().items()}
    results = fit_latent(target, get_unconditional_design("default", 4).sample_target(100, np.random.default_rng(1)),
                         autoencoder_train=TINY)
    assert set(results) == {"autoencoder"}  # a frozen prior is not refitted
    assert all(torch.equal(prior_before[k], v) for k, v in target.prior.state_dict().items())
    assert any(not torch.equal(ae_before[k], v) for k, v in target.autoencoder.state_dict().items())
    assert float(target.noise_std.min()) > 0


def test_scratch_refits_its_own_prior(source):
    target = transfer(source, "scratch")
    pairs = zip(target.prior.parameters(), source.prior.parameters(), strict=True)
    assert not any(torch.equal(a, b) for a, b in pairs if a.numel() > 1 and b.abs().sum() > 0)
    results = fit_latent(target, np.random.default_rng(2).normal(size=(80, 4)), autoencoder_train=TINY,
                         prior_train=TINY)
    assert set(results) == {"autoencoder", "prior"}


def test_sampling_and_round_trip(source, tmp_path):
    x = source.sample(n=50, generator=torch.Generator().manual_seed(0))
    assert x.shape == (50, 4) and torch.isfinite(x).all()
    source.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    y = loaded.sample(n=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y)


def test_prior_must_live_on_the_latent_space(source):
    with pytest.raises(ConfigError, match="unconditional model on R\\^3"):
        LatentModel(x_dim=4, latent_dim=3, prior=source.prior)


def test_unconditional_job_grid():
    study = UnconditionalStudy(n_source=[10, 20], seeds=[0, 1, 2], d_sweep=[4], d_sweep_seeds=1,
                               designs=["default"], families=["flow"])
    jobs = build_jobs(study)
    main = [j for j in jobs if j["d"] == 8]
    sweep = [j for j in jobs if j["d"] == 4]
    assert len(main) == 3 * (1 + 2)
    assert len(sweep) == 2 and {j["seed"] for j in sweep} == {0}
    assert {j["n_s"] for j in sweep} == {0, 20}
    with pytest.raises(ConfigError, match="target_select = 'aic' is not one of 'w1', 'likelihood'"):
        build_jobs(UnconditionalStudy(target_restarts=3, target_select="aic"))
    with pytest.raises(ConfigError, match="no prior or prior_train settings for families \\['diffusion'\\]"):
        build_jobs(UnconditionalStudy(prior_train={"flow": {"steps": 10}}))


def test_designs_share_the_latent_only_when_specified():
    d, m = get_unconditional_design("default"), get_unconditional_design("misspecified")
    rng = np.random.default_rng(0)
    radius = np.linalg.norm(get_unconditional_design("ring").latent(2000, rng), axis=1)
    assert abs(radius.mean() - 1.0) < 0.01 and abs(radius.std() - 0.1) < 0.01
    u = d.latent(4000, rng)  # 8 modes on the unit circle, sd 0.1
    modes = np.round(np.arctan2(u[:, 1], u[:, 0]) / (2 * np.pi / 8)) % 8
    assert abs(np.linalg.norm(u, axis=1).mean() - 1.0) < 0.02 and np.bincount(modes.astype(int)).min() > 400
    assert d.sample_source(5, rng).shape == (5, 8) and m.sample_source(5, rng).shape == (5, 8)


def test_decoder_likelihood_matches_the_exact_gaussian_marginal():
    """u ~ N(0, 1), g(u) = a u + b, noise sigma: p(x) = N(b, a a^T + diag sigma^2) exactly."""
    from gentransfer.latent.likelihood import DecoderLikelihood

    a, b, sigma = torch.tensor([[1.0, 0.5]]), torch.tensor([0.2, -0.1]), torch.tensor([0.3, 0.4])
    decoder = torch.nn.Linear(1, 2)
    with torch.no_grad():
        decoder.weight.copy_(a.T), decoder.bias.copy_(b)
    bank = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0))
    objective = DecoderLikelihood(decoder, bank, sigma, draws=50_000)
    exact = torch.distributions.MultivariateNormal(b, a.T @ a + torch.diag(sigma**2))
    x = exact.sample((200,))
    noise = objective.draw_noise(len(x), torch.Generator().manual_seed(1))
    with torch.no_grad():
        err = objective.log_prob(x, noise) - exact.log_prob(x)
    assert err.mean().abs() < 0.01 and err.abs().max() < 0.1  # Monte Carlo error, largest in the tails


def test_likelihood_stage_refines_the_decoder_and_noise_only(source):
    target = transfer(source, "freeze-shared")
    prior_before = {k: v.clone() for k, v in target.prior.state_dict().items()}
    x_t = get_unconditional_design("default", 4).sample_target(100, np.random.default_rng(1))
    results = fit_latent(target, x_t, autoencoder_train=TINY, likelihood_train=TINY, draws=256)
    assert set(results) == {"autoencoder", "likelihood"} and results["likelihood"].steps == 20
    assert all(torch.equal(prior_before[k], v) for k, v in target.prior.state_dict().items())
    sigma = target.noise_std.clone()
    fit_latent(target, x_t, autoencoder_train=TINY)  # without the stage: sigma from reconstructions
    assert not torch.equal(sigma, target.noise_std)


@pytest.mark.parametrize("route", ["freeze-shared", "scratch"])
def test_restarts_keep_the_start_the_selection_rule_prefers(source, route):
    x_t = get_unconditional_design("default", 4).sample_target(100, np.random.default_rng(1))

    def fitted(**kw):
        torch.manual_seed(3)
        target = transfer(source, route)
        fit_latent(target, x_t, autoencoder_train=TINY, prior_train=TINY, likelihood_train=TINY, draws=256, **kw)
        return target

    def loglik(model):  # the "likelihood" rule: 4 * draws prior draws, seed + 31
        return float(model.log_prob(x_t, draws=1024, generator=torch.Generator().manual_seed(31)).mean())

    def closeness(model):  # the "w1" rule: 2,000 draws, seed + 98
        return -wasserstein1(model.sample(n=2000, generator=torch.Generator().manual_seed(98)), x_t)

    singles = [fitted(start=r) for r in range(3)]
    for select, rule in (("likelihood", loglik), ("w1", closeness)):
        scores = [rule(m) for m in singles]
        assert len(set(scores)) == 3  # each start is a different fit
        kept = fitted(restarts=3, select=select)
        best = singles[int(np.argmax(scores))].state_dict()
        assert all(torch.equal(best[k], v) for k, v in kept.state_dict().items())
        assert rule(kept) == pytest.approx(max(scores))
    with pytest.raises(ConfigError, match="restarts must be >= 1"):
        fit_latent(kept, x_t, autoencoder_train=TINY, restarts=0)
    with pytest.raises(ConfigError, match="unknown selection rule"):
        fit_latent(kept, x_t, autoencoder_train=TINY, restarts=2, select="aic")


def test_latent_log_prob_and_the_guards_w1_rows(source):

    x = get_unconditional_design("default", 4).sample_target(30, np.random.default_rng(5))
    log_p = source.log_prob(x, draws=512, generator=torch.Generator().manual_seed(4242))
    assert log_p.shape == (30,) and torch.isfinite(log_p).all()
    with pytest.raises(DataError, match="expects 4"):
        source.log_prob(np.zeros((3, 5)))
    # the guard's per-row loss: each row's share of the exact W1 to GUARD_DRAWS seeded samples
    rows = source.heldout_loss_rows(x, seed=0)
    draws = source.sample(n=GUARD_DRAWS, generator=torch.Generator().manual_seed(4242))
    assert rows.shape == (30,) and (rows >= 0).all() and source.guard_rule == "lowest"
    assert rows.mean() == pytest.approx(wasserstein1(x, draws), rel=1e-6)  # x is read as float32
    far = x.copy()
    far[0] += 25.0  # a row the model puts no mass near carries the largest share
    assert int(np.argmax(source.heldout_loss_rows(far, seed=0))) == 0


def test_checkpointed_stages_resume_bit_identically(source, tmp_path):
    """fit_latent with checkpoint_dir: a second call with resume reads every finished stage back."""
    x = get_unconditional_design("default", 4).sample_target(80, np.random.default_rng(3))
    stages = {"autoencoder_train": TINY, "prior_train": TINY, "likelihood_train": {**TINY, "batch_size": 32},
              "draws": 64}
    torch.manual_seed(1)
    first = transfer(source, "finetune")
    done = fit_latent(first, x, checkpoint_dir=str(tmp_path / "ck"), **stages)
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"autoencoder", "prior", "likelihood"}
    torch.manual_seed(2)  # another initialisation: only the checkpoints can make the two agree
    again = transfer(source, "finetune")
    redone = fit_latent(again, x, checkpoint_dir=str(tmp_path / "ck"), resume=True, **stages)
    assert {k: r.steps for k, r in redone.items()} == {k: r.steps for k, r in done.items()}
    a, b = first.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_latent_model_has_the_unconditional_surface(source):
    x, z, zc = source.validate(np.zeros((3, 4)))
    assert x.shape == (3, 4) and z is None and zc is None and source.z_dim == source.zc_dim == 0
    with pytest.raises(DataError, match="takes none"):
        source.sample(n=2, z=np.zeros((2, 1)))
    with pytest.raises(DataError, match="positive integer"):
        source.sample()
