"""The models: one base LightningModule with the shared steps, AE / VAE / β-VAE on it. Importing registers them."""

from lightning_modules import ae, beta_vae, vae  # noqa: F401  (each module registers its model)
from lightning_modules.base import AutoencoderModule
from lightning_modules.posterior import Posterior
from lightning_modules.registry import MODELS

__all__ = ["MODELS", "AutoencoderModule", "Posterior"]
