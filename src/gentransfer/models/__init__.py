"""Model base classes."""

from gentransfer.models.base import GenerativeModel, as_tensor

__all__ = ["GenerativeModel", "as_tensor"]
