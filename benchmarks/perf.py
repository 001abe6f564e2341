"""The performance report (``aebench perf``): where time goes, measured in one process, as ratios.

1. **Training**: the aebench Trainer path (:func:`benchmarks.execution.train.fit`, exactly as a benchmark runs
   it) against a minimal hand-written loop over the same network, optimiser, batch size and in-memory batches,
   for the MLP on digits and the conv nets on mnist5k (28×28) and dSprites (64×64). Paired rounds: each round
   times both (in alternating order, so a drift of the machine hits both), after a warm-up; the figure is the
   median over rounds of the throughput ratio, with its min–max. Then one more round of each path with clocks
   around the model's loss, autograd's backward and the optimiser (:class:`Segments`): where a step's time goes,
   the same kernels in both paths, and what is left, the loop around them.
2. **Data pipeline**: batches per second of each DataModule's training batches alone (dSprites: and its renderer).
3. **Evaluation**: each metric's time at the defaults, for one briefly trained conv VAE on dSprites and mnist5k,
   and evaluation against training per run as the committed reference reports recorded it.
4. **Scaling**: training and evaluation time against the dSprites subset size, and the IWAE bound's time against K.
5. **GPU** (only where CUDA is available): images per second in ``32-true`` and ``bf16-mixed``.

Everything runs with the thread count the benchmark itself would use, stated in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import numpy as np
import torch
from pytorch_lightning.callbacks import Callback

from benchmarks.config import DatasetConfig, EvaluationConfig, ModelConfig, RunSpec, TrainerConfig, load_config
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.evaluation.inputs import EvalContext
from benchmarks.evaluation.metrics.nll_iwae import nll_iwae
from benchmarks.execution import provenance
from benchmarks.execution.train import build_datamodule, build_model, fit, plain_cuda_check, set_cpu_threads
from benchmarks.files import write_text_atomic
from benchmarks.reporting.build import load_outputs

ROUNDS = 3
SCALING_SIZES = (1000, 2000, 4000)  # dSprites training images (evaluated on a quarter as many test images)
SCALING_K = (10, 100, 1000)  # IWAE importance samples
WARMUP_STEPS = 10


@dataclass(frozen=True)
class Setup:
    name: str
    dataset: str
    dataset_options: dict[str, Any]
    model: str
    hparams: dict[str, Any]
    steps: int  # timed steps per round and path


SETUPS = (
    Setup("MLP VAE, digits 8×8", "digits", {}, "vae", {"latent_dim": 8}, steps=1000),
    Setup("conv VAE, mnist5k 28×28", "mnist5k", {"binarize": "dynamic"}, "vae", {"latent_dim": 16}, steps=80),
    Setup("conv VAE, dSprites 64×64", "dsprites", {"n_train": 4000, "n_val": 200, "n_test": 500}, "vae",
          {"latent_dim": 10}, steps=30),
)  # fmt: skip


def _clocks() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): CPU time does not count the waits another process causes."""
    return time.perf_counter(), time.process_time()


@dataclass
class Timing:
    wall: float  # seconds per step
    cpu: float


#: the parts of a training step timed by :class:`Segments`, in the report's order
SEGMENTS = ("forward", "backward", "optimiser")


class Segments:
    """Wall seconds a path spends in the model's ``loss_terms`` (forward), ``torch.autograd.backward`` and the
    optimiser's ``zero_grad`` + ``step``, summed between :meth:`start` and :meth:`stop` (the timed steps).

    While :meth:`clocks` is entered those functions are wrapped (about a microsecond a call in all); the rest
    of a step, its wall time less these, is the loop around them: data, hooks, logging, Python.
    """

    def __init__(self) -> None:
        self.spent = dict.fromkeys(SEGMENTS, 0.0)
        self.timed: dict[str, float] = {}

    def start(self) -> None:
        self.spent = dict.fromkeys(SEGMENTS, 0.0)

    def stop(self) -> None:
        self.timed = dict(self.spent)

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)  # keeps torch's `hooked` mark on Optimizer.step: not wrapped a second time
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start

        return wrapper

    @contextlib.contextmanager
    def clocks(self, model_class: type, optimizer_class: type = torch.optim.Adam) -> Iterator[Segments]:
        patched = [(model_class, "loss_terms", "forward"), (torch.autograd, "backward", "backward"),
                   (optimizer_class, "step", "optimiser"), (torch.optim.Optimizer, "zero_grad", "optimiser")]  # fmt: skip
        saved = [(owner, attr, owner.__dict__.get(attr)) for owner, attr, _ in patched]
        try:
            for owner, attr, name in patched:
                setattr(owner, attr, self._timed(name, getattr(owner, attr)))
            yield self
        finally:
            for owner, attr, before in saved:
                if before is None:  # inherited: the wrapper goes, the base class's shows again
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, before)


