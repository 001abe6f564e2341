"""The registry of models: ``MODELS.get("vae")`` is the LightningModule class for that name.

Every model is listed here, explicitly; a test fails if a module of this package defines a concrete
LightningModule that is missing from the list.
"""

import pytorch_lightning as pl

from aebench_registry import Registry
from lightning_modules.ae import AE
from lightning_modules.beta_tcvae import BetaTCVAE
from lightning_modules.beta_vae import BetaVAE
from lightning_modules.dae import DAE
from lightning_modules.factor_vae import FactorVAE
from lightning_modules.interface import interface_problem
from lightning_modules.iwae import IWAE
from lightning_modules.rae import RAE
from lightning_modules.vae import VAE
from lightning_modules.vq_vae import VQVAE
from lightning_modules.wae import WAE

MODELS: Registry[type[pl.LightningModule]] = Registry(
    "model", base=pl.LightningModule, entry_points="aebench.models", check=interface_problem
)
MODELS.add("ae", AE)
MODELS.add("vae", VAE)
MODELS.add("beta_vae", BetaVAE)
MODELS.add("iwae", IWAE)
MODELS.add("rae", RAE)
MODELS.add("wae", WAE)
MODELS.add("beta_tcvae", BetaTCVAE)
MODELS.add("factor_vae", FactorVAE)
MODELS.add("vq_vae", VQVAE)
MODELS.add("dae", DAE)
