"""A user's own images from one file: ``.npz`` (numpy arrays) or ``.pt`` (a dict of tensors, ``torch.save``).

The file holds

- ``images``: (N, H, W) or (N, C, H, W); uint8 in 0..255 (scaled to [0, 1]) or float in [0, 1];
- ``labels`` (optional): (N,) non-negative integer classes;
- ``factors`` (optional): (N,) or (N, F) non-negative integer factor classes.

Labels and factors become the label columns of the splits (labels first), read by the linear probe and by the
``domain`` FID classifier; a file with neither has no labels (those metrics read n/a, and the ``domain`` FID
backend cannot be trained on it: the pre-flight says so). Factors are not generative factors in the sense of the
disentanglement metrics, which render new images for chosen factors and so need a simulator such as dSprites.

Every problem of the file raises :class:`~datamodules.base.DataFileError` naming the file, the array and what is
valid; a missing file is reported by :meth:`TensorFileDataModule.missing_files` before anything trains.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from datamodules.base import Binarize, DataFileError, InMemoryDataModule, Split, split_indices

SUFFIXES = (".npz", ".pt")
ARRAYS = ("images", "labels", "factors")


def read_arrays(path: Path) -> dict[str, Tensor]:
    """The arrays of a ``.npz`` or ``.pt`` file as tensors, by name; anything but :data:`ARRAYS` is refused."""
    if path.suffix not in SUFFIXES:
        raise DataFileError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                content = {name: torch.from_numpy(npz[name]) for name in npz.files}
        else:
            content = torch.load(path, weights_only=True, map_location="cpu")
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{path}: cannot be read as a {path.suffix} file ({type(err).__name__}: {err})") from err
    if not isinstance(content, dict) or not all(isinstance(v, Tensor) for v in content.values()):  # a .pt may hold any
        raise DataFileError(
            f"{path}: expected a dict of tensors (keys {', '.join(ARRAYS)}), got {type(content).__name__}"
        )
    arrays = dict(content)
    unknown = sorted(set(arrays) - set(ARRAYS))
    if unknown:
        raise DataFileError(
            f"{path}: unknown array(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(ARRAYS)}"
        )
    if "images" not in arrays:
        raise DataFileError(f"{path}: no 'images' array (found: {', '.join(arrays) or 'none'}); it is required")
    return arrays


def checked_images(images: Tensor, where: str) -> Tensor:
    """(N, C, H, W) float32 in [0, 1] from (N, H, W) or (N, C, H, W) uint8 (0..255) or float ([0, 1]) images."""
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise DataFileError(f"{where}: shape {tuple(images.shape)}; expected (N, H, W) or (N, C, H, W) with N >= 1")
    if images.ndim == 4 and images.shape[1] > 4 and images.shape[-1] <= 4:
        raise DataFileError(f"{where}: shape {tuple(images.shape)} looks channels-last; expected (N, C, H, W)")
    if images.dtype == torch.uint8:
        scaled = images.float().div_(255)
    elif images.is_floating_point():
        scaled = images.float()
        if not torch.isfinite(scaled).all() or scaled.min() < 0 or scaled.max() > 1:
            low, high = float(images.min()), float(images.max())
            raise DataFileError(f"{where}: float values in [{low:g}, {high:g}]; float images must be finite, in [0, 1]")
    else:
        raise DataFileError(
            f"{where}: dtype {images.dtype}; expected uint8 (0..255) or a float dtype (values in [0, 1])"
        )
    return scaled if scaled.ndim == 4 else scaled.unsqueeze(1)


def checked_classes(classes: Tensor, n: int, where: str) -> Tensor:
    """(N, K) long columns from (N,) or (N, K) non-negative integer classes of ``n`` images."""
    if classes.ndim not in (1, 2) or len(classes) != n:
        raise DataFileError(f"{where}: shape {tuple(classes.shape)}; expected ({n},) or ({n}, K), one row per image")
    if classes.is_floating_point() or classes.is_complex() or classes.dtype == torch.bool:
        raise DataFileError(f"{where}: dtype {classes.dtype}; expected an integer dtype (class indices)")
    if len(classes) and classes.min() < 0:
        raise DataFileError(f"{where}: negative value {int(classes.min())}; classes are indices 0, 1, 2, ...")
    return classes.long().reshape(n, -1)


class TensorFileDataModule(InMemoryDataModule):
    """A user's ``.npz`` or ``.pt`` file (see the module docstring), split at random by ``split_seed`` (as digits)."""

    def __init__(
        self,
        *,
        path: str,
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
        self.path = Path(path)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def missing_files(self) -> str | None:
        if self.path.is_file():
            return None
        return f"{self.path.resolve()} not found: the dataset's `path` must name a {' or '.join(SUFFIXES)} file"

    def load_splits(self) -> tuple[Split, Split, Split]:
        arrays = read_arrays(self.path)
        images = checked_images(arrays["images"], f"{self.path}: 'images'")
        columns, names = [], []
        for name in ("labels", "factors"):
            if name in arrays:
                part = checked_classes(arrays[name], len(images), f"{self.path}: {name!r}")
                columns.append(part)
                names += [name[:-1]] if part.shape[1] == 1 else [f"{name[:-1]}_{j}" for j in range(part.shape[1])]
        labels = torch.cat(columns, 1) if columns else torch.empty(len(images), 0, dtype=torch.long)
        labels = labels.squeeze(1) if labels.shape[1] == 1 else labels
        self.label_names = tuple(names) or ("label",)
        parts = split_indices(len(images), self.val_fraction, self.test_fraction, self.split_seed)
        if min(map(len, parts)) == 0:
            sizes = "/".join(str(len(p)) for p in parts)
            raise DataFileError(f"{self.path}: {len(images)} images give train/val/test splits of {sizes}; every split "
                                f"needs an image (more images, or other val_fraction/test_fraction)")  # fmt: skip
        return tuple(Split(images[idx], labels[idx]) for idx in parts)  # type: ignore[return-value]
