"""Run a benchmark: every run of the grid that has no results file yet, then the comparison report."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from benchmarks import provenance
from benchmarks.artifacts import load_npz, save_npz_atomic
from benchmarks.config import BenchmarkConfig
from benchmarks.evaluate import EvalContext, evaluate, evaluate_baseline
from benchmarks.grid import BaselineSpec, RunSpec, expand_grid
from benchmarks.results import load_meta, load_result, results_path, write_json_atomic
from benchmarks.report import build_report
from benchmarks.tracking import make_tracker
from benchmarks.train import build_datamodule, fit


class Contexts:
    """One :class:`EvalContext` per dataset config, built on first use and shared by all its runs."""

    def __init__(self) -> None:
        self._built: dict[str, EvalContext] = {}

    def get(self, run: RunSpec | BaselineSpec) -> EvalContext:
        key = json.dumps(run.dataset.resolved(), sort_keys=True, default=str)
        if key not in self._built:
            datamodule = build_datamodule(run.dataset, seed=0)
            self._built[key] = EvalContext.build(datamodule, run.dataset.name, run.evaluation)
        return self._built[key]


def _record(run: RunSpec | BaselineSpec, context: EvalContext, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The results file of a run: what it is, what produced it, and its metrics."""
    datamodule = context.datamodule
    is_model = isinstance(run, RunSpec)
    return {
        "run_id": run.run_id,
        "dataset": run.dataset.name,
        "model": run.model.name if is_model else run.name,
        "label": run.label,
        "seed": run.seed,
        "hparams": run.model.resolved() if is_model else {"n_components": run.n_components},
        "config": run.resolved(),
        "n_train": len(datamodule.train),  # type: ignore[arg-type]
        "n_test": len(datamodule.test),  # type: ignore[arg-type]
        "eval_info": context.info,
        "versions": provenance.versions(),
        "machine": provenance.machine(),
        "commit": provenance.git_commit(),
        **extra,
        "metrics": metrics,
    }


def execute(
    run: RunSpec | BaselineSpec,
    output_dir: Path,
    contexts: Contexts,
    *,
    cpu_threads: int | None = None,
    prefix: str = "",
    extra_loggers: tuple[Logger, ...] = (),
) -> dict[str, Any] | None:
    """Train (models) or fit (baselines) one run and evaluate it; writes its figure data, returns its record.

    Returns None on the non-zero ranks of a DDP run (``strategy: ddp`` starts the whole command on every rank).
    """
    context = contexts.get(run)
    start = time.perf_counter()
    if isinstance(run, BaselineSpec):
        metrics, figure = evaluate_baseline(run.name, context, n_components=run.n_components, seed=run.seed)
        extra: dict[str, Any] = {"wall_time_s": {"eval": round(time.perf_counter() - start, 3)}}
    else:
        fitted = fit(run, output_dir, cpu_threads=cpu_threads, extra_loggers=extra_loggers, progress_prefix=prefix)
        if rank_zero_only.rank != 0:
            return None  # DDP: the other ranks only help train; rank 0 evaluates the whole test split
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        metrics, figure = evaluate(fitted.model, context, seed=run.seed)
        curves = fitted.curves
        extra = {
            # from the logged curves: under ddp_spawn the main process's Trainer keeps no loop state
            "epochs": int(max((c.get("epoch", -1) for c in curves), default=-1)) + 1,
            "steps": int(max((c.get("step", -1) for c in curves), default=-1)) + 1,
            "wall_time_s": {"train": round(train_s, 3), "eval": round(time.perf_counter() - start, 3)},
            "checkpoint": str(fitted.checkpoint.relative_to(output_dir)),
            "curves": curves,
        }
    if figure:
        save_npz_atomic(results_path(output_dir, run.run_id).with_suffix(".npz"), figure)
    return _record(run, context, metrics, **extra)


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("recon_mse", "fid_prior", "probe_acc", "kl_total", "nll_iwae")
    return " ".join(f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), (int, float)))


def run_benchmark(config: BenchmarkConfig, *, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Run every missing run of ``config``'s grid, then write the report. Finished runs are never redone.

    A run that fails is reported and skipped (no results file, so the next invocation retries it);
    the report is written from the runs that finished.
    """
    out = Path(output_dir or config.output_dir)
    runs = expand_grid(config)
    contexts = Contexts()
    tracker = make_tracker(config, out)
    results, failures = [], []
    start = time.perf_counter()
    # decided once, before any run: DDP ranks must agree on the runs they train together
    finished = {run.run_id: load_result(results_path(out, run.run_id)) for run in runs}
    rank_zero = rank_zero_only.rank == 0
    for i, run in enumerate(runs, 1):
        prefix = f"[{i}/{len(runs)}] {run.dataset.name} · {run.label} · seed {run.seed}"
        done = finished[run.run_id]
        if done is not None:
            print(f"{prefix}: already done ({run.run_id}.json)", flush=True)
            results.append(done)
            continue
        if not rank_zero and isinstance(run, BaselineSpec):
            continue
        print(f"{prefix}: {'training' if isinstance(run, RunSpec) else 'fitting'}…", flush=True)
        try:
            loggers = tracker.loggers(run)
            record = execute(
                run, out, contexts, cpu_threads=config.cpu_threads, prefix=f"{prefix}: ", extra_loggers=loggers
            )
        except Exception as err:  # noqa: BLE001 — one failed run must not lose the others
            traceback.print_exc()
            failures.append({"run_id": run.run_id, "error": f"{type(err).__name__}: {err}"})
            print(f"{prefix}: FAILED ({type(err).__name__}: {err})", flush=True)
            continue
        if record is None:
            continue
        path = results_path(out, run.run_id)
        write_json_atomic(path, record)
        tracker.log_run(run, record, load_npz(path.with_suffix(".npz")) or {})
        results.append(record)
        print(f"{prefix}: done in {sum(record['wall_time_s'].values()):.1f}s  {_summary(record['metrics'])}", flush=True)
    if not rank_zero:
        return {"results": results, "failures": failures, "paths": {}}
    meta = {
        "config": config.resolved(),
        "command": provenance.command_line(),
        "commit": provenance.git_commit(),
        "machine": provenance.machine(),
        "versions": provenance.versions(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "failures": failures,
        "run_ids": [run.run_id for run in runs],
    }
    previous = load_meta(out)
    nothing_new = all(finished.values()) and previous is not None and previous.get("run_ids") == meta["run_ids"]
    if not nothing_new:  # a rerun with every result already there keeps the provenance of the run that made them
        write_json_atomic(out / "meta.json", meta)
    paths = build_report(out)
    tracker.log_report(paths)
    return {"results": results, "failures": failures, "paths": paths}
