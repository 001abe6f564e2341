"""Run a benchmark: every run of the grid whose results are missing or stale, then the comparison report.

For each run the decision is made once, before anything runs (DDP ranks must agree on what they train):

- ``done``: its results file exists and was evaluated as the config asks (same metrics, same settings);
- ``evaluate``: its results file exists but an evaluation setting it reads changed, and its checkpoint is
  there: the model is re-evaluated from the checkpoint, never retrained (baselines are simply refitted);
- ``train``: no usable results file (or no checkpoint to re-evaluate): train (or fit) and evaluate; a run
  killed mid-training resumes from its last full checkpoint;
- ``failed``: its training diverged in an earlier invocation (``failures/<run-id>.json``) and
  ``--retry-failed`` was not given.

The runs that need work are then executed as ``executor.type`` says: here, one after the other (``local``), or as
Ray tasks (``ray``, :mod:`benchmarks.execution.ray_executor`). Both run each one with :func:`run_one`, which
writes no results: this process (the driver) stores each finished run (:func:`store`), keeps the failure records
and writes the report once at the end.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_only

from benchmarks.config import BaselineSpec, BenchmarkConfig, DatasetConfig, EvaluationConfig, RunSpec, Spec, expand_grid
from benchmarks.evaluation.baselines import BASELINES
from benchmarks.evaluation.evaluate import EvalContext, Evaluation, evaluate, is_current
from benchmarks.evaluation.fid_scorer import FIDScorer
from benchmarks.execution import provenance
from benchmarks.execution.callbacks import DivergedError
from benchmarks.execution.lock import output_lock, remove_orphans
from benchmarks.execution.store import (
    UnreadableFile,
    failure_path,
    figure_path,
    load_failure,
    load_meta,
    load_result,
    read_npz,
    results_path,
    save_npz_atomic,
    write_json_atomic,
)
from benchmarks.execution.train import build_datamodule, build_model, fit, load_weights
from benchmarks.progress import stage
from benchmarks.reporting.build import build_report
from benchmarks.reporting.tracking import Tracker, make_tracker


def _context_key(dataset: DatasetConfig, evaluation: EvaluationConfig) -> str:
    return json.dumps([dataset.resolved(), asdict(evaluation)], sort_keys=True, default=str)


class Contexts:
    """One :class:`EvalContext` per dataset and evaluation config, built on first use and shared by its runs.

    ``scorers`` are FID scorers built by another process (:meth:`scorers` of the driver's ``Contexts``), by the key
    of their context: a context gets its scorer from there instead of building it (and training its feature
    classifier) again.
    """

    def __init__(self, scorers: dict[str, FIDScorer] | None = None) -> None:
        self._built: dict[str, EvalContext] = {}
        self._scorers = scorers or {}

    def get(self, dataset: DatasetConfig, evaluation: EvaluationConfig) -> EvalContext:
        key = _context_key(dataset, evaluation)
        if key not in self._built:
            context = EvalContext.build(build_datamodule(dataset, seed=0), dataset.name, evaluation)
            if key in self._scorers:
                context.scorer = self._scorers[key]  # a cached property: given, it is never built
            self._built[key] = context
        return self._built[key]

    def scorers(self, runs: list[Spec]) -> dict[str, FIDScorer]:
        """The FID scorer of every context of ``runs`` whose evaluation measures FID, built here (training the
        feature classifier where the cache has none): what another process's ``Contexts(scorers)`` reuses."""
        return {
            _context_key(run.dataset, run.evaluation): self.get(run.dataset, run.evaluation).scorer
            for run in runs
            if run.evaluation.fid_metrics()
        }


@dataclass(frozen=True)
class Finished:
    """A run's results record and its figure data: what the driver writes (:func:`store`), wherever it ran."""

    record: dict[str, Any]
    figure: dict[str, np.ndarray]


def store(output_dir: Path, finished: Finished) -> None:
    """Write a finished run's figure data, then its results file (a results file never lacks its figure data)."""
    run_id = finished.record["run_id"]
    if finished.figure:
        save_npz_atomic(figure_path(output_dir, run_id), finished.figure)
    write_json_atomic(results_path(output_dir, run_id), finished.record)


def _record(run: Spec, context: EvalContext, evaluation: Evaluation, **extra: Any) -> dict[str, Any]:
    """The results file of a run: what it is, what produced it, and its metrics."""
    datamodule = context.datamodule
    is_model = isinstance(run, RunSpec)
    return {
        "run_id": run.run_id,
        "dataset": run.dataset.display_name,  # its table section: the label of a dataset of a sweep
        "model": run.model.name if is_model else run.name,
        "label": run.label,
        "seed": run.seed,
        "hparams": run.model.resolved() if is_model else {"n_components": run.n_components},
        "config": run.resolved(),
        "n_train": len(datamodule.train),  # type: ignore[arg-type]
        "n_test": len(datamodule.test),  # type: ignore[arg-type]
        "eval_info": context.info,
        "eval_identity": evaluation.identity,
        "metric_seconds": evaluation.seconds,
        "metric_failures": evaluation.failures,
        "figure_data": bool(evaluation.figure),
        "versions": provenance.versions(),
        "machine": provenance.machine(),
        "commit": provenance.git_commit(),
        **extra,
        "metrics": evaluation.metrics,
    }


def _evaluate(model: Any, context: EvalContext, run: Spec, prefix: str) -> Evaluation:
    """:func:`evaluate` as a progress stage: the metric being computed (live on a terminal), then one line."""
    with stage(f"{prefix}evaluation") as progress:
        evaluation = evaluate(model, context, seed=run.seed, on_metric=progress.update)
        slowest = max(evaluation.seconds, key=evaluation.seconds.get, default=None)
        failed = f"; {len(evaluation.failures)} failed on non-finite inputs" if evaluation.failures else ""
        detail = f", slowest {slowest} {evaluation.seconds[slowest]:.1f} s" if slowest else ""
        progress.done(f"{len(evaluation.seconds)} metrics{detail}{failed}")
    return evaluation


def execute(
    run: Spec,
    output_dir: Path,
    contexts: Contexts,
    *,
    cpu_threads: int | None = None,
    prefix: str = "",
    extra_loggers: tuple[Logger, ...] = (),
) -> Finished | None:
    """Train (models) or fit (baselines) one run and evaluate it; returns its record and figure data.

    Returns None on the non-zero ranks of a DDP run (``strategy: ddp`` starts the whole command on every rank).
    """
    context = contexts.get(run.dataset, run.evaluation)
    start = time.perf_counter()
    if isinstance(run, BaselineSpec):
        model = BASELINES[run.name](context.datamodule.evaluation_train.images, run.n_components, seed=run.seed)
        fit_s, extra = time.perf_counter() - start, {}
    else:
        fitted = fit(run, output_dir, cpu_threads=cpu_threads, extra_loggers=extra_loggers, progress_prefix=prefix)
        if rank_zero_only.rank != 0:
            return None  # DDP: the other ranks only help train; rank 0 evaluates the whole test split
        model, fit_s, curves = fitted.model, time.perf_counter() - start, fitted.curves
        extra = {
            # from the logged curves: under ddp_spawn the main process's Trainer keeps no loop state
            "epochs": int(max((c.get("epoch", -1) for c in curves), default=-1)) + 1,
            "steps": int(max((c.get("step", -1) for c in curves), default=-1)) + 1,
            "checkpoint": str(fitted.checkpoint.resolve().relative_to(output_dir.resolve())),
            "curves": curves,
        }
    start = time.perf_counter()
    evaluation = _evaluate(model, context, run, prefix)
    wall = {"train": round(fit_s, 3), "eval": round(time.perf_counter() - start, 3)}
    if isinstance(run, BaselineSpec):
        wall = {"eval": round(fit_s + wall["eval"], 3)}  # fitting a baseline is part of scoring it
    return Finished(_record(run, context, evaluation, wall_time_s=wall, **extra), evaluation.figure)


def reevaluate(
    run: RunSpec, previous: dict[str, Any], output_dir: Path, contexts: Contexts, *, command: str, prefix: str = ""
) -> Finished:
    """Evaluate ``run`` again from the checkpoint its results file names, keeping what training recorded."""
    context = contexts.get(run.dataset, run.evaluation)
    model = build_model(run, context.datamodule.image_shape)
    load_weights(model, output_dir / previous["checkpoint"])
    start = time.perf_counter()
    evaluation = _evaluate(model, context, run, prefix)
    wall = {**previous.get("wall_time_s", {}), "eval": round(time.perf_counter() - start, 3)}
    trained = {k: previous[k] for k in ("epochs", "steps", "checkpoint", "curves") if k in previous}
    reevaluated = {"command": command, "commit": provenance.git_commit(), "training_commit": previous.get("commit")}
    record = _record(run, context, evaluation, wall_time_s=wall, **trained, reevaluated=reevaluated)
    return Finished(record, evaluation.figure)


@dataclass(frozen=True)
class Pending:
    """A run that needs work in this invocation: what :func:`plan` decided (``train`` or ``evaluate``), the
    results record it re-evaluates, and the prefix of its progress lines (its place in the grid, what it is)."""

    run: Spec
    action: str
    previous: dict[str, Any] | None
    prefix: str


def run_one(
    item: Pending,
    output_dir: Path,
    contexts: Contexts,
    *,
    command: str,
    cpu_threads: int | None = None,
    extra_loggers: tuple[Logger, ...] = (),
) -> Finished | None:
    """Do what ``item`` needs, in this process, with no results written (the driver stores them): the per-run
    code of every executor. None on the non-zero ranks of a DDP run."""
    prefix = f"{item.prefix}: "
    if item.action == "evaluate":
        return reevaluate(item.run, item.previous, output_dir, contexts, command=command, prefix=prefix)  # type: ignore[arg-type]
    return execute(item.run, output_dir, contexts, cpu_threads=cpu_threads, prefix=prefix, extra_loggers=extra_loggers)


def plan(run: Spec, record: dict[str, Any] | None, failure: dict[str, Any] | None, output_dir: Path, *, retry_failed: bool) -> str:
    """``done``, ``evaluate``, ``train`` (see the module docstring) or ``failed``: a run that diverged before is
    not retried unless asked (a deterministic divergence would fail again)."""
    if record is not None and is_current(record, run.evaluation) and _figure_ok(record, output_dir):
        return "done"
    if failure is not None and failure.get("kind") == "diverged" and not retry_failed:
        return "failed"
    if record is None or isinstance(run, BaselineSpec):
        return "train"  # a baseline is refitted: cheaper than loading anything
    checkpoint = record.get("checkpoint")
    return "evaluate" if checkpoint and (output_dir / checkpoint).is_file() else "train"


def _figure_ok(record: dict[str, Any], output_dir: Path) -> bool:
    """A record that made figure data still has it, readable (a damaged ``.npz`` is redone like its results)."""
    if not record.get("figure_data"):
        return True
    try:
        return read_npz(figure_path(output_dir, record["run_id"])) is not None
    except UnreadableFile as err:
        warnings.warn(f"{err}; the run will be redone", stacklevel=2)
        return False


class StorageError(OSError):
    """The output folder cannot be written (read-only, full, no permission): the benchmark stops, results kept."""


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM}


