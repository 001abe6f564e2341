"""The bundled 5,000 MNIST digits, the stratified split and the binarisation every in-memory dataset offers."""

from __future__ import annotations

import math
import socket

import pytest
import torch

from datamodules import DATAMODULES, TensorBatches, seeded_permutation
from datamodules.base import stratified_split_indices
from datamodules.mnist5k import _load


@pytest.fixture(scope="module")
def grey():
    dm = DATAMODULES.get("mnist5k")()
    dm.setup()
    return dm


def _is_binary(images: torch.Tensor) -> bool:
    return bool(((images == 0) | (images == 1)).all() and images.min() == 0 and images.max() == 1)


def _setup(**options):
    dm = DATAMODULES.get("mnist5k")(**options)
    dm.setup()
    return dm


def test_loads_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", no_network)
    _load.cache_clear()
    dm = _setup()
    splits = (dm.train, dm.val, dm.test)
    assert tuple(map(len, splits)) == (3500, 500, 1000)  # 70/10/20 % of 5,000
    labels = torch.cat([s.labels for s in splits])
    assert torch.bincount(labels).tolist() == [500] * 10
    assert dm.image_shape == (1, 28, 28) and dm.num_classes == (10,)
    for split in splits:
        assert split.images.dtype == torch.float32 and split.labels.dtype == torch.long
        assert split.images.min() == 0.0 and split.images.max() == 1.0  # 0–255 scaled by 255: a 255 in every split
        assert torch.equal(split.images * 255, (split.images * 255).round())  # 256 grey levels, not yet binary


def test_splits_are_disjoint_stratified_and_fixed_by_split_seed(grey) -> None:
    splits = (grey.train, grey.val, grey.test)
    rows = [{bytes(r.numpy()) for r in (s.images * 255).to(torch.uint8).flatten(1)} for s in splits]
    assert sum(map(len, rows)) == len(set.union(*rows)) == 5000  # the 5,000 images are distinct and each in one split
    for split in splits:
        counts = torch.bincount(split.labels, minlength=10)
        assert (counts - len(split) * 500 / 5000).abs().max() <= 1  # every class in its overall share, ±1 image
    assert len(set(grey.test.labels[:20].tolist())) > 5  # shuffled: the first test images are not all one class
    again, other = _setup(), _setup(split_seed=1)
    assert torch.equal(again.test.images, grey.test.images) and torch.equal(again.train.labels, grey.train.labels)
    assert not torch.equal(other.test.images, grey.test.images)


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_split_partitions_unequal_classes_in_equal_shares(seed: int) -> None:
    sizes = [7, 13, 50, 101]  # class sizes whose 10 % and 20 % are not whole
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])[seeded_permutation(sum(sizes), 5)]
    parts = stratified_split_indices(labels, 0.1, 0.2, seed)
    assert sorted(torch.cat(parts).tolist()) == list(range(len(labels)))  # a partition
    for part, fraction in zip(parts, (0.7, 0.1, 0.2)):
        counts = torch.bincount(labels[part], minlength=len(sizes))
        assert (counts - len(part) * torch.tensor(sizes) / len(labels)).abs().max() <= 1
        assert (counts - fraction * torch.tensor(sizes)).abs().max() <= 0.5  # each class rounded to its own share


def test_fixed_binarisation_thresholds_every_split_at_one_half(grey) -> None:
    fixed = _setup(binarize="fixed", batch_size=500)
    for binary, original in zip((fixed.train, fixed.val, fixed.test), (grey.train, grey.val, grey.test)):
        assert torch.equal(binary.images, (original.images > 0.5).float())
        assert torch.equal(binary.labels, original.labels)
    assert _is_binary(torch.cat([b[0] for b in fixed.train_dataloader()]))


def _per_image(dm, epochs: int) -> list[torch.Tensor]:
    """Training pixels of ``epochs`` epochs, each put back in the order of ``train.images``."""
    loader, n = dm.train_dataloader(), len(dm.train)
    out = []
    for e in range(epochs):
        inverse = seeded_permutation(n, dm.seed + e).argsort()  # epoch e is shuffled with seed + e
        images, labels = (torch.cat(t)[inverse] for t in zip(*loader))
        assert torch.equal(labels, dm.train.labels)  # the realignment is right
        out.append(images)
    return out


