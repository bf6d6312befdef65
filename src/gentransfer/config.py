"""Models that carry their config, and save / load it without pickle.

A model records its constructor arguments (JSON primitives, or nested components recorded the
same way) in ``self.config`` (:func:`register_to_config`). ``save_pretrained(dir)`` writes ``config.json`` (class name,
gentransfer version, config) and ``model.safetensors``; :func:`load_pretrained` rebuilds the
model by class name from a registry and loads the weights. Nothing executes code from a file.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from gentransfer.errors import CheckpointError
from gentransfer.files import atomic_write_bytes
from gentransfer.transfer.plan import SCRATCH_PLAN, TransferPlan

__all__ = [
    "ConfigMixin",
    "register",
    "register_to_config",
    "REGISTRY",
    "component_config",
    "build_component",
    "load_pretrained",
    "CONFIG_FORMAT",
]

CONFIG_FORMAT = 2  # bump when a saved config can no longer be read by this code (2: the transfer plan)
REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make ``cls`` loadable by name from a saved config."""
    REGISTRY[cls.__name__] = cls
    return cls


def register_to_config(init):
    """Decorator of a model's ``__init__`` (diffusers' ``@register_to_config``): once it has run,
    ``self.config`` holds every constructor argument, so that ``type(self)(**self.config)`` rebuilds
    the model and no class writes its argument list twice.

    An argument is recorded as the model resolved it: the instance's attribute of the same name
    where it has one (a default filled in, a module built from a spec), a module as its component
    config, an object with ``to_dict`` (a schedule) as that dict. Arguments a recorded component
    already carries (a network's width beside the network) are named in the class's
    ``ignore_for_config``.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        ignore = getattr(type(self), "ignore_for_config", ())
        self.config = {name: _config_value(getattr(self, name, value))
                       for name, value in list(bound.arguments.items())[1:] if name not in ignore}

    return wrapper


def _config_value(value: Any) -> Any:
    if hasattr(value, "config") and hasattr(value, "state_dict"):  # a component module
        return component_config(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def component_config(module: Any) -> dict[str, Any]:
    """``{"class": name, "config": {...}}`` for a nested component."""
    return {"class": type(module).__name__, "config": dict(module.config)}


def _import_model_classes() -> None:
    """Register every model class: ``import gentransfer`` no longer imports them (it is lazy), and a
    saved config names its classes without importing them."""
    import gentransfer.diffusion
    import gentransfer.flows
    import gentransfer.latent
    import gentransfer.nn  # noqa: F401


def build_component(spec: dict[str, Any]) -> Any:
    """Rebuild a component from :func:`component_config` output."""
    name = spec.get("class") if isinstance(spec, dict) else None
    if name not in REGISTRY:
        _import_model_classes()
    if name not in REGISTRY:
        raise CheckpointError(
            f"unknown component class {name!r} in a saved config",
            f"use a config written by gentransfer (known classes: {sorted(REGISTRY)})",
        )
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise CheckpointError(f"the saved config of {name} is not a JSON object", "re-save the model")
    try:
        return REGISTRY[name].from_config(config)
    except TypeError as err:  # an unknown or missing constructor argument
        raise CheckpointError(f"the saved config of {name} does not fit its constructor ({err})",
                              "re-save the model with this version of gentransfer") from None


class ConfigMixin:
    """Mixin for ``torch.nn.Module`` subclasses whose ``config`` rebuilds them."""

    config: dict[str, Any]
    transfer_plan: TransferPlan = SCRATCH_PLAN  # gentransfer.transfer sets a target's own

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` (class, config, transfer plan) and ``model.safetensors`` into
        ``directory`` (atomically each)."""
        from gentransfer.version import __version__

        out = Path(directory)
        meta = {"class": type(self).__name__, "format": CONFIG_FORMAT,
                "gentransfer_version": __version__, "config": self.config,
                "transfer_plan": self.transfer_plan.to_dict()}
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        atomic_write_bytes(out / "model.safetensors", safetensors_bytes(state))
        atomic_write_bytes(out / "config.json", json.dumps(meta, indent=2).encode())
        return out


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / "config.json"
    fix = "point to a folder written by save_pretrained / gentransfer fit-source"
    if not path.is_file():
        raise CheckpointError(f"no config.json in {directory}", fix)
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})", fix) from None
    if not isinstance(meta, dict) or "class" not in meta or "config" not in meta:
        raise CheckpointError(f"{path} lacks the 'class' / 'config' entries", fix)
    if meta.get("format") != CONFIG_FORMAT:
        raise CheckpointError(
            f"{path} has config format {meta.get('format')!r}, this gentransfer reads {CONFIG_FORMAT}",
            "re-create the model with this version of gentransfer",
        )
    return meta


def load_pretrained(directory: str | os.PathLike[str]):
    """Rebuild a model saved with ``save_pretrained``: config by class name, safetensors weights,
    and its transfer plan re-applied (a frozen shared part stays frozen)."""
    meta = read_config(directory)
    model = build_component(meta)
    plan = TransferPlan.from_dict(meta.get("transfer_plan"), f"{Path(directory) / 'config.json'}")
    try:
        plan.apply(model)  # before the weights: adapters are part of the saved state
    except (AttributeError, ValueError) as err:
        raise CheckpointError(f"the transfer plan in {directory} does not fit {type(model).__name__} ({err})",
                              "re-save the model") from None
    weights = Path(directory) / "model.safetensors"
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"cannot read weights {weights} ({err})", "re-save or re-train the model") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        msg = str(err).splitlines()[0]
        raise CheckpointError(f"{weights} does not fit its config ({msg})", "re-save the model") from None
    model.transfer_plan = plan
    return model


