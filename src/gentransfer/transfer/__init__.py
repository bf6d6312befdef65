"""Transfer: the strategies, the step that applies one, the plan it leaves, LoRA adapters, and the guard.

- :mod:`~gentransfer.transfer.strategies`: the strategy records and their rules;
- :mod:`~gentransfer.transfer.build`: :func:`transfer`, a target model from a fitted source;
- :mod:`~gentransfer.transfer.plan`: :class:`TransferPlan`, saved with the model and re-applied on load;
- :mod:`~gentransfer.transfer.adapters`: low-rank adapters on the head (peft);
- :mod:`~gentransfer.transfer.pooled`: :func:`pool`, both tasks' rows with a domain indicator;
- :mod:`~gentransfer.transfer.guard`: ``auto``, fit the candidates and keep one.
"""

from gentransfer.lazy import lazy_exports

__all__ = ["GUARD", "GUARD_CANDIDATES", "SCRATCH_PLAN", "STRATEGIES", "WARM_LR_SCALE", "SourceKind", "Strategy",
           "StrategyChoice", "StrategyName", "TransferPlan", "check_choice", "choose_strategy", "get_strategy",
           "pool", "run_guard", "shared_module", "transfer"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "shared_module": "gentransfer.transfer.build",
    "transfer": "gentransfer.transfer.build",
    "StrategyChoice": "gentransfer.transfer.guard",
    "choose_strategy": "gentransfer.transfer.guard",
    "run_guard": "gentransfer.transfer.guard",
    "pool": "gentransfer.transfer.pooled",
    "SCRATCH_PLAN": "gentransfer.transfer.plan",
    "TransferPlan": "gentransfer.transfer.plan",
    "GUARD": "gentransfer.transfer.strategies",
    "GUARD_CANDIDATES": "gentransfer.transfer.strategies",
    "STRATEGIES": "gentransfer.transfer.strategies",
    "WARM_LR_SCALE": "gentransfer.transfer.strategies",
    "SourceKind": "gentransfer.transfer.strategies",
    "Strategy": "gentransfer.transfer.strategies",
    "StrategyName": "gentransfer.transfer.strategies",
    "check_choice": "gentransfer.transfer.strategies",
    "get_strategy": "gentransfer.transfer.strategies",
})
