"""Experiment tracking beside the always-on CSV logger: W&B or TensorBoard, as ``logger.type`` says.

The runner builds one :class:`Tracker` per benchmark (:func:`make_tracker`), gives ``loggers(run)`` to each
Trainer, and calls ``log_run`` after a run's results file is written and ``log_report`` after the report.
A tracker only mirrors those files, so it never costs a result: its first error (no network, no W&B API key)
becomes one warning and switches tracking off for the rest of the benchmark.

- ``wandb``: a W&B run per run of the grid (name: run id; group ``<dataset>/<label>``, so a configuration's
  seeds sit together; config: the resolved run config; job type ``train`` or ``baseline``) with the curves,
  the final metrics as ``test/<metric>`` in its summary, list metrics (``kl_per_dim``) as bar charts and image
  grids; then a run ``<benchmark>-table`` (job type ``report``) with the comparison table and ``report.html``.
  ``WANDB_MODE=offline`` is honoured: W&B reads it, and the runs land in ``<out>/wandb/`` for ``wandb sync``.
- ``tensorboard``: ``<out>/logs/tensorboard/<run id>/`` with the curves, ``test/<metric>`` at the last step,
  list metrics as scalars whose step is the index (TensorBoard has no bars) and the image grids;
  ``<benchmark>-table/`` holds ``table.md`` as text.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger
from torchvision.utils import make_grid

from benchmarks.config import BenchmarkConfig, LoggerConfig, RunSpec, Spec
from benchmarks.evaluation.figure_data import N_SHOWN
from benchmarks.reporting.stats import Stat
from benchmarks.reporting.table import Row, metric_columns
T = TypeVar("T")


def split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """A results record's scalar metrics, keyed ``test/<metric>`` (measured on the test split), and its
    per-dimension ones (``kl_per_dim``), keyed by name."""
    scalars = {f"test/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    numbers = {k: v for k, v in metrics.items() if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)}
    lists = {k: [float(x) for x in v] for k, v in numbers.items() if v}
    return scalars, lists


def image_grids(figures: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Tiled (H, W, 3) uint8 images from a run's figure data: ``images/reconstructions`` (the originals in the
    top row, their reconstructions below) and ``images/samples_<sampler>``."""
    panels = {f"images/{k}": v for k, v in figures.items() if k.startswith("samples_")}
    if "reconstructions" in figures:
        panels["images/reconstructions"] = np.concatenate([figures["originals"], figures["reconstructions"]])
    return {
        tag: make_grid(torch.from_numpy(images), nrow=N_SHOWN, pad_value=255).permute(1, 2, 0).numpy()
        for tag, images in panels.items()
    }


def comparison_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the comparison table from ``table.json``'s rows: dataset, label, n_seeds, then
    ``<metric>_mean`` and ``<metric>_ci95`` per metric, in the order of the report's tables."""
    parsed = [Row(**{**r, "stats": {k: Stat(**s) for k, s in r["stats"].items()}}) for r in rows]
    metrics = metric_columns(parsed)
    columns = ["dataset", "label", "n_seeds", *(f"{k}_{s}" for k in metrics for s in ("mean", "ci95"))]
    cells = [[getattr(r.stats.get(k), s, math.nan) for k in metrics for s in ("mean", "ci95")] for r in parsed]
    # an absent metric, or the ci95 of one seed: None, which JSON and W&B show as empty (NaN is not JSON)
    data = [
        [r.dataset, r.label, len(r.seeds), *(v if math.isfinite(v) else None for v in row)]
        for r, row in zip(parsed, cells)
    ]
    return columns, data


class Tracker:
    """No tracking beyond the CSV logger (``logger.type: csv``); the base of the W&B and TensorBoard trackers.

    Subclasses override the ``_`` hooks; the public methods run them so that an error warns once and switches
    tracking off instead of failing the benchmark.
    """

    service = "tracking"

    def __init__(self, config: LoggerConfig, output_dir: Path, name: str) -> None:
        self.config, self.output_dir, self.name = config, Path(output_dir), name
        self.enabled = True
        self.error: str | None = None  # the failure that switched tracking off, for the benchmark's summary

    def loggers(self, run: Spec) -> tuple[Logger, ...]:
        """Lightning loggers for ``run``'s Trainer, beside the CSV logger (none for baselines: they do not train)."""
        return (self._guard(self._loggers, run) or ()) if isinstance(run, RunSpec) else ()

    def log_run(self, run: Spec, record: Mapping[str, Any], figures: Mapping[str, np.ndarray]) -> None:
        """Mirror a finished run: its results ``record`` and its figure data (``results/<run id>.npz``)."""
        self._guard(self._log_run, run, record, figures)

    def log_report(self, paths: Mapping[str, Path]) -> None:
        """Mirror the comparison table and the report (``paths`` as returned by ``build_report``)."""
        self._guard(self._log_report, paths)

    def _loggers(self, run: RunSpec) -> tuple[Logger, ...]:
        return ()

    def _log_run(self, run: Spec, record: Mapping[str, Any], figures: Mapping[str, np.ndarray]) -> None:
        """Nothing to mirror: the results file is the record."""

    def _log_report(self, paths: Mapping[str, Path]) -> None:
        """Nothing to mirror: the report is written."""

    def _close(self, exit_code: int = 1) -> None:
        """Release what is open; ``exit_code`` 1: its run or its logging failed."""

    def _guard(self, hook: Callable[..., T], *args: Any) -> T | None:
        if not self.enabled:
            return None
        try:
            return hook(*args)
        except Exception as err:  # noqa: BLE001 — tracking must never cost a result
            self.enabled = False
            self.error = f"{self.service} logging failed: {type(err).__name__}: {err}"
            warnings.warn(
                f"{self.service} logging failed: {type(err).__name__}: {err}; results files and the report are "
                f"still written ({self.service} logging is off for the rest of this benchmark)",
                stacklevel=3,
            )
            with contextlib.suppress(Exception):  # already failing: the warning above says so
                self._close()
            return None


