"""gentransfer: transfer learning for generative models under the shared embedding condition.

Tian & Shen, "Enhancing Accuracy in Generative Models via Knowledge Transfer", arXiv 2405.16837.
"""

from gentransfer.errors import ConfigError, DataError, GentransferError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "GentransferError", "__version__"]
