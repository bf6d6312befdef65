"""The transfer strategies: what a target takes from its source, with the rules that come with it.

Every transferable model names its **shared part** (``shared_part``: the embedding ``h`` of a
conditional model, the latent law ``P_U`` of a latent one); everything else is its task-specific
head. A strategy is one record, and the rules about strategies (which may start warm, which need
a shared part, which a latent model offers) are its methods, so every caller asks the record.

=================  ============================  ==============  ================================
strategy           shared part                   head            training on the target
=================  ============================  ==============  ================================
``scratch``        fresh                         fresh           everything (non-transfer model)
``freeze-shared``  the source's, frozen          fresh           the head only (the SEC estimator)
``finetune``       the source's                  source's where  everything
                                                 shapes match
``lora``           the source's, frozen          source's,       low-rank adapters on the head's
                                                 frozen          linear and convolution layers
``pooled``         fresh                         fresh           everything, on the source's and
                                                                 the target's rows together, a
                                                                 domain indicator in zc
=================  ============================  ==============  ================================

``pooled`` is what a practitioner tries first: one model of the source's architecture on both
tasks' rows, told apart by a domain indicator (0 for the source's rows, 1 for the target's), sampled
with the indicator at 1. It takes the source's *rows*, not its weights, and is offered for tables.

``auto`` (:data:`GUARD`) is not a strategy but the negative-transfer guard, which fits
:data:`GUARD_CANDIDATES` and keeps one (:mod:`gentransfer.transfer.guard`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gentransfer.errors import ConfigError

__all__ = ["Strategy", "STRATEGIES", "MODEL_STRATEGIES", "StrategyName", "StrategyChoice", "GUARD", "GUARD_CANDIDATES",
           "SourceKind", "get_strategy", "check_choice", "WARM_LR_SCALE"]

SourceKind = Literal["conditional", "plain", "latent"]  # a model of x given z; of x alone; P_U and a decoder
GUARD = "auto"
GUARD_CANDIDATES = ("scratch", "freeze-shared", "finetune")
WARM_LR_SCALE = 0.3  # learning-rate factor for a head that starts from the source's weights


@dataclass(frozen=True)
class Strategy:
    """What a target model takes from its source, and how it is then trained.

    Attributes:
        name: the strategy's name.
        reuse_shared: the target starts with the source's shared part.
        freeze_shared: the shared part is never trained on the target.
        reuse_head: the head starts from the source's weights by default (``warm_start`` overrides
            it where the strategy allows).
        adapters: only low-rank adapters on the (frozen) head are trained.
        pooled: one model on the source's and the target's rows, a domain indicator among its
            conditions (needs the source's rows).
    """

    name: str
    reuse_shared: bool
    freeze_shared: bool
    reuse_head: bool
    adapters: bool = False
    pooled: bool = False

    @property
    def takes_warm_start(self) -> bool:
        """Can a warm start be asked for? Only where the head starts fresh by default but the
        shared part is handed over (freeze-shared: the paper's MNIST -> USPS recipe)."""
        return self.reuse_shared and not self.reuse_head

    def warm_start(self, asked: bool | None) -> bool:
        """Does the head start from the source's weights? ``asked=None``: the strategy's default."""
        warm = self.reuse_head if asked is None else bool(asked)
        if warm and not self.reuse_shared:
            raise ConfigError(f"{self.name} starts from fresh weights, so it cannot be warm-started",
                              "drop warm_start, or choose freeze-shared or finetune")
        if self.adapters and not warm:
            raise ConfigError(f"{self.name} adapts the source's head, so it always starts from it",
                              "drop warm_start=False")
        return warm

    def check_source(self, kind: SourceKind, where: str = "the source") -> None:
        """Can a source of this kind be transferred so? A plain model of x has no shared part to
        freeze; a latent model's decoder is not offered adapters."""
        if kind == "plain" and self.freeze_shared and not self.adapters:
            raise ConfigError(f"{where} has no shared part to freeze (it was fitted without z)",
                              "choose scratch, finetune, lora or auto; or fit the source with --latent-dim (P_U)")
        if kind == "latent" and (self.adapters or self.pooled):
            raise ConfigError(f"{where} is a latent model (P_U and a decoder): {self.name} is not offered for it",
                              "choose scratch, freeze-shared, finetune or auto")


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("scratch", reuse_shared=False, freeze_shared=False, reuse_head=False),
        Strategy("freeze-shared", reuse_shared=True, freeze_shared=True, reuse_head=False),
        Strategy("finetune", reuse_shared=True, freeze_shared=False, reuse_head=True),
        Strategy("lora", reuse_shared=True, freeze_shared=True, reuse_head=True, adapters=True),
        Strategy("pooled", reuse_shared=False, freeze_shared=False, reuse_head=False, pooled=True),
    )
}


# the strategies that need only the source's model (pooled needs its rows: the studies do not offer it)
MODEL_STRATEGIES = tuple(name for name, s in STRATEGIES.items() if not s.pooled)
StrategyName = Literal[tuple(STRATEGIES)]  # the names, for settings and flags
StrategyChoice = Literal[(*STRATEGIES, GUARD)]  # what a user may ask fit-target for


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; one line naming the choices for any other name."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown transfer strategy {name!r}", f"use one of {list(STRATEGIES)}")
    return STRATEGIES[name]


def check_choice(name: str, *, warm_start: bool = False, kind: SourceKind = "conditional",
                 where: str = "the source") -> None:
    """Check a user's choice (a strategy or ``auto``, a warm start) against the source's kind,
    before anything is built: the one place the command line and the pipeline ask."""
    if name != GUARD:
        strategy = get_strategy(name)
        strategy.check_source(kind, where)
        if warm_start and not strategy.takes_warm_start:
            raise ConfigError(f"--warm-start applies to freeze-shared (its head), not to {name}",
                              "drop --warm-start (finetune and lora always start from the source, scratch never)")
    elif warm_start and kind == "plain":
        raise ConfigError(f"--warm-start starts freeze-shared's head from the source, and {where} has no shared part "
                          "(auto has no freeze-shared candidate)", "drop --warm-start")
