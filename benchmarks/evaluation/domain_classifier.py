"""The ``domain`` FID feature network: a small classifier trained on a dataset's own labels.

Features from a network trained on the data being generated are the practice for MNIST-like data, where
ImageNet (Inception) features mean little. One linear head per label column (several for factor datasets such
as dSprites), summed cross-entropy; early-stopped and selected on val loss. Everything that shapes it is in
:data:`RECIPE`, which :mod:`benchmarks.evaluation.features` hashes into the cache file name.

- Labels are the DataModule's :meth:`~datamodules.base.InMemoryDataModule.classifier_labels`: dSprites folds
  the orientation of its symmetric shapes (a square repeats every 90°), so that no class is asked of the
  classifier that the pixels cannot tell apart.
- The features are standardised with the mean and standard deviation of each feature over the training split,
  so a FID is in units of the training features' spread, whatever the classifier's internal scale.
- Images of 64 px and more are average-pooled to half their side first: a quarter of the work, and dSprites'
  32 positions are still two pixels apart at 32 px. They train at a higher learning rate (``pooled_lr``): on
  dSprites (10,000 training images, 3,000 steps, ~55 CPU-seconds on one core) the held-out shape accuracy reached
  0.79 at 3e-3 against 0.67 at 1e-3 (chance 0.35, bar 0.69), orientation (folded) 0.51 against 0.25 (chance 0.07).
- The classifier is valid for FID when its held-out accuracy on every label clears :func:`accuracy_bar`;
  :func:`unreliable_labels` names the labels that do not, and the report marks the FID columns then.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from datamodules import InMemoryDataModule, TensorBatches

# Everything that shapes the classifier and its features: a change here changes the cache file name.
RECIPE: dict[str, Any] = {
    "version": 3,
    "min_conv_size": 28,  # smaller images (8×8 digits) get an MLP: too small for a conv stack to pay off
    "mlp_hidden": 256,
    "mlp_features": 64,  # few features: FID covariances are estimated from a few hundred test images
    "conv_channels": [16, 32, 64],  # ~60 ms a step at 64×64, batch 128, on 2 busy cores ([32, 64, 128]: 300)
    "conv_features": 128,
    "batch_size": 128,
    "lr": 1e-3,
    "pooled_lr": 3e-3,  # for images pooled first (see the module docstring)
    "weight_decay": 1e-4,
    "max_steps": 3000,  # across epochs
    "pool_from": 64,  # images at least this large are average-pooled 2× first
    "standardize_images": 5000,  # training images used for the features' mean and standard deviation
    "eval_every": 50,  # steps between val evaluations
    "patience": 8,  # evaluations without a lower val loss before stopping
    "max_val": 5000,  # val images used for selection (large splits such as dSprites)
}


class DomainClassifier(nn.Module):
    """A trunk to ``n_features`` and one linear head per label column, on the ReLU of the trunk's output.

    The features are the trunk's output before that ReLU: no dead (constant) dimensions, closer to the
    Gaussian that FID assumes. A conv trunk for images of at least ``min_conv_size`` pixels, else an MLP.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: tuple[int, ...]) -> None:
        super().__init__()
        c, h, w = image_shape
        self.is_mlp = min(h, w) < RECIPE["min_conv_size"]
        pool: list[nn.Module] = [nn.AvgPool2d(2)] if min(h, w) >= RECIPE["pool_from"] else []
        self.lr = RECIPE["pooled_lr"] if pool else RECIPE["lr"]
        if self.is_mlp:
            hidden, self.n_features = RECIPE["mlp_hidden"], RECIPE["mlp_features"]
            layers = [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, self.n_features)]
        else:
            ch, self.n_features = RECIPE["conv_channels"], RECIPE["conv_features"]
            layers = pool + [m for i, o in zip([c, *ch], ch) for m in (nn.Conv2d(i, o, 4, stride=2, padding=1), nn.ReLU())]
            # pooling to 4×4, not 1×1, keeps a coarse layout: position factors need it
            layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(ch[-1] * 16, self.n_features)]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(self.n_features, k) for k in num_classes)
        # the training features' mean and standard deviation, set after training (part of the cached state)
        self.register_buffer("feature_mean", torch.zeros(self.n_features))
        self.register_buffer("feature_std", torch.ones(self.n_features))

    def features(self, images: Tensor) -> Tensor:
        """The trunk's output standardised with the training features' statistics: what FID is computed on."""
        return (self.trunk(images) - self.feature_mean) / self.feature_std

    def forward(self, images: Tensor) -> list[Tensor]:
        hidden = torch.relu(self.trunk(images))
        return [head(hidden) for head in self.heads]


def accuracy_bar(chance: float) -> float:
    """The held-out accuracy a label must reach for the features to count as informative about it: twice the
    majority-class rate, and at least 10 points above it."""
    return min(1.0, max(2 * chance, chance + 0.1))


