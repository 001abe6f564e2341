"""The registry of datasets: ``DATAMODULES.get("digits")`` is the DataModule class for that name."""

import lightning.pytorch as pl

from benchmarks.registry import Registry

DATAMODULES: Registry[type[pl.LightningDataModule]] = Registry("dataset", base=pl.LightningDataModule)
