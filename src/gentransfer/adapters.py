"""Low-rank adapters (LoRA) on a model's task-specific head, through Hugging Face peft.

The ``lora`` strategy keeps every source weight (shared part and head) frozen and trains only
rank-``r`` updates :math:`W + \\frac{\\alpha}{r} B A` of the head's linear and convolution layers
(the UNet's convolutions and projections, the flows' and MLPs' linear layers). ``B`` starts at
zero, so an adapted model starts as its source. peft is an optional extra
(``pip install -c constraints.txt 'gentransfer[lora]'``), imported only when adapters are used.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from gentransfer.errors import ConfigError

__all__ = ["adapter_targets", "add_adapters", "has_adapters", "is_adapter"]

_ADAPTED = (nn.Linear, nn.Conv2d)


def adapter_targets(model: nn.Module, shared_part: str) -> list[str]:
    """Full names of the head's linear and convolution layers (never the shared part's)."""
    return [name for name, module in model.named_modules() if isinstance(module, _ADAPTED)
            and name != shared_part and not name.startswith(f"{shared_part}.")]


def is_adapter(parameter_name: str) -> bool:
    return ".lora_A." in parameter_name or ".lora_B." in parameter_name


def has_adapters(model: nn.Module) -> bool:
    return any(is_adapter(name) for name, _ in model.named_parameters())


def add_adapters(model: nn.Module, rank: int, alpha: float, targets: list[str]) -> None:
    """Wrap each layer named in ``targets`` with a LoRA adapter (in place)."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise ConfigError("the lora strategy needs the peft package",
                          "pip install -c constraints.txt 'gentransfer[lora]'") from None
    if not targets:
        raise ConfigError(f"{type(model).__name__} has no linear or convolution layers to adapt",
                          "choose another strategy")
    config: Any = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, bias="none")
    inject_adapter_in_model(config, model)
