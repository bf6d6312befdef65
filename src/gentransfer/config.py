"""Models that carry their config, and save / load it without pickle.

A model records its constructor arguments (JSON primitives, or nested components recorded the
same way) in ``self.config``. ``save_pretrained(dir)`` writes ``config.json`` (class name,
gentransfer version, config) and ``model.safetensors``; :func:`load_pretrained` rebuilds the
model by class name from a registry and loads the weights. Nothing executes code from a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from gentransfer.errors import CheckpointError, ConfigError
from gentransfer.transfer.plan import SCRATCH_PLAN, TransferPlan

__all__ = [
    "ConfigMixin",
    "register",
    "REGISTRY",
    "component_config",
    "build_component",
    "load_pretrained",
    "atomic_write_bytes",
    "CONFIG_FORMAT",
    "check_fields",
    "check_value",
    "settings_from_dict",
    "type_name",
]

CONFIG_FORMAT = 2  # bump when a saved config can no longer be read by this code (2: the transfer plan)
REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make ``cls`` loadable by name from a saved config."""
    REGISTRY[cls.__name__] = cls
    return cls


def component_config(module: Any) -> dict[str, Any]:
    """``{"class": name, "config": {...}}`` for a nested component."""
    return {"class": type(module).__name__, "config": dict(module.config)}


def build_component(spec: dict[str, Any]) -> Any:
    """Rebuild a component from :func:`component_config` output."""
    name = spec.get("class") if isinstance(spec, dict) else None
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


def check_value(value: Any, kind: Any) -> bool:
    """Does ``value`` (a JSON / TOML primitive) have the annotated type ``kind``?

    Strict where coercion would hide a mistake: ``True`` is not an int, ``"0.01"`` is not a
    float, ``50.7`` is not an int; an int is a float; a float must be finite.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return True
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(check_value(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(check_value(v, args[0]) for v in value) if args else isinstance(
            value, list)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and check_value(v, args[1])
                                               for k, v in value.items()) if args else isinstance(value, dict)
    if kind is dict:
        return isinstance(value, dict)
    if kind is list:
        return isinstance(value, list)
    raise TypeError(f"check_value does not know the annotation {kind!r}")


def type_name(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if kind is type(None):
        return "none"
    if origin is not None:
        return str(kind).replace("typing.", "")
    return {"int": "an integer", "float": "a finite number", "bool": "true or false",
            "str": "a string"}.get(kind.__name__, kind.__name__)


def check_fields(settings: Any, where: str = "settings") -> None:
    """Check every field of the dataclass ``settings`` against its annotation (one-line errors)."""
    hints = typing.get_type_hints(type(settings))
    for f in fields(settings):
        value = getattr(settings, f.name)
        if not check_value(value, hints[f.name]):
            raise ConfigError(f"{where}: {f.name} = {value!r} is not {type_name(hints[f.name])}",
                              f"give {f.name} as {type_name(hints[f.name])}")


def settings_from_dict(cls: type, values: Any, where: str) -> Any:
    """Build the settings dataclass ``cls`` from a dict (a TOML table, a study's entry): an error
    for a non-table or an unknown key, then the class's own ``check(where)`` (types and ranges)."""
    names = [f.name for f in fields(cls)]
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings, got {values!r}", f"use keys from {names}")
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown {where} {unknown}", f"use only {sorted(names)}")
    settings = cls(**values)
    settings.check(where)
    return settings


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """``data`` as indented, key-sorted JSON in ``path``, written atomically."""
    p = Path(path)
    atomic_write_bytes(p, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
    return p


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
        from gentransfer import __version__

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


