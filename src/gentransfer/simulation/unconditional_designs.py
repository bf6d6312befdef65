r"""Unconditional simulation designs: source and target generated from one latent ``U``.

**default**: :math:`U \in \mathbb{R}^2` from an equal mixture of 8 Gaussians (sd ``0.1``)
centred on the unit circle: a multi-modal law whose modes 200 target rows resolve only
coarsely, so knowing it from the source is worth something. Each task has its own smooth
random decoder :math:`g(u) = 2 \tanh(W_2 \tanh(W_1 u + b_1) + b_2)` into ``R^d`` (``d = 8`` by
default; fixed random weights, different for source and target) and observation noise
``N(0, 0.05^2 I)``. Source and target have the same ``d`` so that the plain ``finetune``
baseline applies.

**ring**: the same, with ``U`` uniform on a noisy ring (angle ``U(0, 2π)``, radius
``N(1, 0.1^2)``): a law simple enough that the target's own rows pin it down.

**misspecified**: the source's latent is a Gaussian blob ``N(0, 0.5^2 I)`` instead of the
target's 8-mode mixture: the latent law the source teaches is wrong for the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gentransfer.errors import ConfigError

__all__ = ["UnconditionalDesign", "UNCONDITIONAL_DESIGNS", "get_unconditional_design"]

NOISE = 0.05
HIDDEN = 32


def _decoder_weights(task: str, d: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng([2405, 16837, d, 0 if task == "target" else 1])
    return (rng.normal(size=(2, HIDDEN)) * 1.5, rng.normal(size=HIDDEN) * 0.5,
            rng.normal(size=(HIDDEN, d)) / np.sqrt(HIDDEN) * 1.5, rng.normal(size=d) * 0.3)


@dataclass(frozen=True)
class UnconditionalDesign:
    name: str
    misspecified: bool
    x_dim: int = 8
    latent_dim: int = 2
    law: str = "modes"  # the target's latent law: "modes" or "ring"

    def with_dim(self, x_dim: int) -> UnconditionalDesign:
        return UnconditionalDesign(self.name, self.misspecified, x_dim, self.latent_dim, self.law)

    @staticmethod
    def modes(n: int, rng: np.random.Generator, k: int = 8, sd: float = 0.1) -> np.ndarray:
        angle = 2 * np.pi * rng.integers(0, k, n) / k
        return np.stack([np.cos(angle), np.sin(angle)], axis=1) + sd * rng.normal(size=(n, 2))

    @staticmethod
    def ring(n: int, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = rng.normal(1.0, 0.1, n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)

    def decode(self, u: np.ndarray, task: str) -> np.ndarray:
        w1, b1, w2, b2 = _decoder_weights(task, self.x_dim)
        return 2.0 * np.tanh(np.tanh(u @ w1 + b1) @ w2 + b2)

    def latent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.ring(n, rng) if self.law == "ring" else self.modes(n, rng)

    def sample_target(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = self.decode(self.latent(n, rng), "target")
        return x + NOISE * rng.normal(size=x.shape)

    def sample_source(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = 0.5 * rng.normal(size=(n, 2)) if self.misspecified else self.latent(n, rng)
        x = self.decode(u, "source")
        return x + NOISE * rng.normal(size=x.shape)


UNCONDITIONAL_DESIGNS = {
    "default": UnconditionalDesign("default", misspecified=False),
    "ring": UnconditionalDesign("ring", misspecified=False, law="ring"),
    "misspecified": UnconditionalDesign("misspecified", misspecified=True),
}


def get_unconditional_design(name: str, x_dim: int | None = None) -> UnconditionalDesign:
    if name not in UNCONDITIONAL_DESIGNS:
        raise ConfigError(f"unknown design {name!r}", f"use one of {sorted(UNCONDITIONAL_DESIGNS)}")
    design = UNCONDITIONAL_DESIGNS[name]
    return design.with_dim(x_dim) if x_dim is not None else design
