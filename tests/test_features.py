"""FID feature extractors: a meaningful domain classifier, its on-disk cache, and loud backend errors."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import torch

import benchmarks.evaluation.features as features
from benchmarks.evaluation.features import INCEPTION_WEIGHTS, get_feature_extractor
from datamodules import DATAMODULES


@pytest.fixture(scope="module")
def digits():
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


def domain(dm, cache_dir, **kwargs):
    return get_feature_extractor("domain", dm, dataset_name="digits", cache_dir=cache_dir, **kwargs)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """The digits extractor, trained once into a module cache dir; tests work on copies of its file."""
    return domain(digits, tmp_path_factory.mktemp("cache"))


@pytest.fixture
def cached(trained, tmp_path) -> Path:
    """A copy of the trained cache file in this test's ``tmp_path``."""
    source = Path(trained.info["cache_path"])
    shutil.copy(source, tmp_path / source.name)
    return tmp_path / source.name


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the domain classifier was retrained")

    monkeypatch.setattr(features, "train_classifier", fail)


def test_domain_classifier_is_accurate_and_its_features_frozen(digits, trained):
    info = trained.info
    assert info["backend"] == "domain" and info["retrained"] is True
    assert info["test_acc"]["label"] > 0.9  # the features separate the digits: FID on them means something
    assert Path(info["cache_path"]).name.startswith("domain-digits-split0-")
    feats = trained(digits.test.images)
    assert feats.shape == (len(digits.test), trained.num_features) == (len(digits.test), info["n_features"])
    assert all(not p.requires_grad for p in trained.parameters())
    assert not trained.train().training  # stays in eval mode
    assert feats.std(dim=0).min() > 0  # no dead (constant) feature dimension


def test_cache_is_reused_without_retraining(digits, trained, cached, monkeypatch):
    forbid_training(monkeypatch)
    loaded = domain(digits, cached.parent)
    assert loaded.info["retrained"] is False and loaded.info["cache_path"] == str(cached)
    assert loaded.info["test_acc"] == trained.info["test_acc"]
    images = digits.test.images[:20]
    assert torch.equal(loaded(images), trained(images))


def test_cache_dir_defaults_to_env(digits, cached, monkeypatch):
    forbid_training(monkeypatch)
    monkeypatch.setenv("AEBENCH_CACHE", str(cached.parent))
    assert get_feature_extractor("domain", digits, dataset_name="digits").info["cache_path"] == str(cached)


def damage_cache(path: Path, damage: str) -> None:
    data = path.read_bytes()
    middle = len(data) // 2
    if damage == "truncate":
        path.write_bytes(data[:middle])
    elif damage == "zero_bytes":  # overwrite bytes in the middle, where the weights are
        path.write_bytes(data[:middle] + bytes(16) + data[middle + 16 :])
    else:  # a well-formed file whose weights changed after the checksum was taken: only the checksum sees it
        wrapper = torch.load(path, weights_only=True)
        content = torch.load(io.BytesIO(wrapper["payload"]), weights_only=True)
        next(iter(content["state_dict"].values())).add_(1.0)
        payload = io.BytesIO()
        torch.save(content, payload)
        torch.save({"sha256": wrapper["sha256"], "payload": payload.getvalue()}, path)


@pytest.mark.parametrize("damage", ["truncate", "zero_bytes", "edited_weights"])
def test_corrupt_cache_is_detected_and_rebuilt(digits, trained, cached, damage):
    damage_cache(cached, damage)
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = domain(digits, cached.parent)
    assert rebuilt.info["retrained"] is True
    images = digits.test.images[:20]
    assert torch.equal(rebuilt(images), trained(images))  # training is deterministic from the seed
    assert domain(digits, cached.parent).info["retrained"] is False  # and the rebuilt file is sound


def test_cache_is_not_used_for_another_split_or_seed(cached, monkeypatch):
    forbid_training(monkeypatch)
    other_split = DATAMODULES.get("digits")(test_fraction=0.3)  # same split seed, another test set
    with pytest.raises(AssertionError, match="retrained"):
        domain(other_split, cached.parent)
    with pytest.raises(AssertionError, match="retrained"):
        domain(DATAMODULES.get("digits")(), cached.parent, seed=1)


def test_inception_without_weights_says_where_to_put_them(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        get_feature_extractor("inception", digits, dataset_name="digits", cache_dir=tmp_path)
    message = str(err.value)
    assert INCEPTION_WEIGHTS in message and str(tmp_path / "hub" / "checkpoints") in message


def test_inception_wrapper_takes_grey_float_images(digits, tmp_path, monkeypatch):
    """The wrapper around torch-fidelity's network, with random weights (the real file is not available)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / INCEPTION_WEIGHTS).write_bytes(b"")
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: {})
    monkeypatch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state_dict: None)
    extractor = get_feature_extractor("inception", digits, dataset_name="digits", cache_dir=tmp_path)
    grey = digits.test.images[:1]
    feats = extractor(grey)
    assert feats.shape == (1, 2048) == (1, extractor.num_features)
    assert torch.allclose(feats, extractor(grey.expand(-1, 3, -1, -1)))


def test_unknown_backend_lists_the_valid_ones(digits, tmp_path):
    with pytest.raises(ValueError, match="domain, inception"):
        get_feature_extractor("clip", digits, dataset_name="digits", cache_dir=tmp_path)
