"""gentransfer: transfer learning for generative models under the shared embedding condition.

Tian & Shen, "Enhancing Accuracy in Generative Models via Knowledge Transfer", arXiv 2405.16837.

A source model is fitted on rich data; :func:`transfer` hands its shared part to a target model
under an explicit strategy; :func:`fit` trains what is left on the target data.

The names below load on first use (:mod:`gentransfer.lazy`): ``import gentransfer`` and the
command line's help stay free of torch.
"""

from gentransfer.lazy import lazy_exports
from gentransfer.version import __version__

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

__getattr__, __dir__ = lazy_exports(__name__, {
    "FAMILIES": "gentransfer.families",
    "STRATEGIES": "gentransfer.transfer",
    "CheckpointError": "gentransfer.errors",
    "DiffusionModel": "gentransfer.diffusion",
    "CouplingFlow": "gentransfer.flows",
    "ConfigError": "gentransfer.errors",
    "DataError": "gentransfer.errors",
    "FitResult": "gentransfer.training",
    "GentransferError": "gentransfer.errors",
    "LatentModel": "gentransfer.latent",
    "SharedEmbedding": "gentransfer.nn",
    "TrainSettings": "gentransfer.training",
    "TransferPlan": "gentransfer.transfer.plan",
    "fit": "gentransfer.training",
    "fit_latent": "gentransfer.latent",
    "load_pretrained": "gentransfer.config",
    "transfer": "gentransfer.transfer",
})
