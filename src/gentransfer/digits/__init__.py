"""MNIST -> USPS: the paper's real-data benchmark with a Diffusers UNet."""

from gentransfer.digits.study import DigitsStudy

__all__ = ["DigitsStudy"]
