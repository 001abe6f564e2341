"""A user's own model (by import path or entry point) and own data (``tensor_file``): benchmarked end to end, and
every mistake in them reported by name before anything trains."""

from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from benchmarks.cli import main
from benchmarks.config import ConfigError, load_config
from benchmarks.execution.preflight import preflight
from datamodules.base import DataFileError, split_indices
from datamodules.tensor_file import TensorFileDataModule
from tests.test_registry import CubeAE

SELF = "tests.test_custom"


class SmallAE(CubeAE):
    """A model outside the package, found through this module's import path (the cube AE of test_registry)."""


class NoDecode(SmallAE):
    decode = None  # type: ignore[assignment]


def _config(tmp_path: Path, models: list[Any], datasets: list[Any] | None = None, **evaluation: Any) -> Path:
    path = tmp_path / "c.yaml"
    config = {
        "name": "custom",
        "output_dir": str(tmp_path / "out"),
        "seeds": [0],
        "datasets": datasets or [{"name": "digits", "batch_size": 256}],
        "models": models,
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "evaluation": {"metrics": ["recon_mse", "probe_acc"], "baselines": [], **evaluation},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _recon_mse(tmp_path: Path) -> dict[str, float]:
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "results").glob("*.json")]
    return {r["label"]: r["metrics"]["recon_mse"] for r in records}


