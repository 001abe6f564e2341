"""MNIST, Fashion-MNIST, CIFAR-10 and CelebA through ``torchvision.datasets``, held in memory as float tensors.

The files live where torchvision keeps them under ``root`` (``<root>/MNIST/raw/``, ``<root>/FashionMNIST/raw/``,
``<root>/cifar-10-batches-py/``, ``<root>/celeba/``). Nothing is fetched unless ``download`` is set; missing files,
or a download that fails, raise :class:`DatasetNotFoundError` naming the dataset and where its files go.

Splits are drawn with ``split_seed`` (fixed across training seeds, so every run is scored on the same test images):
val is a ``val_fraction`` of the official train split (CelebA: its official valid split), and ``n_train`` /
``n_test`` take seeded subsets of train and test for quick runs. Val does not depend on ``n_train``. ``n_train``
limits what is read from the files (CelebA decodes only those images); ``train_size`` (every dataset's option, see
:class:`~datamodules.base.InMemoryDataModule`) then draws a stratified subset of what was read.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor
from torchvision import datasets, transforms
from torchvision.datasets import VisionDataset

from datamodules.base import Binarize, InMemoryDataModule, Split, seeded_permutation


#: what :meth:`TorchvisionDataModule._validation` returns: the seeded order of the train samples left for
#: training, and the validation split as (dataset, indices)
_TrainVal = tuple[Tensor, tuple[VisionDataset, Tensor]]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not under ``root`` and were not (or could not be) downloaded."""


def _first(order: Tensor, n: int | None, name: str) -> Tensor:
    """The first ``n`` indices of a seeded order (all when ``None``), sorted so samples keep the files' order."""
    if n is not None and n > len(order):
        raise ValueError(f"{name}={n}, but only {len(order)} samples are available")
    return order[:n].sort().values


class TorchvisionDataModule(InMemoryDataModule):
    """Shared base: opens one torchvision dataset per official split, picks seeded subsets, converts them.

    A subclass names where torchvision expects the files (for the error message) and implements three hooks:
    :meth:`_construct` (the torchvision dataset of one split), :meth:`_validation` and :meth:`_to_split`.
    """

    folder: ClassVar[str]  # torchvision's directory under root
    files: ClassVar[tuple[str, ...]]  # what has to be in it

    @property
    @abstractmethod
    def dataset_cls(self) -> type[VisionDataset]:
        """The torchvision dataset class (a subclass sets it as a class attribute)."""

    def __init__(
        self,
        *,
        root: str = "data",
        download: bool = False,
        n_train: int | None = None,
        n_test: int | None = None,
        binarize: Binarize = "none",
        held_out_class: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, split_seed=split_seed, seed=seed, binarize=binarize,
                         held_out_class=held_out_class, train_size=train_size)  # fmt: skip
        self.root = root
        self.download = download
        self.n_train = n_train
        self.n_test = n_test

    @abstractmethod
    def _construct(self, split: str) -> VisionDataset:
        """The torchvision dataset of one official split."""

    @abstractmethod
    def _validation(self, train_set: VisionDataset) -> _TrainVal:
        """The seeded order of the train samples left for training, and the validation split."""

    @abstractmethod
    def _to_split(self, dataset: VisionDataset, idx: Tensor) -> Split:
        """The samples ``idx`` of ``dataset`` as an in-memory :class:`Split`."""

    def _open(self, split: str) -> VisionDataset:
        """The torchvision dataset of ``split`` ("train", "valid" or "test"); missing files become a clear error."""
        try:
            return self._construct(split)
        except (RuntimeError, OSError) as err:  # torchvision's "Dataset not found", or a failed download
            name, where = self.dataset_cls.__name__, Path(self.root).resolve() / self.folder
            expected = f"expected {', '.join(self.files)} in {where}"
            if self.download:
                raise DatasetNotFoundError(f"{name}: download failed ({err}); {expected}, place them there") from err
            raise DatasetNotFoundError(
                f"{name} not found: {expected}. Set `download: true` in the dataset config or place the files there"
                f" (torchvision: {err})"
            ) from err

    def _permutation(self, n: int) -> Tensor:
        return seeded_permutation(n, self.split_seed)

    def missing_files(self) -> str | None:
        """Opening the official splits finds missing files; with ``download`` they are fetched at setup instead."""
        if self.download:
            return None
        try:
            self._open("train")
            self._open("test")
        except DatasetNotFoundError as err:
            return str(err)
        return None

    def prepare_data(self) -> None:
        """Download once per node (Lightning calls this before ``setup`` on every rank) when ``download`` is set."""
        if self.download:
            self._open("train")

    def load_splits(self) -> tuple[Split, Split, Split]:
        train_set, test_set = self._open("train"), self._open("test")
        train_order, (val_set, val_idx) = self._validation(train_set)
        return (
            self._to_split(train_set, _first(train_order, self.n_train, "n_train")),
            self._to_split(val_set, val_idx),
            self._to_split(test_set, _first(self._permutation(len(test_set)), self.n_test, "n_test")),
        )


