"""Degenerate runs are flagged from their metrics and curves; early stopping ends a flat run and lets an
improving one reach its cap, and the report says which happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from benchmarks.cli import main
from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.evaluation.inputs import EvalContext
from benchmarks.reporting.flags import convergence, run_flags
from benchmarks.reporting.table import aggregate, marks
from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior, StandardNormal


@pytest.fixture(scope="module")
def context() -> EvalContext:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return EvalContext.build(dm, "digits", EvaluationConfig(samplers=["prior"], iwae_k=4))


def _record(run_id: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "dataset": "digits", "model": "vae", "label": run_id, "seed": 0, "metrics": metrics, **extra}


class ConstantDecoder:
    """Decodes every code to the same image: its reconstructions keep none of the data's variance."""

    prior = None

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(x.flatten(1)[:, :2])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(z), 1, 8, 8), 0.3)


class PriorEncoder(torch.nn.Module):
    """A VAE whose posterior is the prior for every input: fully collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.vae = MODELS.get("vae")((1, 8, 8), latent_dim=3)
        self.prior = StandardNormal(3)

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(torch.zeros(len(x), 3), torch.zeros(len(x), 3))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.vae.log_likelihood(x, z)


def test_a_constant_decoder_and_a_collapsed_posterior_are_flagged_and_never_best(context: EvalContext) -> None:
    constant = evaluate(ConstantDecoder(), context, seed=0).metrics
    collapsed = evaluate(PriorEncoder(), context, seed=0).metrics
    assert constant["recon_var_ratio"] == pytest.approx(0.0, abs=1e-12)
    assert collapsed["collapsed_dims"] == 3 and collapsed["kl_total"] == pytest.approx(0.0, abs=1e-12)
    healthy = {"recon_var_ratio": 0.8, "kl_per_dim": [1.0, 0.5, 0.2], "collapsed_dims": 0, "interp_path_ratio": 1.3}
    records = [_record("constant", {**constant, "interp_path_ratio": 1.0}), _record("collapsed", {**collapsed, "interp_path_ratio": 1.001}),
               _record("healthy", healthy), _record("other", {**healthy, "interp_path_ratio": 1.6})]  # fmt: skip
    flags = run_flags(records)
    # a posterior that ignores its input also decodes every image alike: both flags hold for it
    assert flags == {"constant": ["constant reconstructions"], "collapsed": ["collapsed", "constant reconstructions"]}
    # the degenerate rows have the best interp_path_ratio (≈ 1), but the mark goes to the best healthy row
    assert marks(aggregate(records), "interp_path_ratio") == {"healthy": "best"}


def _curve(values: list[float], key: str = "val/loss") -> list[dict[str, float]]:
    return [{"epoch": 5 * i + 4, key: v} for i, v in enumerate(values)]


def test_convergence_reads_the_end_slope_and_flags_a_run_still_improving_at_its_cap() -> None:
    trainer = {"max_epochs": 40, "early_stopping_patience": 3}
    improving = _record("r", {}, epochs=40, config={"trainer": trainer}, curves=_curve([30, 28, 26, 24, 22, 20, 18, 16]))
    ended = convergence(improving)
    assert ended.epochs == 40 and not ended.early_stopped and ended.still_improving
    assert ended.slope == pytest.approx(-0.4 / 16)  # −2 per 5 epochs, relative to the last value 16
    plateau = _record("r", {}, epochs=25, config={"trainer": trainer}, curves=_curve([30, 25, 24, 24, 24]))
    assert convergence(plateau).early_stopped and not convergence(plateau).still_improving
    assert run_flags([improving]) == {"r": ["not converged"]}


def _config(tmp_path: Path, lr: float, max_epochs: int) -> Path:
    path = tmp_path / f"es{lr}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "es", "output_dir": str(tmp_path / f"out{lr}"), "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 256}], "models": [{"name": "ae", "latent_dim": 2, "hidden": [16], "lr": lr}],
        "trainer": {"max_epochs": max_epochs, "accelerator": "cpu", "check_val_every_n_epoch": 1,
                    "early_stopping_patience": 2, "early_stopping_min_delta": 1e-3},
        "evaluation": {"baselines": [], "samplers": ["prior"], "metrics": ["recon_mse"]},
    }))  # fmt: skip
    return path


def test_early_stopping_stops_a_flat_run_and_lets_an_improving_one_reach_the_cap(tmp_path: Path, monkeypatch) -> None:
    assert main(["run", "--config", str(_config(tmp_path, 1e-12, 30))]) == 0  # no learning: val/loss is flat
    (flat,) = [json.loads(p.read_text()) for p in (tmp_path / "out1e-12" / "results").glob("*.json")]
    assert flat["epochs"] == 3  # epoch 1 sets the best; 2 and 3 do not improve by min_delta: patience 2 spent
    monkeypatch.chdir(tmp_path)  # a relative output folder, with the best checkpoint written by Lightning
    assert main(["run", "--config", str(_config(tmp_path, 1e-2, 4)), "--output-dir", "rel"]) == 0
    (improving,) = [json.loads(p.read_text()) for p in (tmp_path / "rel" / "results").glob("*.json")]
    assert improving["checkpoint"].endswith("best.ckpt") and (tmp_path / "rel" / improving["checkpoint"]).is_file()
    assert improving["epochs"] == 4  # still improving: the cap ends it
    table = (tmp_path / "rel" / "table.md").read_text()
    assert "Convergence of the trained rows" in table and "the epoch cap" in table
