"""The torchvision DataModules, loaded through torchvision itself from tiny files written in its on-disk formats."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from datamodules.base import Split
from datamodules import DATAMODULES
from datamodules.torchvision_sets import CelebADataModule, DatasetNotFoundError

N_TRAIN, N_TEST = 50, 20
TEST_OFFSET = 100  # test images carry their index + 100 in pixel (0, 0, 0), train images their index


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _images(n: int, shape: tuple[int, ...], offset: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images (N, C, H, W) with an id pixel, a 255 at (last channel, 5, 7), and labels 0–9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 255, size=(n, *shape), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) + offset
    images[:, -1, 5, 7] = 255
    return images, (rng.permutation(n) % 10).astype(np.uint8)


def _check(split: Split, originals: tuple[np.ndarray, np.ndarray], offset: int) -> torch.Tensor:
    """Asserts every loaded sample equals its original scaled to [0, 1]; returns the original indices."""
    images, labels = originals
    assert split.images.dtype == torch.float32 and split.labels.dtype == torch.long
    assert split.images.shape[1:] == images.shape[1:] and split.images.is_contiguous()
    assert 0.0 <= split.images.min() and split.images.max() <= 1.0
    assert torch.all(split.images[:, -1, 5, 7] == 1.0)  # a 255 lands at the same channel, row and column
    idx = (split.images[:, 0, 0, 0] * 255).round().long() - offset
    assert torch.equal(split.images, torch.from_numpy(images[idx.numpy()]).float() / 255)
    assert torch.equal(split.labels, torch.from_numpy(labels[idx.numpy()]).long())
    return idx


def _idx_file(path: Path, array: np.ndarray) -> None:
    """An idx file as in MNIST: magic 0x0000 08 <ndim> (uint8 data), big-endian sizes, raw bytes."""
    path.write_bytes(struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape) + array.tobytes())


def _write_mnist(root: Path, folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    data = {"train": _images(N_TRAIN, (1, 28, 28), 0, seed=1), "t10k": _images(N_TEST, (1, 28, 28), TEST_OFFSET, 2)}
    for prefix, (images, labels) in data.items():
        _idx_file(raw / f"{prefix}-images-idx3-ubyte", images[:, 0])
        _idx_file(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return data


def _write_cifar(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = {"train": _images(N_TRAIN, (3, 32, 32), 0, seed=3), "test": _images(N_TEST, (3, 32, 32), TEST_OFFSET, 4)}
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    parts = [(b, data["train"], slice(10 * i, 10 * i + 10)) for i, b in enumerate(batches)]
    for name, (images, labels), rows in [*parts, ("test_batch", data["test"], slice(None))]:
        # a row of "data" is 3072 bytes: the R, G and B planes, each 32×32 row-major
        entry = {"batch_label": name, "data": images[rows].reshape(-1, 3072), "labels": labels[rows].tolist()}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}, protocol=2))
    # torchvision checks each file against the md5 of the real CIFAR-10: point its tables at our tiny files' md5s
    # (the integrity check itself still runs).
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[b, _md5(folder / b)] for b in batches])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {**datasets.CIFAR10.meta, "md5": _md5(folder / "batches.meta")})
    return data


@pytest.mark.parametrize(("name", "writer"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"), ("cifar10", None)])
def test_array_datasets_load_exactly(name: str, writer: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = _write_cifar(tmp_path, monkeypatch) if writer is None else _write_mnist(tmp_path, writer)
    train_data, test_data = data.values()
    dm = DATAMODULES.get(name)(root=str(tmp_path), batch_size=16)
    dm.setup()
    assert (len(dm.train), len(dm.val), len(dm.test)) == (45, 5, N_TEST)  # val = 10% of the official train split
    train_ids, val_ids = _check(dm.train, train_data, 0), _check(dm.val, train_data, 0)
    assert sorted(torch.cat([train_ids, val_ids]).tolist()) == list(range(N_TRAIN))  # a partition of train
    assert _check(dm.test, test_data, TEST_OFFSET).tolist() == list(range(N_TEST))  # test complete, in file order
    assert dm.num_classes == (10,) and dm.image_shape == train_data[0].shape[1:]
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, *train_data[0].shape[1:]) and labels.shape == (16,)


def test_subsets_and_seeds(tmp_path: Path) -> None:
    train_data, test_data = _write_mnist(tmp_path, "MNIST").values()

    def ids(**kwargs) -> tuple[list[int], ...]:
        dm = DATAMODULES.get("mnist")(root=str(tmp_path), **kwargs)
        dm.setup()
        splits = ((dm.train, train_data, 0), (dm.val, train_data, 0), (dm.test, test_data, TEST_OFFSET))
        return tuple(_check(split, data, offset).tolist() for split, data, offset in splits)

    train, val, test = ids(val_fraction=0.2, n_train=12, n_test=7)
    assert (len(train), len(val), len(test)) == (12, 10, 7) and not set(train) & set(val)
    assert ids(val_fraction=0.2, n_train=12, n_test=7, seed=5) == (train, val, test)  # seed: batch order only
    full_train, *rest = ids(val_fraction=0.2, n_test=7)
    assert rest == [val, test] and set(train) < set(full_train)  # n_train subsets train; val, test stay the same
    assert ids(val_fraction=0.2, n_train=12, n_test=7, split_seed=1) != (train, val, test)
    with pytest.raises(ValueError, match="n_train=100"):
        ids(n_train=100)


CELEBA_PARTITION = [0, 0, 0, 1, 1, 2, 2]  # 3 train, 2 valid, 2 test


def _write_celeba(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """7 aligned-size (178×218) JPEGs: black border, a flat colour in the central 148×148 square; the text files."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(CELEBA_PARTITION))]
    colours = [(230, 30 * i, 120) for i in range(len(names))]
    for name, colour in zip(names, colours):
        image = Image.new("RGB", (178, 218))
        image.paste(colour, (15, 35, 163, 183))  # exactly the center crop
        image.save(folder / "img_align_celeba" / name, quality=100, subsampling=0)  # JPEG, near-lossless
    attr = np.random.default_rng(5).choice([-1, 1], size=(len(names), 40))
    attr[0] = 1  # every attribute occurs
    files = {
        "list_eval_partition.txt": [f"{n} {p}" for n, p in zip(names, CELEBA_PARTITION)],
        "identity_CelebA.txt": [f"{n} {2880 + i}" for i, n in enumerate(names)],
        "list_bbox_celeba.txt": [str(len(names)), "image_id x_1 y_1 width height"]
        + [f"{n}    95  71 226 313" for n in names],
        "list_landmarks_align_celeba.txt": [
            str(len(names)),
            "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y",
        ]
        + [f"{n}  69  109  106  113   77  142   73  152  108  154" for n in names],
        "list_attr_celeba.txt": [str(len(names)), " ".join(CelebADataModule.label_names)]
        + [f"{n} " + " ".join(f"{a:2d}" for a in row) for n, row in zip(names, attr)],
    }
    for filename, lines in files.items():
        (folder / filename).write_text("\n".join(lines) + "\n")
    # as for CIFAR-10: the expected md5s are those of the real files, so use our tiny files' md5s instead
    monkeypatch.setattr(
        datasets.CelebA,
        "file_list",
        [(fid, _md5(folder / f) if f in files else md5, f) for fid, md5, f in datasets.CelebA.file_list],
    )
    return colours, attr