class StepTimer(Callback):
    """Wall and CPU time of ``steps`` training steps after ``warmup`` (Trainer set-up and teardown excluded).

    The clocks are read twice, at the first timed step and after the last: ``time.process_time`` costs about
    0.5 ms a call on this machine's VM, so reading it every step would bill the Trainer path for the timer.
    """

    def __init__(self, warmup: int, steps: int, segments: Segments | None = None) -> None:
        self.warmup, self.steps, self.start, self.end = warmup, steps, (0.0, 0.0), (0.0, 0.0)
        self.segments = segments

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.warmup:
            self.start = _clocks()
            if self.segments is not None:
                self.segments.start()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if trainer.global_step == self.warmup + self.steps:
            self.end = _clocks()
            if self.segments is not None:
                self.segments.stop()

    def per_step(self) -> Timing:
        return Timing((self.end[0] - self.start[0]) / self.steps, (self.end[1] - self.start[1]) / self.steps)


def _run(setup: Setup, steps: int, device: str = "cpu", precision: str = "32-true") -> RunSpec:
    trainer = TrainerConfig(max_epochs=-1, max_steps=steps, accelerator=device, precision=precision)
    return RunSpec(DatasetConfig(setup.dataset, setup.dataset_options), ModelConfig(setup.model, setup.model, setup.hparams),
                   0, trainer, EvaluationConfig())  # fmt: skip


def hand_loop(setup: Setup, segments: Segments | None = None) -> Timing:
    """Seconds per step of the plainest loop over the same model, optimiser and in-memory batches."""
    run = _run(setup, WARMUP_STEPS + setup.steps)
    datamodule = build_datamodule(run.dataset, seed=0)
    torch.manual_seed(0)
    model = build_model(run, datamodule.image_shape)
    set_cpu_threads(None, model)
    optimizer = model.configure_optimizers()
    steps, start = 0, (0.0, 0.0)
    with plain_cuda_check():  # as a loop written without importing Lightning runs
        while steps < WARMUP_STEPS + setup.steps:
            for x, _ in datamodule.train_dataloader():
                if steps == WARMUP_STEPS:
                    start = _clocks()
                    if segments is not None:
                        segments.start()
                optimizer.zero_grad()
                model.loss_terms(x)["loss"].backward()
                optimizer.step()
                steps += 1
                if steps == WARMUP_STEPS + setup.steps:
                    break
    end = _clocks()
    if segments is not None:
        segments.stop()
    return Timing((end[0] - start[0]) / setup.steps, (end[1] - start[1]) / setup.steps)


def trainer_path(
    setup: Setup, root: Path, device: str = "cpu", precision: str = "32-true", segments: Segments | None = None
) -> Timing:
    """Seconds per step of :func:`~benchmarks.execution.train.fit`, the path every benchmark run takes."""
    timer = StepTimer(WARMUP_STEPS, setup.steps, segments)
    fit(_run(setup, WARMUP_STEPS + setup.steps, device, precision), root, extra_callbacks=(timer,))
    return timer.per_step()


@dataclass
class Paired:
    setup: str
    threads: int
    hand: list[Timing] = field(default_factory=list)  # per round
    trainer: list[Timing] = field(default_factory=list)
    #: per path ("hand", "trainer"): wall µs per step of each of SEGMENTS, "rest" (the loop) and "total"
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)

    def ratios(self, clock: str) -> list[float]:
        """Trainer-path throughput ÷ hand-loop throughput per round, by ``clock`` (``wall`` or ``cpu``)."""
        return [getattr(h, clock) / getattr(t, clock) for h, t in zip(self.hand, self.trainer)]


