"""Pre-flight: every problem of the environment a config would hit, found before anything trains.

``aebench run`` and ``aebench validate`` call :func:`preflight`, which returns one line per problem (all of
them, not only the first), each naming the config key and the fix:

- the dataset files are present (or ``download: true``) and readable, and the data fits the evaluation settings;
- the FID weights are present for the ``inception`` backend;
- Lightning accepts the accelerator, devices, strategy and precision on this machine (unless the runs go to a
  Ray cluster: ``executor.address``);
- the output folder is writable, with disk space for the checkpoints (estimated from the models' sizes);
- the optional packages the config needs are installed (W&B, TensorBoard, Ray).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import warnings
from pathlib import Path

import pytorch_lightning as pl

from benchmarks.config import BenchmarkConfig, DatasetConfig, RunSpec, expand_grid
from benchmarks.evaluation.features import missing_inception_weights
from datamodules import DATAMODULES, InMemoryDataModule
from datamodules.base import DataFileError, DataOptionError
from lightning_modules import MODELS

#: bytes a run keeps beside its weights: results, figure data, logs (measured: well under this on digits)
RUN_OVERHEAD_BYTES = 2_000_000
#: a run's checkpoints hold its float32 weights this many times over at most (last/best weights, and the resume
#: checkpoint with Adam's two moments)
CHECKPOINT_COPIES = 5
_OPTIONAL_PACKAGES = {"wandb": "wandb", "tensorboard": "tensorboard"}


class PreflightError(Exception):
    """The config cannot run on this machine; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


#: a dataset of the grid as the pre-flight loaded it: where the config sets it (``datasets[0] (digits)``), its
#: config (a sweep's point) and its DataModule
_Loaded = tuple[str, DatasetConfig, InMemoryDataModule]


def _datasets(config: BenchmarkConfig, problems: list[str]) -> list[_Loaded]:
    """The config's DataModules (sweeps expanded) that are available here, loaded; a missing one adds its problem."""
    loaded = []
    for i, spec in enumerate(config.datasets):
        for dataset in spec.expand():
            where = f"datasets[{i}] ({dataset.display_name})"
            datamodule = DATAMODULES.get(dataset.name)(**dataset.options, seed=0)
            missing = datamodule.missing_files()
            if missing is not None:
                problems.append(f"{where}: {missing}")
                continue
            try:
                datamodule.setup()
            except (DataFileError, DataOptionError) as err:
                problems.append(f"{where}: {err}")
                continue
            loaded.append((where, dataset, datamodule))
    return loaded


def _evaluation(config: BenchmarkConfig, data: list[_Loaded], problems: list[str]) -> None:
    """Problems of the evaluation settings against this data and machine."""
    cfg = config.evaluation
    if cfg.fid_backend == "inception" and (missing := missing_inception_weights()) is not None:
        problems.append(f"evaluation.fid_backend: {missing}")
    fid_metrics = cfg.fid_metrics()
    for where, _, datamodule in data:
        unlabelled = datamodule.test.labels.numel() == 0  # type: ignore[union-attr]
        if cfg.fid_backend == "domain" and fid_metrics and unlabelled:
            problems.append(
                f"evaluation.fid_backend: the `domain` FID features are a classifier trained on labels, and "
                f"{where} has none; add labels to the data, set fid_backend: "
                f"inception, or list evaluation.metrics without {', '.join(fid_metrics)}"
            )
        n_train = len(datamodule.train)  # type: ignore[arg-type]
        if "gmm" in cfg.samplers and cfg.gmm_components > n_train:
            problems.append(
                f"evaluation.gmm_components: {cfg.gmm_components} components for the {n_train} training codes of "
                f"{where}; use at most {n_train}"
            )


def _trainer(config: BenchmarkConfig, problems: list[str]) -> None:
    """Lightning's own checks of accelerator, devices, strategy and precision, by building a Trainer."""
    t = config.trainer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pl.Trainer(
                accelerator=t.accelerator, devices=t.devices, strategy=t.strategy, num_nodes=t.num_nodes,
                precision=t.precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False,
            )  # fmt: skip
    except Exception as err:  # noqa: BLE001 — whatever Lightning refuses, in its own words
        message = " ".join(str(err).split())
        problems.append(f"trainer (accelerator {t.accelerator!r}, devices {t.devices!r}, strategy {t.strategy!r}, "
                        f"precision {t.precision!r}): {message}")  # fmt: skip


def estimated_bytes(config: BenchmarkConfig, data: list[_Loaded]) -> int:
    """Disk space the runs of the grid keep: their checkpoints (from the models' parameter counts) and outputs."""
    total = 0
    shapes = {dataset.name: dm.image_shape for _, dataset, dm in data}
    for run in expand_grid(config):
        total += RUN_OVERHEAD_BYTES
        if isinstance(run, RunSpec) and run.dataset.name in shapes:
            model = MODELS.get(run.model.name)(shapes[run.dataset.name], **run.model.hparams)
            total += CHECKPOINT_COPIES * 4 * sum(p.numel() for p in model.parameters())
    return total


def _output_dir(output_dir: Path, needed: int, problems: list[str]) -> None:
    """The output folder (or its nearest existing parent) is writable and has room for ``needed`` bytes."""
    existing = next((p for p in (output_dir, *output_dir.parents) if p.exists()), Path("/"))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        problems.append(f"output_dir: cannot write {output_dir.resolve()} ({err.strerror}); choose a writable --output-dir")
        return
    free = shutil.disk_usage(existing).free
    if free < needed:
        problems.append(
            f"output_dir: {output_dir.resolve()} has {free / 1e6:.0f} MB free, the runs need about {needed / 1e6:.0f} MB "
            "(checkpoints and figure data); free space or choose another --output-dir"
        )


def _packages(config: BenchmarkConfig, problems: list[str]) -> None:
    package = _OPTIONAL_PACKAGES.get(config.logger.type)
    if package is not None and importlib.util.find_spec(package) is None:
        problems.append(f"logger.type: {config.logger.type!r} needs the package {package}: pip install {package}")
    if config.executor.type == "ray" and importlib.util.find_spec("ray") is None:
        problems.append("executor.type: 'ray' needs the package ray: pip install 'aebench[ray]'")


def preflight(config: BenchmarkConfig, output_dir: Path) -> list[str]:
    """Every problem :mod:`this module <benchmarks.execution.preflight>` checks for, one line each (empty: ready)."""
    problems: list[str] = []
    data = _datasets(config, problems)
    _evaluation(config, data, problems)
    if config.executor.address is None:  # joining a cluster: the runs train on its machines, not this one
        _trainer(config, problems)
    _output_dir(output_dir, estimated_bytes(config, data), problems)
    _packages(config, problems)
    return problems

