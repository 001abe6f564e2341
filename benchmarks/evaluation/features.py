"""Feature extractors for FID and KID: a classifier trained on the dataset itself, or InceptionV3.

``domain`` (default, offline): the penultimate layer of a small classifier trained on the DataModule's train
split (:mod:`benchmarks.evaluation.domain_classifier`), cached on disk; its test accuracy is in ``info`` so a reader can
tell whether the features mean something. ``inception``: torch-fidelity's InceptionV3 pool features (2048)
as torchmetrics uses them; needs the weights file, which is never downloaded here.

Both give a frozen :class:`FeatureExtractor`. Keep it out of LightningModules: it would land in every
checkpoint and in ``parameters()``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from aebench_registry import Registry
from benchmarks.evaluation.domain_classifier import (
    RECIPE,
    DomainClassifier,
    build_classifier,
    train_classifier,
    unreliable_labels,
)
from benchmarks.files import write_bytes_atomic
from benchmarks.progress import stage
from datamodules import InMemoryDataModule

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS}"

BACKENDS: Registry[Callable[..., FeatureExtractor]] = Registry("feature backend")


class FeatureExtractor(nn.Module):
    """A frozen network mapping images (N, C, H, W) in [0, 1] to features (N, ``num_features``).

    ``info`` says how the features were made (backend, n_features, test accuracy of the domain classifier,
    cache path, whether it was retrained). ``classifier`` is the domain classifier whose trunk the features are
    (None for ``inception``): the metrics that ask "which class is this image?" read its heads.
    ``train()`` is a no-op: the extractor never leaves eval mode.
    """

    def __init__(
        self, net: nn.Module, num_features: int, info: dict[str, Any], classifier: DomainClassifier | None = None
    ) -> None:
        super().__init__()
        self.net = net
        self.num_features = num_features  # torchmetrics reads it instead of running a dummy forward
        self.info = info
        self.classifier = classifier
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


def _cache_key(datamodule: InMemoryDataModule, seed: int) -> dict[str, Any]:
    """What the cached classifier depends on: the recipe, the training seed and the exact splits."""
    splits = (datamodule.train, datamodule.val, datamodule.test)
    labels = hashlib.sha256(b"".join(s.labels.contiguous().numpy().tobytes() for s in splits)).hexdigest()
    key = {
        "recipe": RECIPE,
        "seed": seed,
        "image_shape": datamodule.image_shape,
        "num_classes": datamodule.num_classes,
        "split_sizes": [len(s) for s in splits],
        "labels_sha256": labels,  # a split from other fractions or another split seed changes this
        "binarize": datamodule.binarize,  # binary and grey images give different features
        "classifier_labels": type(datamodule).classifier_labels.__qualname__,  # how labels are folded
    }
    return json.loads(json.dumps(key))  # as plain JSON types, to compare with what a cache file holds


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _write_cache(path: Path, state_dict: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Payload and its sha256 in one file, written atomically (a crash leaves the old file or none)."""
    payload = _torch_bytes({"state_dict": state_dict, "meta": meta})
    write_bytes_atomic(path, _torch_bytes({"sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}))


def _load_cached(
    path: Path, key: dict[str, Any], datamodule: InMemoryDataModule, seed: int
) -> tuple[DomainClassifier, dict[str, Any]] | None:
    """The classifier cached at ``path``, or None: absent, or unusable (warned about: corrupt, other key)."""
    if not path.exists():
        return None
    try:
        wrapper = torch.load(path, weights_only=True)
        if hashlib.sha256(wrapper["payload"]).hexdigest() != wrapper["sha256"]:
            raise ValueError("checksum mismatch")
        content = torch.load(io.BytesIO(wrapper["payload"]), weights_only=True)
        if content["meta"]["key"] != key:
            raise ValueError("it was built for another dataset split or recipe")
        model = build_classifier(datamodule, seed)
        model.load_state_dict(content["state_dict"])
        return model, content["meta"]
    except Exception as err:  # truncated zip, bad pickle, checksum, wrong keys or shapes: all mean "rebuild it"
        warnings.warn(f"domain classifier cache {path} is unusable ({err!r}); retraining it", stacklevel=4)
        return None


@BACKENDS.register("domain")
def _domain_extractor(
    datamodule: InMemoryDataModule, *, dataset_name: str, cache_dir: Path, seed: int
) -> FeatureExtractor:
    """The trunk of the cached domain classifier for this dataset split, trained (and cached) if need be."""
    datamodule.setup()
    key = _cache_key(datamodule, seed)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir / f"domain-{dataset_name}-split{datamodule.split_seed}-{digest}.pt"
    cached = _load_cached(path, key, datamodule, seed)
    if cached is None:
        with stage(f"FID feature classifier for {dataset_name} (trained once, then cached)") as progress:
            model, meta = train_classifier(datamodule, seed, on_progress=progress.update)
            progress.done("test accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in meta["test_acc"].items()))
        meta["key"] = key
        _write_cache(path, model.state_dict(), meta)
    else:
        model, meta = cached
    info = {k: meta[k] for k in ("n_features", "test_acc", "val_acc", "chance", "train_seconds")}
    info.update(backend="domain", cache_path=str(path), retrained=cached is None, unreliable=unreliable_labels(meta))
    return FeatureExtractor(_Standardized(model), model.n_features, info, classifier=model)


class _Standardized(nn.Module):
    """The classifier's standardised features (:meth:`DomainClassifier.features`) as a module."""

    def __init__(self, classifier: DomainClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.features(images)


class _InceptionInput(nn.Module):
    """Float images in [0, 1], grey or RGB, to the uint8 RGB that torch-fidelity's InceptionV3 takes.

    The conversion is torchmetrics' own for ``normalize=True``: ``(x * 255).byte()`` (truncating).
    """

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] not in (1, 3):
            raise ValueError(f"inception features need 1 or 3 channels, got {images.shape[1]}")
        return (images.expand(-1, 3, -1, -1) * 255).byte()


def inception_weights() -> Path:
    """Where torch-fidelity's InceptionV3 weights are looked up: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def missing_inception_weights() -> str | None:
    """Why the ``inception`` backend cannot run here (its weights file is absent), or None."""
    weights = inception_weights()
    if weights.is_file():
        return None
    return (
        f"the inception FID backend needs the InceptionV3 weights file {INCEPTION_WEIGHTS} in "
        f"{weights.parent} (that is $TORCH_HOME/hub/checkpoints; TORCH_HOME defaults to ~/.cache/torch). "
        f"Download it from {INCEPTION_URL} on a machine with network access and copy it there, "
        "or use the offline backend 'domain'."
    )


@BACKENDS.register("inception")
def _inception_extractor(datamodule: InMemoryDataModule, **_: Any) -> FeatureExtractor:
    problem = missing_inception_weights()
    if problem is not None:  # checked first: torch-fidelity would otherwise try to download it
        raise FileNotFoundError(problem)
    weights = inception_weights()
    from torchmetrics.image.fid import NoTrainInceptionV3

    inception = NoTrainInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    info = {"backend": "inception", "n_features": 2048, "weights": str(weights)}
    return FeatureExtractor(nn.Sequential(_InceptionInput(), inception), 2048, info)


def get_feature_extractor(
    backend: str,
    datamodule: InMemoryDataModule,
    *,
    dataset_name: str,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> FeatureExtractor:
    """The frozen feature extractor of ``backend`` (``domain`` or ``inception``) for this dataset.

    ``cache_dir`` holds trained domain classifiers; default ``$AEBENCH_CACHE`` or ``~/.cache/aebench``.
    ``seed`` seeds the domain classifier's initialisation and batch order.
    """
    if backend not in BACKENDS:
        raise ValueError(BACKENDS.unknown_message(backend))
    if cache_dir is None:
        cache_dir = os.environ.get("AEBENCH_CACHE", "~/.cache/aebench")
    build = BACKENDS.get(backend)
    return build(datamodule, dataset_name=dataset_name, cache_dir=Path(cache_dir).expanduser(), seed=seed)
