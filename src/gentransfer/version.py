"""The package's version (its own module, so that lower modules need not import the package)."""

__version__ = "0.1.0"
