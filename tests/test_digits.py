"""The digits DataModule and the in-memory batching every DataModule shares."""

from __future__ import annotations

import torch

from datamodules import DATAMODULES, TensorBatches


def test_digits_splits_shapes_and_ranges() -> None:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    assert (len(dm.train), len(dm.val), len(dm.test)) == (1258, 180, 359)  # 1,797 = 70/10/20 %
    assert dm.image_shape == (1, 8, 8) and dm.num_classes == (10,)
    for split in (dm.train, dm.val, dm.test):
        assert split.images.dtype == torch.float32 and split.labels.dtype == torch.long
        assert split.images.min() == 0.0 and split.images.max() == 1.0  # 0–16 scaled by 16
    # the 16 grey levels survive the scaling: every pixel is a multiple of 1/16
    assert torch.equal(dm.train.images * 16, (dm.train.images * 16).round())


def test_digits_split_is_deterministic_and_seed_dependent() -> None:
    a, b, c = (DATAMODULES.get("digits")(split_seed=s) for s in (0, 0, 1))
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.test.images, c.test.images)
    # the splits partition the dataset: no test image appears in train
    rows = {tuple(r.tolist()) for r in a.train.images.flatten(1)}
    overlap = sum(tuple(r.tolist()) in rows for r in a.test.images.flatten(1))
    assert overlap < 5  # a few digits in sklearn's set are exact duplicates of each other


def test_tensor_batches_cover_every_item_once_per_epoch() -> None:
    x = torch.arange(10)
    batches = TensorBatches((x,), 4, shuffle=True, seed=3)
    assert len(batches) == 3
    epoch1 = torch.cat([b[0] for b in batches])
    epoch2 = torch.cat([b[0] for b in batches])
    assert sorted(epoch1.tolist()) == list(range(10)) == sorted(epoch2.tolist())
    assert not torch.equal(epoch1, epoch2)  # reshuffled each epoch


def test_tensor_batches_shard_disjointly_across_ranks() -> None:
    x = torch.arange(11)
    shards = [torch.cat([b[0] for b in TensorBatches((x,), 2, shuffle=True, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5  # equal shares: ranks run the same number of steps
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_ddp_shards_recompose_the_single_process_batches() -> None:
    """Rank batches of W processes at batch size B are exactly the batches of one process at W·B."""
    x = torch.arange(23)
    single = [b[0] for b in TensorBatches((x,), 6, shuffle=True, seed=1)]
    ranks = [[b[0] for b in TensorBatches((x,), 3, shuffle=True, seed=1, rank=r, world_size=2)] for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 4
    for i in range(3):  # full global batches
        assert torch.equal(torch.cat([ranks[0][i], ranks[1][i]]), single[i])
    assert len(ranks[0][3]) == len(ranks[1][3]) == 2  # last global batch of 5: split 2 + 2, one dropped
