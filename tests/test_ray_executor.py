"""``executor.type: ray``: the grid's runs as Ray tasks give the local executor's table, survive a worker that dies,
resume, and leave every result and the report to the driver.

One local Ray instance (2 CPUs) serves the module's tests in a process; its workers start with a hook that makes the
project's atomic writer (through which every results file, figure file, report file and feature cache is written)
raise, so any test here fails if a worker writes one. The module is marked for one xdist worker (``make test`` runs
``--dist loadgroup``), but pytest-xdist 3.8 on pytest 9.2 ignores the groups (pytest-dev/pytest-xdist#1386): so the
default suite has a single test that starts Ray, wherever xdist sends it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import ray  # the `ray` extra, which `make test` installs: a missing Ray fails here, never skips
import yaml

import benchmarks.execution.runner
import benchmarks.files
from benchmarks.cli import main
from benchmarks.execution.runner import Ledger, Pending
from lightning_modules.ae import AE

pytestmark = pytest.mark.xdist_group("ray")  # one xdist worker holds the module's Ray instance

SELF = "tests.test_ray_executor"


class Killed(BaseException):
    """Stands in for the driver being killed: not an ``Exception``, so nothing in the runner catches it."""


class CrashOnce(AE):
    """An AE whose first training step kills its process (a Ray worker dying mid-run) unless ``marker`` exists."""

    def __init__(self, image_shape: Sequence[int], marker: str, latent_dim: int = 4, hidden: Sequence[int] = (32,)) -> None:
        super().__init__(image_shape, latent_dim=latent_dim, hidden=hidden)
        self.marker = Path(marker)

    def on_train_start(self) -> None:
        if not self.marker.exists():
            self.marker.touch()
            os._exit(1)


def _bound_to_the_writer() -> list[ModuleType]:
    """The loaded modules whose ``write_bytes_atomic`` is the project's atomic writer: ``benchmarks.files`` (where
    every module imported later takes it from) and those that imported it already."""
    original = benchmarks.files.write_bytes_atomic
    return [m for m in list(sys.modules.values()) if getattr(m, "write_bytes_atomic", None) is original]


def _workers_write_nothing() -> None:
    """Ray worker setup: the project's atomic writer raises in this process."""

    def refuse(path: Path, data: bytes) -> None:
        raise AssertionError(f"a Ray worker wrote {path}: only the driver writes results")

    for module in _bound_to_the_writer():
        module.write_bytes_atomic = refuse  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    """The module's Ray instance: 2 CPUs, workers that cannot write results (see :func:`_workers_write_nothing`) and
    import this module (for the hook and :class:`CrashOnce`) from the repository, as the tests do."""
    env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
             runtime_env={"worker_process_setup_hook": _workers_write_nothing, "env_vars": env})  # fmt: skip
    yield
    ray.shutdown()


def _config(tmp_path: Path, name: str, models: list[Any] | None = None, **executor: Any) -> Path:
    config = {
        "name": "ray",
        "output_dir": str(tmp_path / name),
        "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 128}],
        "models": models or [{"name": "ae", "latent_dim": 4, "hidden": [32]}, {"name": "vae", "latent_dim": 4, "hidden": [32]}],
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "evaluation": {"iwae_k": 8, "samplers": ["prior", "gauss"], "fid_samples": 200, "baselines": ["pca"]},
        "executor": {"type": "ray", **executor},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "table.json").read_text())["rows"]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grid's output folder from the local executor."""
    tmp = tmp_path_factory.mktemp("local")
    assert main(["run", "--config", str(_config(tmp, "out")), "--executor.type", "local"]) == 0
    return tmp / "out"


@pytest.fixture(scope="module")
def on_ray(tmp_path_factory: pytest.TempPathFactory, ray_instance: None) -> tuple[Path, list[Path], int]:
    """The grid's output folder from the ray executor, the files the driver wrote and how often it built the report."""
    tmp = tmp_path_factory.mktemp("ray")
    written: list[Path] = []
    reports: list[Path] = []

    def recording(real: Callable[..., Any], calls: list[Path]) -> Callable[..., Any]:
        def record(path: Path, *args: Any, **kwargs: Any) -> Any:
            calls.append(Path(path))
            return real(path, *args, **kwargs)

        return record

    with pytest.MonkeyPatch.context() as patch:  # the driver's writes (the workers' raise, see the module docstring)
        for module in _bound_to_the_writer():
            patch.setattr(module, "write_bytes_atomic", recording(benchmarks.files.write_bytes_atomic, written))
        patch.setattr(benchmarks.execution.runner, "build_report", recording(benchmarks.execution.runner.build_report, reports))
        assert main(["run", "--config", str(_config(tmp, "out"))]) == 0
    return tmp / "out", written, len(reports)


