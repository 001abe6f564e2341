"""Shared fixtures: offline W&B, a per-session feature cache, a tiny benchmark config on digits, and that benchmark
trained once per session for the tests that only read (a copy of) its outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):  # one process per core under `-n`: a second thread each only oversubscribes
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _feature_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Domain classifiers trained by tests go to one temporary cache, shared by the whole session."""
    os.environ["AEBENCH_CACHE"] = str(tmp_path_factory.mktemp("aebench-cache"))


TINY_CONFIG: dict[str, Any] = {
    "name": "tiny",
    "seeds": [0, 1],
    "datasets": [{"name": "digits", "batch_size": 128}],
    "models": [
        {"name": "ae", "latent_dim": 4, "hidden": [32]},
        {"name": "vae", "latent_dim": 4, "hidden": [32]},
        {"name": "beta_vae", "latent_dim": 4, "hidden": [32], "beta": 2.0},
    ],
    "trainer": {"max_epochs": 2, "accelerator": "cpu"},
    "evaluation": {"iwae_k": 8, "samplers": ["prior", "gauss"], "gmm_components": 2, "fid_samples": 200},
}


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the tiny config, trained once per session (do not modify it: use ``tiny_copy``)."""
    from benchmarks.cli import main

    folder = tmp_path_factory.mktemp("tiny-benchmark")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "output_dir": str(folder / "out")}))
    assert main(["run", "--config", str(config)]) == 0
    return folder / "out"


@pytest.fixture
def tiny_copy(tiny_benchmark: Path, tmp_path: Path) -> Path:
    """A private copy of the trained tiny benchmark: ``tmp_path/tiny.yaml`` whose output folder is ``tmp_path/out``."""
    shutil.copytree(tiny_benchmark, tmp_path / "out", ignore=shutil.ignore_patterns(".aebench.lock"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "output_dir": str(tmp_path / "out")}))
    return config
