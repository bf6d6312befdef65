"""Unconditional transfer through a shared latent variable ``U``."""

from gentransfer.latent.autoencoder import AutoEncoder
from gentransfer.latent.exact import FlowLatentModel
from gentransfer.latent.fitting import fit_latent
from gentransfer.latent.model import LatentModel

__all__ = ["AutoEncoder", "FlowLatentModel", "LatentModel", "fit_latent"]
