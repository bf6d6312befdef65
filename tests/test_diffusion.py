"""Diffusion: the VP process, samplers and ODE likelihood against a Gaussian with a known score."""

import math

import pytest
import torch

from gentransfer.diffusion import VPSchedule, ancestral_sample, ode_log_likelihood, ode_sample
from gentransfer.errors import ConfigError

SCHEDULE = VPSchedule()
MU, SD = torch.tensor([1.0, -2.0]), 0.5


def exact_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The true noise predictor for data N(MU, SD^2 I): eps = sigma(t) (x - m mu) / var_t."""
    m, sig = SCHEDULE.marginal(t)
    m, sig = m[:, None], sig[:, None]
    return sig * (x - m * MU) / (m**2 * SD**2 + sig**2)


def true_log_prob(x: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((x - MU) / SD) ** 2).sum(1) - 2 * math.log(SD) - math.log(2 * math.pi)


def test_marginal_is_variance_preserving():
    t = torch.linspace(0.001, 1.0, 50)
    m, s = SCHEDULE.marginal(t)
    assert torch.allclose(m**2 + s**2, torch.ones(50), atol=1e-6)
    assert float(m[-1]) == pytest.approx(math.exp(-0.25 * 20.0 - 0.5 * 0.1 * 0.5), rel=1e-3)


def test_add_noise_has_the_marginal_law():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 2.0)
    t = torch.full((20000,), 0.3)
    xt = SCHEDULE.add_noise(x0, torch.randn(x0.shape, generator=gen), t)
    m, s = SCHEDULE.marginal(torch.tensor(0.3))
    assert float(xt.mean()) == pytest.approx(2.0 * float(m), abs=0.02)
    assert float(xt.std()) == pytest.approx(float(s), abs=0.02)


def test_ode_likelihood_exact_divergence_matches_truth():
    # beta_max=40 makes X_T ~ N(0, I) exact to 1e-4, so only the integrator's error remains
    # (with the default beta_max=20 the N(0, I) prior itself is ~0.01 nats off per point).
    schedule = VPSchedule(beta_max=40.0)

    def eps(x, t):
        m, sig = schedule.marginal(t)
        m, sig = m[:, None], sig[:, None]
        return sig * (x - m * MU) / (m**2 * SD**2 + sig**2)

    gen = torch.Generator().manual_seed(1)
    x = MU + SD * torch.randn(500, 2, generator=gen)
    errors = [float((ode_log_likelihood(eps, schedule, x, steps=n) - true_log_prob(x)).abs().mean())
              for n in (25, 100)]
    assert errors[1] < 1e-3 and errors[0] > 2 * errors[1]


def test_ode_likelihood_hutchinson_is_unbiased():
    gen = torch.Generator().manual_seed(2)
    x = MU + SD * torch.randn(2000, 2, generator=gen)
    ll = ode_log_likelihood(exact_eps, SCHEDULE, x, steps=60, exact_max_dim=1, generator=gen)
    err = ll - true_log_prob(x)
    assert abs(float(err.mean())) < 4 * float(err.std()) / math.sqrt(len(err)) + 0.01
    assert float(err.std()) > 0  # really the stochastic estimator


def test_ode_sampler_recovers_the_law():
    gen = torch.Generator().manual_seed(3)
    x = ode_sample(exact_eps, SCHEDULE, torch.randn(20000, 2, generator=gen), steps=50)
    assert torch.allclose(x.mean(0), MU, atol=0.03)
    assert torch.allclose(x.std(0), torch.full((2,), SD), atol=0.01)


def test_ancestral_sampler_recovers_the_law_with_enough_steps():
    gen = torch.Generator().manual_seed(4)
    x = ancestral_sample(exact_eps, SCHEDULE, torch.randn(20000, 2, generator=gen), steps=500, generator=gen)
    assert torch.allclose(x.mean(0), MU, atol=0.03)
    assert torch.allclose(x.std(0), torch.full((2,), SD), atol=0.015)


def test_schedule_rejects_bad_times():
    with pytest.raises(ConfigError, match="eps < T"):
        VPSchedule(eps=0.0)
    with pytest.raises(ConfigError, match="beta_min"):
        VPSchedule(beta_min=2.0, beta_max=1.0)


def test_trained_diffusion_learns_a_conditional_gaussian():
    from gentransfer import DiffusionModel, fit

    gen = torch.Generator().manual_seed(5)
    z = torch.randn(3000, 1, generator=gen)
    x = torch.cat([z, -z], 1) + 0.3 * torch.randn(3000, 2, generator=gen)
    torch.manual_seed(0)
    model = DiffusionModel(x_dim=2, z_dim=1, hidden=64, depth=2)
    fit(model, x, z, steps=2000, lr=2e-3, patience=20)
    s = model.sample(torch.full((3000, 1), 1.0), generator=gen)
    assert torch.allclose(s.mean(0), torch.tensor([1.0, -1.0]), atol=0.08)
    assert torch.allclose(s.std(0), torch.tensor([0.3, 0.3]), atol=0.06)
    # the ODE likelihood of the fitted model is close to the true density at held-out points
    zq = torch.full((400, 1), 1.0)
    xq = torch.tensor([1.0, -1.0]) + 0.3 * torch.randn(400, 2, generator=gen)
    true = (-0.5 * ((xq - torch.tensor([1.0, -1.0])) / 0.3) ** 2).sum(1) - 2 * math.log(0.3) - math.log(2 * math.pi)
    kl = float((true - model.log_prob(xq, zq).detach()).mean())
    assert -0.1 < kl < 0.25
