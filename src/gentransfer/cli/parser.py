"""The parser every command shares: argparse's usage errors as one line, exit code 2."""

from __future__ import annotations

import argparse

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"gentransfer: error: {message}; fix: see `{self.prog} --help`\n")
