"""The transfer plan: how a model was made from its source, saved with the model.

A plan is a small immutable record that :func:`gentransfer.transfer` writes onto the target
model (``model.transfer_plan``), ``save_pretrained`` stores beside the model's config and
``load_pretrained`` re-applies, and :func:`gentransfer.fit` reads: the learning-rate factor and
the parts that stay frozen. A model no strategy made carries the scratch plan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from gentransfer.errors import CheckpointError

__all__ = ["TransferPlan", "SCRATCH_PLAN"]


@dataclass(frozen=True)
class TransferPlan:
    """What a strategy decided for one target model.

    Attributes:
        strategy: the strategy's name (``"scratch"``, ``"freeze-shared"``, ``"finetune"``, ...).
        warm_start: the head started from the source's weights where shapes matched.
        lr_scale: factor on the training learning rate (a warm start refines, it does not restart).
        frozen: names of the submodules whose parameters are never trained (e.g. ``("embedding",)``).
        adapters: LoRA settings (``rank``, ``alpha``, ``targets``: the adapted layers) when only
            low-rank adapters are trained (:mod:`gentransfer.transfer.adapters`); every other weight is frozen.
        domain: ``pooled``: the value of the domain indicator, the last column of the model's zc, that
            the model supplies itself when given the target's conditions (1.0: the target; the source's
            rows were fitted with 0.0). ``None`` for every other strategy.
    """

    strategy: str = "scratch"
    warm_start: bool = False
    lr_scale: float = 1.0
    frozen: tuple[str, ...] = ()
    adapters: dict[str, Any] | None = None
    domain: float | None = None

    def apply(self, model: nn.Module) -> None:
        """Give ``model`` the plan's adapters (once) and freeze what the plan freezes; call it on a
        freshly built model before loading its weights, or on a model at any time (idempotent)."""
        from gentransfer.transfer.adapters import add_adapters, has_adapters

        if self.adapters is not None and not has_adapters(model):
            add_adapters(model, **self.adapters)
        for name, p in model.named_parameters():
            if self.is_frozen(name):
                p.requires_grad_(False)

    def is_frozen(self, parameter_name: str) -> bool:
        """Is this parameter of the model frozen under the plan?"""
        from gentransfer.transfer.adapters import is_adapter

        if self.adapters is not None and not is_adapter(parameter_name):
            return True
        return any(parameter_name == f or parameter_name.startswith(f"{f}.") for f in self.frozen)

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "frozen": list(self.frozen)}
        if self.domain is None:  # only pooled models carry it: every other saved plan stays as it was
            del out["domain"]
        return out

    @classmethod
    def from_dict(cls, values: Any, where: str = "a saved model") -> TransferPlan:
        """Rebuild a plan from :meth:`to_dict` output, checking every field's type."""
        fix = "re-save the model with this version of gentransfer"
        keys = ("strategy", "warm_start", "lr_scale", "frozen", "adapters")
        if isinstance(values, dict) and "domain" not in values:  # saved before pooled existed
            values = {**values, "domain": None}
        if not isinstance(values, dict) or set(values) != {*keys, "domain"}:
            raise CheckpointError(f"{where} has an invalid transfer_plan {values!r}", fix)
        strategy, warm, lr_scale, frozen, adapters = (values[k] for k in keys)
        domain = values["domain"]
        ok = (isinstance(strategy, str) and isinstance(warm, bool)
              and isinstance(lr_scale, int | float) and not isinstance(lr_scale, bool)
              and math.isfinite(lr_scale) and lr_scale > 0
              and isinstance(frozen, list) and all(isinstance(f, str) for f in frozen)
              and (adapters is None or (isinstance(adapters, dict) and set(adapters) == {"rank", "alpha", "targets"}
                                        and isinstance(adapters["rank"], int) and adapters["rank"] >= 1
                                        and isinstance(adapters["targets"], list)))
              and (domain is None or (strategy == "pooled" and isinstance(domain, int | float)
                                      and not isinstance(domain, bool) and math.isfinite(domain))))
        if not ok:
            raise CheckpointError(f"{where} has an invalid transfer_plan {values!r}", fix)
        return cls(strategy, warm, float(lr_scale), tuple(frozen), adapters, None if domain is None else float(domain))


SCRATCH_PLAN = TransferPlan()
