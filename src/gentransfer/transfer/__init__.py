"""Transfer: the strategies, the step that applies one, the plan it leaves, LoRA adapters, and the guard.

- :mod:`~gentransfer.transfer.strategies`: the strategy records and their rules;
- :mod:`~gentransfer.transfer.build`: :func:`transfer`, a target model from a fitted source;
- :mod:`~gentransfer.transfer.plan`: :class:`TransferPlan`, saved with the model and re-applied on load;
- :mod:`~gentransfer.transfer.adapters`: low-rank adapters on the head (peft);
- :mod:`~gentransfer.transfer.guard`: ``auto``, fit the candidates and keep one.
"""

from gentransfer.transfer.build import shared_module, transfer
from gentransfer.transfer.guard import StrategyChoice, choose_strategy, run_guard
from gentransfer.transfer.plan import SCRATCH_PLAN, TransferPlan
from gentransfer.transfer.strategies import (
    GUARD,
    GUARD_CANDIDATES,
    STRATEGIES,
    WARM_LR_SCALE,
    SourceKind,
    Strategy,
    StrategyName,
    check_choice,
    get_strategy,
)

__all__ = ["GUARD", "GUARD_CANDIDATES", "SCRATCH_PLAN", "STRATEGIES", "WARM_LR_SCALE", "SourceKind", "Strategy",
           "StrategyChoice", "StrategyName", "TransferPlan", "check_choice", "choose_strategy", "get_strategy",
           "run_guard", "shared_module", "transfer"]
