"""Where datasets live: ``$GENTRANSFER_DATA``, else ``~/.cache/gentransfer``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "DATA_ENV"]

DATA_ENV = "GENTRANSFER_DATA"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root.

    Args:
        root: an explicit folder; wins over the environment.

    Returns:
        ``root`` if given, else ``$GENTRANSFER_DATA`` if set, else ``~/.cache/gentransfer``.
        The folder is expected to hold ``mnist/`` and ``usps/`` sub-folders.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gentransfer"