def test_a_model_named_by_import_path_is_benchmarked_end_to_end(tmp_path: Path) -> None:
    assert main(["run", "--config", str(_config(tmp_path, [{"name": f"{SELF}:SmallAE", "label": "small"}]))]) == 0
    mse = _recon_mse(tmp_path)
    assert set(mse) == {"small"} and math.isfinite(mse["small"])


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points as an installed package would declare them: a model, a dataset and a broken model."""
    fake = {
        "aebench.models": [
            importlib.metadata.EntryPoint("small_ae", f"{SELF}:SmallAE", "aebench.models"),
            importlib.metadata.EntryPoint("broken", "no_such_package.models:Model", "aebench.models"),
        ],
        "aebench.datasets": [importlib.metadata.EntryPoint("my_files", f"{TensorFileDataModule.__module__}:"
                                                           "TensorFileDataModule", "aebench.datasets")],
    }  # fmt: skip
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: fake.get(kw.get("group"), real(**kw)))


def test_a_model_registered_through_an_entry_point_is_listed_and_benchmarked(
    tmp_path: Path, installed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ls"]) == 0
    listing = capsys.readouterr().out
    assert f"small_ae ({SELF}:SmallAE)" in listing and "my_files (datamodules.tensor_file" in listing
    assert main(["run", "--config", str(_config(tmp_path, ["small_ae"]))]) == 0
    mse = _recon_mse(tmp_path)
    assert set(mse) == {"small_ae"} and math.isfinite(mse["small_ae"])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("no_such_package.models:Model", r"cannot import module 'no_such_package.models' \(ModuleNotFoundError"),
        (f"{SELF}:Missing", f"module '{SELF}' has no attribute 'Missing'"),
        (f"{SELF}:NoDecode", r"lacks decode of the model interface"),
        (f"{SELF}:Path", "must subclass LightningModule"),
        ({"name": f"{SELF}:SmallAE", "latnt_dim": 2}, r"models\[0\]\.latnt_dim: unknown key .*valid keys: latent_dim, lr"),
        ("broken", r"'broken' \(entry point 'no_such_package.models:Model' .*\) cannot be loaded: ModuleNotFoundError"),
        ("vea", r"did you mean 'vae'\?.*small_ae.*or an import path 'package.module:Class'"),
    ],
)  # fmt: skip
def test_a_bad_custom_model_is_a_config_error_naming_the_problem(
    tmp_path: Path, installed: None, model: Any, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(_config(tmp_path, [model]))


def _write(path: Path, arrays: dict[str, Any]) -> Path:
    if path.suffix == ".pt":
        torch.save({k: torch.as_tensor(v) for k, v in arrays.items()}, path)
    else:
        np.savez(path, **arrays)
    return path


GOOD = {"images": np.arange(50 * 64, dtype=np.int64).reshape(50, 8, 8).astype(np.uint8), "labels": np.arange(50) % 5}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"images": np.zeros((50, 64), np.uint8)}, r"'images': shape \(50, 64\); expected \(N, H, W\) or \(N, C, H, W\)"),
        ({"images": np.full((50, 8, 8), 1.5, np.float32)}, r"'images': float values in \[1.5, 1.5\].*in \[0, 1\]"),
        ({"images": np.zeros((50, 8, 8), np.int32)}, r"'images': dtype torch.int32; expected uint8"),
        ({"labels": np.arange(49)}, r"'labels': shape \(49,\); expected \(50,\) or \(50, K\), one row per image"),
        ({"labels": np.zeros(50, np.float32)}, r"'labels': dtype torch.float32; expected an integer dtype"),
        ({"labels": -np.ones(50, np.int64)}, r"'labels': negative value -1"),
        ({"label": np.zeros(50, np.int64)}, r"unknown array\(s\) 'label'; valid names: images, labels, factors"),
        ({"images": None}, r"no 'images' array \(found: labels\)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_a_malformed_tensor_file_names_the_file_and_the_array(
    tmp_path: Path, change: dict[str, Any], expected: str, suffix: str
) -> None:
    arrays = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = _write(tmp_path / f"data{suffix}", arrays)
    with pytest.raises(DataFileError, match=expected) as err:
        TensorFileDataModule(path=str(path)).setup()
    assert str(err.value).startswith(str(path))


def test_good_npz_and_pt_files_load_with_seeded_splits_in_range(tmp_path: Path) -> None:
    npz = TensorFileDataModule(path=str(_write(tmp_path / "d.npz", GOOD)), split_seed=3)
    npz.setup()
    assert [len(s) for s in (npz.train, npz.val, npz.test)] == [35, 5, 10]  # test 20%, val 10%, the rest train
    assert npz.image_shape == (1, 8, 8) and npz.num_classes == (5,) and npz.label_names == ("label",)
    order = split_indices(50, 0.1, 0.2, seed=3)
    expected = torch.from_numpy(GOOD["images"]).float().div(255).unsqueeze(1)
    assert all(torch.equal(s.images, expected[idx]) for s, idx in zip((npz.train, npz.val, npz.test), order))
    assert npz.train.images.dtype == torch.float32 and npz.test.labels.dtype == torch.long

    images = torch.rand(40, 3, 4, 4, generator=torch.Generator().manual_seed(0)).double()
    factors = torch.stack([torch.arange(40) % 2, torch.arange(40) % 4], 1)
    pt = TensorFileDataModule(path=str(_write(tmp_path / "d.pt", {"images": images, "factors": factors})),
                              val_fraction=0.25, test_fraction=0.25)  # fmt: skip
    pt.setup()
    assert [len(s) for s in (pt.train, pt.val, pt.test)] == [20, 10, 10]
    all_images = torch.cat([s.images for s in (pt.train, pt.val, pt.test)])
    assert pt.image_shape == (3, 4, 4) and 0 <= all_images.min() and all_images.max() <= 1
    assert torch.allclose(all_images.sum(), images.float().sum())  # every image in exactly one split
    assert pt.label_names == ("factor_0", "factor_1") and pt.num_classes == (2, 4)


def test_the_preflight_reports_a_missing_malformed_or_unlabelled_tensor_file(tmp_path: Path) -> None:
    model = {"name": "ae", "latent_dim": 2, "hidden": [8]}
    missing = load_config(_config(tmp_path, [model], [{"name": "tensor_file", "path": "absent.npz"}]))
    assert missing.datasets[0].options["path"] == str(tmp_path / "absent.npz")  # relative to the config's folder
    problems = preflight(missing, tmp_path / "out")
    expected = f"{tmp_path / 'absent.npz'} not found: the dataset's `path` must name a .npz or .pt file"
    assert problems == [f"datasets[0] (tensor_file): {expected}"]

    _write(tmp_path / "bad.npz", {**GOOD, "labels": np.arange(3)})
    bad = load_config(_config(tmp_path, [model], [{"name": "tensor_file", "path": "bad.npz"}]))
    assert any("bad.npz: 'labels': shape (3,)" in p for p in preflight(bad, tmp_path / "out"))

    _write(tmp_path / "unlabelled.npz", {"images": GOOD["images"]})
    unlabelled = _config(tmp_path, [model], [{"name": "tensor_file", "path": "unlabelled.npz"}], metrics=["fid_recon"])
    problems = preflight(load_config(unlabelled), tmp_path / "out")
    assert len(problems) == 1 and "the `domain` FID features are a classifier trained on labels" in problems[0]
    assert preflight(load_config(unlabelled, {"evaluation": {"metrics": ["recon_mse"]}}), tmp_path / "out") == []


def test_a_dataset_without_its_required_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.path: required key is missing"):
        load_config(_config(tmp_path, ["ae"], ["tensor_file"]))


