"""One LightningDataModule per dataset, shared by every model. Importing this package registers them all."""

from datamodules import digits, dsprites, torchvision_sets  # noqa: F401  (each module registers its DataModules)
from datamodules.base import InMemoryDataModule, Split, TensorBatches
from datamodules.registry import DATAMODULES

__all__ = ["DATAMODULES", "InMemoryDataModule", "Split", "TensorBatches"]
