"""Run a benchmark: every run of the grid that has no results file yet, then the comparison table."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import provenance
from benchmarks.config import BenchmarkConfig
from benchmarks.evaluate import evaluate
from benchmarks.grid import RunSpec, expand_grid
from benchmarks.results import load_result, results_path, write_json_atomic
from benchmarks.table import write_tables


def execute_run(run: RunSpec, output_dir: Path, *, prefix: str = "") -> dict[str, Any]:
    """Train and evaluate one run; returns its results record (not yet written)."""
    from benchmarks.train import fit

    start = time.perf_counter()
    model, datamodule, trainer, curves = fit(run, output_dir, progress_prefix=prefix)
    train_s = time.perf_counter() - start
    ckpt = output_dir / "checkpoints" / f"{run.run_id}.ckpt"
    trainer.save_checkpoint(ckpt, weights_only=True)
    start = time.perf_counter()
    metrics = evaluate(model, datamodule, run.evaluation, seed=run.seed)
    eval_s = time.perf_counter() - start
    return {
        "run_id": run.run_id,
        "dataset": run.dataset.name,
        "model": run.model.name,
        "label": run.label,
        "seed": run.seed,
        "hparams": run.model.resolved(),
        "config": run.resolved(),
        "n_train": len(datamodule.train),  # type: ignore[arg-type]
        "n_test": len(datamodule.test),  # type: ignore[arg-type]
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "wall_time_s": {"train": round(train_s, 3), "eval": round(eval_s, 3)},
        "versions": provenance.versions(),
        "machine": provenance.machine(),
        "commit": provenance.git_commit(),
        "checkpoint": str(ckpt.relative_to(output_dir)),
        "metrics": metrics,
        "curves": curves,
    }


def _summary(metrics: dict[str, Any]) -> str:
    shown = [f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float)]
    return " ".join(shown[:6])


def run_benchmark(config: BenchmarkConfig, *, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Run every missing run of ``config``'s grid, then write the table. Finished runs are never redone.

    A run that fails is reported and skipped (its results file is not written, so the next invocation
    retries it); the table is written from the runs that finished.
    """
    out = Path(output_dir or config.output_dir)
    runs = expand_grid(config)
    results, failures = [], []
    start = time.perf_counter()
    for i, run in enumerate(runs, 1):
        prefix = f"[{i}/{len(runs)}] {run.dataset.name} · {run.label} · seed {run.seed}"
        path = results_path(out, run.run_id)
        done = load_result(path)
        if done is not None:
            print(f"{prefix}: already done ({path.name})", flush=True)
            results.append(done)
            continue
        print(f"{prefix}: training…", flush=True)
        try:
            record = execute_run(run, out, prefix=f"{prefix}: ")
        except Exception as err:  # noqa: BLE001 — one failed run must not lose the others
            traceback.print_exc()
            failures.append({"run_id": run.run_id, "error": f"{type(err).__name__}: {err}"})
            print(f"{prefix}: FAILED ({type(err).__name__}: {err})", flush=True)
            continue
        write_json_atomic(path, record)
        results.append(record)
        print(f"{prefix}: done in {sum(record['wall_time_s'].values()):.1f}s  {_summary(record['metrics'])}", flush=True)
    meta = {
        "config": config.resolved(),
        "command": provenance.command_line(),
        "commit": provenance.git_commit(),
        "machine": provenance.machine(),
        "versions": provenance.versions(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "failures": failures,
    }
    paths = write_tables(results, out, meta)
    return {"results": results, "failures": failures, "paths": paths}
