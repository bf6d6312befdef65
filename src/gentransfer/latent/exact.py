r"""Exact maximum likelihood through a shared latent flow, when ``X`` lives in the latent's dimension.

If :math:`\dim X_t = \dim U`, the decoder :math:`g_t` can be a bijection (a coupling flow), and
the target's density is exact:

.. math::
    \log p(x) = \log p_U\big(g_t^{-1}(x)\big) + \log\big|\det \partial_x g_t^{-1}(x)\big|.

With :math:`P_U` a source's frozen latent flow, fitting :math:`g_t` by maximum likelihood is
the SEC estimator with no autoencoder, no distribution matching and no Monte Carlo: the
target stage is one likelihood, trained by :func:`gentransfer.training.fit`.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from gentransfer.config import build_component, register, register_to_config
from gentransfer.errors import ConfigError
from gentransfer.flows import CouplingFlow
from gentransfer.models.base import GenerativeModel

__all__ = ["FlowLatentModel"]


@register
class FlowLatentModel(GenerativeModel):
    """Prior ``P_U`` (shared, a flow) composed with an invertible decoder ``g`` (task-specific).

    ``x = g(u)``, ``u ~ P_U``; ``log_prob`` is exact, so :func:`~gentransfer.training.fit`
    trains it by maximum likelihood. Under ``transfer(source, "freeze-shared")`` only ``g`` is
    fitted. To hand over the prior of a :class:`~gentransfer.latent.LatentModel` (a source whose
    ``X_s`` is higher-dimensional), wrap it first: ``transfer(FlowLatentModel(k, prior=source.prior),
    "freeze-shared")``.

    Args:
        x_dim: dimension of ``x``, which is also the latent dimension ``k``.
        prior: an unconditional :class:`~gentransfer.flows.CouplingFlow` on ``R^k`` (a source's),
            its saved config, or ``None`` for a fresh one built from ``prior_config``.
        prior_config: constructor arguments of a fresh prior flow.
        n_layers, coupling, hidden, depth: the decoder flow (see :class:`CouplingFlow`).

    Example:
        >>> from gentransfer import transfer
        >>> from gentransfer.latent import FlowLatentModel
        >>> src = FlowLatentModel(x_dim=2, prior_config={"coupling": "affine", "n_layers": 4})
        >>> tgt = transfer(src, "freeze-shared")
        >>> tgt.prior_is_frozen(), tgt.sample(n=3).shape
        (True, torch.Size([3, 2]))
    """

    shared_part = "prior"

    @register_to_config
    def __init__(self, x_dim: int, prior: Any = None, prior_config: dict[str, Any] | None = None,
                 n_layers: int = 4, coupling: Literal["additive", "affine"] = "affine", hidden: int = 64,
                 depth: int = 2):
        super().__init__(x_dim)
        if isinstance(prior, dict):
            prior = build_component(prior)
        if prior is None:
            prior = CouplingFlow(x_dim=x_dim, **(prior_config or {}))
        if not isinstance(prior, CouplingFlow) or prior.x_dim != x_dim or prior.cond_dim != 0:
            raise ConfigError(f"the prior must be an unconditional flow on R^{x_dim} (an exact likelihood "
                              "needs a flow of the latent's own dimension)",
                              f"pass a flow prior with latent_dim={x_dim}, or use LatentModel for other dimensions")
        self.prior = prior
        # g as a flow used backwards: its data side is x, its base side is u (not N(0, I))
        self.decoder = CouplingFlow(x_dim=x_dim, n_layers=n_layers, coupling=coupling, hidden=hidden,
                                       depth=depth)

    def prior_is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.prior.parameters())

    def log_prob_e(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        u, log_det = self.decoder.to_base(x, e)
        return self.prior.log_prob_e(u, e) + log_det

    def loss(self, x: torch.Tensor, e: torch.Tensor, noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return -self.log_prob_e(x, e).mean()

    def sample_e(self, e: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decoder.from_base(self.prior.sample_e(e, generator), e)
