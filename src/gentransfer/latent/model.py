r"""Unconditional transfer through a shared latent: :math:`X_s = g_s(U)`, :math:`X_t = g_t(U)`.

A :class:`LatentModel` is a **prior** :math:`\hat P_U` (any unconditional gentransfer model on
``R^k``: the shared part) plus an :class:`AutoEncoder` whose decoder is :math:`\hat g`
(the task-specific part) and a fitted per-coordinate noise level. Sampling is
:math:`u \sim \hat P_U,\ x = \hat g(u) + \hat\sigma \odot \varepsilon`.

:func:`fit_latent` fits it in stages: (1) the autoencoder, pulled toward the prior's
latent law by an MMD penalty when the prior is frozen (the SEC estimator: the target learns
only its decoder), (2) the prior on the codes, when it is trainable (the source stage, or
``scratch``: :math:`P_U` learned from the target alone), (3) optionally, the decoder and noise
level refined by maximum likelihood through the (now fixed) prior
(:class:`~gentransfer.latent.likelihood.DecoderLikelihood`).
"""

from __future__ import annotations

from typing import Any

import torch

from gentransfer.config import ConfigMixin, build_component, component_config, register
from gentransfer.diffusion import ConditionalDiffusion
from gentransfer.errors import ConfigError
from gentransfer.flows import ConditionalFlow
from gentransfer.latent.autoencoder import AutoEncoder
from gentransfer.latent.likelihood import DecoderLikelihood
from gentransfer.metrics import wasserstein1
from gentransfer.models.base import ConditionalModel, as_tensor
from gentransfer.training import FitResult, TrainConfig, fit

__all__ = ["LatentModel", "fit_latent", "PRIOR_FAMILIES"]

PRIOR_FAMILIES = {"flow": ConditionalFlow, "diffusion": ConditionalDiffusion}


@register
class LatentModel(ConfigMixin, torch.nn.Module):
    """Prior ``P_U`` (shared) + autoencoder ``g`` (task-specific) + noise level.

    Args:
        x_dim: dimension of the observed ``x``.
        latent_dim: dimension ``k`` of ``U``.
        prior: the latent prior: a model (a source's: handing it over *is* the transfer), its
            saved config, or ``None`` for a fresh one of ``prior_family``.
        prior_family: ``"flow"`` or ``"diffusion"`` (used when ``prior`` is ``None``).
        prior_config: extra constructor arguments of a fresh prior.
        autoencoder: a saved :class:`AutoEncoder` config, or ``None`` (then ``hidden``/``depth``).
        hidden, depth: size of a fresh autoencoder's networks.
        match_weight: weight of the MMD penalty toward a frozen prior.
    """

    shared_part = "prior"

    def __init__(self, x_dim: int, latent_dim: int = 2, prior: Any = None, prior_family: str = "flow",
                 prior_config: dict[str, Any] | None = None, autoencoder: Any = None, hidden: int = 128,
                 depth: int = 2, match_weight: float = 1.0):
        super().__init__()
        if prior_family not in PRIOR_FAMILIES:
            raise ConfigError(f"unknown prior family {prior_family!r}", f"use one of {sorted(PRIOR_FAMILIES)}")
        if isinstance(prior, dict):
            prior = build_component(prior)
        if prior is None:
            prior = PRIOR_FAMILIES[prior_family](x_dim=latent_dim, **(prior_config or {}))
        if not isinstance(prior, ConditionalModel) or prior.x_dim != latent_dim or prior.cond_dim != 0:
            raise ConfigError(f"the prior must be an unconditional model on R^{latent_dim}",
                              f"pass a source model's prior (latent_dim={latent_dim})")
        if isinstance(autoencoder, dict):
            cfg = {**autoencoder.get("config", {}), "x_dim": x_dim, "latent_dim": latent_dim,
                   "match_weight": match_weight}
            autoencoder = build_component({**autoencoder, "config": cfg})
        self.prior = prior
        self.autoencoder = autoencoder or AutoEncoder(x_dim, latent_dim, hidden, depth, match_weight)
        self.register_buffer("noise_std", torch.zeros(x_dim))
        self.x_dim, self.latent_dim = x_dim, latent_dim
        self.family = f"latent-{prior.family}"
        self.strategy, self.lr_scale = "scratch", 1.0  # set by gentransfer.transfer
        self.config = {"x_dim": x_dim, "latent_dim": latent_dim, "prior": component_config(prior),
                       "prior_family": prior.family, "prior_config": prior_config,
                       "autoencoder": component_config(self.autoencoder), "match_weight": match_weight}

    def prior_is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.prior.parameters())

    @torch.no_grad()
    def log_prob(self, x: Any, *, draws: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Monte Carlo estimate of ``log p(x)`` per row: ``log mean_j N(x; g(u_j), diag sigma^2)``,
        ``u_j ~ P_U`` (``draws`` of them, the same for every row)."""
        xt = as_tensor(x, "x", self.x_dim)
        bank = self.prior.sample(n=draws, generator=generator)
        return _log_prob_rows(self.autoencoder.decoder, self.noise_std, bank, xt)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``x = g(u) + sigma * eps`` with ``u ~ P_U``."""
        u = self.prior.sample(n=n, generator=generator)
        x = self.autoencoder.decode(u)
        return x + self.noise_std * torch.randn(x.shape, generator=generator)


def fit_latent(model: LatentModel, x: Any, *, autoencoder_config: TrainConfig | dict[str, Any] | None = None,
               prior_config: TrainConfig | dict[str, Any] | None = None, seed: int = 0,
               bank_size: int = 4096, likelihood_config: TrainConfig | dict[str, Any] | None = None,
               draws: int = 4096, restarts: int = 1, start: int = 0,
               select: str = "w1") -> dict[str, FitResult]:
    """Fit a :class:`LatentModel` to ``x``: autoencoder, noise level, then (if trainable) the prior.

    With ``likelihood_config``, the decoder and noise level are then refined by maximum
    likelihood through the fixed prior, ``draws`` prior samples per step (a bank of
    ``4 * draws``). With ``restarts > 1`` the whole fit (autoencoder, prior when trainable,
    likelihood stages) runs from starts ``start, ..., start + restarts - 1`` and keeps one, as EM
    keeps its best random restart: matching codes to a multimodal frozen prior can settle on an
    arrangement of its modes that no smooth decoder follows. ``select`` names the rule:
    ``"w1"`` keeps the start whose 2,000 draws are closest in W1 to ``x`` (at most 2,000 of its
    rows); ``"likelihood"`` the one under which ``x`` is most likely (:meth:`LatentModel.log_prob`),
    which with a low-dimensional latent mostly rewards a decoder that passes near every row,
    whatever mass it puts there (``benchmarks/README.md`` compares the two). Start 0 is the
    model's own initialisation; start ``r > 0`` a fresh one (of the trained parts) seeded by
    ``seed`` and ``r``.
    Returns the :class:`FitResult` of each stage that ran (of the kept start).
    """
    if restarts < 1 or start < 0:
        raise ConfigError(f"restarts must be >= 1 and start >= 0, got {restarts} and {start}",
                          "pass restarts=1, start=0 for a single fit from the model's own initialisation")
    if select not in SELECTION_RULES:
        raise ConfigError(f"unknown selection rule {select!r}", f"pass select= one of {sorted(SELECTION_RULES)}")
    xt = as_tensor(x, "x", model.x_dim)
    ae = model.autoencoder
    ae.strategy, ae.lr_scale = model.strategy, model.lr_scale
    best: tuple[float, dict[str, torch.Tensor], dict[str, FitResult]] | None = None
    for r in range(start, start + restarts):
        results = _fit_from(model, xt, r, autoencoder_config, prior_config, seed, bank_size,
                            likelihood_config, draws)
        if restarts == 1:  # nothing to choose between: skip the scoring
            return results
        score = SELECTION_RULES[select](model, xt, seed, draws)
        if best is None or score > best[0]:
            best = (score, {k: v.detach().clone() for k, v in model.state_dict().items()}, results)
    model.load_state_dict(best[1])
    return best[2]


def _likelihood_score(model: LatentModel, x: torch.Tensor, seed: int, draws: int) -> float:
    return float(model.log_prob(x, draws=4 * draws, generator=torch.Generator().manual_seed(seed + 31)).mean())


def _w1_score(model: LatentModel, x: torch.Tensor, seed: int, draws: int) -> float:
    if len(x) > 2000:  # exact W1 is quadratic in memory: a fixed subset of the rows
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 97))[:2000]]
    return -wasserstein1(model.sample(n=2000, generator=torch.Generator().manual_seed(seed + 98)), x)