def test_ray_gives_exactly_the_local_table_and_only_the_driver_writes_results(
    local: Path, on_ray: tuple[Path, list[Path], int]
) -> None:
    out, written, reports = on_ray
    assert _rows(out) == _rows(local)
    assert json.loads((out / "meta.json").read_text())["config"]["executor"]["type"] == "ray"
    ray_records = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    local_records = {p.name: json.loads(p.read_text()) for p in (local / "results").glob("*.json")}
    assert set(ray_records) == set(local_records) and len(ray_records) == 3  # same run ids: ae, vae, pca
    for name, record in ray_records.items():
        assert record["metrics"] == local_records[name]["metrics"], name
        assert record["eval_info"] == local_records[name]["eval_info"], name  # the driver's FID features

    results = set((out / "results").iterdir())
    report = {out / name for name in ("table.md", "table.json", "table.csv", "table.tex", "claims.md", "report.html")}
    assert results | report | {out / "meta.json"} <= set(written)  # every one by the driver (workers cannot)
    assert reports == 1  # the report is built once, at the end
    assert (out / "checkpoints").is_dir() and (out / "logs").is_dir()  # what the workers do write


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_then_recorded_failed_and_resumed(
    tmp_path: Path, ray_instance: None, capsys: pytest.CaptureFixture[str]
) -> None:
    crash = {"name": f"{SELF}:CrashOnce", "label": "crash_once", "marker": str(tmp_path / "crashed")}
    ae = {"name": "ae", "latent_dim": 4, "hidden": [32]}
    assert main(["run", "--config", str(_config(tmp_path, "retried", [crash, ae]))]) == 0  # max_retries 1
    assert (tmp_path / "crashed").exists()  # its first attempt died
    assert [r["label"] for r in _rows(tmp_path / "retried")] == ["crash_once", "ae", "pca"]

    (tmp_path / "crashed").unlink()
    capsys.readouterr()
    config = _config(tmp_path, "failed", [crash, ae], max_retries=0)
    assert main(["run", "--config", str(config)]) == 1  # the crashed run failed, the others finished
    (failure,) = (tmp_path / "failed" / "failures").glob("*.json")
    assert "WorkerLost: its Ray worker died on each of its 1 attempt(s)" in json.loads(failure.read_text())["error"]
    assert [r["label"] for r in _rows(tmp_path / "failed")] == ["ae", "pca"]
    assert main(["run", "--config", str(config)]) == 0  # the next invocation retries it (the marker is there now)
    assert "already done" in capsys.readouterr().out
    assert [r["label"] for r in _rows(tmp_path / "failed")] == ["crash_once", "ae", "pca"]


@pytest.mark.slow
def test_an_interrupted_ray_benchmark_finishes_only_what_is_missing(
    tmp_path: Path, local: Path, ray_instance: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "out")
    real_store, real_announce = benchmarks.execution.runner.store, Ledger.announce
    stored: list[str] = []
    started: list[str] = []

    def killed_at_the_second(out: Path, finished: Any) -> None:
        if stored:
            raise Killed  # the driver dies as the second run finishes
        stored.append(finished.record["run_id"])
        real_store(out, finished)

    with monkeypatch.context() as patch:
        patch.setattr(benchmarks.execution.runner, "store", killed_at_the_second)
        with pytest.raises(Killed):
            main(["run", "--config", str(config)])
    assert [p.stem for p in (tmp_path / "out" / "results").glob("*.json")] == stored

    def announce(item: Pending) -> None:
        started.append(item.run.run_id)
        real_announce(item)

    monkeypatch.setattr(Ledger, "announce", staticmethod(announce))
    assert main(["run", "--config", str(config)]) == 0
    assert len(started) == 2 and stored[0] not in started  # only the two missing runs
    assert _rows(tmp_path / "out") == _rows(local)


def test_executor_keys_are_validated_like_every_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(_config(tmp_path, "out"))
    for override, message in [
        (["--executor.type", "dask"], "executor.type: expected one of 'local' | 'ray', got 'dask'"),
        (["--executor.cpu_per_run", "2"], "executor.cpu_per_run: unknown key (did you mean 'cpus_per_run'?)"),
        (["--executor.cpus_per_run", "0"], "executor.cpus_per_run: must be >= 1, got 0"),
        (["--executor.max_retries", "-1"], "executor.max_retries: must be >= 0, got -1"),
        (["--trainer.strategy", "ddp"], "trainer.strategy: 'ddp' re-launches the command per rank"),
        (["--trainer.num_nodes", "2"], "trainer.num_nodes: a Ray task runs on one node, got 2"),
    ]:
        assert main(["run", "--config", config, *override]) == 2
        assert f"config error: {message}" in capsys.readouterr().err
