"""The worked examples run as their READMEs say, so they cannot rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.config import load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "custom_model"


def test_the_custom_model_example_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # what `PYTHONPATH=.` at the repository root does for a user
    from examples.custom_model.make_data import write_digits

    data = write_digits(tmp_path / "digits.npz")
    assert load_config(EXAMPLE / "config.yaml").datasets[0].options["path"] == str(EXAMPLE / "digits.npz")
    shrink = ["--datasets.0.path", str(data), "--seeds", "[0]", "--trainer.max_epochs", "1",
              "--evaluation.metrics", "[recon_mse, elbo, kl]", "--evaluation.iwae_k", "4"]  # fmt: skip
    out = tmp_path / "out"
    assert main(["run", "--config", str(EXAMPLE / "config.yaml"), "--output-dir", str(out), *shrink]) == 0
    records = {r["label"]: r for r in (json.loads(p.read_text()) for p in (out / "results").glob("*.json"))}
    assert {"tiny_vae", "vae"} <= set(records)  # beside the linear baselines
    assert all(math.isfinite(records[label]["metrics"]["recon_mse"]) for label in ("tiny_vae", "vae"))
    assert "kl_total" in records["tiny_vae"]["metrics"]  # its Gaussian posterior and N(0, I) prior are seen
    rows = {row["label"] for row in json.loads((out / "table.json").read_text())["rows"]}
    assert {"tiny_vae", "vae"} <= rows
