"""gentransfer: transfer learning for generative models under the shared embedding condition.

Tian & Shen, "Enhancing Accuracy in Generative Models via Knowledge Transfer", arXiv 2405.16837.

A source model is fitted on rich data; :func:`transfer` hands its shared part to a target model
under an explicit strategy; :func:`fit` trains what is left on the target data.
"""

from gentransfer.config import load_pretrained
from gentransfer.diffusion import DiffusionModel
from gentransfer.errors import CheckpointError, ConfigError, DataError, GentransferError
from gentransfer.families import FAMILIES
from gentransfer.flows import CouplingFlow
from gentransfer.latent import LatentModel, fit_latent
from gentransfer.nn import SharedEmbedding
from gentransfer.training import FitResult, TrainSettings, fit
from gentransfer.transfer import STRATEGIES, transfer
from gentransfer.transfer.plan import TransferPlan
from gentransfer.version import __version__  # noqa: E402 (the docstring first)

__all__ = [
    "FAMILIES",
    "STRATEGIES",
    "CheckpointError",
    "DiffusionModel",
    "CouplingFlow",
    "ConfigError",
    "DataError",
    "FitResult",
    "GentransferError",
    "LatentModel",
    "SharedEmbedding",
    "TrainSettings",
    "TransferPlan",
    "__version__",
    "fit",
    "fit_latent",
    "load_pretrained",
    "transfer",
]
