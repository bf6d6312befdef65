"""Settings from one source: the dataclasses give the CLI flags, the TOML keys and their checks.

Every flag of a command that trains or runs a study is a field of a settings dataclass
(:class:`~gentransfer.training.TrainSettings`, :class:`~gentransfer.workflow.ModelSettings`, a
study, ...): its name (``batch_size`` -> ``--batch-size``), its type (which parses and checks
the value; a field's ``metadata["parse"]``, e.g. :func:`parse_seed`, replaces it on the command
line) and its help text (the ``Attributes:`` entry of the class docstring). A TOML file
passed with ``--config`` sets the same keys; flags given on the command line win. Tables
(``dict`` fields, e.g. a study's training settings) are set in TOML only.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, fields
from typing import Any

from gentransfer.errors import ConfigError

__all__ = ["CONFIG_VERSION", "MAX_SEED", "field_docs", "add_flags", "read_toml", "resolve", "check_value",
           "check_fields", "settings_from_dict", "type_name", "parse_seed"]

CONFIG_VERSION = 1  # the `gentransfer_config` key of a TOML file
MAX_SEED = 2**62  # a seed plus the small offsets the code adds to it stays a valid torch seed (< 2^64)


def parse_seed(text: str) -> int:
    """A ``--seed`` flag: an integer in 0..2^62, the one seed type of every command.

    Used as an argparse ``type``; its error message carries its own fix, so the command prints one
    line (``gentransfer: error: argument --seed: seed must be >= 0, got -5; fix: ...``).

    Example:
        >>> parse_seed("7")
        7
    """
    fix = "fix: pass a seed in 0..2^62, e.g. --seed 0"
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"seed must be an integer in 0..2^62, got {text!r}; {fix}")
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be >= 0, got {value}; {fix}")
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be at most 2^62, got {value}; {fix}")
    return value


def check_value(value: Any, kind: Any) -> bool:
    """Does ``value`` (a JSON / TOML primitive) have the annotated type ``kind``?

    Strict where coercion would hide a mistake: ``True`` is not an int, ``"0.01"`` is not a
    float, ``50.7`` is not an int; an int is a float; a float must be finite.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return True
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(check_value(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(check_value(v, args[0]) for v in value) if args else isinstance(
            value, list)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and check_value(v, args[1])
                                               for k, v in value.items()) if args else isinstance(value, dict)
    if kind is dict:
        return isinstance(value, dict)
    if kind is list:
        return isinstance(value, list)
    raise TypeError(f"check_value does not know the annotation {kind!r}")


def type_name(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if kind is type(None):
        return "none"
    if origin is not None:
        return str(kind).replace("typing.", "")
    return {"int": "an integer", "float": "a finite number", "bool": "true or false",
            "str": "a string"}.get(kind.__name__, kind.__name__)


def check_fields(settings: Any, where: str = "settings") -> None:
    """Check every field of the dataclass ``settings`` against its annotation (one-line errors)."""
    hints = typing.get_type_hints(type(settings))
    for f in fields(settings):
        value = getattr(settings, f.name)
        if not check_value(value, hints[f.name]):
            raise ConfigError(f"{where}: {f.name} = {value!r} is not {type_name(hints[f.name])}",
                              f"give {f.name} as {type_name(hints[f.name])}")


def settings_from_dict(cls: type, values: Any, where: str) -> Any:
    """Build the settings dataclass ``cls`` from a dict (a TOML table, a study's entry): an error
    for a non-table or an unknown key, then the class's own ``check(where)`` (types and ranges)."""
    names = [f.name for f in fields(cls)]
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings, got {values!r}", f"use keys from {names}")
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown {where} {unknown}", f"use only {sorted(names)}")
    settings = cls(**values)
    settings.check(where)
    return settings


def field_docs(cls: type) -> dict[str, str]:
    """``name -> help`` from the ``Attributes:`` section of ``cls``'s docstring."""
    doc = cls.__doc__ or ""
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+(?:, \w+)*): (.*)$", line)
        if match:  # "name: text" or "a, b: text"; deeper-indented lines continue it
            names = match.group(1).split(", ")
            docs.update(dict.fromkeys(names, match.group(2)))
        elif names and line.strip():
            docs.update({n: f"{docs[n]} {line.strip()}" for n in names})
    return docs


def _unwrap(kind: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def _list_of(convert):
    """A comma-separated list (a name may hold spaces); an empty item is an error, not skipped."""
    def parse(text: str) -> list:
        items = [v.strip() for v in text.split(",")]
        if any(not v for v in items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list without empty items, got {text!r}")
        try:
            return [convert(v) for v in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None
    return parse


def _flag_kwargs(kind: Any) -> dict[str, Any] | None:
    kind = _unwrap(kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:  # --x and --no-x: a switch on by default (or by --config) can be turned off
        return {"action": argparse.BooleanOptionalAction}
    if kind in (int, float, str):
        return {"type": kind}
    if origin is typing.Literal:
        return {"choices": list(args)}
    if origin is list and args and args[0] in (int, float, str):
        return {"type": _list_of(args[0])}
    if origin is list and args and typing.get_origin(args[0]) is typing.Literal:
        return {"type": _list_of(str)}
    return None  # a table: TOML only


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, skip: Iterable[str] = (),
              only: Iterable[str] | None = None, sized: Iterable[str] = ()) -> None:
    """One ``--flag`` per field of ``cls`` (default ``None``: only what the user gives is set).

    Args:
        parser: the parser, or one of its argument groups (a command's help lists flags by group).
        skip: fields without a flag.
        only: the fields to declare here (unset: all); the others go into another group.
        sized: fields whose default the command sizes from the data; their help says so.
    """
    docs, hints = field_docs(cls), typing.get_type_hints(cls)
    only, sized = (None if only is None else set(only)), set(sized)
    for f in fields(cls):
        kwargs = {"type": f.metadata["parse"]} if "parse" in f.metadata else _flag_kwargs(hints[f.name])
        if f.name in skip or kwargs is None or (only is not None and f.name not in only):
            continue
        default = f.default if f.default is not MISSING else None
        text = docs.get(f.name, f.name.replace("_", " "))
        if f.name in sized:
            text += " (default: sized from the data)"
        elif default not in (None, False):
            text += f" (default {default})"
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, help=text, **kwargs)


def read_toml(path: str) -> dict[str, Any]:
    """A TOML config file as a dict; unreadable, binary or invalid files are one-line errors."""
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except OSError as err:
        raise ConfigError(f"cannot read config {path} ({err.strerror})", "check the path") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML ({err})", "fix the file") from None
    version = values.pop("gentransfer_config", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise ConfigError(f"{path} is config version {version!r}, this gentransfer reads {CONFIG_VERSION}",
                          f"set gentransfer_config = {CONFIG_VERSION} and check the keys")
    return values


def resolve(args: argparse.Namespace, sections: Iterable[type]) -> dict[type, dict[str, Any]]:
    """The settings of each dataclass in ``sections``: the ``--config`` TOML file first, then the
    flags given. Every key must belong to one section, and every value must have its field's type."""
    sections = list(sections)
    values: dict[str, Any] = read_toml(args.config) if getattr(args, "config", None) else {}
    owner = {f.name: cls for cls in sections for f in fields(cls)}
    unknown = sorted(set(values) - set(owner))
    if unknown:
        raise ConfigError(f"{args.config} has unknown keys {unknown}", f"use only {sorted(owner)}")
    where = f"{args.config}" if getattr(args, "config", None) else "settings"
    for key, value in values.items():
        kind = typing.get_type_hints(owner[key])[key]
        if not check_value(value, kind):
            raise ConfigError(f"{where}: {key} = {value!r} is not {type_name(kind)}",
                              f"give {key} as {type_name(kind)}")
    for key in owner:
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    return {cls: {k: v for k, v in values.items() if owner[k] is cls} for cls in sections}