# higher is better; the same draws for every start of one fit
SELECTION_RULES = {"w1": _w1_score, "likelihood": _likelihood_score}


def _fit_from(model: LatentModel, xt: torch.Tensor, start: int, autoencoder_config, prior_config, seed: int,
              bank_size: int, likelihood_config, draws: int) -> dict[str, FitResult]:
    """One start of :func:`fit_latent`'s stages."""
    results: dict[str, FitResult] = {}
    ae = model.autoencoder
    frozen = model.prior_is_frozen()
    if start:  # a fresh initialisation of what this fit trains, seeded so the fit stays reproducible
        with torch.random.fork_rng():
            torch.manual_seed(seed + 7919 * start)
            ae.load_state_dict(type(ae)(**ae.config).state_dict())
            if not frozen:
                model.prior.load_state_dict(build_component(component_config(model.prior)).state_dict())
    if frozen:
        bank = model.prior.sample(n=bank_size, generator=torch.Generator().manual_seed(seed + 17))
    ae.match_to(bank if frozen else None)
    try:
        results["autoencoder"] = fit(ae, xt, config=autoencoder_config, seed=seed + start)
    finally:
        ae.match_to(None)
    with torch.no_grad():
        codes = ae.encode(xt)
        model.noise_std.copy_((ae.decode(codes) - xt).std(dim=0))
    if not frozen:
        model.prior.strategy, model.prior.lr_scale = model.strategy, model.lr_scale
        results["prior"] = fit(model.prior, codes, config=prior_config, seed=seed + start)
    if likelihood_config is not None:
        with torch.no_grad():
            bank = model.prior.sample(n=4 * draws, generator=torch.Generator().manual_seed(seed + 29))
        objective = DecoderLikelihood(ae.decoder, bank, model.noise_std, draws)
        objective.strategy, objective.lr_scale = ae.strategy, ae.lr_scale
        results["likelihood"] = fit(objective, xt, config=likelihood_config, seed=seed + start)
        model.noise_std.copy_(objective.sigma.detach())
    return results


@torch.no_grad()
def _log_prob_rows(decoder: torch.nn.Module, sigma: torch.Tensor, bank: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log mean_j N(x; decoder(bank_j), diag sigma^2)`` per row of ``x``, in chunks of rows."""
    objective = DecoderLikelihood(decoder, bank, sigma, draws=len(bank))
    every = {"idx": torch.arange(len(bank))}
    return torch.cat([objective.log_prob(rows, every) for rows in x.split(256)])