def test_celeba_official_splits_crop_and_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    colours, attr = _write_celeba(tmp_path, monkeypatch)
    dm = DATAMODULES.get("celeba")(root=str(tmp_path))
    dm.setup()
    for split, rows in ((dm.train, [0, 1, 2]), (dm.val, [3, 4]), (dm.test, [5, 6])):
        assert split.images.shape == (len(rows), 3, 64, 64) and split.images.dtype == torch.float32
        assert split.labels.dtype == torch.long and torch.equal(split.labels, torch.from_numpy((attr[rows] + 1) // 2))
        expected = torch.tensor([colours[r] for r in rows], dtype=torch.float32)[:, :, None, None] / 255
        # the 148×148 center crop removes the whole black border (a crop off by 4 px leaves errors of ~0.9)
        assert (split.images - expected).abs().amax() < 2 / 255
    assert dm.num_classes == (2,) * 40
    small = DATAMODULES.get("celeba")(root=str(tmp_path), image_size=32, n_train=2, split_seed=3)
    small.setup()
    assert small.train.images.shape == (2, 3, 32, 32) and len(small.val) == 2 and len(small.test) == 2


@pytest.mark.parametrize(
    ("name", "title", "folder"),
    [("mnist", "MNIST", "MNIST/raw"), ("fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
     ("cifar10", "CIFAR10", "cifar-10-batches-py"), ("celeba", "CelebA", "celeba")],
)  # fmt: skip
def test_missing_files_raise_a_clear_error(name: str, title: str, folder: str, tmp_path: Path) -> None:
    dm = DATAMODULES.get(name)(root=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError) as info:
        dm.setup()
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert title in message and str(tmp_path / "nowhere" / folder) in message and "`download: true`" in message


def test_failed_download_raises_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(datasets.mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(datasets.cifar, "download_and_extract_archive", offline)
    for name in ("mnist", "cifar10"):
        dm = DATAMODULES.get(name)(root=str(tmp_path), download=True)
        with pytest.raises(DatasetNotFoundError, match="(?s)download failed.*no network"):
            dm.prepare_data()
