"""Fit a :class:`~gentransfer.latent.LatentModel` in its stages, each one :func:`gentransfer.fit`.

A latent model is not one :class:`~gentransfer.training.Trainable` but a composition of three:
(1) the autoencoder, pulled toward the prior's latent law by an MMD penalty when the prior is
frozen (the SEC estimator: the target learns only its decoder), (2) the prior on the codes, when
it is trainable (the source stage, or ``scratch``: ``P_U`` learned from the target alone), (3)
optionally, the decoder and noise level refined by maximum likelihood through the (now fixed)
prior (:class:`~gentransfer.latent.likelihood.DecoderLikelihood`). :func:`fit_latent` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from gentransfer.config import build_component, component_config
from gentransfer.errors import ConfigError
from gentransfer.latent.likelihood import DecoderLikelihood
from gentransfer.latent.model import LatentModel
from gentransfer.metrics import wasserstein1
from gentransfer.models.base import as_tensor
from gentransfer.training import FitResult, TrainSettings, fit

__all__ = ["fit_latent", "SELECTION_RULES"]


Settings = TrainSettings | dict[str, Any] | None


def fit_latent(model: LatentModel, x: Any, *, autoencoder_train: Settings = None, prior_train: Settings = None,
               likelihood_train: Settings = None, seed: int = 0, bank_size: int = 4096, draws: int = 4096,
               restarts: int = 1, start: int = 0, select: Literal["w1", "likelihood"] = "w1",
               checkpoint_dir: str | None = None, resume: bool = False) -> dict[str, FitResult]:
    """Fit a :class:`LatentModel` to ``x``: autoencoder, noise level, then (if trainable) the prior.

    Each ``*_train`` is the training settings of one stage (:class:`~gentransfer.training.TrainSettings`
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