def measure_training(root: Path, log: Callable[[str], None]) -> list[Paired]:
    results = []
    for setup in SETUPS:
        paired = Paired(setup.name, 0)
        for r in range(ROUNDS):
            order = ("hand", "trainer") if r % 2 == 0 else ("trainer", "hand")
            for path in order:
                seconds = hand_loop(setup) if path == "hand" else trainer_path(setup, root / f"{setup.dataset}-{r}")
                getattr(paired, path).append(seconds)
            paired.threads = torch.get_num_threads()
            log(f"{setup.name}: round {r + 1}/{ROUNDS}: hand {1e3 * paired.hand[-1].wall:.2f} ms/step, "
                f"Trainer path {1e3 * paired.trainer[-1].wall:.2f} ms/step")  # fmt: skip
        paired.breakdown = breakdown(setup, root / f"{setup.dataset}-segments")
        results.append(paired)
    return results


def breakdown(setup: Setup, root: Path) -> dict[str, dict[str, float]]:
    """One round of each path with :class:`Segments`' clocks (after the timed rounds: the wrappers cost a little):
    wall µs per step of the forward, backward and optimiser, of the rest (the loop), and in all."""
    from lightning_modules import MODELS

    out = {}
    for path in ("hand", "trainer"):
        segments = Segments()
        with segments.clocks(MODELS.get(setup.model)):
            timing = hand_loop(setup, segments) if path == "hand" else trainer_path(setup, root, segments=segments)
        per_step = {name: 1e6 * seconds / setup.steps for name, seconds in segments.timed.items()}
        per_step["rest"] = 1e6 * timing.wall - sum(per_step.values())
        per_step["total"] = 1e6 * timing.wall
        out[path] = per_step
    return out


def measure_pipeline() -> list[tuple[str, float, float]]:
    """(what, batches per second, images per second) of the training batches of each setup's DataModule alone."""
    rows = []
    for setup in SETUPS:
        datamodule = build_datamodule(DatasetConfig(setup.dataset, setup.dataset_options), seed=0)
        start, batches, images = time.perf_counter(), 0, 0
        for _ in range(3):
            for x, _ in datamodule.train_dataloader():
                batches, images = batches + 1, images + len(x)
        elapsed = time.perf_counter() - start
        rows.append((f"{setup.dataset} training batches", batches / elapsed, images / elapsed))
    from datamodules.dsprites import render, sample_factors

    classes = sample_factors(20_000, torch.Generator().manual_seed(0))
    start = time.perf_counter()
    render(classes)
    elapsed = time.perf_counter() - start
    rows.append(("dSprites rendering (20,000 images)", 20_000 / 64 / elapsed, 20_000 / elapsed))
    return rows


def _trained(setup: Setup, root: Path, epochs: int) -> tuple[pl.LightningModule, Any, float]:
    """A conv model of ``setup`` trained ``epochs`` epochs by the aebench path, and its training seconds."""
    run = RunSpec(DatasetConfig(setup.dataset, setup.dataset_options), ModelConfig(setup.model, setup.model, setup.hparams),
                  0, TrainerConfig(max_epochs=epochs, accelerator="cpu"), EvaluationConfig())  # fmt: skip
    start = time.perf_counter()
    fitted = fit(run, root)
    return fitted.model, fitted.datamodule, time.perf_counter() - start


#: the evaluation settings measured per dataset: those of the shipped config a user runs on it (the defaults of
#: the disentanglement protocol cost ~20 minutes a run on a 2-core CPU; `dsprites_full` is for a GPU)
SHIPPED = {"mnist5k": "mnist", "dsprites": "dsprites_quick"}


def measure_evaluation(root: Path) -> dict[str, dict[str, Any]]:
    """Seconds per metric at a shipped config's evaluation settings, for the two conv setups (1 epoch of training),
    and the training of the dataset's FID feature classifier with its held-out accuracy."""
    out: dict[str, dict[str, Any]] = {}
    for setup in SETUPS[1:]:
        config = load_config(SHIPPED[setup.dataset])
        (data,) = config.datasets
        setup = dataclasses.replace(setup, dataset_options=data.options)  # the config's splits, as its report
        model, datamodule, train_s = _trained(setup, root / f"eval-{setup.dataset}", epochs=1)
        context = EvalContext.build(datamodule, setup.dataset, config.evaluation)
        start = time.perf_counter()
        extractor = context.scorer.extractor  # trained here: write_report points the cache at an empty folder
        classifier_s = time.perf_counter() - start
        start = time.perf_counter()
        result = evaluate(model, context, seed=0)
        out[setup.name] = {"config": config.name, "seconds": result.seconds, "total": time.perf_counter() - start,
                           "one training epoch": train_s, "classifier": classifier_s,
                           "classifier accuracy": extractor.info.get("test_acc"),
                           "classifier chance": extractor.info.get("chance")}  # fmt: skip
    return out


