"""The in-memory DataModule every dataset builds on: seeded splits and batches sliced from tensors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch import Tensor


class TensorBatches:
    """Mini-batches sliced from in-memory tensors by a shuffled index permutation.

    Replaces a ``DataLoader`` for data that fits in memory: one gather per batch instead of
    per-sample Python work and collation (DataLoader workers cost ~5x at this size, see DESIGN.md).
    Under DDP each rank takes a disjoint, equally sized share of every epoch's permutation.
    """

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def _indices(self) -> Tensor:
        n = len(self.tensors[0])
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        if self.world_size > 1:  # equal shares so ranks run the same number of steps
            per_rank = n // self.world_size
            order = order[self.rank * per_rank : (self.rank + 1) * per_rank]
        return order

    def __len__(self) -> int:
        n = len(self.tensors[0]) // self.world_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._indices()
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)


@dataclass(frozen=True)
class Split:
    """One split of a dataset: images (N, C, H, W) float32 in [0, 1] and integer labels (N,) or (N, F)."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.images)


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """A seeded random partition of ``range(n)`` into train, val and test indices."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


class InMemoryDataModule(pl.LightningDataModule):
    """Base class: a subclass implements :meth:`load_splits`; batching and splits are shared.

    Attributes set by :meth:`setup`: ``train``, ``val``, ``test`` (each a :class:`Split`),
    ``image_shape`` (C, H, W) and ``num_classes`` (per label column).
    """

    #: human-readable names of the label columns (one for class labels, several for factors)
    label_names: tuple[str, ...] = ("label",)

    def __init__(self, *, batch_size: int = 128, split_seed: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.split_seed = split_seed  # fixed across training seeds: every run is scored on the same test set
        self.seed = seed  # shuffling order of training batches
        self.train: Split | None = None
        self.val: Split | None = None
        self.test: Split | None = None

    def load_splits(self) -> tuple[Split, Split, Split]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            self.train, self.val, self.test = self.load_splits()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        self.setup()
        return tuple(self.train.images.shape[1:])  # type: ignore[union-attr,return-value]

    @property
    def num_classes(self) -> tuple[int, ...]:
        """Number of classes of each label column, counted over all splits."""
        self.setup()
        labels = torch.cat([s.labels for s in (self.train, self.val, self.test)])  # type: ignore[union-attr]
        labels = labels.reshape(len(labels), -1)
        return tuple(int(labels[:, j].max()) + 1 for j in range(labels.shape[1]))

    def _batches(self, split: Split, shuffle: bool) -> TensorBatches:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None and shuffle else (0, 1)
        return TensorBatches(
            (split.images, split.labels), self.batch_size, shuffle=shuffle, seed=self.seed, rank=rank, world_size=world
        )

    def train_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.train, shuffle=True)  # type: ignore[arg-type]

    def val_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.val, shuffle=False)  # type: ignore[arg-type]

    def test_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.test, shuffle=False)  # type: ignore[arg-type]
