"""The registry of models: ``MODELS.get("vae")`` is the LightningModule class for that name."""

import lightning.pytorch as pl

from benchmarks.registry import Registry

MODELS: Registry[type[pl.LightningModule]] = Registry("model", base=pl.LightningModule)
