"""Model base classes."""

from gentransfer.models.base import ConditionalModel, as_tensor

__all__ = ["ConditionalModel", "as_tensor"]
