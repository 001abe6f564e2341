"""The Lightning callbacks of a run: progress lines, the divergence guard, and the resume checkpoint.

The guard and the resume checkpoint read the epoch means that the model logs in its own ``on_train_epoch_end``;
Lightning calls "monitoring" callbacks (subclasses of ``EarlyStopping`` and ``Checkpoint``) after that hook
and every other callback before it, which is why they subclass those two.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, Checkpoint, EarlyStopping

from benchmarks.progress import eta

RESUME_INTERVAL_S = 300.0  # default: a resume checkpoint at the first epoch end after every 5 minutes of training
HEARTBEAT_S = 60.0  # at most one progress line a minute when no progress bar is shown


class DivergedError(RuntimeError):
    """The epoch-mean training loss became NaN or infinite: the run failed, deterministically."""

    def __init__(self, value: float, epoch: int, step: int) -> None:
        super().__init__(f"loss became {value} at epoch {epoch}, step {step}")
        self.value, self.epoch, self.step = value, epoch, step

    def __reduce__(self) -> tuple[type, tuple[float, int, int]]:
        return type(self), (self.value, self.epoch, self.step)  # picklable: a Ray worker sends it to the driver


class _EpochEndMonitor(EarlyStopping):
    """An ``EarlyStopping`` that only reads ``train/loss`` at epoch ends (a monitoring callback, see the module
    docstring), never stops training, and does nothing at validation.

    Its ``state_key`` (the key of its state in a checkpoint) is computed once: Lightning formats it for every
    callback on every hook dispatch, 5 a step, and ``EarlyStopping``'s is a ``repr`` of its settings.
    """

    def __init__(self) -> None:
        super().__init__(monitor="train/loss", patience=sys.maxsize, strict=False, check_finite=False)
        self._state_key = super().state_key

    @property
    def state_key(self) -> str:
        return self._state_key

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing to check at validation."""


class TrainingHeartbeat(_EpochEndMonitor):
    """Progress of training where no progress bar is shown (a log, CI): a line with the epoch, that epoch's loss and
    an ETA, at most every :data:`HEARTBEAT_S` seconds, so a short run prints nothing and a long one stays visible.

    A monitoring callback (see the module docstring) that never stops anything: it only prints.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self._start = self._last = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        self._first_epoch = trainer.current_epoch  # a resumed run starts later

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        now, total, epoch = time.monotonic(), trainer.max_epochs or 0, trainer.current_epoch + 1
        if not trainer.is_global_zero or now - self._last < HEARTBEAT_S or epoch >= total:
            return
        self._last = now
        loss = trainer.callback_metrics.get("train/loss")
        shown = f" train/loss={float(loss):.3f}" if loss is not None else ""
        done = (epoch - self._first_epoch) / max(1, total - self._first_epoch)
        print(f"{self.prefix}epoch {epoch}/{total}{shown} ({eta(now - self._start, done)})", flush=True)


class DivergenceGuard(_EpochEndMonitor):
    """Fails the run (:class:`DivergedError`) when its epoch-mean ``train/loss`` is not finite.

    It reads the epoch mean the model already logs, so the training step pays nothing for it; the error
    names the epoch and the global step at which the mean was found non-finite.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = trainer.callback_metrics.get("train/loss")
        if loss is not None and not bool(torch.isfinite(loss).all()):
            raise DivergedError(float(loss), trainer.current_epoch + 1, trainer.global_step)


class ResumeCheckpoint(Checkpoint):
    """A full checkpoint (weights, optimiser, loop state and the RNG states) at epoch ends, for resuming.

    Written every ``every_n_epochs`` epochs, or with ``None`` at the first epoch end after every
    :data:`RESUME_INTERVAL_S` seconds of training (so a run of a few seconds never pays for one). Written to a
    temporary file and renamed, so a kill during the write leaves the previous checkpoint intact. The torch
    RNG states travel in this callback's state, so that a resumed run draws the noise an uninterrupted one draws.
    """

    def __init__(self, path: Path, every_n_epochs: int | None) -> None:
        self.path, self.every_n_epochs = Path(path), every_n_epochs
        self._last_save = time.monotonic()

    def _due(self, trainer: pl.Trainer) -> bool:
        if self.every_n_epochs is not None:
            return (trainer.current_epoch + 1) % self.every_n_epochs == 0
        return time.monotonic() - self._last_save >= RESUME_INTERVAL_S

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if last_epoch or not self._due(trainer):
            return  # the end of training saves the weights that are evaluated instead
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        trainer.strategy.barrier()
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        self._last_save = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class ProcessGroupTeardown(Callback):
    """Destroys the process group at the end of a spawned DDP worker's fit (``ddp_spawn``).

    Lightning leaves the group to the interpreter's exit in the worker processes, where gloo's destructor then
    races the other rank's exit: now and then a worker aborted (SIGABRT) after training had finished. A
    barrier, then an explicit ``destroy_process_group`` while both ranks are alive, ends the group cleanly.
    Runs under the subprocess launcher (``ddp``) keep their group: the same processes train the next run.
    """

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher

        spawned = isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)
        if spawned and torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
