"""Run directories: every run writes its resolved config, metrics and outputs into its own folder.

A run of ``fit-source`` / ``fit-target`` is a transaction (:func:`run_transaction`): everything
is validated before the disk is touched, the run is built in a hidden sibling folder
``.<name>.partial`` (where a killed run's checkpoints wait for ``--resume``), and only a
finished run is moved into place, replacing an old one under ``--overwrite`` in two renames.
A lock file beside the folder keeps two runs out of one ``--out``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gentransfer.config import atomic_write_bytes
from gentransfer.errors import ConfigError, GentransferError

__all__ = ["default_run_dir", "open_run_dir", "write_json", "check_out", "run_transaction", "is_run_folder",
           "staging_folder"]

RUN_MARKER = "config.json"  # a finished run folder holds its config (and model/, metrics.json, ...)


def default_run_dir(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    p = Path(path)
    atomic_write_bytes(p, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
    return p


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


def is_run_folder(path: Path) -> bool:
    """Does ``path`` hold a finished fit-source / fit-target run (its config names a role)?"""
    try:
        return isinstance(json.loads((path / RUN_MARKER).read_text()).get("role"), str)
    except (OSError, ValueError, AttributeError):
        return False


def staging_folder(final: Path) -> Path:
    """Where a run into ``final`` is built, and where a killed one waits for ``--resume``."""
    return final.parent / f".{final.name}.partial"


def check_out(out: str | os.PathLike[str] | None, *, overwrite: bool, resume: bool) -> Path:
    """Validate a run's ``--out`` without touching the disk; returns it as an absolute path.

    ``--overwrite`` replaces only a finished run (never the current folder, or one that holds
    other files); ``--resume`` continues only a killed run (its ``.<name>.partial`` sibling).
    """
    if out is None or str(out).strip() == "":
        raise ConfigError("--out is empty (an unset shell variable?)", "pass the folder to write the run into")
    final = Path(out).expanduser().absolute()
    cwd = Path.cwd().absolute()
    if final == cwd or final in cwd.parents or final == Path(final.anchor):
        raise ConfigError(f"--out {out} is the current folder or one of its parents",
                          "pass a new folder for the run, e.g. --out my-run")
    if final.exists() and not final.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder", "pass a folder path")
    occupied = final.is_dir() and any(final.iterdir())
    if occupied and not is_run_folder(final):
        raise ConfigError(f"--out {out} holds files that are not a gentransfer run",
                          "pass a new folder (--overwrite replaces only a finished run)")
    partial = staging_folder(final)
    if partial.is_dir() and _is_locked(partial):
        raise ConfigError(f"another gentransfer run is writing to {out}",
                          "wait for it to finish, or pass another --out")
    if resume:
        if not partial.is_dir():
            state = "is a finished run" if occupied else "has no unfinished run"
            raise ConfigError(f"--out {out} {state}: nothing to resume",
                              "drop --resume (with --overwrite to fit it again), or pass the --out of a killed run")
        if overwrite:
            raise ConfigError("--resume and --overwrite contradict each other", "pass one of them")
    elif occupied and not overwrite:
        raise ConfigError(f"--out {out} already exists", "pass --overwrite to replace it, or another --out")
    elif partial.is_dir() and not overwrite:
        raise ConfigError(f"a killed run of --out {out} waits in {partial}",
                          "pass --resume to continue it, or --overwrite to start afresh")
    ancestor = final.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise ConfigError(f"cannot write to --out {out}: {ancestor} is not a writable folder",
                          "pass a --out inside a writable folder")
    return final


def _lock(folder: Path) -> int:
    """Hold an exclusive lock on ``folder`` (released when the returned descriptor is closed)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES):
            raise ConfigError(f"another gentransfer run is writing to {folder}",
                              "wait for it to finish, or pass another --out") from None
        raise
    return fd


def _is_locked(folder: Path) -> bool:
    try:
        os.close(_lock(folder))
    except ConfigError:
        return True
    except OSError:
        return False
    return False


@contextmanager
def run_transaction(final: Path, *, overwrite: bool, resume: bool) -> Iterator[Path]:
    """Build a run in its staging folder and move it to ``final`` only when it finished.

    Yields the staging folder (``.<name>.partial`` beside ``final``; a resumed run's checkpoints
    are there), locked against other runs for the whole transaction. On success it replaces
    ``final``; on a one-line error the staging folder of a fresh run is removed; after a kill it
    stays, for ``--resume``.
    """
    staging = staging_folder(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(exist_ok=True)
    fd = _lock(staging)
    try:
        if is_run_folder(final) and not (overwrite or resume):  # finished by another run since check_out
            raise ConfigError(f"--out {final} already exists", "pass --overwrite to replace it, or another --out")
        if not resume:  # a killed run the user chose to start afresh
            for child in staging.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        try:
            yield staging
        except GentransferError:
            if not resume:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        old = final.parent / f".{final.name}.replaced"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(fd)
