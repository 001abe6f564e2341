"""The in-memory DataModule every dataset builds on: seeded splits and batches sliced from tensors."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal, get_args

import pytorch_lightning as pl
import numpy as np
import torch
from torch import Tensor

#: how pixels are made binary for a Bernoulli likelihood (a DataModule's ``binarize`` option, see InMemoryDataModule)
Binarize = Literal["none", "fixed", "dynamic"]


def seeded_permutation(n: int, seed: int) -> Tensor:
    """A random permutation of ``range(n)`` that depends only on ``seed`` (never on the global RNG).

    Example:
        >>> torch.equal(seeded_permutation(5, 3), seeded_permutation(5, 3))
        True
    """
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def derived_seed(*keys: int) -> int:
    """A 64-bit seed mixed from non-negative integer ``keys`` by numpy's ``SeedSequence``.

    Unlike ``seed + epoch``, distinct key tuples give unrelated streams: (seed 0, epoch 1) and (seed 1, epoch 0)
    do not share their random numbers.

    Example:
        >>> derived_seed(0, 1) == derived_seed(0, 1) != derived_seed(1, 0)
        True
    """
    return int(np.random.SeedSequence(keys).generate_state(1, np.uint64)[0])


def _bernoulli_draw(probs: Tensor, seed: int) -> Tensor:
    """Binary images of the same shape: each pixel 1 with probability its grey value, from a generator of ``seed``."""
    return torch.bernoulli(probs, generator=torch.Generator().manual_seed(seed))


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

    With ``dynamic_binarize`` the first tensor holds probabilities (grey values) and every batch of it is a fresh
    Bernoulli draw, from a generator seeded with ``derived_seed(seed, epoch)``: each epoch sees new binary images,
    reproducibly, and resumed runs draw what uninterrupted ones draw. The draw is made on the global batch before
    it is shared out, so the DDP equivalence above still holds.
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
        dynamic_binarize: bool = False,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch_source = epoch_source
        self.dynamic_binarize = dynamic_binarize
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
        draws = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch)) if self.dynamic_binarize else None
        self.epoch += 1
        for start in range(0, n, step):
            share = self._share(min(step, n - start))
            if not share:
                continue
            glob, mine = order[start : start + step], slice(self.rank * share, (self.rank + 1) * share)
            if draws is None:
                yield tuple(t[glob[mine]] for t in self.tensors)
            else:  # every rank draws the whole global batch: the random stream does not depend on the rank
                pixels = torch.bernoulli(self.tensors[0][glob], generator=draws)[mine]
                yield (pixels, *(t[glob[mine]] for t in self.tensors[1:]))


class DataFileError(ValueError):
    """A dataset's file is there but holds something it cannot read; the message names the file, the array and
    what is valid (the pre-flight reports it as a problem of the config)."""


class DataOptionError(ValueError):
    """A dataset option does not fit the data loaded (a held-out class the labels do not have, more training images
    than the split holds); the message names the option and what is valid (the pre-flight reports it)."""


@dataclass(frozen=True)
class Split:
    """One split of a dataset: images (N, C, H, W) float32 in [0, 1] and integer labels (N,) or (N, F)."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.images)


def _cut(order: Tensor, val_fraction: float, test_fraction: float) -> tuple[Tensor, Tensor, Tensor]:
    """Train, val and test parts of a shuffled order: test first, then val, the rest train."""
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """A seeded random partition of ``range(n)`` into train, val and test indices."""
    return _cut(seeded_permutation(n, seed), val_fraction, test_fraction)


def stratified_split_indices(
    labels: Tensor, val_fraction: float, test_fraction: float, seed: int
) -> tuple[Tensor, Tensor, Tensor]:
    """A seeded partition of ``range(len(labels))`` into train, val and test with every class in the same shares.

    Each class is cut like :func:`split_indices` (its val and test counts rounded), so a class's share of a
    split is within one item of its share of the data; each part is then shuffled, so that its first items
    (what a figure shows) are not all of one class.

    Example:
        >>> train, val, test = stratified_split_indices(torch.tensor([0] * 10 + [1] * 20), 0.1, 0.2, seed=0)
        >>> [torch.bincount(torch.tensor([0] * 10 + [1] * 20)[p]).tolist() for p in (train, val, test)]
        [[7, 14], [1, 2], [2, 4]]
    """
    gen = torch.Generator().manual_seed(seed)
    parts: tuple[list[Tensor], ...] = ([], [], [])
    for c in labels.unique():
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=gen)]
        for part, idx in zip(parts, _cut(members, val_fraction, test_fraction)):
            part.append(idx)
    joined = [torch.cat(p) for p in parts]
    return tuple(p[torch.randperm(len(p), generator=gen)] for p in joined)  # type: ignore[return-value]


