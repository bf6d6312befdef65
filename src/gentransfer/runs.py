"""Run directories: every run writes its resolved config, metrics and outputs into its own folder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gentransfer.config import atomic_write_bytes
from gentransfer.errors import ConfigError

__all__ = ["default_run_dir", "open_run_dir", "write_json"]


def default_run_dir(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    p = Path(path)
    atomic_write_bytes(p, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
    return p


def open_run_dir(path: str | os.PathLike[str], config: dict[str, Any], *, overwrite: bool = False) -> Path:
    """Create ``path`` and write ``config.json``; reopen it to resume if the config is the same.

    Raises:
        ConfigError: the folder holds a run with a different config (and not ``overwrite``), or
            cannot be written.
    """
    run = Path(path)
    cfg_path = run / "config.json"
    if cfg_path.is_file() and not overwrite:
        try:
            old = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if json.loads(json.dumps(config, default=str)) != old:
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
