"""The parser every command shares: argparse's usage errors as one line, exit code 2, with the
flag or subcommand the user probably meant."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gentransfer.cli.suggest import usage_fix

__all__ = ["Parser"]

# flags whose value may start with "-" (a range "-1:1"), which argparse would take for a flag
NEGATIVE_VALUES = ("--bounds",)
_USED = "_gentransfer_parser"  # the innermost (sub)parser that read the command line


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line (a flag's type, e.g.
    :func:`gentransfer.settings.parse_seed`, may name its own fix)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fix = "" if "; fix: " in message else f"; fix: {usage_fix(self, message)}"
        self.exit(2, f"gentransfer: error: {message}{fix}\n")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse; remembers the innermost subcommand's parser, whose flags an unknown one is
        matched against (argparse reports it from the top-level parser)."""
        namespace, extras = super().parse_known_args(args, namespace)
        if not hasattr(namespace, _USED):
            setattr(namespace, _USED, self)
        return namespace, extras

    def parse_args(self, args: Sequence[str] | None = None, namespace=None):  # type: ignore[override]
        """As argparse, but ``--bounds -1:1`` reads as ``--bounds=-1:1``, and an unknown flag is
        reported by the subcommand it was given to."""
        import sys

        argv = list(sys.argv[1:] if args is None else args)
        merged: list[str] = []
        i = 0
        while i < len(argv):
            if argv[i] in NEGATIVE_VALUES and i + 1 < len(argv) and argv[i + 1].startswith("-"):
                merged.append(f"{argv[i]}={argv[i + 1]}")
                i += 2
                continue
            merged.append(argv[i])
            i += 1
        parsed, extras = self.parse_known_args(merged, namespace)
        used = getattr(parsed, _USED, self)
        delattr(parsed, _USED)
        if extras:
            used.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed
