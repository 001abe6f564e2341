"""Train one run: build its DataModule and model from the registries and fit them with a Lightning Trainer.

A run killed mid-training resumes from its last full checkpoint (``checkpoints/<run-id>/resume.ckpt``, see
:class:`~benchmarks.execution.callbacks.ResumeCheckpoint`); its training curves are the logged rows before
that checkpoint and the rows of the resumed training.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger, Logger
from pytorch_lightning.plugins.precision import Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from pytorch_lightning.utilities.model_helpers import is_overridden

from benchmarks.config import DatasetConfig, RunSpec
from benchmarks.execution.callbacks import DivergenceGuard, ProcessGroupTeardown, ResumeCheckpoint, TrainingHeartbeat
from datamodules import DATAMODULES, InMemoryDataModule
from lightning_modules import MODELS
from lightning_modules.base import AutoencoderModule

# torch 2.14 deprecates the pytree class Lightning 2.6.6 (the newest release) still tests with `isinstance`:
# a FutureWarning on every Trainer, from inside Lightning, that no user code can act on. Filtered here, in the
# module of every process that trains: the command's, a Ray worker, a ddp_spawn rank.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
if os.environ.get("AEBENCH_QUIET") == "1":  # ddp_spawn workers import this module afresh: keep Lightning quiet there
    for _name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(_name).setLevel(logging.WARNING)

SMALL_MODEL_PARAMETERS = 300_000  # below this a step is a few small matmuls (the digits MLP has ~100k)
RESUME = "resume.ckpt"
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def build_datamodule(dataset: DatasetConfig, *, seed: int) -> InMemoryDataModule:
    """The DataModule of ``dataset`` with its splits loaded; ``seed`` sets the training batch order."""
    datamodule = DATAMODULES.get(dataset.name)(**dataset.options, seed=seed)
    datamodule.setup()
    return datamodule


def build_model(run: RunSpec, image_shape: tuple[int, ...]) -> pl.LightningModule:
    """The run's model: the registered class called with the image shape and the run's hyperparameters."""
    return MODELS.get(run.model.name)(image_shape, **run.model.hparams)


def trainer_kwargs(run: RunSpec) -> dict[str, Any]:
    """The Trainer options of the config, mapped to Lightning's arguments, with the fast-path defaults."""
    kwargs = asdict(run.trainer)
    for own in ("checkpoint_every_n_epochs", "early_stopping_patience", "early_stopping_min_delta"):
        kwargs.pop(own)  # the harness's own options (callbacks), not Trainer arguments
    every = kwargs.pop("check_val_every_n_epoch")
    if every is None:
        kwargs["limit_val_batches"] = 0
    else:
        kwargs["check_val_every_n_epoch"] = every
    return {
        **kwargs,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,  # only epoch means are logged, so this costs nothing per step
    }


def read_curves(log_dir: Path) -> list[dict[str, float]]:
    """Epoch rows of the CSV logger's ``metrics.csv`` (empty cells dropped)."""
    path = log_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


@contextlib.contextmanager
def plain_cuda_check(strategy: str = "auto") -> Iterator[None]:
    """Training without the NVML-based CUDA availability check that importing Lightning switches on.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` so that a parent process asking whether CUDA exists does
    not initialise it before forking workers. torch then loads NVML on every ``torch.cuda.is_available()``, and
    Adam's step asks every step: 0.35 ms a step measured here, a tenth of a digits MLP step (see
    reports/performance.md). Only fork-based strategies (``ddp_fork``, ``ddp_notebook``) need the NVML check; the
    others train with torch's plain check.
    """
    if "fork" in strategy or "notebook" in strategy:
        yield
        return
    previous = os.environ.get(_NVML_CHECK)
    os.environ[_NVML_CHECK] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_NVML_CHECK, None)
        else:
            os.environ[_NVML_CHECK] = previous


_DEFAULT_THREADS = torch.get_num_threads()  # at import: the process's default, before any run changed it


def set_cpu_threads(threads: int | None, model: torch.nn.Module) -> None:
    """Intra-op CPU threads: as configured, or 1 for small models (under ``SMALL_MODEL_PARAMETERS``).

    A step of the digits MLP is a few small matmuls: synchronising two threads costs more than it saves,
    and with any other process on the machine the spinning threads slow it down by an order of magnitude
    (see reports/performance.md).
    """
    if threads is None:  # torch's own default for a large model, not what an earlier small run of the process set
        small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
        threads = 1 if small else _DEFAULT_THREADS
    torch.set_num_threads(threads)


#: the hooks Lightning calls around a manual backward and optimiser step (with the module's own ``backward``)
_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def plain_steps(trainer: pl.Trainer, model: pl.LightningModule) -> bool:
    """Whether ``manual_backward`` and ``LightningOptimizer.step`` come to ``loss.backward()`` and the optimiser's
    ``step()`` (with the step counter) for this fit, so that the model's training step may call those directly.

    True for an :class:`~lightning_modules.base.AutoencoderModule` on one device at plain 32-bit precision, with
    Lightning's no-op profiler, and no hook around backward or the step overridden by the model or by any callback
    (nor callbacks the model adds itself): the strategy, precision plugin and hooks would then only dispatch
    no-ops. Anything else (DDP, mixed precision, a callback reading gradients) takes Lightning's calls.
    """
    if not isinstance(model, AutoencoderModule) or model.automatic_optimization:
        return False
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if not isinstance(trainer.profiler, PassThroughProfiler):
        return False
    if any(is_overridden(h, model, pl.LightningModule) for h in (*_STEP_HOOKS, "backward", "configure_callbacks")):
        return False
    return not any(is_overridden(h, cb, Callback) for cb in trainer.callbacks for h in _STEP_HOOKS)


@dataclass
class Fitted:
    """A trained run: the model (with the weights that are evaluated), its DataModule, curves and checkpoint."""

    model: pl.LightningModule
    datamodule: InMemoryDataModule
    curves: list[dict[str, float]]
    checkpoint: Path


def _checkpointing(run: RunSpec, ckpt_dir: Path) -> list[Callback]:
    """With a validation loop: keep the best weights by ``val/loss`` and the last, and stop early when asked.
    Without: none here, the last weights are saved once after training (a checkpoint every epoch costs more
    than an epoch here)."""
    t = run.trainer
    if t.check_val_every_n_epoch is None:
        return []
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min", save_top_k=1, save_last=True,
            save_weights_only=True, every_n_epochs=t.check_val_every_n_epoch, enable_version_counter=False,
        )
    ]
    if t.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor="val/loss", mode="min", patience=t.early_stopping_patience,
                                       min_delta=t.early_stopping_min_delta, check_finite=False))  # fmt: skip
    return callbacks


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, not a checkpoint, or of another model)."""


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, loaded with ``weights_only=True`` (no code from the file is executed)."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated zip, bad pickle, a directory: all mean "not a readable checkpoint"
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    return state


def load_weights(model: pl.LightningModule, path: Path) -> None:
    """Load a checkpoint's weights into ``model``; a damaged or mismatched file is a :class:`CheckpointError`."""
    try:
        model.load_state_dict(read_checkpoint(path, model.device)["state_dict"])
    except RuntimeError as err:  # missing or unexpected keys, wrong shapes
        raise CheckpointError(f"{path}: its weights do not fit this model ({err})") from err