class WandbTracker(Tracker):
    """One W&B run per run of the grid, finished by its ``log_run``, and one for the report."""

    service = "W&B"

    def __init__(self, config: LoggerConfig, output_dir: Path, name: str) -> None:
        import wandb

        super().__init__(config, output_dir, name)
        # silent: W&B's own banner is ten lines per run; the benchmark's summary says where the runs are
        self._settings = {
            "project": config.project, "entity": config.entity, "tags": list(config.tags),
            "settings": wandb.Settings(silent=True),
        }  # fmt: skip
        self._active: tuple[str, Any] | None = None  # (run id, W&B run) from its start to its log_run

    def _start(self, run: Spec) -> WandbLogger:
        self._close()  # a W&B run still open here belongs to a run that failed before log_run
        logger = WandbLogger(
            name=run.run_id,
            save_dir=self.output_dir,
            group=f"{run.dataset.display_name}/{run.label}",
            job_type="train" if isinstance(run, RunSpec) else "baseline",
            config=run.resolved(),
            **self._settings,
        )
        self._active = (run.run_id, logger.experiment)  # wandb.init here, so that its failure is caught here
        return logger

    def _loggers(self, run: RunSpec) -> tuple[Logger, ...]:
        return (self._start(run),)

    def _log_run(self, run: Spec, record: Mapping[str, Any], figures: Mapping[str, np.ndarray]) -> None:
        import wandb

        if self._active is None or self._active[0] != run.run_id:
            self._start(run)  # a baseline trains nothing: its W&B run starts now
        experiment = self._active[1]  # type: ignore[index]
        scalars, lists = split_metrics(record["metrics"])
        experiment.summary.update(scalars)
        charts = {
            f"test/{k}": wandb.plot.bar(wandb.Table(columns=["dim", k], data=list(enumerate(v))), "dim", k, title=k)
            for k, v in lists.items()
        }
        experiment.log({**charts, **{tag: wandb.Image(grid) for tag, grid in image_grids(figures).items()}})
        self._close(exit_code=0)

    def _log_report(self, paths: Mapping[str, Path]) -> None:
        import wandb

        self._close()
        table = json.loads(paths["json"].read_text())
        columns, data = comparison_table(table["rows"])
        name = f"{self.name}-table"
        report = wandb.init(
            dir=str(self.output_dir), name=name, job_type="report", config=table["meta"]["config"], **self._settings
        )
        self._active = (name, report)
        html = wandb.Html(paths["html"], inject=False)
        report.log({"comparison": wandb.Table(columns=columns, data=data), "report": html})
        self._close(exit_code=0)
        # wait for W&B's writer process to flush every run to disk before the benchmark returns, so that an
        # offline run's files are complete (and readable by `wandb sync` or a test) as soon as it ends
        wandb.teardown()

    def _close(self, exit_code: int = 1) -> None:
        if self._active is not None:
            _, experiment = self._active
            self._active = None
            experiment.finish(exit_code=exit_code)


class TensorBoardTracker(Tracker):
    """One TensorBoard log folder per run of the grid, and one for the report."""

    service = "TensorBoard"

    @property
    def root(self) -> Path:
        return self.output_dir / "logs" / "tensorboard"

    def _loggers(self, run: RunSpec) -> tuple[Logger, ...]:
        shutil.rmtree(self.root / run.run_id, ignore_errors=True)  # curves of a failed earlier attempt
        return (TensorBoardLogger(self.root, name="", version=run.run_id, default_hp_metric=False),)

    def _log_run(self, run: Spec, record: Mapping[str, Any], figures: Mapping[str, np.ndarray]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        step = record.get("steps", 0)
        scalars, lists = split_metrics(record["metrics"])
        with SummaryWriter(str(self.root / run.run_id)) as writer:
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, step)
            for key, values in lists.items():
                for i, value in enumerate(values):
                    writer.add_scalar(f"test/{key}", value, i)
            for tag, grid in image_grids(figures).items():
                writer.add_image(tag, grid, step, dataformats="HWC")

    def _log_report(self, paths: Mapping[str, Path]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(self.root / f"{self.name}-table")) as writer:
            writer.add_text("comparison", paths["md"].read_text())


TRACKERS: dict[str, type[Tracker]] = {"csv": Tracker, "wandb": WandbTracker, "tensorboard": TensorBoardTracker}


def make_tracker(config: BenchmarkConfig, output_dir: Path) -> Tracker:
    """The tracker of ``config.logger.type``, writing under ``output_dir``."""
    return TRACKERS[config.logger.type](config.logger, output_dir, config.name)