def stratified_subset(labels: Tensor, size: int, seed: int) -> Tensor:
    """``size`` indices of ``range(len(labels))``, drawn with ``seed``, every class within one item of its share.

    Each class is shuffled and its i-th member placed at (i + ½) / n_class along a common order (ties in a random
    order), so that the first ``size`` items of that order take every class in proportion. Sorted, so the subset
    keeps the split's order.

    Example:
        >>> labels = torch.tensor([0] * 10 + [1] * 30)
        >>> torch.bincount(labels[stratified_subset(labels, 8, seed=0)]).tolist()
        [2, 6]
    """
    gen = torch.Generator().manual_seed(seed)
    position = torch.empty(len(labels), dtype=torch.float64)
    for c in labels.unique():
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=gen)]
        position[members] = (torch.arange(len(members), dtype=torch.float64) + 0.5) / len(members)
    tie_break = torch.randperm(len(labels), generator=gen)
    order = np.lexsort((tie_break.numpy(), position.numpy()))  # by position, then by the random tie-break
    return torch.from_numpy(order[:size]).long().sort().values


def first_label_column(labels: Tensor) -> Tensor:
    """The first label column (N,) of labels (N,) or (N, F): the class that ``held_out_class`` and ``train_size``
    read."""
    return labels.reshape(len(labels), -1)[:, 0]


