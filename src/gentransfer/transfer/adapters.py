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

__all__ = ["adapter_targets", "add_adapters", "default_rank", "has_adapters", "is_adapter"]

_ADAPTED = (nn.Linear, nn.Conv2d)
MIN_RANK = 4
WIDTH_PER_RANK = 16


def adapter_targets(model: nn.Module, shared_part: str) -> list[str]:
    """Full names of the head's linear and convolution layers (never the shared part's)."""
    return [name for name, module in model.named_modules() if isinstance(module, _ADAPTED)
            and name != shared_part and not name.startswith(f"{shared_part}.")]


def default_rank(model: nn.Module, targets: list[str]) -> int:
    """The adapters' rank: the median width of the adapted layers (a layer's smaller side) over 16,
    at least 4. A fixed rank is a smaller share of a wide head than of a narrow one: rank 4 on a
    table diffusion's 256-wide MLP left its held-out loss above full fine-tuning's at a plateau.

    Example:
        >>> from torch import nn
        >>> default_rank(nn.Sequential(nn.Linear(256, 256), nn.Linear(256, 256)), ["0", "1"])
        16
    """
    layers = [model.get_submodule(name) for name in targets]
    widths = sorted(min(m.in_features, m.out_features) if isinstance(m, nn.Linear)
                    else min(m.in_channels, m.out_channels) for m in layers)
    median = widths[len(widths) // 2] if widths else 0
    return max(MIN_RANK, median // WIDTH_PER_RANK)


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
