"""MNIST -> USPS: the paper's real-data benchmark with a Diffusers UNet."""

from gentransfer.lazy import lazy_exports

__all__ = ["DigitsStudy"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "DigitsStudy": "gentransfer.digits.study",
})
