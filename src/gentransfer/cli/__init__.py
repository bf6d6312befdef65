"""The ``gentransfer`` command line.

One small module per command group, each handler calling the library. Every user error
surfaces as one line on stderr, ``gentransfer: error: <problem>; fix: <fix>``,
with exit code 2 and no traceback; so does a fault of the machine the files live on (a full or
read-only disk).
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from gentransfer import __version__
from gentransfer.cli.parser import Parser
from gentransfer.errors import GentransferError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from gentransfer.cli import data, demo, evaluate, fit, report, sample, studies

    parser = Parser(prog="gentransfer", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gentransfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (data, evaluate, studies, fit, sample, report, demo):
        module.register(sub)
    return parser


_DISK_FIXES = {errno.ENOSPC: "free disk space, or pass an --out on another disk",
               errno.EDQUOT: "free disk space (your quota is used up), or pass an --out on another disk",
               errno.EFBIG: "pass an --out on a file system that takes larger files",
               errno.EROFS: "pass an --out on a writable disk"}


def disk_error(err: OSError) -> GentransferError:
    """An operating system's error as the command's one line (the file and the system's words)."""
    where = f" {err.filename}" if err.filename else ""
    if err.errno in _DISK_FIXES:
        return GentransferError(f"cannot write{where} ({err.strerror})", _DISK_FIXES[err.errno])
    return GentransferError(f"cannot use{where} ({err.strerror or err})",
                            "check the path, its permissions and the disk")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except GentransferError as err:
        print(f"gentransfer: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"gentransfer: error: {disk_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gentransfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
