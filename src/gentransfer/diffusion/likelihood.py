r"""Log-likelihood of a diffusion model through the probability-flow ODE.

With :math:`\dot x_t = \tilde f(x_t, t)` the probability-flow drift, the instantaneous change of
variables gives

.. math::
    \log p_\varepsilon(x) = \log N(x_T; 0, I) + \int_\varepsilon^T \nabla\!\cdot\tilde f(x_t, t)\,dt,

integrated forward from :math:`x_\varepsilon = x` with Heun's method. The divergence is exact
(one backward pass per dimension) up to ``exact_max_dim`` dimensions, and Hutchinson's
unbiased estimate :math:`E[v^\top \partial\tilde f\, v]` with Rademacher ``v`` above.
"""

from __future__ import annotations

import math

import torch

from gentransfer.diffusion.samplers import EpsFn, pf_ode_drift, time_grid
from gentransfer.diffusion.schedule import VPSchedule

__all__ = ["ode_log_likelihood"]


def _drift_and_div(eps_fn: EpsFn, schedule: VPSchedule, x: torch.Tensor, t: float, exact: bool,
                   probes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = pf_ode_drift(eps_fn, schedule, x, t)
        flat_f, flat_x_dim = f.reshape(len(x), -1), x[0].numel()
        if exact:
            div = torch.zeros(len(x), dtype=x.dtype, device=x.device)
            for i in range(flat_x_dim):
                (g,) = torch.autograd.grad(flat_f[:, i].sum(), x, retain_graph=i < flat_x_dim - 1)
                div = div + g.reshape(len(x), -1)[:, i]
        else:
            (g,) = torch.autograd.grad((flat_f * probes).sum(), x)
            div = (g.reshape(len(x), -1) * probes).sum(dim=1)
    return f.detach(), div.detach()


def ode_log_likelihood(eps_fn: EpsFn, schedule: VPSchedule, x: torch.Tensor, steps: int = 100,
                       exact_max_dim: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """``log p_eps(x)`` per row (nats), for data ``x`` of any shape ``N x ...``.

    Args:
        eps_fn: noise predictor ``(x_t, t) -> eps``; conditions already bound in.
        schedule: the forward process.
        x: data points.
        steps: Heun steps from ``eps`` to ``T``.
        exact_max_dim: exact divergence up to this many dimensions, Hutchinson above.
        generator: for the Hutchinson probes (one fixed probe per point, as in FFJORD).
    """
    d = x[0].numel()
    exact = d <= exact_max_dim
    probes = None
    if not exact:
        probes = (torch.randint(0, 2, (len(x), d), generator=generator).to(x.dtype) * 2 - 1).to(x.device)
    grid = time_grid(schedule, steps)
    delta = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    for i in range(steps):
        t, s = float(grid[i]), float(grid[i + 1])
        h = s - t
        f1, div1 = _drift_and_div(eps_fn, schedule, x, t, exact, probes)
        x_pred = x + h * f1
        f2, div2 = _drift_and_div(eps_fn, schedule, x_pred, s, exact, probes)
        x = x + 0.5 * h * (f1 + f2)
        delta = delta + 0.5 * h * (div1 + div2)
    flat = x.reshape(len(x), -1)
    prior = -0.5 * (flat**2).sum(dim=1) - 0.5 * d * math.log(2 * math.pi)
    return prior + delta
