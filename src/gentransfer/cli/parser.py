"""The parser every command shares: argparse's usage errors as one line, exit code 2."""

from __future__ import annotations

import argparse

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line (a flag's type, e.g.
    :func:`gentransfer.settings.parse_seed`, may name its own fix)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fix = "" if "; fix: " in message else f"; fix: see `{self.prog} --help`"
        self.exit(2, f"gentransfer: error: {message}{fix}\n")
