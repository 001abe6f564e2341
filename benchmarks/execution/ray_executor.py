"""The ``ray`` executor (``executor.type: ray``): every pending run of the grid as one Ray task, on this machine
or on a Ray cluster.

The driver (the ``aebench run`` process) plans the runs as the local executor does, then:

- builds the FID scorer of each dataset once (training its feature classifier where the cache has none) and
  shares it with the workers through Ray's object store (:func:`ray.put`), so no worker trains one;
- submits one task per pending run, ``ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
  max_retries=max_retries)``; a task runs :func:`~benchmarks.execution.runner.run_one`, the code of the local
  executor, with ``cpus_per_run`` torch threads, and returns the run's record and figure data. It writes the
  checkpoints and training logs under the output folder, as a local run does (on a cluster that folder must
  be on a filesystem that every node mounts at the same path for a run to resume or be re-evaluated there),
  and no results;
- stores each run as it finishes (:class:`~benchmarks.execution.runner.Ledger`), prints how many runs are
  done, running and failed with an ETA, and leaves the report to the runner, written once at the end.

A run whose worker process dies (killed, out of memory, its node lost) is retried by Ray up to ``max_retries``
times (Ray's task fault tolerance), then recorded failed (:class:`WorkerLost`) while the others go on; an
exception inside a run fails it as it does locally, without a retry (a diverged run would diverge again).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.config import BenchmarkConfig, ExecutorConfig
from benchmarks.evaluation.fid_scorer import FIDScorer
from benchmarks.execution.runner import Contexts, Finished, Ledger, Pending, run_one
from benchmarks.progress import eta, stage

#: seconds between two looks at the tasks: how soon Ctrl-C is noticed and the progress line is refreshed
POLL_S = 1.0
_WORKER_ENV = ("AEBENCH_QUIET",)  # what a cluster's workers (and their ddp_spawn ranks) take from the driver


class WorkerLost(RuntimeError):
    """A run's Ray worker died on every attempt Ray made (killed, out of memory, its node lost)."""


def _work(
    item: Pending, output_dir: str, scorers: dict[str, FIDScorer], *, command: str, cpus: int
) -> Finished | None:
    """One run inside a Ray worker: ``cpus`` torch threads, the driver's FID scorers, no results written."""
    torch.set_num_threads(cpus)
    return run_one(item, Path(output_dir), Contexts(scorers), command=command, cpu_threads=cpus)


def connect(executor: ExecutorConfig) -> bool:
    """Connect to Ray as ``executor`` says; True when this call started the connection (and so must end it).

    ``address`` None starts a local instance on this machine's CPUs, without the dashboard and with Ray's own
    log lines below errors (its workers inherit this process's environment); ``auto`` or ``ray://host:port``
    joins a running cluster, whose workers get the variables of :data:`_WORKER_ENV` that are set here. A Ray that
    is already initialised in this process (a notebook, a test) is used as it is.
    """
    import ray

    if ray.is_initialized():
        return False
    if executor.address is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        options: dict[str, Any] = {"num_cpus": cpus, "include_dashboard": False}
    else:
        env = {k: os.environ[k] for k in _WORKER_ENV if k in os.environ}
        options = {"runtime_env": {"env_vars": env}} if env else {}
    ray.init(address=executor.address, logging_level=logging.ERROR, **options)
    return True


def _result(ref: Any, retries: int) -> Finished | None:
    """A task's :class:`Finished`; raises the run's own exception (with the worker's traceback as its cause), or
    :class:`WorkerLost` when Ray gave up on its worker."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as err:
        raise err.cause from err  # a DivergedError stays one: recorded as diverged, as locally
    except RayError as err:  # WorkerCrashedError, OutOfMemoryError, NodeDiedError, ...
        reason = str(err).strip().splitlines()[0]
        raise WorkerLost(f"its Ray worker died on each of its {retries + 1} attempt(s) ({type(err).__name__}: {reason})") from err


def _slots(executor: ExecutorConfig) -> int:
    """How many runs the cluster can run at once with the resources each one asks for."""
    import ray

    resources = ray.cluster_resources()
    slots = resources.get("CPU", 0) // executor.cpus_per_run
    if executor.gpus_per_run:
        slots = min(slots, resources.get("GPU", 0) // executor.gpus_per_run)
    return max(1, int(slots))


def status(done: int, failed: int, left: int, slots: int, elapsed: float) -> str:
    """``3/9 done, 2 running, 4 queued, 0 failed, ETA 1 min 05 s``: where the runs of this invocation stand."""
    total = done + failed + left
    running = min(left, slots)
    text = f"{done}/{total} done, {running} running, {left - running} queued, {failed} failed"
    remaining = eta(elapsed, (done + failed) / total)
    return f"{text}, {remaining}" if remaining else text


def run_on_ray(pending: list[Pending], config: BenchmarkConfig, out: Path, contexts: Contexts, ledger: Ledger) -> None:
    """Run ``pending`` as Ray tasks and settle each in ``ledger`` as it finishes; returns when none is left.

    On any way out (done, Ctrl-C, a full disk) the tasks still queued or running are cancelled, and a Ray
    instance this call started is shut down.
    """
    import ray

    executor = config.executor
    started = connect(executor)
    tasks: dict[Any, Pending] = {}
    try:
        scorers = ray.put(contexts.scorers([item.run for item in pending]))
        task = ray.remote(_work).options(
            num_cpus=executor.cpus_per_run, num_gpus=executor.gpus_per_run, max_retries=executor.max_retries,
            name="aebench-run",
        )  # fmt: skip
        for item in pending:
            ledger.announce(item)
            ref = task.remote(item, str(out), scorers, command=ledger.command, cpus=executor.cpus_per_run)
            tasks[ref] = item
        _collect(tasks, ledger, executor)
    finally:
        for ref in tasks:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _collect(tasks: dict[Any, Pending], ledger: Ledger, executor: ExecutorConfig) -> None:
    """Settle the tasks as they finish (removing them from ``tasks``), with a progress line after each."""
    import ray

    slots, start, done, failed = _slots(executor), time.perf_counter(), 0, 0
    with stage(f"{len(tasks)} run(s) on Ray ({slots} at a time)") as progress:
        while tasks:
            ready, _ = ray.wait(list(tasks), num_returns=1, timeout=POLL_S)
            for ref in ready:
                item = tasks.pop(ref)
                if ledger.settle(item, functools.partial(_result, ref, executor.max_retries)):
                    done += 1
                else:
                    failed += 1
                print(f"runs: {status(done, failed, len(tasks), slots, time.perf_counter() - start)}", flush=True)
            progress.update(status(done, failed, len(tasks), slots, progress.elapsed))  # live, on a terminal
        progress.done(f"{done} done, {failed} failed")
