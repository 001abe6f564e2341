"""The registry of datasets: ``DATAMODULES.get("digits")`` is the DataModule class for that name.

Every dataset is listed here, explicitly; a test fails if a module of this package defines a concrete
DataModule that is missing from the list.
"""

from aebench_registry import Registry
from datamodules.base import InMemoryDataModule
from datamodules.digits import DigitsDataModule
from datamodules.dsprites import DSpritesDataModule
from datamodules.mnist5k import MNIST5kDataModule
from datamodules.tensor_file import TensorFileDataModule
from datamodules.torchvision_sets import (
    CelebADataModule,
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
)

DATAMODULES: Registry[type[InMemoryDataModule]] = Registry(
    "dataset", base=InMemoryDataModule, entry_points="aebench.datasets"
)
DATAMODULES.add("digits", DigitsDataModule)
DATAMODULES.add("dsprites", DSpritesDataModule)
DATAMODULES.add("mnist5k", MNIST5kDataModule)
DATAMODULES.add("mnist", MNISTDataModule)
DATAMODULES.add("fashion_mnist", FashionMNISTDataModule)
DATAMODULES.add("cifar10", CIFAR10DataModule)
DATAMODULES.add("celeba", CelebADataModule)
DATAMODULES.add("tensor_file", TensorFileDataModule)