def unreliable_labels(meta: dict[str, Any]) -> list[str]:
    """The labels whose test accuracy is below :func:`accuracy_bar` of their chance level."""
    return [k for k, acc in meta["test_acc"].items() if acc < accuracy_bar(meta["chance"][k])]


def build_classifier(datamodule: InMemoryDataModule, seed: int) -> DomainClassifier:
    """An untrained classifier for the datamodule's image shape and label columns, initialised from ``seed``."""
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        return DomainClassifier(datamodule.image_shape, datamodule.num_classes)


def _columns(labels: Tensor) -> Tensor:
    """Labels as (N, F): single-label datasets give (N,)."""
    return labels.reshape(len(labels), -1)


def _scores(model: DomainClassifier, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Cross-entropy summed over label columns (mean over the batch) and correct predictions per column."""
    logits = model(images)
    loss = sum(nn.functional.cross_entropy(out, labels[:, j]) for j, out in enumerate(logits))
    correct = torch.stack([(out.argmax(1) == labels[:, j]).sum() for j, out in enumerate(logits)])
    return loss, correct  # type: ignore[return-value]


@torch.no_grad()
def _evaluate(model: DomainClassifier, images: Tensor, labels: Tensor, batch: int = 1024) -> tuple[float, list[float]]:
    """Mean loss and accuracy per label column over a whole split, in batches."""
    loss, correct = 0.0, torch.zeros(labels.shape[1], dtype=torch.long)
    for i in range(0, len(images), batch):
        batch_loss, batch_correct = _scores(model, images[i : i + batch], labels[i : i + batch])
        loss += float(batch_loss) * len(images[i : i + batch])
        correct += batch_correct
    return loss / len(images), (correct.double() / len(images)).tolist()


def train_classifier(
    datamodule: InMemoryDataModule, seed: int, on_progress: Callable[[str, float], None] | None = None
) -> tuple[DomainClassifier, dict[str, Any]]:
    """Train the domain classifier, early-stopped and selected on val loss; returns it and its metadata.

    ``on_progress(status, fraction)`` is called at every validation (for a progress line).

    A plain loop over the in-memory tensors rather than a Trainer: this is a measuring instrument, not a
    benchmarked model, and nothing a Trainer adds (logging, checkpoints, strategies) is needed here.
    """
    start, threads = time.perf_counter(), torch.get_num_threads()
    train, val, test = datamodule.evaluation_train, datamodule.val, datamodule.test  # binary where the data are
    labels = {name: _columns(datamodule.classifier_labels(split.labels)) for name, split in (("train", train),
              ("val", val), ("test", test))}  # fmt: skip
    val_images, val_labels = val.images[: RECIPE["max_val"]], labels["val"][: RECIPE["max_val"]]
    model = build_classifier(datamodule, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=model.lr, weight_decay=RECIPE["weight_decay"])
    epoch = TensorBatches((train.images, labels["train"]), RECIPE["batch_size"], shuffle=True, seed=seed)
    batches = itertools.islice(itertools.chain.from_iterable(itertools.repeat(epoch)), RECIPE["max_steps"])
    best_loss, best_state, best_step, stale = float("inf"), model.state_dict(), 0, 0
    if model.is_mlp:  # tiny matmuls: a second thread only adds sync (measured 25x slower on a busy 2-core box)
        torch.set_num_threads(1)
    try:
        for step, (batch_images, batch_labels) in enumerate(batches, start=1):
            loss, _ = _scores(model, batch_images, batch_labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % RECIPE["eval_every"] == 0:
                val_loss, _ = _evaluate(model, val_images, val_labels)
                if on_progress is not None:
                    on_progress(f"step {step}/{RECIPE['max_steps']}, val loss {val_loss:.3f}", step / RECIPE["max_steps"])
                stale = 0 if val_loss < best_loss else stale + 1
                if stale == 0:
                    best_loss, best_step = val_loss, step
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
                elif stale >= RECIPE["patience"]:
                    break
        model.load_state_dict(best_state)
        with torch.no_grad():
            trunk = torch.cat([model.trunk(x) for x in train.images[: RECIPE["standardize_images"]].split(1024)])
            model.feature_mean.copy_(trunk.mean(0))
            model.feature_std.copy_(trunk.std(0).clamp(min=1e-6))
        names = datamodule.label_names
        majority = [float(torch.bincount(col).max()) / len(col) for col in labels["test"].T]
        meta = {
            "val_acc": dict(zip(names, _evaluate(model, val_images, val_labels)[1])),
            "test_acc": dict(zip(names, _evaluate(model, test.images, labels["test"])[1])),
            "chance": dict(zip(names, majority)),
        }
    finally:
        torch.set_num_threads(threads)
    meta.update(n_features=model.n_features, best_step=best_step, train_seconds=round(time.perf_counter() - start, 2))
    return model, meta
