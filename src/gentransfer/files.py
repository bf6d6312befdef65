"""Files written whole or not at all: a temporary file beside the target, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "write_json"]


def _umask() -> int:
    """The process's umask (``os.umask`` can only read it by setting it, so it is set back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written.

    The file gets the mode a plain ``open`` would give it (``0o666`` less the umask), not the
    ``0o600`` of the temporary file it starts as.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
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