def _failure(run: Spec, err: BaseException, command: str) -> dict[str, Any]:
    """The failure record of a run (``failures/<run-id>.json``): what failed, how, and where training stopped."""
    diverged = isinstance(err, DivergedError)
    return {
        "run_id": run.run_id,
        "label": run.label,
        "seed": run.seed,
        "kind": "diverged" if diverged else "error",
        "error": str(err) if diverged else f"{type(err).__name__}: {err}",
        **({"epoch": err.epoch, "step": err.step} if diverged else {}),  # type: ignore[union-attr]
        "command": command,
        "commit": provenance.git_commit(),
    }


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("recon_mse", "fid_prior", "probe_acc", "kl_total", "nll_iwae")
    return " ".join(f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), (int, float)))


def run_benchmark(
    config: BenchmarkConfig,
    *,
    output_dir: str | Path | None = None,
    command: str = "aebench run",
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Run every missing or stale run of ``config``'s grid, then write the report. Finished runs are never redone.

    A run that fails is reported and skipped; a run that raised is retried by the next invocation, one whose
    training diverged only with ``retry_failed``. The report is written from the runs that finished (none when
    every run failed). ``command`` is recorded as the report's provenance. One process at a time writes a folder.
    """
    out = Path(output_dir or config.output_dir)
    rank_zero = rank_zero_only.rank == 0
    with output_lock(out) if rank_zero else contextlib.nullcontext():
        if rank_zero:
            remove_orphans(out)
        return _run_locked(config, out, command, retry_failed, rank_zero)


def _run_locked(config: BenchmarkConfig, out: Path, command: str, retry_failed: bool, rank_zero: bool) -> dict[str, Any]:
    runs = expand_grid(config)
    contexts = Contexts()
    ledger = Ledger(out, command, make_tracker(config, out), rank_zero)
    start = time.perf_counter()
    previous = {run.run_id: load_result(results_path(out, run.run_id)) for run in runs}
    failed_before = {run.run_id: load_failure(out, run.run_id) for run in runs}
    plans = {r.run_id: plan(r, previous[r.run_id], failed_before[r.run_id], out, retry_failed=retry_failed) for r in runs}
    pending = []
    for i, run in enumerate(runs, 1):
        prefix = f"[{i}/{len(runs)}] {run.dataset.display_name} · {run.label} · seed {run.seed}"
        action = plans[run.run_id]
        if action == "done":
            print(f"{prefix}: already done ({run.run_id}.json)", flush=True)
            ledger.results.append(previous[run.run_id])
        elif action == "failed":
            failure = failed_before[run.run_id]
            print(f"{prefix}: FAILED before ({failure['error']}); not retried (pass --retry-failed)", flush=True)
            ledger.failures.append({**failure, "retried": False})
        elif rank_zero or not (isinstance(run, BaselineSpec) or action == "evaluate"):
            # only rank 0 evaluates; the others join the runs that train
            pending.append(Pending(run, action, previous[run.run_id], prefix))
    if config.executor.type == "ray" and pending:
        from benchmarks.execution.ray_executor import run_on_ray

        run_on_ray(pending, config, out, contexts, ledger)
    else:
        for item in pending:
            ledger.announce(item)
            loggers = ledger.tracker.loggers(item.run) if item.action == "train" else ()
            ledger.settle(item, functools.partial(
                run_one, item, out, contexts, command=command, cpu_threads=config.cpu_threads, extra_loggers=loggers
            ))  # fmt: skip
    order = {run.run_id: i for i, run in enumerate(runs)}  # an executor may finish runs in any order
    results = sorted(ledger.results, key=lambda r: order[r["run_id"]])
    failures = sorted(ledger.failures, key=lambda f: order.get(f.get("run_id"), len(order)))
    tracker = ledger.tracker
    outcome: dict[str, Any] = {
        "results": results, "failures": failures, "paths": {}, "report": None, "tracking_error": tracker.error,
        "trained": sum(p in ("train", "evaluate") for p in plans.values()) - len(failures), "total": len(runs),
    }  # fmt: skip
    if not rank_zero:
        return outcome
    meta = {
        "config": config.resolved(),
        "command": command,
        "commit": provenance.git_commit(),
        "machine": provenance.machine(),
        "versions": provenance.versions(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "failures": failures,
        "run_ids": [run.run_id for run in runs],
    }
    if not results:  # nothing to report: say so instead of writing an empty report as if it had succeeded
        return outcome
    old_meta = load_meta(out)
    nothing_new = all(p == "done" for p in plans.values()) and old_meta is not None and old_meta.get("run_ids") == meta["run_ids"]
    if not nothing_new:  # a rerun with every result already there keeps the provenance of the run that made them
        write_json_atomic(out / "meta.json", meta)
    with stage("report") as progress:
        report = build_report(out)
        progress.done(str(report.paths["html"]))
    tracker.log_report(report.paths)
    return {**outcome, "paths": report.paths, "report": report, "tracking_error": tracker.error}


class Ledger:
    """The driver's account of a benchmark's runs as they finish: their records and failures, and the files of both.

    Every executor hands each pending run to :meth:`settle`, with a call that returns its :class:`Finished` (or
    raises what made it fail); the ledger stores it, mirrors it to the tracker and prints its line.
    """

    def __init__(self, out: Path, command: str, tracker: Tracker, rank_zero: bool) -> None:
        self.out, self.command, self.tracker, self.rank_zero = out, command, tracker, rank_zero
        self.results: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    @staticmethod
    def announce(item: Pending) -> None:
        """The line that says a run starts."""
        verb = "re-evaluating from its checkpoint" if item.action == "evaluate" else (
            "training" if isinstance(item.run, RunSpec) else "fitting"
        )  # fmt: skip
        print(f"{item.prefix}: {verb}…", flush=True)

    def settle(self, item: Pending, result: Callable[[], Finished | None]) -> bool:
        """Store what ``result()`` returns for ``item``, or record its failure; True when it finished.

        A failure to write the output folder (full, read-only) stops the benchmark (:class:`StorageError`).
        """
        run = item.run
        try:
            finished = result()
            if finished is not None:
                store(self.out, finished)
        except Exception as err:  # noqa: BLE001 — one failed run must not lose the others
            if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
                raise StorageError(err.errno, f"cannot write the output folder {self.out}: {err.strerror}", err.filename) from err
            self.failures.append(_report_failure(run, err, self.out, self.command, item.prefix, self.rank_zero))
            return False
        if finished is None:
            return False
        record = finished.record
        failure_path(self.out, run.run_id).unlink(missing_ok=True)
        self.tracker.log_run(run, record, finished.figure)
        self.results.append(record)
        print(f"{item.prefix}: done in {sum(record['wall_time_s'].values()):.1f}s  {_summary(record['metrics'])}", flush=True)
        return True


def _report_failure(run: Spec, err: BaseException, out: Path, command: str, prefix: str, rank_zero: bool) -> dict[str, Any]:
    """Print a failed run's traceback and one summary line, and keep its failure record (rank 0 writes it)."""
    if not isinstance(err, DivergedError):
        traceback.print_exc()
    failure = _failure(run, err, command)
    if rank_zero:
        write_json_atomic(failure_path(out, run.run_id), failure)
    print(f"{prefix}: FAILED ({failure['error']})", flush=True)
    return failure
