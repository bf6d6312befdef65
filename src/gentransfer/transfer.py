"""Transfer strategies: the one small, explicit step between a source model and a target model.

Every model names its **shared part** (``shared_part``): the embedding ``h`` of a conditional
model, or the latent prior ``P_U`` of a latent-variable model. Everything else is its
task-specific head. A strategy builds a target model of the *same family and architecture* as
the source, for the target's own dimensions (``x_dim``, ``zc_dim`` may differ), and decides
what it takes from the source:

=================  ============================  ==============  ================================
strategy           shared part                   head            training on the target
=================  ============================  ==============  ================================
``scratch``        fresh                         fresh           everything (non-transfer model)
``freeze-shared``  the source's, frozen          fresh           the head only (the SEC estimator)
``finetune``       the source's                  source's where  everything
                                                 shapes match
=================  ============================  ==============  ================================

``warm_start=True`` starts a ``freeze-shared`` head from the source's weights too (where shapes
match): the paper's MNIST -> USPS recipe, "fine-tune with the class embedding frozen". The SEC
estimator fits the head on the target either way; the warm start only changes where the
optimiser begins. A warm-started head is trained at ``WARM_LR_SCALE`` times the learning rate,
so the first steps refine the source's solution instead of undoing it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from gentransfer.errors import ConfigError

__all__ = ["Strategy", "STRATEGIES", "WARM_LR_SCALE", "transfer", "get_strategy", "shared_module"]


@dataclass(frozen=True)
class Strategy:
    """What a target model takes from its source, and how it is then trained."""

    name: str
    reuse_shared: bool
    freeze_shared: bool
    reuse_head: bool  # the default; transfer(..., warm_start=...) overrides it


WARM_LR_SCALE = 0.3  # learning-rate factor for a head that starts from the source's weights


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("scratch", reuse_shared=False, freeze_shared=False, reuse_head=False),
        Strategy("freeze-shared", reuse_shared=True, freeze_shared=True, reuse_head=False),
        Strategy("finetune", reuse_shared=True, freeze_shared=False, reuse_head=True),
    )
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ConfigError(f"unknown transfer strategy {name!r}", f"use one of {list(STRATEGIES)}")
    return STRATEGIES[name]


def shared_module(model: nn.Module) -> nn.Module | None:
    """The model's shared part (``None`` for a model without one, e.g. a plain unconditional one)."""
    return getattr(model, model.shared_part, None)


def _copy_matching_head(source: nn.Module, target: nn.Module) -> int:
    """Copy head tensors whose name and shape agree; returns how many were copied."""
    prefix = f"{source.shared_part}."
    src = {k: v for k, v in source.state_dict().items() if not k.startswith(prefix)}
    dst = target.state_dict()
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    target.load_state_dict(matched, strict=False)
    return len(matched)


def transfer(source: nn.Module, strategy: str, *, warm_start: bool | None = None,
             **target_config: Any) -> nn.Module:
    """Build the target model from a fitted source model under ``strategy``.

    Args:
        source: a fitted gentransfer model (any family).
        strategy: ``"scratch"``, ``"freeze-shared"`` or ``"finetune"``.
        warm_start: start the head from the source's weights where shapes match; ``None`` takes
            the strategy's default (``finetune`` only). Not allowed with ``scratch``.
        **target_config: the target's own settings, e.g. ``x_dim=2, zc_dim=1``; anything not
            given is the source's (same architecture).

    Returns:
        An untrained target model; ``target.strategy`` records the strategy,
        ``target.lr_scale`` the learning-rate factor for training it, and under
        ``freeze-shared`` the shared part's parameters have ``requires_grad=False``.

    Example:
        >>> from gentransfer import ConditionalFlow, transfer
        >>> src = ConditionalFlow(x_dim=3, z_dim=10, zc_dim=2)
        >>> tgt = transfer(src, "freeze-shared", x_dim=2, zc_dim=1)
        >>> tgt.embedding is not src.embedding, all(not p.requires_grad for p in tgt.embedding.parameters())
        (True, True)
    """
    plan = get_strategy(strategy)
    warm = plan.reuse_head if warm_start is None else bool(warm_start)
    if warm and not plan.reuse_shared:
        raise ConfigError("scratch starts from fresh weights, so it cannot be warm-started",
                          "drop warm_start, or choose freeze-shared or finetune")
    part = source.shared_part
    if part in target_config:
        raise ConfigError(f"transfer() chooses the {part} itself", f"drop the '{part}' argument")
    config = {**source.config, **target_config}
    if plan.reuse_shared and shared_module(source) is not None:
        config[part] = copy.deepcopy(shared_module(source))
    # else: the saved spec in the config rebuilds a fresh shared part of the same architecture
    try:
        target = type(source).from_config(config)
    except TypeError as err:
        raise ConfigError(f"invalid target settings for {type(source).__name__}: {err}",
                          "pass only arguments of the source model's constructor") from None
    if warm:
        _copy_matching_head(source, target)
    if plan.freeze_shared and shared_module(target) is not None:
        shared_module(target).requires_grad_(False)
    target.strategy = plan.name
    target.lr_scale = WARM_LR_SCALE if warm else 1.0
    return target
