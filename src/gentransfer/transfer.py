"""Transfer strategies: the one small, explicit step between a source model and a target model.

Every strategy builds a target model of the *same family and architecture* as the source, for
the target's own dimensions (``x_dim``, ``zc_dim`` may differ from the source's), and decides
what it takes from the source:

=================  ============================  ==============  ================================
strategy           shared embedding ``h``        head            training on the target
=================  ============================  ==============  ================================
``scratch``        fresh                         fresh           everything (non-transfer model)
``freeze-shared``  the source's, frozen          fresh           the head only (the SEC estimator)
``finetune``       the source's                  source's where  everything, learning rate
                                                 shapes match    scaled by ``lr_scale``
=================  ============================  ==============  ================================
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from gentransfer.errors import ConfigError
from gentransfer.models.base import ConditionalModel

__all__ = ["Strategy", "STRATEGIES", "transfer", "get_strategy"]


@dataclass(frozen=True)
class Strategy:
    """What a target model takes from its source, and how it is then trained."""

    name: str
    reuse_embedding: bool
    freeze_embedding: bool
    reuse_head: bool
    lr_scale: float = 1.0


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("scratch", reuse_embedding=False, freeze_embedding=False, reuse_head=False),
        Strategy("freeze-shared", reuse_embedding=True, freeze_embedding=True, reuse_head=False),
        Strategy("finetune", reuse_embedding=True, freeze_embedding=False, reuse_head=True, lr_scale=0.3),
    )
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ConfigError(f"unknown transfer strategy {name!r}", f"use one of {list(STRATEGIES)}")
    return STRATEGIES[name]


def _copy_matching_head(source: ConditionalModel, target: ConditionalModel) -> int:
    """Copy head tensors whose name and shape agree; returns how many were copied."""
    src = {k: v for k, v in source.state_dict().items() if not k.startswith("embedding.")}
    dst = target.state_dict()
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    target.load_state_dict(matched, strict=False)
    return len(matched)


def transfer(source: ConditionalModel, strategy: str, **target_config: Any) -> ConditionalModel:
    """Build the target model from a fitted source model under ``strategy``.

    Args:
        source: a fitted model (any family).
        strategy: ``"scratch"``, ``"freeze-shared"`` or ``"finetune"``.
        **target_config: the target's own settings, e.g. ``x_dim=2, zc_dim=1``; anything not
            given is the source's (same architecture).

    Returns:
        An untrained target model; ``target.strategy`` records the strategy, and under
        ``freeze-shared`` the embedding's parameters have ``requires_grad=False``.

    Example:
        >>> from gentransfer import ConditionalFlow, transfer
        >>> src = ConditionalFlow(x_dim=3, z_dim=10, zc_dim=2)
        >>> tgt = transfer(src, "freeze-shared", x_dim=2, zc_dim=1)
        >>> tgt.embedding is not src.embedding, all(not p.requires_grad for p in tgt.embedding.parameters())
        (True, True)
    """
    plan = get_strategy(strategy)
    if "embedding" in target_config:
        raise ConfigError("transfer() chooses the embedding itself", "drop the 'embedding' argument")
    config = {**source.config, **target_config}
    if plan.reuse_embedding:
        config["embedding"] = copy.deepcopy(source.embedding)
    # else: the saved spec rebuilds a fresh embedding of the same architecture
    try:
        target = type(source).from_config(config)
    except TypeError as err:
        raise ConfigError(f"invalid target settings for {type(source).__name__}: {err}",
                          "pass only arguments of the source model's constructor") from None
    if plan.reuse_head:
        _copy_matching_head(source, target)
    if plan.freeze_embedding and target.embedding is not None:
        target.embedding.requires_grad_(False)
    target.strategy = plan.name
    return target
