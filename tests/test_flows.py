"""Coupling flows: invertibility, log-determinants against autograd Jacobians, normalisation."""

import math

import pytest
import torch

from gentransfer.flows import AdditiveCoupling, AffineCoupling, ConditionalScale, CouplingFlow
from gentransfer.flows.transforms import alternating_masks


def _randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> None:
    """Move every parameter away from the identity initialisation."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


TRANSFORMS = [
    lambda d, c: AdditiveCoupling(alternating_masks(d, 1)[0], c),
    lambda d, c: AffineCoupling(alternating_masks(d, 2)[1], c),
    lambda d, c: ConditionalScale(d, c),
]


@pytest.mark.parametrize("make", TRANSFORMS)
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_transform_round_trip_and_log_det(make, dim):
    torch.manual_seed(dim)
    t = make(dim, 3).double()
    _randomise(t)
    x, e = torch.randn(6, dim, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    y, log_det = t(x, e)
    assert torch.allclose(t.inverse(y, e), x, atol=1e-10)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v, i=i: t(v[None], e[i : i + 1])[0][0], x[i])
        assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(log_det[i].item(), abs=1e-9)


def test_additive_coupling_is_volume_preserving():
    t = AdditiveCoupling(alternating_masks(4, 1)[0], 2)
    _randomise(t)
    _, log_det = t(torch.randn(10, 4), torch.randn(10, 2))
    assert torch.equal(log_det, torch.zeros(10))


@pytest.mark.parametrize("coupling", ["additive", "affine"])
def test_flow_round_trip_and_exact_log_prob(coupling):
    torch.manual_seed(0)
    flow = CouplingFlow(x_dim=3, z_dim=4, zc_dim=1, coupling=coupling).double()
    _randomise(flow, scale=0.1)
    z, zc = torch.randn(5, 4, dtype=torch.float64), torch.rand(5, 1, dtype=torch.float64)
    e = torch.cat([flow.embedding(z), zc], dim=1)
    x = torch.randn(5, 3, dtype=torch.float64)
    u, log_det = flow.to_base(x, e)
    assert torch.allclose(flow.from_base(u, e), x, atol=1e-4)
    for i in range(5):
        jac = torch.autograd.functional.jacobian(lambda v, i=i: flow.to_base(v[None], e[i : i + 1])[0][0], x[i])
        expected = -0.5 * float(u[i] @ u[i]) - 1.5 * math.log(2 * math.pi) + float(torch.linalg.slogdet(jac)[1])
        assert float(flow.log_prob_e(x[i : i + 1], e[i : i + 1])) == pytest.approx(expected, abs=1e-8)


def test_one_dimensional_flow_density_integrates_to_one():
    torch.manual_seed(1)
    flow = CouplingFlow(x_dim=1, z_dim=2, n_layers=2, coupling="affine").double()
    _randomise(flow, seed=3)
    grid = torch.linspace(-30, 30, 60001, dtype=torch.float64)[:, None]
    z = torch.full((len(grid), 2), 0.3, dtype=torch.float64)
    with torch.no_grad():
        density = flow.log_prob_e(grid, flow.embedding(z)).exp()
    assert float(torch.trapezoid(density[:, 0] if density.ndim > 1 else density, grid[:, 0])) == pytest.approx(
        1.0, abs=1e-4
    )


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    flow = CouplingFlow(x_dim=2, z_dim=3, zc_dim=1)
    _randomise(flow)
    loss = flow(torch.randn(8, 2), torch.randn(8, 3), torch.rand(8, 1))
    loss.backward()
    missing = [n for n, p in flow.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_sampling_matches_a_fitted_gaussian():
    """MLE on a conditional Gaussian: samples reproduce its conditional mean and spread."""
    from gentransfer import fit

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3000, 1, generator=gen)
    x = 2.0 * z + (0.3 + 0.2 * torch.sigmoid(z)) * torch.randn(3000, 1, generator=gen)
    torch.manual_seed(0)
    flow = CouplingFlow(x_dim=1, z_dim=1, hidden=32)
    fit(flow, x, z, steps=1500, lr=3e-3, patience=20)
    zq = torch.full((4000, 1), 1.0)
    s = flow.sample(zq, generator=gen)
    assert float(s.mean()) == pytest.approx(2.0, abs=0.05)
    assert float(s.std()) == pytest.approx(0.3 + 0.2 * float(torch.sigmoid(torch.tensor(1.0))), abs=0.05)
