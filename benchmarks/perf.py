"""Where training time goes on small images: ``aebench perf`` measures ms/step of the same VAE steps three ways.

1. a hand-written loop over in-memory batches (the floor: nothing but the model's work);
2. aebench's Trainer path (``benchmarks.train.fit`` settings: in-memory batches, epoch-level logging,
   no per-epoch checkpoint or validation, progress refreshed once per epoch);
3. a Lightning setup with the usual defaults (a shuffled ``DataLoader``, ``self.log`` every step, a
   validation loop and a checkpoint every epoch, a progress bar refreshed every step).

All three run in one process, after a warm-up, on the same data and model, so their ratios are comparable;
each is measured with 1 and with the default number of intra-op CPU threads.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.execution import provenance
from datamodules import DATAMODULES
from lightning_modules import MODELS

EPOCHS, BATCH = 10, 64


class _StepLoggingVAE(MODELS.get("vae")):  # type: ignore[misc]
    """The VAE with the common ``self.log`` on every step, and validation every epoch."""

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        terms = self.loss_terms(batch[0])
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, on_step=True, on_epoch=True, prog_bar=True)
        return terms["loss"]


def _hand_loop(model: torch.nn.Module, dm) -> float:  # noqa: ANN001
    opt = model.configure_optimizers()
    steps, start = 0, time.perf_counter()
    for _ in range(EPOCHS):
        for x, _y in dm.train_dataloader():
            opt.zero_grad()
            model.loss_terms(x)["loss"].backward()
            opt.step()
            steps += 1
    return (time.perf_counter() - start) / steps * 1e3


def _trainer(model: pl.LightningModule, dm, root: Path, *, defaults: bool) -> float:  # noqa: ANN001
    common = {"max_epochs": EPOCHS, "accelerator": "cpu", "devices": 1, "default_root_dir": str(root), "enable_model_summary": False}
    if defaults:
        loaders = DataLoader(TensorDataset(dm.train.images, dm.train.labels), batch_size=BATCH, shuffle=True)
        val = DataLoader(TensorDataset(dm.val.images, dm.val.labels), batch_size=BATCH)
        trainer = pl.Trainer(**common, callbacks=[TQDMProgressBar(refresh_rate=1)], log_every_n_steps=1)
        start = time.perf_counter()
        trainer.fit(model, train_dataloaders=loaders, val_dataloaders=val)
    else:
        trainer = pl.Trainer(
            **common, limit_val_batches=0, num_sanity_val_steps=0, enable_checkpointing=False, logger=False,
            callbacks=[TQDMProgressBar(refresh_rate=len(dm.train_dataloader()))],
        )
        start = time.perf_counter()
        trainer.fit(model, datamodule=dm)
    return (time.perf_counter() - start) / trainer.global_step * 1e3


def measure() -> list[tuple[str, int, float]]:
    """(setup, threads, ms/step) rows; every setup trains the same VAE on digits, batch 64, 10 epochs."""
    dm = DATAMODULES.get("digits")(batch_size=BATCH)
    dm.setup()
    default_threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in sorted({1, default_threads}):
            torch.set_num_threads(threads)
            for name, run in (
                ("hand-written loop", lambda m: _hand_loop(m, dm)),
                ("aebench Trainer path", lambda m: _trainer(m, dm, Path(tmp), defaults=False)),
                ("Lightning with common defaults", lambda m: _trainer(m, dm, Path(tmp), defaults=True)),
            ):
                torch.manual_seed(0)
                model = (_StepLoggingVAE if "defaults" in name else MODELS.get("vae"))(dm.image_shape, latent_dim=8)
                _hand_loop(model, dm) if name.startswith("hand") else None  # warm-up (allocator, kernels)
                rows.append((name, threads, run(model)))
            with _competing_process():  # another busy process on the machine, as during a parallel test run
                torch.manual_seed(0)
                rows.append(("hand-written loop, one core kept busy by another process", threads, _hand_loop(MODELS.get("vae")(dm.image_shape, latent_dim=8), dm)))
        torch.set_num_threads(default_threads)
    return rows


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def _competing_process() -> Iterator[None]:
    proc = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    proc.start()
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        proc.join()


def write_report(path: Path) -> str:
    """Measure (progress bars and Lightning's messages silenced, they are part of the cost) and write ``path``."""
    print("measuring 9 setups of 200 steps each…", flush=True)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    with contextlib.redirect_stderr(io.StringIO()):
        rows = measure()
    floor = {t: ms for name, t, ms in rows if name == "hand-written loop"}  # idle machine, same threads
    lines = [
        "# Performance: where a training step's time goes",
        "",
        f"Written by `aebench perf` on {provenance.machine()['cpu']} ({provenance.machine()['cpu_count']} cores), "
        f"Python {platform.python_version()}, torch {provenance.versions()['torch']}, "
        f"lightning {provenance.versions()['lightning']}, commit `{provenance.git_commit()}`.",
        f"VAE (MLP 64-256-128-8) on digits, batch {BATCH}, {EPOCHS} epochs per setup, all setups in one process.",
        "",
        "| setup | CPU threads | ms / step | × hand-written loop (same threads) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {name} | {t} | {ms:.2f} | {ms / floor[t]:.2f} |" for name, t, ms in rows]
    lines += [
        "",
        "aebench trains MLP-sized models (images under 28 px) with one intra-op thread (`cpu_threads: null`):",
        "on an idle machine one and two threads run these small matmuls equally fast, but when anything else",
        "keeps a core busy the two spinning threads of a step wait for each other (the last rows).",
    ]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
