"""A usage error's fix: the flag or subcommand the user probably meant (difflib), and where to look."""

from __future__ import annotations

import argparse
import difflib
import re

__all__ = ["usage_fix"]

_UNKNOWN = re.compile(r"unrecognized arguments: (.*)")
_CHOICE = re.compile(r"invalid choice: '(.*?)' \(choose from (.*)\)")


def _closest(word: str, options: list[str]) -> str | None:
    """The closest option, compared without leading dashes (every flag shares them, which would make
    --bogus look like --bounds)."""
    names = {o.lstrip("-"): o for o in options}
    matches = difflib.get_close_matches(word.lstrip("-"), list(names), n=1, cutoff=0.6)
    return names[matches[0]] if matches else None


def usage_fix(parser: argparse.ArgumentParser, message: str) -> str:
    """``did you mean --xyz? see `gentransfer CMD --help``` for an unknown flag or a misspelt choice
    (a subcommand, --metric kl); only the pointer to the help when nothing is close."""
    see = f"see `{parser.prog} --help`"
    guess = None
    unknown = _UNKNOWN.search(message)
    if unknown:
        flags = [w.split("=", 1)[0] for w in unknown.group(1).split() if w.startswith("--")]
        options = [o for o in parser._option_string_actions if o.startswith("--")]
        guess = next((g for g in (_closest(f, options) for f in flags) if g), None)
    choice = _CHOICE.search(message)
    if choice:
        guess = _closest(choice.group(1), re.findall(r"'(.*?)'", choice.group(2)))
    return f"did you mean {guess}? {see}" if guess else see
