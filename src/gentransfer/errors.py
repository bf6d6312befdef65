"""The project's own exception types.

Every error a user can cause carries the problem *and* the fix in one line, so the CLI can
print it as is (no traceback) and a Python caller can still catch it as a ``ValueError``.
"""

from __future__ import annotations

__all__ = ["GentransferError", "DataError", "ConfigError", "CheckpointError"]


class GentransferError(ValueError):
    """Base class: ``str(err)`` is one line, ``"<problem>; fix: <fix>"``."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = " ".join(str(problem).split())
        self.fix = " ".join(str(fix).split())
        super().__init__(f"{self.problem}; fix: {self.fix}")


class DataError(GentransferError):
    """A data file is missing, corrupt, of the wrong layout, or holds invalid values."""


class ConfigError(GentransferError):
    """An argument, option or configuration value is invalid."""


class CheckpointError(GentransferError):
    """A saved model or checkpoint cannot be read back."""
