"""One progress convention for every long command: ``--progress / --no-progress``, on by default
when stderr is a terminal (a person watching) and off otherwise (a log file, a CI job, a pipe)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_progress_flag", "wants_progress"]

HELP = "show progress bars on stderr (default: on when stderr is a terminal)"


def add_progress_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--progress`` / ``--no-progress`` into ``args.progress`` (unset: ``None``, see :func:`wants_progress`)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help=HELP)


def wants_progress(given: bool | None) -> bool:
    """The flag's value, or unset, whether stderr is a terminal."""
    return sys.stderr.isatty() if given is None else given
