"""The output file of ``sample``, ``evaluate`` and ``report``, checked before any work is done."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gentransfer.errors import ConfigError

__all__ = ["check_out_file"]


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def check_out_file(out: str, *, overwrite: bool, suffixes: tuple[str, ...], example: str,
                   reads: Iterable[tuple[str, str | None]] = (), runs: Iterable[str] = ()) -> Path:
    """``--out``'s path: a file ending in one of ``suffixes``, new (or, with ``overwrite``, existing),
    in a writable folder, and none of the command's inputs.

    Args:
        out: the ``--out`` value.
        overwrite: an existing file may be replaced.
        suffixes: the endings the command writes (``example`` names one in the fix).
        example: an --out to suggest.
        reads: ``(flag, path)`` of each input file (``None``: not given); --out may not be one.
        runs: run folders the command reads; --out may not lie inside one (it could replace the
            run's own files, e.g. ``RUN/config.json``).
    """
    path = Path(out)
    endings = " or ".join(suffixes)
    if not out.endswith(suffixes):
        raise ConfigError(f"--out {out} must end in {endings}", f"pass e.g. --out {example}")
    if path.is_dir():
        raise ConfigError(f"--out {out} is a folder", f"pass a file name ending in {endings}")
    for flag, given in reads:
        if given and _same_file(path, Path(given)):
            raise ConfigError(f"--out {out} is the {flag} file it reads", f"pass another --out, e.g. --out {example}")
    for run in runs:
        if path.resolve().is_relative_to(Path(run).resolve()):
            raise ConfigError(f"--out {out} lies inside the run folder {run}, which it reads",
                              "pass an --out outside the run folder")
    if path.exists() and not overwrite:
        raise ConfigError(f"--out {out} already exists", "pass --overwrite to replace it")
    parent = path.absolute().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write {out}: {parent} is not a writable folder", "pass a writable path")
    return path


def recorded(run: str | Path | None) -> dict:
    """A run's recorded settings (its config.json), ``{}`` when unreadable: the command that reads the
    run says why. Read as JSON, so a command's column roles cost no model import."""
    import json

    try:
        config = json.loads((Path(run) / "config.json").read_text()) if run else {}
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}
