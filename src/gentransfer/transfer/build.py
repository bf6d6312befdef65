"""``transfer``: the one small, explicit step from a fitted source model to a target model.

The same step acts on both settings of the paper:

=================  =================================  =========================================
setting            shared part                        task-specific head
=================  =================================  =========================================
conditional        the embedding ``h`` (``embedding``)  the flow's couplings / the noise network
unconditional      the latent law ``P_U`` (``prior``)   the decoder ``g`` (autoencoder, or a
                                                      bijective decoder flow) and noise level
=================  =================================  =========================================

A strategy (:mod:`gentransfer.transfer.strategies`) builds a target model of the *same class
and architecture* as the source, for the target's own dimensions (``x_dim``, ``zc_dim`` may
differ). So the SEC estimator is ``freeze-shared`` in both settings: ``h`` kept and ``theta_t``
fitted (conditional), ``P_U`` kept and ``g_t`` fitted (unconditional).

``warm_start=True`` starts a ``freeze-shared`` head from the source's weights too (where shapes
match): the paper's MNIST -> USPS recipe, "fine-tune with the class embedding frozen". The SEC
estimator fits the head on the target either way; the warm start only changes where the
optimiser begins, and a warm-started head trains at ``WARM_LR_SCALE`` times the learning rate so
that its first steps refine the source's solution instead of undoing it.

The decision is recorded as the target's :class:`~gentransfer.transfer.plan.TransferPlan`, which
is saved with the model, re-applied on load and read by :func:`gentransfer.fit`.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from gentransfer.errors import ConfigError
from gentransfer.transfer.plan import TransferPlan
from gentransfer.transfer.pooled import TARGET_DOMAIN
from gentransfer.transfer.strategies import WARM_LR_SCALE, StrategyName, get_strategy

__all__ = ["transfer", "shared_module"]


def shared_module(model: nn.Module) -> nn.Module | None:
    """The model's shared part (``None`` for a model without one, e.g. a plain unconditional one)."""
    return getattr(model, model.shared_part, None)


_WIDTHS = {"x_dim": "x has {} modelled columns", "zc_dim": "zc has {} columns"}


def _copy_matching_head(source: nn.Module, target: nn.Module) -> list[str]:
    """Copy head tensors whose name and shape agree; returns the head parameters left as they were
    made (no tensor of their name and shape in the source)."""
    prefix = f"{source.shared_part}."
    src = {k: v for k, v in source.state_dict().items() if not k.startswith(prefix)}
    dst = target.state_dict()
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    target.load_state_dict(matched, strict=False)
    return [k for k, _ in target.named_parameters() if not k.startswith(prefix) and k not in matched]


def _frozen_fresh(source: nn.Module, target_config: dict[str, Any], fresh: list[str]) -> ConfigError:
    """The error for adapters on a head whose fresh layers would stay frozen at their random start."""
    widths = [f"the target's {_WIDTHS.get(k, k + ' is {}').format(v)}, the source's {source.config.get(k)}"
              for k, v in sorted(target_config.items()) if v != source.config.get(k)]
    return ConfigError(f"lora keeps every source weight frozen, but {'; '.join(widths) or 'the heads differ'} "
                       f"({len(fresh)} head weights would start random and never train)",
                       "use --strategy finetune or scratch, or give the target the source's columns")


def _no_room_for_domain(source: nn.Module) -> ConfigError:
    return ConfigError(f"pooled adds a domain indicator to the conditions, which a {type(source).__name__} "
                       f"{'with a UNet ' if 'zc_dim' in source.config else ''}cannot take",
                       "choose scratch, freeze-shared, finetune or lora")


