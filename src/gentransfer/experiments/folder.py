"""A study's run folder: its resolved ``config.json`` and its ``results.csv``, resumed by the same command.

(The run folders of ``fit-source`` / ``fit-target`` are :class:`gentransfer.pipeline.RunFolder`.)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gentransfer.errors import ConfigError
from gentransfer.files import write_json

__all__ = ["default_run_dir", "open_run_dir"]


def default_run_dir(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def open_run_dir(path: str | os.PathLike[str], config: dict[str, Any], *, overwrite: bool = False,
                 defaults: dict[str, Any] | None = None) -> Path:
    """Create ``path`` and write ``config.json``; reopen it to resume if the config is the same.

    A key of ``config`` that the folder's config lacks (at any depth of nested settings) counts as
    the same when ``config`` holds its value from ``defaults`` there: a run written before a setting
    existed ran with its default, so adding a setting does not turn every old run folder into "a
    different config".

    Raises:
        ConfigError: the folder holds a run with a different config (and not ``overwrite``), or
            cannot be written.
    """
    if str(path).strip() == "":
        raise ConfigError("--out is empty (an unset shell variable?)", "pass the folder to write the run into")
    run = Path(path)
    cfg_path = run / "config.json"
    if cfg_path.is_file() and not overwrite:
        try:
            old = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        new = json.loads(json.dumps(config, default=str))
        if isinstance(old, dict):
            old = _with_new_defaults(old, new, json.loads(json.dumps(defaults or {}, default=str)))
        if new != old:
            raise ConfigError(f"{run} already holds a run with a different config",
                              "pass another --out, or --overwrite to replace it")
        return run
    if run.exists() and not run.is_dir():
        raise ConfigError(f"{run} exists and is not a folder", "pass another --out")
    try:
        run.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for stale in ("results.csv",):
                (run / stale).unlink(missing_ok=True)
        write_json(cfg_path, config)
    except OSError as err:
        raise ConfigError(f"cannot write to {run} ({err.strerror})", "pass a writable --out folder") from None
    return run


def _with_new_defaults(old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``old`` with each key it lacks that ``new`` holds at its value in ``defaults`` (recursively)."""
    filled = dict(old)
    for key, value in new.items():
        default = defaults.get(key)
        if key not in old:
            if key in defaults and default == value:
                filled[key] = value
        elif isinstance(old[key], dict) and isinstance(value, dict) and isinstance(default, dict):
            filled[key] = _with_new_defaults(old[key], value, default)
    return filled
