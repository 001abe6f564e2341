"""Shared fixtures: offline W&B, a per-session feature cache, a tiny benchmark config on digits, and that benchmark
trained once per session for the tests that only read (a copy of) its outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):  # one process per core under `-n`: a second thread each only oversubscribes
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test session shared by all its xdist workers (each worker's own base folder otherwise)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _feature_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Domain classifiers trained by tests go to one temporary cache, shared by the whole session and its workers
    (the cache writes atomically, so two workers training one classifier at once only duplicate work)."""
    cache = _session_root(tmp_path_factory) / "aebench-cache"
    cache.mkdir(exist_ok=True)
    os.environ["AEBENCH_CACHE"] = str(cache)


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
    """The output folder of the tiny config, trained once per session by whichever xdist worker needs it first
    (do not modify it: use ``tiny_copy``)."""
    from benchmarks.cli import main

    folder = _session_root(tmp_path_factory) / "tiny-benchmark"
    with FileLock(f"{folder}.lock"):
        if not (folder / "trained").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed half-way left it
            folder.mkdir()
            config = folder / "tiny.yaml"
            config.write_text(yaml.safe_dump({**TINY_CONFIG, "output_dir": str(folder / "out")}))
            assert main(["run", "--config", str(config)]) == 0
            (folder / "trained").touch()
    return folder / "out"


@pytest.fixture
def tiny_copy(tiny_benchmark: Path, tmp_path: Path) -> Path:
    """A private copy of the trained tiny benchmark: ``tmp_path/tiny.yaml`` whose output folder is ``tmp_path/out``."""
    shutil.copytree(tiny_benchmark, tmp_path / "out", ignore=shutil.ignore_patterns(".aebench.lock"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "output_dir": str(tmp_path / "out")}))
    return config
