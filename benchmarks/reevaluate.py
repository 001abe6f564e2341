"""Re-evaluate a trained run from its checkpoint, without retraining: ``aebench evaluate CHECKPOINT``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.config import DatasetConfig, EvaluationConfig, ModelConfig
from benchmarks.evaluate import EvalContext, evaluate
from benchmarks.results import load_result, results_path
from benchmarks.schema import build_dataclass
from benchmarks.train import build_datamodule, load_weights
from lightning_modules import MODELS


def evaluate_checkpoint(checkpoint: str | Path, *, evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of the model in ``checkpoint`` (``<output_dir>/checkpoints/<run_id>/*.ckpt``).

    The run's dataset, model and evaluation settings come from its results file beside the checkpoints,
    so the numbers are those of the original evaluation (same seed, same test split); ``evaluation``
    overrides evaluation settings (e.g. ``{"iwae_k": 5000}``).
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    run_id, output_dir = checkpoint.parent.name, checkpoint.parent.parent.parent
    record = load_result(results_path(output_dir, run_id))
    if record is None:
        raise FileNotFoundError(
            f"no results file {results_path(output_dir, run_id)} for this checkpoint: it says how the run was "
            "configured (expected layout: <output_dir>/checkpoints/<run_id>/last.ckpt beside <output_dir>/results/)"
        )
    config = record["config"]
    dataset = DatasetConfig.from_config(config["dataset"], "dataset")
    model_config = ModelConfig.from_config(config["model"], "model")
    eval_config = build_dataclass(EvaluationConfig, {**config["evaluation"], **(evaluation or {})}, "evaluation")
    datamodule = build_datamodule(dataset, seed=config["seed"])
    model = MODELS.get(model_config.name)(datamodule.image_shape, **model_config.hparams)
    load_weights(model, checkpoint)
    context = EvalContext.build(datamodule, dataset.name, eval_config)
    metrics, _ = evaluate(model, context, seed=config["seed"])
    return metrics
