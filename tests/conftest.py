"""Shared fixtures: offline W&B, a per-session feature cache, and a tiny benchmark config on digits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


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


@pytest.fixture
def tiny_config_file(tmp_path: Path) -> Path:
    """The tiny config as a YAML file whose output_dir is inside ``tmp_path``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY_CONFIG, "output_dir": str(tmp_path / "out")}))
    return path
