r"""Unconditional transfer through a shared latent: :math:`X_s = g_s(U)`, :math:`X_t = g_t(U)`.

A :class:`LatentModel` is a **prior** :math:`\hat P_U` (any unconditional gentransfer model on
``R^k``: the shared part) plus an :class:`AutoEncoder` whose decoder is :math:`\hat g`
(the task-specific part) and a fitted per-coordinate noise level. Sampling is
:math:`u \sim \hat P_U,\ x = \hat g(u) + \hat\sigma \odot \varepsilon`.

:func:`fit_latent` fits it in three explicit stages, each one :func:`gentransfer.fit` under the
latent model's transfer plan: (1) the autoencoder, pulled toward the prior's latent law by an
MMD penalty when the prior is frozen (the SEC estimator: the target learns only its decoder),
(2) the prior on the codes, when it is trainable (the source stage, or ``scratch``: :math:`P_U`
learned from the target alone), (3) optionally, the decoder and noise level refined by maximum
likelihood through the (now fixed) prior (:class:`~gentransfer.latent.likelihood.DecoderLikelihood`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gentransfer.config import ConfigMixin, build_component, register, register_to_config
from gentransfer.errors import ConfigError, DataError
from gentransfer.families import get_family
from gentransfer.latent.autoencoder import AutoEncoder
from gentransfer.latent.likelihood import DecoderLikelihood
from gentransfer.metrics import wasserstein1_rows
from gentransfer.models.base import GenerativeModel, as_tensor

__all__ = ["LatentModel"]


GUARD_DRAWS = 2000  # samples per candidate in the guard's W1 (as the W1 rule of fit_latent's starts)


@register
class LatentModel(ConfigMixin, torch.nn.Module):
    """Prior ``P_U`` (shared) + autoencoder ``g`` (task-specific) + noise level.

    Args:
        x_dim: dimension of the observed ``x``.
        latent_dim: dimension ``k`` of ``U``.
        prior: the latent prior: a model (a source's: handing it over *is* the transfer), its
            saved config, or ``None`` for a fresh one of ``prior_family``.
        prior_family: a family of :data:`gentransfer.families.FAMILIES` (used when ``prior`` is ``None``).
        prior_config: extra constructor arguments of a fresh prior (its architecture, not its training).
        autoencoder: a saved :class:`AutoEncoder` config, or ``None`` (then ``hidden``/``depth``).
        hidden, depth: size of a fresh autoencoder's networks.
        match_weight: weight of the MMD penalty toward a frozen prior.
    """

    shared_part = "prior"
    family = "latent"  # what run folders and reports call it; the prior's own family is prior_family
    guard_rule = "lowest"  # the guard's rows are shares of one W1 (not independent): the lowest W1 wins
    z_dim = zc_dim = 0  # the unconditional setting: no conditions, the same surface as a plain model's
    ignore_for_config = ("hidden", "depth")  # the autoencoder's config carries them

    @register_to_config
    def __init__(self, x_dim: int, latent_dim: int = 2, prior: Any = None, prior_family: str = "flow",
                 prior_config: dict[str, Any] | None = None, autoencoder: Any = None, hidden: int = 128,
                 depth: int = 2, match_weight: float = 1.0):
        super().__init__()
        family = get_family(prior_family, "prior family")
        if isinstance(prior, dict):
            prior = build_component(prior)
        if prior is None:
            prior = family(x_dim=latent_dim, **(prior_config or {}))
        if not isinstance(prior, GenerativeModel) or prior.x_dim != latent_dim or prior.cond_dim != 0:
            raise ConfigError(f"the prior must be an unconditional model on R^{latent_dim}",
                              f"pass a source model's prior (latent_dim={latent_dim})")
        if isinstance(autoencoder, dict):
            cfg = {**autoencoder.get("config", {}), "x_dim": x_dim, "latent_dim": latent_dim,
                   "match_weight": match_weight}
            autoencoder = build_component({**autoencoder, "config": cfg})
        self.prior = prior
        self.autoencoder = autoencoder or AutoEncoder(x_dim, latent_dim, hidden, depth, match_weight)
        self.register_buffer("noise_std", torch.zeros(x_dim))
        self.x_dim, self.latent_dim, self.prior_family = x_dim, latent_dim, prior.family

    def prior_is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.prior.parameters())

    @property
    def device(self) -> torch.device:
        return self.noise_std.device

    def validate(self, x: Any, z: Any = None, zc: Any = None) -> tuple[torch.Tensor | None, None, None]:
        """Check ``x`` against ``x_dim`` (float32 tensor back); conditions are refused: the latent
        model is unconditional."""
        for name, value in (("z", z), ("zc", zc)):
            if value is not None and np.size(value) > 0:
                raise DataError(f"conditions '{name}' were given, but the latent model takes none", "drop them")
        return (None if x is None else as_tensor(x, "x", self.x_dim).to(self.device)), None, None

    @torch.no_grad()
    def log_prob(self, x: Any, z: Any = None, zc: Any = None, *, draws: int = 4096,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Monte Carlo estimate of ``log p(x)`` per row: ``log mean_j N(x; g(u_j), diag sigma^2)``,
        ``u_j ~ P_U`` (``draws`` of them, the same for every row)."""
        xt, _, _ = self.validate(x, z, zc)
        bank = self.prior.sample(n=draws, generator=generator)
        return _log_prob_rows(self.autoencoder.decoder, self.noise_std, bank, xt)

    @torch.no_grad()
    def heldout_loss_rows(self, x: Any, z: Any = None, zc: Any = None, *, seed: int = 0) -> np.ndarray:
        """Per-row held-out loss for the guard: each row's share of the exact W1 from the rows to
        ``GUARD_DRAWS`` samples (:func:`gentransfer.metrics.wasserstein1_rows`; their mean is the W1).

        Not ``-log p(x)``: the likelihood through a low-dimensional ``P_U`` rewards a decoder that
        passes near every row whatever mass the prior puts there, so it misjudges a misplaced
        ``P_U``; the W1 sees misplaced mass (measured in ``benchmarks/README.md``, the latent
        route's ``auto``)."""
        xt, _, _ = self.validate(x, z, zc)
        samples = self.sample(n=GUARD_DRAWS, generator=torch.Generator().manual_seed(seed + 4242))
        return wasserstein1_rows(xt.cpu(), samples.cpu())

    @torch.no_grad()
    def sample(self, z: Any = None, zc: Any = None, *, n: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``x = g(u) + sigma * eps`` with ``u ~ P_U`` (the signature of every model's
        ``sample``; conditions ``z``, ``zc``: none)."""
        self.validate(None, z, zc)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError(f"the number of samples must be a positive integer, got {n!r}", "pass n >= 1")
        u = self.prior.sample(n=n, generator=generator)
        x = self.autoencoder.decode(u)
        return x + self.noise_std * torch.randn(x.shape, generator=generator)


@torch.no_grad()
def _log_prob_rows(decoder: torch.nn.Module, sigma: torch.Tensor, bank: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log mean_j N(x; decoder(bank_j), diag sigma^2)`` per row of ``x``, in chunks of rows."""
    objective = DecoderLikelihood(decoder, bank, sigma, draws=len(bank))
    every = {"idx": torch.arange(len(bank))}
    return torch.cat([objective.log_prob(rows, every) for rows in x.split(256)])