def measure_scaling(root: Path) -> tuple[list[tuple[int, float, float]], list[tuple[int, float]]]:
    """(n_train, seconds per training epoch, evaluation seconds) over dSprites subsets, and (K, IWAE seconds)."""
    by_size = []
    base = SETUPS[2]
    for n in SCALING_SIZES:
        setup = Setup(base.name, "dsprites", {"n_train": n, "n_val": 100, "n_test": n // 4}, base.model, base.hparams, 0)
        model, datamodule, train_s = _trained(setup, root / f"scale-{n}", epochs=1)
        # no FID here: each subset would train its own feature classifier (timed in the evaluation section)
        config = EvaluationConfig(iwae_k=20, metrics=["recon_mse", "kl", "nll_iwae", "probe_acc"])
        context = EvalContext.build(datamodule, "dsprites", config)
        start = time.perf_counter()
        evaluate(model, context, seed=0)
        by_size.append((n, train_s, time.perf_counter() - start))
    model, datamodule, _ = _trained(SETUPS[1], root / "scale-k", epochs=1)
    images = datamodule.test.images[:200]
    by_k = []
    for k in SCALING_K:
        start = time.perf_counter()
        nll_iwae(model.eval(), images, k=k, batch_size=62, generator=torch.Generator().manual_seed(0))
        by_k.append((k, time.perf_counter() - start))
    return by_size, by_k


def measure_gpu(log: Callable[[str], None]) -> list[tuple[str, str, float]]:
    """(setup, precision, seconds per step) of the Trainer path on the first CUDA device, for the conv setups."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setup in SETUPS[1:]:
            for precision in ("32-true", "bf16-mixed"):
                seconds = trainer_path(setup, Path(tmp) / f"gpu-{setup.dataset}-{precision}", "gpu", precision).wall
                rows.append((setup.name, precision, seconds))
                log(f"GPU {setup.name} {precision}: {1e3 * seconds:.2f} ms/step")
    return rows


@dataclass
class ReferenceCost:
    """Training against evaluation over the trained runs of one committed reference report."""

    report: str
    runs: int
    train_s: float  # summed over the runs
    eval_s: float
    worst: str  # the run of the largest evaluation ÷ training, with it
    slowest_metric: str  # the metric of the most evaluation seconds summed over the runs, with its share


def reference_costs() -> list[ReferenceCost]:
    """Per committed reference report (its runs only: ``meta.json``'s run ids), what evaluation cost against training."""
    out = []
    for meta in sorted(Path("reports").glob("*/meta.json")):
        records = [r for r in load_outputs(meta.parent).results if "train" in r.get("wall_time_s", {})]
        if not records:
            continue
        ratio = {f"{r['label']} seed {r['seed']}": r["wall_time_s"]["eval"] / r["wall_time_s"]["train"] for r in records}
        by_metric: dict[str, float] = {}
        for r in records:
            for name, seconds in (r.get("metric_seconds") or {}).items():
                by_metric[name] = by_metric.get(name, 0.0) + seconds
        eval_s = sum(r["wall_time_s"]["eval"] for r in records)
        worst = max(ratio, key=ratio.get)
        slowest = max(by_metric, key=by_metric.get, default="")
        out.append(ReferenceCost(
            meta.parent.name, len(records), sum(r["wall_time_s"]["train"] for r in records), eval_s,
            f"{worst}: {ratio[worst]:.2f}", f"{slowest} ({by_metric[slowest] / eval_s:.0%})" if slowest else "not recorded",
        ))  # fmt: skip
    return out


def _scaling_plot(by_size: list[tuple[int, float, float]], by_k: list[tuple[int, float]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    sizes = [n for n, _, _ in by_size]
    left.loglog(sizes, [t for _, t, _ in by_size], "o-", label="one training epoch")
    left.loglog(sizes, [e for _, _, e in by_size], "s-", label="evaluation (n_test = n_train / 4)")
    left.loglog(sizes, [by_size[0][1] * n / sizes[0] for n in sizes], ":", color="0.5", label="linear")
    left.set(xlabel="dSprites training images", ylabel="seconds", title="cost against dataset size")
    left.legend(fontsize=8)
    right.loglog([k for k, _ in by_k], [s for _, s in by_k], "o-", label="IWAE bound, 200 test images")
    right.loglog([k for k, _ in by_k], [by_k[0][1] * k / by_k[0][0] for k, _ in by_k], ":", color="0.5", label="linear")
    right.set(xlabel="K (importance samples)", ylabel="seconds", title="cost against K")
    right.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    path.write_bytes(buffer.getvalue())


def _slope(points: list[tuple[float, float]]) -> float:
    """The log-log slope (1 = linear)."""
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def _per_label(values: Any) -> str:
    """A classifier's per-label figures (a dict, or one number) as ``shape 0.80, scale 0.98``."""
    if isinstance(values, dict):
        return ", ".join(f"{k} {v:.2f}" for k, v in values.items())
    return "n/a" if values is None else f"{values:.2f}"


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def write_report(path: Path) -> str:
    """Measure everything (Lightning's messages and progress silenced: they are not what is measured) and write
    ``path`` (Markdown), its JSON and its scaling plot beside it; returns the Markdown."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = lambda line: print(f"perf: {line}", flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp, _quiet(), _empty_feature_cache(Path(tmp) / "cache"):
        root = Path(tmp)
        training = measure_training(root, log)
        log("data pipeline")
        pipeline = measure_pipeline()
        log("evaluation at the default settings")
        evaluation = measure_evaluation(root)
        log("scaling")
        by_size, by_k = measure_scaling(root)
    references = reference_costs()
    gpu = measure_gpu(log) if torch.cuda.is_available() else []
    plot = path.with_name(path.stem + "_scaling.png")
    _scaling_plot(by_size, by_k, plot)
    machine, versions = provenance.machine(), provenance.versions()
    lines = [
        "# Performance",
        "",
        f"Written by `aebench perf` on {machine['cpu']} ({machine['cpu_count']} cores"
        + (f", {machine['gpu']}" if "gpu" in machine else ", no GPU")
        + f"), torch {versions['torch']}, lightning {versions['lightning']}, commit `{provenance.git_commit()}`. "
        f"All measurements in one process, {ROUNDS} paired rounds, after {WARMUP_STEPS} warm-up steps.",
        "",
        "## Training: the aebench Trainer path against a hand-written loop",
        "",
        "Same network, optimiser (Adam), batch size (64) and in-memory batches; the hand loop is `zero_grad`, "
        "`loss.backward()`, `step()` and nothing else. Ratio = the Trainer path's throughput ÷ the hand loop's "
        "(1.00: no overhead), median (min–max) over the rounds, by wall time and by the process's CPU time (which "
        "another process on the machine does not inflate).",
        "",
        "| setup | CPU threads | hand loop, ms/step | Trainer path, ms/step | ratio (wall) | ratio (CPU time) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {p.setup} | {p.threads} | {_median_range([1e3 * h.wall for h in p.hand])} | "
        f"{_median_range([1e3 * t.wall for t in p.trainer])} | {_median_range(p.ratios('wall'))} | "
        f"{_median_range(p.ratios('cpu'))} |"
        for p in training
    ]
    lines += ["", "Where a step's time goes: one more round of each path with clocks around the model's loss (forward), "
              "autograd's backward and the optimiser (`zero_grad` + `step`); the rest is the loop around them "
              "(batches, and in the Trainer path Lightning's hooks, wrappers and logging). Wall µs per step:", "",
              "| setup | path | forward | backward | optimiser | the rest (loop) | total |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for p in training:
        for which, label in (("hand", "hand loop"), ("trainer", "Trainer path")):
            b = p.breakdown[which]
            cells = " | ".join(f"{b[k]:,.0f}" for k in (*SEGMENTS, "rest", "total"))
            lines.append(f"| {p.setup} | {label} | {cells} |")
    lines += ["", "The Trainer path's rest less the hand loop's is Lightning's own per-step work, which aebench cannot "
              "remove without leaving Lightning's loop: fetching and moving the batch through its hooks, building the "
              "step's arguments (a signature inspection), the `on_train_batch_start`/`_end` dispatch to the module, "
              "strategy and each callback, the logger connector's per-step bookkeeping, and per epoch the loop's "
              "reset and the epoch means' `self.log` (digits: 20 steps an epoch)."]  # fmt: skip
    lines += ["", "## Data pipeline alone", "", "| what | batches / s | images / s |", "| --- | ---: | ---: |"]
    lines += [f"| {what} | {b:,.0f} | {i:,.0f} |" for what, b, i in pipeline]
    lines += ["", "## Evaluation: each metric, and the FID feature classifier", "",
              "One conv VAE per dataset trained one epoch, evaluated at the settings of the shipped config named "
              "(its header states every cut); the FID feature classifier trained from an empty cache first. "
              "Seconds per metric, slowest first:", ""]  # fmt: skip
    for name, entry in evaluation.items():
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(entry["seconds"].items(), key=lambda kv: -kv[1]))
        share = max(entry["seconds"].values()) / entry["total"]
        lines.append(f"- {name} (`{entry['config']}`): {entry['total']:.1f} s in all, the slowest metric "
                     f"{share:.0%} of it ({shown}); one training epoch {entry['one training epoch']:.1f} s; "
                     f"feature classifier {entry['classifier']:.1f} s, held-out accuracy "
                     f"{_per_label(entry['classifier accuracy'])} (chance {_per_label(entry['classifier chance'])})")  # fmt: skip
    if references:
        lines += ["", "Evaluation against training in the committed reference reports, summed over each report's trained "
                  "runs (as their results files recorded it):", "",
                  "| report | runs | training s | evaluation s | eval ÷ train | the run of the largest ratio | slowest metric (share) |",
                  "| --- | ---: | ---: | ---: | ---: | --- | --- |"]  # fmt: skip
        lines += [f"| {c.report} | {c.runs} | {c.train_s:.0f} | {c.eval_s:.0f} | {c.eval_s / c.train_s:.2f} | {c.worst} | "
                  f"{c.slowest_metric} |" for c in references]  # fmt: skip
    lines += ["", "## Scaling", "", f"![scaling]({plot.name})", "",
              "A conv VAE on dSprites subsets, one training epoch each; evaluation of `recon_mse`, `kl`, `nll_iwae` "
              "(K = 20) and `probe_acc` on a quarter as many test images:", "",
              "| dSprites training images | one training epoch, s | evaluation, s |", "| ---: | ---: | ---: |"]  # fmt: skip
    lines += [f"| {n:,} | {t:.1f} | {e:.1f} |" for n, t, e in by_size]
    lines += ["", "| IWAE K (200 test images, conv VAE on mnist5k) | seconds |", "| ---: | ---: |"]
    lines += [f"| {k} | {s:.1f} |" for k, s in by_k]
    lines += [
        "",
        f"Log-log slopes (1 = linear): training against size {_slope([(n, t) for n, t, _ in by_size]):.2f}, "
        f"evaluation against size {_slope([(n, e) for n, _, e in by_size]):.2f}, IWAE against K "
        f"{_slope(by_k):.2f}.",
        "",
    ]
    lines += ["## GPU", ""]
    if gpu:
        lines += ["| setup | precision | ms / step | images / s |", "| --- | --- | ---: | ---: |"]
        lines += [f"| {name} | {precision} | {1e3 * s:.2f} | {64 / s:,.0f} |" for name, precision, s in gpu]
    else:
        lines.append("No CUDA device on this machine: the GPU figures are not measured here.")
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    data = {"training": [{"setup": p.setup, "threads": p.threads, "hand": [vars(t) for t in p.hand],
                          "trainer": [vars(t) for t in p.trainer], "ratio_wall": p.ratios("wall"),
                          "ratio_cpu": p.ratios("cpu"), "breakdown_us": p.breakdown} for p in training],
            "pipeline": pipeline,
            "evaluation": evaluation, "scaling": {"by_size": by_size, "by_k": by_k},
            "references": [vars(c) for c in references],
            "machine": machine, "versions": versions, "commit": provenance.git_commit()}  # fmt: skip
    data["gpu"] = gpu
    write_text_atomic(path.with_suffix(".json"), json.dumps(data, indent=1, default=str) + "\n")
    return text


@contextlib.contextmanager
def _empty_feature_cache(folder: Path) -> Iterator[None]:
    """FID feature classifiers are trained (and timed) into ``folder``, not read from the user's cache."""
    before = os.environ.get("AEBENCH_CACHE")
    os.environ["AEBENCH_CACHE"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AEBENCH_CACHE")
        else:
            os.environ["AEBENCH_CACHE"] = before


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Progress bars and Lightning's banners go nowhere while measuring (printing them is not the measured cost)."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield
