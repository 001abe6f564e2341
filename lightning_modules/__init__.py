"""The models: one base LightningModule with the shared steps; AE, VAE, β-VAE, β-TCVAE, FactorVAE, IWAE, RAE, WAE, VQ-VAE and DAE on it; ``MODELS`` names them."""

from lightning_modules.base import AutoencoderModule
from lightning_modules.interface import INTERFACE, LatentModel, Prior, missing_interface
from lightning_modules.posterior import Posterior
from lightning_modules.priors import StandardNormal
from lightning_modules.registry import MODELS

__all__ = [
    "INTERFACE",
    "MODELS",
    "AutoencoderModule",
    "LatentModel",
    "Posterior",
    "Prior",
    "StandardNormal",
    "missing_interface",
]
