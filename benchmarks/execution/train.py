"""Train one run: build its DataModule and model from the registries and fit them with a Lightning Trainer."""

from __future__ import annotations

import csv
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger

from benchmarks.config import DatasetConfig, RunSpec
from datamodules import DATAMODULES, InMemoryDataModule
from lightning_modules import MODELS

SMALL_MODEL_PARAMETERS = 300_000  # below this a step is a few small matmuls (the digits MLP has ~100k)


class EpochPrinter(Callback):
    """Progress for logs that are not a terminal: one line at every fifth of training."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total, epoch = trainer.max_epochs or 0, trainer.current_epoch + 1
        if trainer.is_global_zero and total > 0 and (epoch % max(1, total // 5) == 0 or epoch == total):
            loss = trainer.callback_metrics.get("train/loss")
            shown = f" train/loss={float(loss):.3f}" if loss is not None else ""
            print(f"{self.prefix}epoch {epoch}/{total}{shown}", flush=True)


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


def set_cpu_threads(threads: int | None, model: torch.nn.Module) -> None:
    """Intra-op CPU threads: as configured, or 1 for small models (under ``SMALL_MODEL_PARAMETERS``).

    A step of the digits MLP is a few small matmuls: synchronising two threads costs more than it saves,
    and with any other process on the machine the spinning threads slow it down by an order of magnitude
    (see reports/performance.md).
    """
    if threads is None:
        small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
        threads = 1 if small else torch.get_num_threads()
    torch.set_num_threads(threads)


@dataclass
class Fitted:
    """A trained run: the model (with the weights that are evaluated), its DataModule, curves and checkpoint."""

    model: pl.LightningModule
    datamodule: InMemoryDataModule
    curves: list[dict[str, float]]
    checkpoint: Path


def _checkpointing(run: RunSpec, ckpt_dir: Path) -> list[Callback]:
    """With a validation loop: keep the best weights by ``val/loss`` and the last. Without: none here, the
    last weights are saved once after training (a checkpoint every epoch costs more than an epoch here)."""
    every = run.trainer.check_val_every_n_epoch
    if every is None:
        return []
    return [
        ModelCheckpoint(
            dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min", save_top_k=1, save_last=True,
            save_weights_only=True, every_n_epochs=every, enable_version_counter=False,
        )
    ]


def load_weights(model: pl.LightningModule, path: Path) -> None:
    """Load a checkpoint's weights with ``weights_only=True`` (no code from the file is executed)."""
    state = torch.load(path, map_location=model.device, weights_only=True)
    model.load_state_dict(state["state_dict"])


def fit(
    run: RunSpec,
    output_dir: Path,
    *,
    cpu_threads: int | None = None,
    extra_loggers: tuple[Logger, ...] = (),
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
    for stale in (log_dir, ckpt_dir):  # a failed earlier attempt leaves partial files
        shutil.rmtree(stale, ignore_errors=True)
    csv_logger = CSVLogger(output_dir / "logs", name="", version=run.run_id)
    interactive = sys.stderr.isatty()
    steps_per_epoch = len(datamodule.train_dataloader())
    progress: Callback = TQDMProgressBar(refresh_rate=max(1, steps_per_epoch)) if interactive else EpochPrinter(progress_prefix)
    checkpointing = _checkpointing(run, ckpt_dir)
    trainer = pl.Trainer(
        **trainer_kwargs(run),
        logger=[csv_logger, *extra_loggers],
        callbacks=[progress, *checkpointing],
        enable_progress_bar=interactive,
        enable_checkpointing=bool(checkpointing),
        default_root_dir=str(output_dir),
    )
    trainer.fit(model, datamodule=datamodule)
    last = ckpt_dir / "last.ckpt"
    if not checkpointing:
        trainer.save_checkpoint(last, weights_only=True)
    evaluated = last
    if checkpointing and trainer.is_global_zero:
        evaluated = Path(checkpointing[0].best_model_path or ckpt_dir / "best.ckpt")
        if not evaluated.is_file():  # no silent fallback to the last weights
            raise FileNotFoundError(f"best checkpoint {evaluated} was not written (is val/loss logged?)")
        load_weights(model, evaluated)
    return Fitted(model, datamodule, read_curves(log_dir), evaluated)
