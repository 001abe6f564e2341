"""A 2-process DDP run on CPU gives the metrics of the equivalent 1-process run.

With ``TensorBatches``' sharding, 2 ranks at batch size B see exactly the batches of 1 process at 2B,
and DDP averages the ranks' gradients: for the deterministic AE the two trainings are the same
computation up to floating-point summation order, so the metrics agree to 1e-3 relative. (A VAE
differs by design: each rank draws its own reparameterisation noise.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.cli import main


def _run(tmp_path: Path, name: str, batch_size: int, trainer: dict) -> dict:
    config = {
        "name": name,
        "output_dir": str(tmp_path / name),
        "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": batch_size}],
        "models": [{"name": "ae", "latent_dim": 4, "hidden": [32]}],
        "trainer": {"max_epochs": 3, "accelerator": "cpu", **trainer},
        "evaluation": {"samplers": ["prior", "gauss"], "baselines": []},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path)]) == 0
    (result,) = (tmp_path / name / "results").glob("*.json")
    return json.loads(result.read_text())


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path) -> None:
    single = _run(tmp_path, "single", 64, {"devices": 1})
    ddp = _run(tmp_path, "ddp", 32, {"devices": 2, "strategy": "ddp_spawn"})
    assert ddp["steps"] == single["steps"] == 3 * 20  # ceil(1258 / 64) steps per epoch on every rank
    for key in ("recon_mse", "fid_recon", "fid_prior", "fid_gauss", "interp_path_ratio"):
        assert ddp["metrics"][key] == pytest.approx(single["metrics"][key], rel=1e-3), key
    # the probe's accuracy is a count of test images: codes equal to 1e-3 may still flip one prediction
    assert abs(ddp["metrics"]["probe_acc"] - single["metrics"]["probe_acc"]) <= 2 / single["n_test"]
    codes = [np.load(tmp_path / name / "results" / f"{r['run_id']}.npz")["latent_means"] for name, r in (("ddp", ddp), ("single", single))]
    np.testing.assert_allclose(codes[0], codes[1], rtol=1e-3, atol=1e-4)
    assert ddp["metrics"]["fid_data"] == single["metrics"]["fid_data"]  # model-independent: identical
