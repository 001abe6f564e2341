"""One LightningDataModule per dataset, shared by every model; ``DATAMODULES`` names them all."""

from datamodules.base import InMemoryDataModule, Split, TensorBatches, seeded_permutation
from datamodules.registry import DATAMODULES

__all__ = ["DATAMODULES", "InMemoryDataModule", "Split", "TensorBatches", "seeded_permutation"]
