"""The in-memory DataModule every dataset builds on: seeded splits and batches sliced from tensors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch import Tensor


def seeded_permutation(n: int, seed: int) -> Tensor:
    """A random permutation of ``range(n)`` that depends only on ``seed`` (never on the global RNG).

    Example:
        >>> torch.equal(seeded_permutation(5, 3), seeded_permutation(5, 3))
        True
    """
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


class TensorBatches:
    """Mini-batches sliced from in-memory tensors by a shuffled index permutation.

    Replaces a ``DataLoader`` for data that fits in memory: one gather per batch instead of
    per-sample Python work and collation (DataLoader workers cost ~5x at this size, see DESIGN.md).

    Under DDP with ``world_size`` W, step i of every rank draws from the same global batch
    ``order[i·W·B : (i+1)·W·B]``, rank r taking its r-th share: W processes at batch size B see exactly
    the batches of one process at batch size W·B, so a DDP run can be checked against a single-process one.
    A last partial global batch is split evenly (its remainder modulo W dropped) so ranks take equal steps.

    Epoch ``e`` is shuffled with ``seed + e``. The epoch is counted by the iterator itself, or read from
    ``epoch_source`` (the Trainer's epoch), so that a run resumed from a checkpoint draws the batches an
    uninterrupted run draws.
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
        epoch_source: Callable[[], int] | None = None,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch_source = epoch_source
        self.epoch = 0

    def _share(self, size: int) -> int:
        """Items this rank takes from a global batch of ``size`` (0: the batch is skipped)."""
        per_rank = size // self.world_size
        return 0 if self.drop_last and per_rank < self.batch_size else per_rank

    def __len__(self) -> int:
        n, step = len(self.tensors[0]), self.batch_size * self.world_size
        return n // step + (1 if n % step and self._share(n % step) else 0)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n, step = len(self.tensors[0]), self.batch_size * self.world_size
        if self.epoch_source is not None:
            self.epoch = self.epoch_source()
        if self.shuffle:
            order = seeded_permutation(n, self.seed + self.epoch)
        else:
            order = torch.arange(n)
        self.epoch += 1
        for start in range(0, n, step):
            share = self._share(min(step, n - start))
            if share:
                idx = order[start + self.rank * share : start + (self.rank + 1) * share]
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
    order = seeded_permutation(n, seed)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


class InMemoryDataModule(pl.LightningDataModule, ABC):
    """Base class: a subclass implements :meth:`load_splits`; batching and splits are shared.

    Attributes set by :meth:`setup`: ``train``, ``val``, ``test`` (each a :class:`Split`),
    ``image_shape`` (C, H, W) and ``num_classes`` (per label column).
    """

    #: human-readable names of the label columns (one for class labels, several for factors)
    label_names: tuple[str, ...] = ("label",)

    def __init__(self, *, batch_size: int = 64, split_seed: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.split_seed = split_seed  # fixed across training seeds: every run is scored on the same test set
        self.seed = seed  # shuffling order of training batches
        self.train: Split | None = None
        self.val: Split | None = None
        self.test: Split | None = None

    @abstractmethod
    def load_splits(self) -> tuple[Split, Split, Split]:
        """The train, val and test splits, loaded into memory."""

    def missing_files(self) -> str | None:
        """Why the dataset's files are not available here (and where they go), or None: checked before training."""
        return None

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
        if trainer is None or not shuffle:
            return TensorBatches((split.images, split.labels), self.batch_size, shuffle=shuffle, seed=self.seed)
        return TensorBatches(
            (split.images, split.labels), self.batch_size, shuffle=True, seed=self.seed,
            rank=trainer.global_rank, world_size=trainer.world_size, epoch_source=lambda: trainer.current_epoch,
        )  # fmt: skip

    def train_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.train, shuffle=True)  # type: ignore[arg-type]

    def val_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.val, shuffle=False)  # type: ignore[arg-type]

    def test_dataloader(self) -> TensorBatches:
        self.setup()
        return self._batches(self.test, shuffle=False)  # type: ignore[arg-type]