def test_dynamic_binarisation_redraws_training_pixels_every_epoch(grey) -> None:
    dm = _setup(binarize="dynamic", batch_size=500)
    assert torch.equal(dm.train.images, grey.train.images)  # kept grey: the draw happens per batch
    first, second = _per_image(dm, 2)
    p = grey.train.images
    for draw in (first, second):
        assert _is_binary(draw)
        assert torch.equal(draw[(p == 0) | (p == 1)], p[(p == 0) | (p == 1)])  # certain pixels never flip
    # independent draws differ at a pixel with probability q = 2p(1−p) (MNIST is mostly pure black or white: mean
    # q ≈ 0.038); the share of the N = 2.7M pixels that differ has standard deviation ≤ sqrt(mean q / N) ≈ 1.2e-4,
    # so 1e-3 is an 8σ tolerance
    changed = (first != second).float().mean()
    assert abs(changed - (2 * p * (1 - p)).mean()) < 1e-3 and changed > 0.01
    # reproducible: the same seed draws the same epoch; another seed draws others
    assert torch.equal(_per_image(_setup(binarize="dynamic", batch_size=500), 1)[0], first)
    assert not torch.equal(_per_image(_setup(binarize="dynamic", batch_size=500, seed=1), 1)[0], first)


def test_dynamic_binarisation_respects_the_resumed_epoch() -> None:
    dm = _setup(binarize="dynamic", batch_size=500)
    uninterrupted = dm.train_dataloader()
    epochs = [[b[0] for b in uninterrupted] for _ in range(3)]
    resumed = dm.train_dataloader()
    resumed.epoch_source = lambda: 2  # what the Trainer reports after resuming into epoch 2
    assert all(torch.equal(a, b[0]) for a, b in zip(epochs[2], resumed, strict=True))


def test_dynamic_binarisation_keeps_ddp_ranks_equal_to_one_process() -> None:
    probs = torch.rand(23, 5, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(23)
    single = list(TensorBatches((probs, ids), 6, shuffle=True, seed=1, dynamic_binarize=True))
    ranks = [
        list(TensorBatches((probs, ids), 3, shuffle=True, seed=1, dynamic_binarize=True, rank=r, world_size=2))
        for r in (0, 1)
    ]
    for i in range(3):  # the full global batches: the two ranks' pixels are the single process's pixels
        for j in (0, 1):
            assert torch.equal(torch.cat([ranks[0][i][j], ranks[1][i][j]]), single[i][j])


def test_dynamic_binarisation_fixes_val_and_test_once(grey) -> None:
    a, b = _setup(binarize="dynamic", seed=0), _setup(binarize="dynamic", seed=7)
    for split in ("val", "test"):
        binary, original = getattr(a, split).images, getattr(grey, split).images
        assert torch.equal(binary, getattr(b, split).images)  # every training seed is scored on the same images
        assert _is_binary(binary)
        assert not torch.equal(binary, (original > 0.5).float())  # a draw, not the threshold
    assert not torch.equal(a.val.images[:100], a.test.images[:100])
    served = [torch.cat([x for x, _ in a.test_dataloader()]) for _ in range(2)]
    assert torch.equal(served[0], a.test.images) and torch.equal(served[1], a.test.images)  # not redrawn per epoch


def test_mean_of_dynamic_draws_approaches_the_grey_value(grey) -> None:
    images, copies, epochs = grey.train.images[:8], 500, 8  # E = 4,000 draws of each pixel
    batches = TensorBatches((images.repeat(copies, 1, 1, 1),), 8 * copies, shuffle=False, dynamic_binarize=True)
    draws = torch.cat([next(iter(batches))[0] for _ in range(epochs)])  # one batch per epoch, a new epoch each time
    mean = draws.reshape(copies * epochs, *images.shape).mean(0)
    # a pixel's mean of E draws has standard deviation sqrt(p(1−p)/E) (≤ 0.008): 5σ per pixel leaves a correct
    # implementation a < 0.4 % chance, union-bounded over the 6,272 pixels, of failing; + 1e-6 for p in {0, 1}
    assert ((mean - images).abs() <= 5 * (images * (1 - images) / (copies * epochs)).sqrt() + 1e-6).all()
    assert abs((mean - images).mean()) < 5 * math.sqrt(0.25 / (copies * epochs) / images.numel())  # no overall bias


def test_binarize_is_an_option_of_every_in_memory_image_dataset() -> None:
    for name in ("digits", "mnist5k", "mnist", "fashion_mnist", "cifar10", "celeba"):
        assert DATAMODULES.get(name)(binarize="dynamic").binarize == "dynamic"
    with pytest.raises(ValueError, match="binarize"):
        DATAMODULES.get("mnist5k")(binarize="yes")
