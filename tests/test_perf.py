"""The performance report's measurements: the step breakdown's clocks (`aebench perf` itself is not run here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from benchmarks import perf
from lightning_modules import MODELS


def test_the_step_breakdown_times_both_paths_and_puts_torch_back(tmp_path: Path) -> None:
    setup = dataclasses.replace(perf.SETUPS[0], steps=30)  # the digits MLP
    vae = MODELS.get("vae")
    before = (torch.autograd.backward, torch.optim.Adam.__dict__.get("step"), torch.optim.Optimizer.zero_grad,
              vae.__dict__.get("loss_terms"))  # fmt: skip
    out = perf.breakdown(setup, tmp_path)
    after = (torch.autograd.backward, torch.optim.Adam.__dict__.get("step"), torch.optim.Optimizer.zero_grad,
             vae.__dict__.get("loss_terms"))  # fmt: skip
    assert before == after  # the wrappers are gone
    for path in ("hand", "trainer"):
        row = out[path]
        assert set(row) == {*perf.SEGMENTS, "rest", "total"}
        assert all(row[name] > 0 for name in perf.SEGMENTS), row  # every part ran inside the timed steps
        assert abs(sum(row[k] for k in (*perf.SEGMENTS, "rest")) - row["total"]) < 1e-6 * row["total"]
        assert row["rest"] > 0


def test_segments_only_count_between_start_and_stop() -> None:
    segments = perf.Segments()
    with segments.clocks(MODELS.get("vae")):
        x = torch.ones(3, requires_grad=True)
        (x * 2).sum().backward()  # before start: not counted
        segments.start()
        segments.stop()
    assert segments.timed == dict.fromkeys(perf.SEGMENTS, 0.0)


def test_a_large_model_gets_the_default_threads_after_a_small_one_set_one() -> None:
    import torch

    from benchmarks.execution import train
    from benchmarks.execution.train import SMALL_MODEL_PARAMETERS, set_cpu_threads

    before = torch.get_num_threads()
    try:
        small, large = torch.nn.Linear(2, 2), torch.nn.Linear(SMALL_MODEL_PARAMETERS, 2)
        set_cpu_threads(None, small)
        assert torch.get_num_threads() == 1
        set_cpu_threads(None, large)  # the process's default, not the 1 the small run left
        assert torch.get_num_threads() == train._DEFAULT_THREADS  # torch's default when the module was imported
        set_cpu_threads(3, small)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
