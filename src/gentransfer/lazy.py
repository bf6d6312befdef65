"""Packages whose public names load on first use (PEP 562), so that ``gentransfer --help`` and a
mistyped flag answer without importing torch, diffusers, scipy or scikit-learn."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable

__all__ = ["lazy_exports"]


class _LazyPackage(types.ModuleType):
    """A package whose exported names win over its subpackages of the same name.

    Importing ``gentransfer.transfer.strategies`` binds the subpackage ``gentransfer.transfer`` on
    ``gentransfer``, which would hide the function ``gentransfer.transfer``; an eager ``__init__``
    re-bound the function after the import, a lazy one keeps the name free instead.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_lazy_exports", {}):
            return
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each name of ``exports`` is taken from
    the module it maps to when first asked for, then kept on the package.

    Example (a package's ``__init__``)::

        __getattr__, __dir__ = lazy_exports(__name__, {"fit": "gentransfer.training.loop"})
    """
    module = sys.modules[package]
    module._lazy_exports = exports
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(exports))

    return __getattr__, __dir__