def refit_prior(model: pl.LightningModule, datamodule: InMemoryDataModule, checkpoint: Path) -> None:
    """For a model that learns its prior after training (``fit_prior``: the VQ-VAE, in its ``on_train_end``, on the
    last weights), fit the prior to the weights just loaded from ``checkpoint`` and save them back into it, so that
    the evaluation and a re-evaluation of the checkpoint read the prior of those weights."""
    fit_prior = getattr(model, "fit_prior", None)
    if not callable(fit_prior):
        return
    fit_prior(datamodule.evaluation_train.images)
    state = read_checkpoint(checkpoint)
    state["state_dict"] = model.state_dict()
    tmp = checkpoint.with_name(f".{checkpoint.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, checkpoint)


def _resume_point(path: Path) -> int | None:
    """The epoch a readable resume checkpoint was written after, or None (absent or damaged: train from scratch)."""
    if not path.is_file():
        return None
    try:
        return int(read_checkpoint(path)["epoch"]) + 1
    except (CheckpointError, KeyError) as err:
        warnings.warn(f"{err}; training this run from the start", stacklevel=3)
        return None


def fit(
    run: RunSpec,
    output_dir: Path,
    *,
    cpu_threads: int | None = None,
    extra_loggers: tuple[Logger, ...] = (),
    extra_callbacks: tuple[Callback, ...] = (),
    progress_prefix: str = "",
) -> Fitted:
    """Train ``run``; the evaluated weights are the best by validation loss when validation is on, else the last.

    Checkpoints go to ``<output_dir>/checkpoints/<run_id>/`` (``last.ckpt``, and ``best.ckpt`` with validation).
    On the non-zero ranks of a DDP run the returned ``checkpoint`` may not exist yet; only rank 0 evaluates.
    """
    pl.seed_everything(run.seed, verbose=False)
    datamodule = build_datamodule(run.dataset, seed=run.seed)
    model = build_model(run, datamodule.image_shape)
    set_cpu_threads(cpu_threads, model)
    log_dir = output_dir / "logs" / run.run_id
    ckpt_dir = output_dir / "checkpoints" / run.run_id
    resume_epoch = _resume_point(ckpt_dir / RESUME)
    earlier = [row for row in read_curves(log_dir) if row.get("epoch", 0) < resume_epoch] if resume_epoch else []
    shutil.rmtree(log_dir, ignore_errors=True)  # what an earlier attempt logged is in `earlier`
    if resume_epoch is None:  # a failed earlier attempt without a resume point leaves partial files
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    else:
        print(f"{progress_prefix}resuming from {ckpt_dir / RESUME} (after epoch {resume_epoch})", flush=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    csv_logger = CSVLogger(output_dir / "logs", name="", version=run.run_id)
    interactive = sys.stderr.isatty()
    steps_per_epoch = len(datamodule.train_dataloader())
    progress: Callback = TQDMProgressBar(refresh_rate=max(1, steps_per_epoch)) if interactive else TrainingHeartbeat(progress_prefix)
    checkpointing = _checkpointing(run, ckpt_dir)
    resume = ResumeCheckpoint(ckpt_dir / RESUME, run.trainer.checkpoint_every_n_epochs)
    kwargs = trainer_kwargs(run)
    if not model.automatic_optimization:  # Lightning clips only under automatic optimisation: the step clips
        if kwargs["gradient_clip_val"] is not None and not hasattr(type(model), "gradient_clip_val"):
            raise ValueError(f"trainer.gradient_clip_val: {type(model).__name__} optimises by hand and has no "
                             "gradient_clip_val attribute to clip with (see lightning_modules/base.py)")
        model.gradient_clip_val = kwargs.pop("gradient_clip_val")
    trainer = pl.Trainer(
        **kwargs,
        logger=[csv_logger, *extra_loggers],
        callbacks=[progress, DivergenceGuard(), *checkpointing, resume, *extra_callbacks],
        enable_progress_bar=interactive,
        enable_checkpointing=True,
        default_root_dir=str(output_dir),
    )
    if isinstance(trainer.strategy.launcher, _MultiProcessingLauncher):  # only spawned workers need it; every
        trainer.callbacks.insert(0, ProcessGroupTeardown())  # callback costs ~4 µs a hook, 5 hooks a step
    plain = plain_steps(trainer, model)
    if plain:
        model.plain_steps = True
    try:
        with plain_cuda_check(str(run.trainer.strategy)):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_dir / RESUME if resume_epoch else None)
    finally:
        if plain:
            del model.plain_steps  # back to the class default: a later Trainer decides for itself
    last = ckpt_dir / "last.ckpt"
    if not checkpointing:
        trainer.save_checkpoint(last, weights_only=True)
    evaluated = last
    if checkpointing and trainer.is_global_zero:
        evaluated = Path(checkpointing[0].best_model_path or ckpt_dir / "best.ckpt")
        if not evaluated.is_file():  # no silent fallback to the last weights
            raise FileNotFoundError(f"best checkpoint {evaluated} was not written (is val/loss logged?)")
        load_weights(model, evaluated)
        refit_prior(model, datamodule, evaluated)
    if trainer.is_global_zero:
        (ckpt_dir / RESUME).unlink(missing_ok=True)  # finished: the evaluated weights are kept instead
    return Fitted(model, datamodule, earlier + read_curves(log_dir), evaluated)
