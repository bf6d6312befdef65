r"""Conditional simulation designs with a known true conditional density.

**default** (the shared embedding condition holds). ``Z ~ N(0, I_10)`` is the shared block and

.. math::
    h(z) = (\tanh(a_1^\top z),\ \sin(1.5\, a_2^\top z)),

with fixed unit vectors :math:`a_1 \perp a_2`. Target: ``z^c_t ~ U(-1, 1)`` (1 column) and
``X_t | Z_t`` Gaussian in ``d_t = 2`` with independent coordinates,

.. math::
    \mu_t = (1.5 h_1 + 0.5 c,\; 1.5 h_2 + h_1 c), \quad
    \sigma_t = (0.2 + 0.1(1 + \tanh(h_1 + c)),\; 0.25 + 0.1 h_2).

Source: ``z^c_s ~ U(-1, 1)^2`` and ``X_s | Z_s`` Gaussian in ``d_s = 3`` through another decoder,

.. math::
    \mu_s = (h_1 + c_1,\; h_2 - c_2,\; h_1 h_2 + 0.5 c_1 c_2), \quad \sigma_s = 0.2.

**misspecified**: as above, but the source depends on :math:`h'(z)` built the same way from
directions :math:`b_1, b_2` orthogonal to :math:`a_1, a_2`; the embedding a source teaches then
carries no information about the target, and transfer must not look better than scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gentransfer.errors import ConfigError

__all__ = ["ConditionalDesign", "DESIGNS", "get_design"]

Z_DIM = 10


def _directions() -> np.ndarray:
    """Four orthonormal directions in R^10 (fixed): a1, a2 for the target, b1, b2 for the source."""
    q, _ = np.linalg.qr(np.random.default_rng(20240527).normal(size=(Z_DIM, 4)))
    return q.T


@dataclass(frozen=True)
class ConditionalDesign:
    """A data-generating process for (source, target) pairs with a known target density."""

    name: str
    misspecified: bool
    z_dim: int = Z_DIM
    x_dim_target: int = 2
    zc_dim_target: int = 1
    x_dim_source: int = 3
    zc_dim_source: int = 2

    @staticmethod
    def _embed(z: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
        return np.stack([np.tanh(z @ d1), np.sin(1.5 * (z @ d2))], axis=1)

    def h_target(self, z: np.ndarray) -> np.ndarray:
        a1, a2, _, _ = _directions()
        return self._embed(z, a1, a2)

    def h_source(self, z: np.ndarray) -> np.ndarray:
        a1, a2, b1, b2 = _directions()
        return self._embed(z, b1, b2) if self.misspecified else self._embed(z, a1, a2)

    # -- target law -------------------------------------------------------------------------
    def target_params(self, z: np.ndarray, zc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, c = self.h_target(z), zc[:, 0]
        mu = np.stack([1.5 * h[:, 0] + 0.5 * c, 1.5 * h[:, 1] + h[:, 0] * c], axis=1)
        sd = np.stack([0.2 + 0.1 * (1 + np.tanh(h[:, 0] + c)), 0.25 + 0.1 * h[:, 1]], axis=1)
        return mu, sd

    def target_log_prob(self, x: np.ndarray, z: np.ndarray, zc: np.ndarray) -> np.ndarray:
        """The true ``log p_t(x | z, z^c)`` per row."""
        mu, sd = self.target_params(z, zc)
        return (-0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)).sum(axis=1)

    def sample_conditions(self, n: int, zc_dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(n, self.z_dim)), rng.uniform(-1.0, 1.0, size=(n, zc_dim))

    def sample_target_given(self, z: np.ndarray, zc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu, sd = self.target_params(z, zc)
        return mu + sd * rng.normal(size=mu.shape)

    def sample_target(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, z, zc)`` from the target task."""
        z, zc = self.sample_conditions(n, self.zc_dim_target, rng)
        return self.sample_target_given(z, zc, rng), z, zc

    # -- source law -------------------------------------------------------------------------
    def sample_source(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, z, zc)`` from the source task."""
        z, zc = self.sample_conditions(n, self.zc_dim_source, rng)
        h = self.h_source(z)
        mu = np.stack([h[:, 0] + zc[:, 0], h[:, 1] - zc[:, 1], h[:, 0] * h[:, 1] + 0.5 * zc[:, 0] * zc[:, 1]],
                      axis=1)
        return mu + 0.2 * rng.normal(size=mu.shape), z, zc


DESIGNS = {
    "default": ConditionalDesign("default", misspecified=False),
    "misspecified": ConditionalDesign("misspecified", misspecified=True),
}


def get_design(name: str) -> ConditionalDesign:
    if name not in DESIGNS:
        raise ConfigError(f"unknown design {name!r}", f"use one of {sorted(DESIGNS)}")
    return DESIGNS[name]
