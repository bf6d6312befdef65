"""Models that carry their config, and save / load it without pickle.

A model records its constructor arguments (JSON primitives, or nested components recorded the
same way) in ``self.config``. ``save_pretrained(dir)`` writes ``config.json`` (class name,
gentransfer version, config) and ``model.safetensors``; :func:`load_pretrained` rebuilds the
model by class name from a registry and loads the weights. Nothing executes code from a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from gentransfer.errors import CheckpointError

__all__ = [
    "ConfigMixin",
    "register",
    "REGISTRY",
    "component_config",
    "build_component",
    "load_pretrained",
    "atomic_write_bytes",
    "CONFIG_FORMAT",
]

CONFIG_FORMAT = 1  # bump when a saved config can no longer be read by this code
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
    return REGISTRY[name].from_config(spec.get("config", {}))


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


class ConfigMixin:
    """Mixin for ``torch.nn.Module`` subclasses whose ``config`` rebuilds them."""

    config: dict[str, Any]

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (atomically each)."""
        from gentransfer import __version__

        out = Path(directory)
        meta = {"class": type(self).__name__, "format": CONFIG_FORMAT,
                "gentransfer_version": __version__, "config": self.config}
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
    """Rebuild a model saved with ``save_pretrained`` (config by class name, safetensors weights)."""
    meta = read_config(directory)
    model = build_component(meta)
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
    return model


