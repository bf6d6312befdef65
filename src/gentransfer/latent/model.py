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

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gentransfer.config import ConfigMixin, build_component, component_config, register
from gentransfer.errors import ConfigError, DataError
from gentransfer.families import get_family
from gentransfer.latent.autoencoder import AutoEncoder
from gentransfer.latent.likelihood import DecoderLikelihood
from gentransfer.metrics import wasserstein1, wasserstein1_rows
from gentransfer.models.base import GenerativeModel, as_tensor
from gentransfer.training import FitResult, TrainConfig, fit

__all__ = ["LatentModel", "fit_latent", "SELECTION_RULES"]


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
        self.x_dim, self.latent_dim = x_dim, latent_dim
        self.config = {"x_dim": x_dim, "latent_dim": latent_dim, "prior": component_config(prior),
                       "prior_family": prior.family, "prior_config": prior_config,
                       "autoencoder": component_config(self.autoencoder), "match_weight": match_weight}

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
    def sample(self, n: int | None = None, *, z: Any = None, zc: Any = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``x = g(u) + sigma * eps`` with ``u ~ P_U``. ``z``, ``zc``: none (keywords, as
        a plain model's ``sample(z=, zc=, n=)`` takes them)."""
        self.validate(None, z, zc)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError(f"the number of samples must be a positive integer, got {n!r}", "pass n >= 1")
        u = self.prior.sample(n=n, generator=generator)
        x = self.autoencoder.decode(u)
        return x + self.noise_std * torch.randn(x.shape, generator=generator)


Settings = TrainConfig | dict[str, Any] | None


def fit_latent(model: LatentModel, x: Any, *, autoencoder_train: Settings = None, prior_train: Settings = None,
               likelihood_train: Settings = None, seed: int = 0, bank_size: int = 4096, draws: int = 4096,
               restarts: int = 1, start: int = 0, select: Literal["w1", "likelihood"] = "w1",
               checkpoint_dir: str | None = None, resume: bool = False) -> dict[str, FitResult]:
    """Fit a :class:`LatentModel` to ``x``: autoencoder, noise level, then (if trainable) the prior.

    Each ``*_train`` is the training settings of one stage (:class:`~gentransfer.training.TrainConfig`
    or a dict of its fields). With ``likelihood_train``, the decoder and noise level are then refined by maximum
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
    best: tuple[float, dict[str, torch.Tensor], dict[str, FitResult]] | None = None
    for r in range(start, start + restarts):
        where = None if checkpoint_dir is None else str(Path(checkpoint_dir) / (f"start{r}" if restarts > 1 else ""))
        results = _fit_from(model, xt, r, autoencoder_train, prior_train, likelihood_train, seed, bank_size, draws,
                            where, resume)
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


def _fit_from(model: LatentModel, xt: torch.Tensor, start: int, autoencoder_train: Settings, prior_train: Settings,
              likelihood_train: Settings, seed: int, bank_size: int, draws: int, checkpoint_dir: str | None = None,
              resume: bool = False) -> dict[str, FitResult]:
    """One start of :func:`fit_latent`: its stages in order, each a :func:`fit` under the model's plan."""
    frozen = model.prior_is_frozen()
    if start:  # a fresh initialisation of what this fit trains, seeded so the fit stays reproducible
        with torch.random.fork_rng():
            torch.manual_seed(seed + 7919 * start)
            ae = model.autoencoder
            ae.load_state_dict(type(ae)(**ae.config).state_dict())
            if not frozen:
                model.prior.load_state_dict(build_component(component_config(model.prior)).state_dict())
    def saving(stage: str) -> dict[str, Any]:
        where = None if checkpoint_dir is None else str(Path(checkpoint_dir) / stage)
        return {"checkpoint_dir": where, "resume": resume}

    results = {"autoencoder": _autoencoder_stage(model, xt, autoencoder_train, seed, start, bank_size, frozen,
                                                 **saving("autoencoder"))}
    if not frozen:
        results["prior"] = _prior_stage(model, xt, prior_train, seed + start, **saving("prior"))
    if likelihood_train is not None:
        results["likelihood"] = _likelihood_stage(model, xt, likelihood_train, seed, start, draws,
                                                  **saving("likelihood"))
    return results


def _autoencoder_stage(model: LatentModel, xt: torch.Tensor, train: Settings, seed: int, start: int,
                       bank_size: int, frozen: bool, **saving: Any) -> FitResult:
    """Stage 1: the autoencoder (codes matched to a frozen prior's draws), then the noise level."""
    ae = model.autoencoder
    if frozen:
        bank = model.prior.sample(n=bank_size, generator=torch.Generator().manual_seed(seed + 17))
    ae.match_to(bank if frozen else None)
    try:
        result = fit(ae, xt, train=train, plan=model.transfer_plan, seed=seed + start, **saving)
    finally:
        ae.match_to(None)
    with torch.no_grad():
        model.noise_std.copy_((ae.decode(ae.encode(xt)) - xt).std(dim=0))
    return result


def _prior_stage(model: LatentModel, xt: torch.Tensor, train: Settings, seed: int, **saving: Any) -> FitResult:
    """Stage 2 (a trainable prior only): ``P_U`` fitted to the codes of ``x``."""
    with torch.no_grad():
        codes = model.autoencoder.encode(xt)
    return fit(model.prior, codes, train=train, plan=model.transfer_plan, seed=seed, **saving)


def _likelihood_stage(model: LatentModel, xt: torch.Tensor, train: Settings, seed: int, start: int,
                      draws: int, **saving: Any) -> FitResult:
    """Stage 3: decoder and noise level by maximum likelihood through the now fixed prior."""
    with torch.no_grad():
        bank = model.prior.sample(n=4 * draws, generator=torch.Generator().manual_seed(seed + 29))
    objective = DecoderLikelihood(model.autoencoder.decoder, bank, model.noise_std, draws)
    result = fit(objective, xt, train=train, plan=model.transfer_plan, seed=seed + start, **saving)
    model.noise_std.copy_(objective.sigma.detach())
    return result


@torch.no_grad()
def _log_prob_rows(decoder: torch.nn.Module, sigma: torch.Tensor, bank: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log mean_j N(x; decoder(bank_j), diag sigma^2)`` per row of ``x``, in chunks of rows."""
    objective = DecoderLikelihood(decoder, bank, sigma, draws=len(bank))
    every = {"idx": torch.arange(len(bank))}
    return torch.cat([objective.log_prob(rows, every) for rows in x.split(256)])
