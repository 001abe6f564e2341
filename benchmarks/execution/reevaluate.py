"""Re-evaluate trained runs from their checkpoints, without retraining: ``aebench evaluate CHECKPOINT | DIR``.

A run's dataset, model and evaluation settings come from its results file beside the checkpoints, so the
numbers are those of the original evaluation (same seed, same test split) unless ``evaluation`` overrides
some settings (e.g. ``{"iwae_k": 5000}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.config import BaselineSpec, DatasetConfig, EvaluationConfig, ModelConfig, RunSpec, Spec, TrainerConfig
from benchmarks.config.grid import RESULTS_SCHEMA
from benchmarks.config.schema import build_dataclass
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.execution.runner import Contexts, execute, reevaluate, store
from benchmarks.execution.store import load_meta, load_results_dir, read_result, results_path, write_json_atomic
from benchmarks.execution.train import build_model, load_weights


def _spec(record: dict[str, Any], evaluation: dict[str, Any] | None) -> Spec:
    """The run a results record describes, with ``evaluation`` overriding its evaluation settings."""
    config = record["config"]
    if config.get("schema") != RESULTS_SCHEMA:
        raise ValueError(
            f"results file of {record.get('run_id')} has schema {config.get('schema')}, this aebench writes "
            f"{RESULTS_SCHEMA}: rerun the benchmark instead of re-evaluating it"
        )
    eval_config = build_dataclass(EvaluationConfig, {**config["evaluation"], **(evaluation or {})}, "evaluation")
    dataset = DatasetConfig.from_config(config["dataset"], "dataset")
    if "baseline" in config:
        label = config.get("label")  # absent from records written before baselines had row labels: the name
        return BaselineSpec(dataset, config["baseline"], config["n_components"], config["seed"], eval_config, label)
    return RunSpec(
        dataset,
        ModelConfig.from_config(config["model"], "model"),
        config["seed"],
        build_dataclass(TrainerConfig, config["trainer"], "trainer"),
        eval_config,
    )


def evaluate_checkpoint(checkpoint: str | Path, *, evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of the model in ``checkpoint`` (``<output_dir>/checkpoints/<run_id>/*.ckpt``); writes nothing."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    run_id, output_dir = checkpoint.parent.name, checkpoint.parent.parent.parent
    record = read_result(results_path(output_dir, run_id))  # a damaged file raises, naming what is wrong
    if record is None:
        raise FileNotFoundError(
            f"no results file {results_path(output_dir, run_id)} for this checkpoint: it says how the run was "
            "configured (expected layout: <output_dir>/checkpoints/<run_id>/last.ckpt beside <output_dir>/results/)"
        )
    run = _spec(record, evaluation)
    if not isinstance(run, RunSpec):
        raise ValueError(f"{checkpoint}: its results file is a baseline's, which has no checkpoint")
    context = Contexts().get(run.dataset, run.evaluation)
    model = build_model(run, context.datamodule.image_shape)
    load_weights(model, checkpoint)
    return evaluate(model, context, seed=run.seed).metrics


def evaluate_folder(
    output_dir: str | Path, *, evaluation: dict[str, Any] | None = None, command: str
) -> tuple[list[str], list[str]]:
    """Re-score every trained run of a benchmark folder from its checkpoint and rewrite its results file.

    Each rewritten record says so (``reevaluated``: the command and commit); baselines are refitted. Returns the
    run ids re-scored and those skipped (runs whose checkpoint is gone); ``meta.json`` notes the re-evaluation.
    """
    out = Path(output_dir)
    records = load_results_dir(out).records
    if not records:
        raise FileNotFoundError(f"no results files under {out / 'results'}")
    meta = load_meta(out)
    if meta is not None and "run_ids" in meta:  # only the benchmark's own runs, as its report shows
        records = [r for r in records if r["run_id"] in set(meta["run_ids"])]
    contexts, done, skipped = Contexts(), [], []
    for record in records:
        run = _spec(record, evaluation)
        if isinstance(run, RunSpec) and not (out / record.get("checkpoint", "-")).is_file():
            skipped.append(record["run_id"])
            continue
        print(f"{record['run_id']}: re-evaluating…", flush=True)
        if isinstance(run, RunSpec):
            finished = reevaluate(run, record, out, contexts, command=command)
        else:
            finished = execute(run, out, contexts)  # type: ignore[assignment]
            finished.record["reevaluated"] = {"command": command}
        store(out, finished)
        done.append(record["run_id"])
    if meta is not None:
        meta["reevaluated"] = {"command": command, "evaluation_overrides": evaluation or {}}
        if evaluation:
            meta["config"]["evaluation"] = {**meta["config"].get("evaluation", {}), **evaluation}
        write_json_atomic(out / "meta.json", meta)
    return done, skipped


__all__ = ["evaluate_checkpoint", "evaluate_folder"]
