"""The registries carry the whole suite: a metric or a model defined in this file, and registered from it, is
trained, evaluated, written to results files and shown in the table with no file of ``benchmarks/`` touched."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import pytest
import torch
import yaml
from torch import Tensor, nn

from aebench_registry import Registry
from benchmarks.cli import main
from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics import METRICS, Key, Metric, describe
from lightning_modules import MODELS, Posterior


def _config(tmp_path: Path, models: list[dict[str, Any]], **evaluation: Any) -> Path:
    path = tmp_path / "c.yaml"
    config = {
        "name": "registry",
        "output_dir": str(tmp_path / "out"),
        "seeds": [0, 1],
        "datasets": [{"name": "digits", "batch_size": 256}],
        "models": models,
        "trainer": {"max_epochs": 2, "accelerator": "cpu"},
        "evaluation": {"iwae_k": 4, "samplers": ["prior", "gauss"], "fid_samples": 100, "baselines": [], **evaluation},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _records(tmp_path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "results").glob("*.json")]
    return {(r["label"], r["seed"]): r for r in records}


class MeanBrightness(Metric):
    """A throwaway metric: the mean pixel of the reconstructions, which a test can recompute by hand."""

    name = "mean_brightness"
    keys = (Key("mean_brightness", True, "mean pixel value of the reconstructions"),)
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        return {"mean_brightness": float(inputs.reconstructions.mean())}


def test_a_metric_registered_from_a_test_reaches_results_files_and_the_table(tmp_path: Path) -> None:
    with METRICS.added(MeanBrightness.name, MeanBrightness):
        assert describe("mean_brightness").higher_is_better is True
        assert main(["run", "--config", str(_config(tmp_path, [{"name": "ae", "latent_dim": 2, "hidden": [16]}]))]) == 0
    records = _records(tmp_path)
    values = [r["metrics"]["mean_brightness"] for r in records.values()]
    assert len(values) == 2 and all(0.0 < v < 1.0 for v in values)
    assert all("mean_brightness" in r["metric_seconds"] for r in records.values())
    table = (tmp_path / "out" / "table.md").read_text()
    headers = [line for line in table.splitlines() if line.startswith("| model")]
    assert "mean_brightness ↑" in headers[-1]  # its own column group ("other", last), its declared direction's arrow
    assert "mean_brightness" not in METRICS  # and it is gone again after the block


class UniformPrior:
    """The uniform distribution on the cube [-1, 1]^D: not Gaussian, and without a KL to N(0, I)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return 2 * torch.rand(n, self.dim, generator=generator) - 1

    def log_prob(self, z: Tensor) -> Tensor:
        inside = (z.abs() <= 1).all(-1)
        return torch.where(inside, -self.dim * math.log(2.0), -math.inf)


class CubeAE(pl.LightningModule):
    """A model written against the interface alone (not the suite's base class): codes squashed into the cube."""

    def __init__(self, image_shape: Sequence[int], latent_dim: int = 2, lr: float = 1e-2) -> None:
        super().__init__()
        pixels = math.prod(image_shape)
        self.image_shape, self.lr = tuple(image_shape), lr
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 32), nn.ReLU(), nn.Linear(32, latent_dim), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 32), nn.ReLU(), nn.Linear(32, pixels))
        self.prior = UniformPrior(latent_dim)

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(self.encoder(x))

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z)).reshape(len(z), *self.image_shape)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        logits = self.decoder(z).reshape(len(z), *self.image_shape)
        return -nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x = batch[0]
        loss = -self.log_likelihood(x, self.encode(x).mean).mean()
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def test_a_model_with_a_non_gaussian_prior_is_benchmarked_end_to_end(tmp_path: Path) -> None:
    with MODELS.added("cube_ae", CubeAE):
        config = _config(tmp_path, [{"name": "cube_ae", "latent_dim": 2}, {"name": "vae", "latent_dim": 2, "hidden": [16]}])
        assert main(["run", "--config", str(config)]) == 0
    records = _records(tmp_path)
    cube = records[("cube_ae", 0)]["metrics"]
    assert {"recon_mse", "fid_prior", "fid_gauss", "fid_recon", "interp_path_ratio", "probe_acc"} <= set(cube)
    # no Gaussian posterior: the likelihood bounds, KL and collapse indicators do not apply (n/a, no crash)
    assert not {"elbo", "nll_iwae", "kl_total", "active_units", "mutual_info"} & set(cube)
    assert {"elbo", "nll_iwae", "kl_total"} <= set(records[("vae", 0)]["metrics"])
    rows = {row["label"]: row for row in json.loads((tmp_path / "out" / "table.json").read_text())["rows"]}
    assert set(rows) == {"cube_ae", "vae"} and "fid_prior" in rows["cube_ae"]["stats"]
    figure = tmp_path / "out" / "figures" / "digits" / "samples.png"
    assert figure.is_file()  # its prior samples are drawn like any model's


def test_a_class_outside_the_registry_base_or_a_taken_name_is_refused() -> None:
    registry: Registry[type] = Registry("model", base=pl.LightningModule)
    with pytest.raises(TypeError, match="must subclass LightningModule"):
        registry.add("dict", dict)
    registry.add("cube", CubeAE)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("cube", CubeAE)
    assert registry.remove("cube") is CubeAE and "cube" not in registry
