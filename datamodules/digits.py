"""The 1,797 labelled 8×8 handwritten digits bundled with scikit-learn: the offline default."""

from __future__ import annotations

import torch

from datamodules.base import Binarize, InMemoryDataModule, Split, split_indices


class DigitsDataModule(InMemoryDataModule):
    """sklearn's ``load_digits``: pixels 0–16 scaled to [0, 1], shape (1, 8, 8), 10 classes."""

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
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.as_tensor(bunch.target, dtype=torch.long)
        parts = split_indices(len(images), self.val_fraction, self.test_fraction, self.split_seed)
        return tuple(Split(images[idx], labels[idx]) for idx in parts)  # type: ignore[return-value]
