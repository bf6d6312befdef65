r"""The variance-preserving (Ornstein-Uhlenbeck) forward process.

.. math::
    dX_t = -\tfrac12 \beta(t) X_t\,dt + \sqrt{\beta(t)}\,dW_t, \qquad
    \beta(t) = \beta_{\min} + t(\beta_{\max} - \beta_{\min}),

so :math:`X_t \mid X_0 \sim N(m(t) X_0, \sigma(t)^2 I)` with
:math:`m(t) = \exp(-\tfrac12\int_0^t \beta)` and :math:`\sigma(t)^2 = 1 - m(t)^2`.
Training and sampling use :math:`t \in [\varepsilon, T]`: the early-stopping time
:math:`\varepsilon` avoids the singular score at 0, and :math:`X_T \approx N(0, I)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from gentransfer.errors import ConfigError

__all__ = ["VPSchedule"]


@dataclass(frozen=True)
class VPSchedule:
    """Linear-beta VP schedule with early-stopping time ``eps`` and terminal time ``T``."""

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3
    T: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.eps < self.T:
            raise ConfigError(f"need 0 < eps < T, got eps={self.eps}, T={self.T}", "pass e.g. eps=1e-3, T=1")
        if not 0 < self.beta_min <= self.beta_max:
            raise ConfigError(f"need 0 < beta_min <= beta_max, got {self.beta_min}, {self.beta_max}",
                              "pass e.g. beta_min=0.1, beta_max=20")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        """``log m(t) = -1/2 int_0^t beta``."""
        return -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(m(t), sigma(t))`` of ``X_t | X_0``."""
        log_m = self.log_mean_coeff(t)
        return log_m.exp(), (-torch.expm1(2.0 * log_m)).clamp_min(1e-12).sqrt()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Draw ``X_t = m(t) x0 + sigma(t) noise`` (``t`` has one entry per row)."""
        m, s = self.marginal(t)
        shape = (-1,) + (1,) * (x0.ndim - 1)
        return m.reshape(shape) * x0 + s.reshape(shape) * noise

    def sample_time(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.eps + (self.T - self.eps) * torch.rand(n, generator=generator)