def transfer(source: nn.Module, strategy: StrategyName, *, warm_start: bool | None = None,
             lora_rank: int | None = None, lr_scale: float | None = None, **target_config: Any) -> nn.Module:
    """Build the target model from a fitted source model under ``strategy``.

    Args:
        source: a fitted gentransfer model (any family).
        strategy: ``"scratch"``, ``"freeze-shared"``, ``"finetune"``, ``"lora"`` or ``"pooled"``
            (a fresh model with one more zc column, the domain indicator: fit it on
            :func:`~gentransfer.transfer.pool`'s rows of both tasks).
        warm_start: start the head from the source's weights where shapes match; ``None`` takes
            the strategy's default (``finetune`` and ``lora``). Not allowed with ``scratch``;
            ``lora`` always starts from the source's head.
        lora_rank: rank of the adapters under ``lora`` (alpha = rank: updates at scale 1); ``None``
            scales it with the head (:func:`gentransfer.transfer.adapters.default_rank`: a 16th of the
            adapted layers' median width, at least 4).
        lr_scale: factor on the training learning rate; ``None``: ``WARM_LR_SCALE`` for a head
            that starts from the source's weights (not adapters), 1 otherwise. Pass 1.0 to train
            every strategy at one rate (a comparison where the rate is not part of the strategy).
        **target_config: the target's own settings, e.g. ``x_dim=2, zc_dim=1``; anything not
            given is the source's (same architecture).

    Returns:
        An untrained target model whose ``transfer_plan`` records the strategy, the warm start,
        the learning-rate factor and the frozen parts (under ``freeze-shared`` the shared part's
        parameters have ``requires_grad=False``).

    Example:
        >>> from gentransfer import CouplingFlow, transfer
        >>> src = CouplingFlow(x_dim=3, z_dim=10, zc_dim=2)
        >>> tgt = transfer(src, "freeze-shared", x_dim=2, zc_dim=1)
        >>> tgt.embedding is not src.embedding, all(not p.requires_grad for p in tgt.embedding.parameters())
        (True, True)
    """
    plan = get_strategy(strategy)
    warm = plan.warm_start(warm_start)
    if lr_scale is not None and (isinstance(lr_scale, bool) or not isinstance(lr_scale, int | float)
                                 or not 0 < lr_scale <= 10):
        raise ConfigError(f"lr_scale must be a number in (0, 10], got {lr_scale!r}", "pass e.g. lr_scale=1.0")
    if plan.adapters and lora_rank is not None and (not isinstance(lora_rank, int) or lora_rank < 1):
        raise ConfigError(f"lora_rank must be an integer >= 1, got {lora_rank!r}", "pass e.g. lora_rank=4")
    part = source.shared_part
    if part in target_config:
        raise ConfigError(f"transfer() chooses the {part} itself", f"drop the '{part}' argument")
    config = {**source.config, **target_config}
    if plan.pooled:  # the domain indicator is one more task-specific condition (pool() appends it)
        config["zc_dim"] = config.get("zc_dim", 0) + 1
    if plan.reuse_shared and shared_module(source) is not None:
        config[part] = copy.deepcopy(shared_module(source))
    # else: the saved spec in the config rebuilds a fresh shared part of the same architecture
    if plan.pooled and "zc_dim" not in source.config:  # a latent model: no conditions at all
        raise _no_room_for_domain(source)
    try:
        target = type(source).from_config(config)
    except TypeError as err:
        raise ConfigError(f"invalid target settings for {type(source).__name__}: {err}",
                          "pass only arguments of the source model's constructor") from None
    except ConfigError:
        if plan.pooled:  # a network whose condition width is fixed (the UNet's class embedding)
            raise _no_room_for_domain(source) from None
        raise
    if warm:
        fresh = _copy_matching_head(source, target)
        if plan.adapters and fresh:
            raise _frozen_fresh(source, target_config, fresh)
    if shared_module(target) is not None:  # a copy keeps the source's flags: set them from the plan
        shared_module(target).requires_grad_(True)
    frozen = (part,) if plan.freeze_shared and shared_module(target) is not None else ()
    adapters = None
    if plan.adapters:
        from gentransfer.transfer.adapters import adapter_targets, default_rank

        names = adapter_targets(target, part)
        rank = default_rank(target, names) if lora_rank is None else lora_rank
        adapters = {"rank": rank, "alpha": rank, "targets": names}
    if lr_scale is None:
        lr_scale = WARM_LR_SCALE if warm and not plan.adapters else 1.0  # adapters start at zero: no damping
    target.transfer_plan = TransferPlan(plan.name, warm, float(lr_scale), frozen, adapters,
                                        TARGET_DOMAIN if plan.pooled else None)
    target.transfer_plan.apply(target)
    return target