class ArrayDataModule(TorchvisionDataModule):
    """Datasets whose torchvision class holds all pixels in ``.data`` (uint8) and labels in ``.targets``.

    Val is a seeded ``val_fraction`` of the official train split; conversion is one vectorised op per split.
    """

    def __init__(
        self,
        *,
        root: str = "data",
        download: bool = False,
        val_fraction: float = 0.1,
        n_train: int | None = None,
        n_test: int | None = None,
        binarize: Binarize = "none",
        held_out_class: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(root=root, download=download, n_train=n_train, n_test=n_test, binarize=binarize,
                         held_out_class=held_out_class, train_size=train_size, batch_size=batch_size,
                         split_seed=split_seed, seed=seed)  # fmt: skip
        self.val_fraction = val_fraction

    def _construct(self, split: str) -> VisionDataset:
        return self.dataset_cls(self.root, train=split == "train", download=self.download)

    def _validation(self, train_set: VisionDataset) -> _TrainVal:
        order = self._permutation(len(train_set))
        n_val = round(len(order) * self.val_fraction)
        return order[n_val:], (train_set, order[:n_val].sort().values)

    def _to_split(self, dataset: VisionDataset, idx: Tensor) -> Split:
        pixels = torch.as_tensor(dataset.data)[idx]  # (N, H, W) or (N, H, W, C) uint8
        pixels = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
        images = pixels.to(torch.float32, memory_format=torch.contiguous_format).div_(255)
        return Split(images, torch.as_tensor(dataset.targets, dtype=torch.long)[idx])


_MNIST_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
)  # fmt: skip


class MNISTDataModule(ArrayDataModule):
    """MNIST handwritten digits: (1, 28, 28), 10 classes, 60,000 train / 10,000 test."""

    dataset_cls = datasets.MNIST
    folder = "MNIST/raw"
    files = _MNIST_FILES


class FashionMNISTDataModule(ArrayDataModule):
    """Fashion-MNIST clothing images: (1, 28, 28), 10 classes, 60,000 train / 10,000 test."""

    dataset_cls = datasets.FashionMNIST
    folder = "FashionMNIST/raw"
    files = _MNIST_FILES


class CIFAR10DataModule(ArrayDataModule):
    """CIFAR-10 natural images: (3, 32, 32), 10 classes, 50,000 train / 10,000 test."""

    dataset_cls = datasets.CIFAR10
    folder = "cifar-10-batches-py"
    files = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


class CelebADataModule(TorchvisionDataModule):
    """Aligned CelebA faces labelled by their 40 binary attributes (long, (N, 40)); official train/valid/test split.

    Images are center-cropped to 148×148 and resized to ``image_size`` (the usual VAE preprocessing), decoded
    with PIL one by one, only those selected (set ``n_train`` for quick runs: the full train split is 162,770
    images, ~8 GB as float32 at 64×64).
    """

    dataset_cls = datasets.CelebA
    folder = "celeba"
    files = ("img_align_celeba/", "list_eval_partition.txt", "list_attr_celeba.txt", "identity_CelebA.txt",
             "list_bbox_celeba.txt", "list_landmarks_align_celeba.txt")  # fmt: skip
    label_names = tuple(
        "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
        "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
        "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
        "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
        "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young".split()
    )  # the 40 attribute columns, in the order of list_attr_celeba.txt

    def __init__(
        self,
        *,
        root: str = "data",
        download: bool = False,
        image_size: int = 64,
        n_train: int | None = None,
        n_test: int | None = None,
        binarize: Binarize = "none",
        held_out_class: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(root=root, download=download, n_train=n_train, n_test=n_test, binarize=binarize,
                         held_out_class=held_out_class, train_size=train_size, batch_size=batch_size,
                         split_seed=split_seed, seed=seed)  # fmt: skip
        self.image_size = image_size

    def _construct(self, split: str) -> VisionDataset:
        crop_resize = [transforms.CenterCrop(148), transforms.Resize(self.image_size), transforms.ToTensor()]
        preprocess = transforms.Compose(crop_resize)
        return datasets.CelebA(self.root, split=split, target_type="attr", transform=preprocess, download=self.download)

    def _validation(self, train_set: VisionDataset) -> _TrainVal:
        val_set = self._open("valid")
        return self._permutation(len(train_set)), (val_set, torch.arange(len(val_set)))

    def _to_split(self, dataset: VisionDataset, idx: Tensor) -> Split:
        images = torch.stack([dataset[i][0] for i in idx.tolist()])
        return Split(images, dataset.attr[idx].long())