class InMemoryDataModule(pl.LightningDataModule, ABC):
    """Base class: a subclass implements :meth:`load_splits`; batching, splits and binarisation are shared.

    Attributes set by :meth:`setup`: ``train``, ``val``, ``test`` (each a :class:`Split`),
    ``image_shape`` (C, H, W) and ``num_classes`` (per label column).

    ``binarize`` makes pixels binary for a Bernoulli likelihood:

    - ``"none"``: pixels as loaded;
    - ``"fixed"``: every split thresholded once at load (a pixel is 1 where its grey value is > 0.5);
    - ``"dynamic"`` (as in the IWAE paper and most NLL tables): each training batch is a fresh Bernoulli draw of its
      pixels (probability = grey value), new every epoch and reproducible from ``seed`` (``train.images`` keep the
      grey values); val and test are drawn once, with seeds derived from ``split_seed`` only, so every training
      seed is scored on the same binary test images.

    Two options of every dataset change what trains, never the test split (applied in this order, at setup):

    - ``held_out_class``: the images of this class of the first label column are removed from train and val, so the
      test split holds the normal classes and the anomalous one (the anomaly-detection protocol, metric ``anomaly``);
    - ``train_size``: a subset of this many training images, drawn with ``split_seed`` (the same for every training
      seed) and stratified by the first label column where there are labels (:func:`stratified_subset`).

    ``None`` (the default) leaves the splits as loaded.
    """

    #: human-readable names of the label columns (one for class labels, several for factors)
    label_names: tuple[str, ...] = ("label",)

    def __init__(
        self,
        *,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
        binarize: Binarize = "none",
        held_out_class: int | None = None,
        train_size: int | None = None,
    ) -> None:
        super().__init__()
        if binarize not in get_args(Binarize):
            raise ValueError(f"binarize must be one of {get_args(Binarize)}, got {binarize!r}")
        if held_out_class is not None and held_out_class < 0:
            raise ValueError(f"held_out_class must be a class index >= 0 or None, got {held_out_class}")
        if train_size is not None and train_size < 1:
            raise ValueError(f"train_size must be >= 1 or None, got {train_size}")
        self.batch_size = batch_size
        self.split_seed = split_seed  # fixed across training seeds: every run is scored on the same test set
        self.seed = seed  # shuffling order (and dynamic binarisation) of training batches
        self.binarize = binarize
        self.held_out_class = held_out_class
        self.train_size = train_size
        self.train: Split | None = None
        self.val: Split | None = None
        self.test: Split | None = None

    @abstractmethod
    def load_splits(self) -> tuple[Split, Split, Split]:
        """The train, val and test splits, loaded into memory."""

    def classifier_labels(self, labels: Tensor) -> Tensor:
        """The labels a classifier of these images should learn (for the FID feature classifier): the labels
        themselves, unless some classes cannot be told apart by their pixels (see dSprites)."""
        return labels

    def missing_files(self) -> str | None:
        """Why the dataset's files are not available here (and where they go), or None: checked before training."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            train, val, test = self.load_splits()
            if self.held_out_class is not None:
                self._check_held_out(test)
                train, val = self._without_held_out(train), self._without_held_out(val)
            if self.train_size is not None:
                train = self._subset(train)
            self.train, self.val, self.test = self._binarized(train, val, test)

    def _check_held_out(self, test: Split) -> None:
        """Raise unless the held-out class is a class of the test split's first label column (the anomalies)."""
        if test.labels.numel() == 0:
            raise DataOptionError(f"held_out_class: {self.held_out_class} needs class labels; this dataset has none")
        present = first_label_column(test.labels).unique().tolist()
        if self.held_out_class not in present:
            raise DataOptionError(f"held_out_class: {self.held_out_class} is not a class of the test split's first "
                                  f"label column ({self.label_names[0]}); valid: {present}")  # fmt: skip

    def _without_held_out(self, split: Split) -> Split:
        keep = first_label_column(split.labels) != self.held_out_class
        return Split(split.images[keep], split.labels[keep])

    def _subset(self, train: Split) -> Split:
        """``train_size`` images of ``train``, stratified by the first label column where there are labels."""
        if self.train_size > len(train):  # type: ignore[operator]
            held_out = "" if self.held_out_class is None else f" once class {self.held_out_class} is held out"
            raise DataOptionError(f"train_size: {self.train_size} exceeds the {len(train)} training images{held_out}; "
                                  f"use at most {len(train)}")  # fmt: skip
        unlabelled = torch.zeros(len(train), dtype=torch.long)  # one class: a plain random subset
        classes = first_label_column(train.labels) if train.labels.numel() else unlabelled
        idx = stratified_subset(classes, self.train_size, derived_seed(self.split_seed, 3))  # type: ignore[arg-type]
        return Split(train.images[idx], train.labels[idx])

    def _binarized(self, train: Split, val: Split, test: Split) -> tuple[Split, Split, Split]:
        """The splits as ``binarize`` stores them: dynamic binarisation of train happens per batch instead."""
        if self.binarize == "fixed":
            train, val, test = (replace(s, images=(s.images > 0.5).to(s.images.dtype)) for s in (train, val, test))
        elif self.binarize == "dynamic":  # one draw each, from split_seed alone: the same for every training seed
            val = replace(val, images=_bernoulli_draw(val.images, derived_seed(self.split_seed, 1)))
            test = replace(test, images=_bernoulli_draw(test.images, derived_seed(self.split_seed, 2)))
        return train, val, test

    @functools.cached_property
    def evaluation_train(self) -> Split:
        """The training split as measurements read it (codes for post-hoc samplers, the probe, the FID floor, the
        baselines, the FID feature classifier): with dynamic binarisation one fixed draw, like val and test, so
        that every image an evaluation sees is binary; otherwise ``train`` itself."""
        self.setup()
        if self.binarize != "dynamic":
            return self.train  # type: ignore[return-value]
        train = self.train
        return replace(train, images=_bernoulli_draw(train.images, derived_seed(self.split_seed, 0)))  # type: ignore[arg-type]

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
        dynamic = shuffle and self.binarize == "dynamic"  # only training batches are drawn afresh
        if trainer is None or not shuffle:
            return TensorBatches((split.images, split.labels), self.batch_size, shuffle=shuffle, seed=self.seed,
                                 dynamic_binarize=dynamic)  # fmt: skip
        return TensorBatches(
            (split.images, split.labels), self.batch_size, shuffle=True, seed=self.seed, dynamic_binarize=dynamic,
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
