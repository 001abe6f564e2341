"""Faults a careful user hits: a diverged model, non-finite metrics, damaged files, two writers, a read-only or
full disk, signals. Each is a failed run or one clear line, never a crash of the benchmark, and nothing
finished is lost."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from benchmarks.cli import main
from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.evaluation.inputs import EvalContext
from benchmarks.execution.callbacks import DivergenceGuard
from benchmarks.execution.lock import output_lock
from benchmarks.execution.store import read_result, record_problem, write_json_atomic
from benchmarks.reporting.table import aggregate, cell_text
from benchmarks.reporting.writers import markdown_table
from datamodules import DATAMODULES
from lightning_modules import Posterior

AE = {"name": "ae", "latent_dim": 2, "hidden": [16]}
VAE = {"name": "vae", "latent_dim": 2, "hidden": [16]}


def write_config(tmp_path: Path, models: list[dict[str, Any]], **changes: Any) -> Path:
    config = {
        "name": "faults",
        "output_dir": str(tmp_path / "out"),
        "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 256}],
        "models": models,
        "trainer": {"max_epochs": 2, "accelerator": "cpu"},
        "evaluation": {"iwae_k": 4, "samplers": ["prior"], "fid_samples": 100, "baselines": []},
        **changes,
    }
    path = tmp_path / "faults.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def results(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out" / "results").glob("*.json")}


# -- numerical faults --------------------------------------------------------------------------------------


def test_a_diverged_run_fails_with_its_epoch_and_step_and_the_others_finish(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, [AE, {**VAE, "label": "vae_lr1000", "lr": 1000.0}])
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 1, step 5" in err and "--retry-failed" in err
    (healthy,) = results(tmp_path).values()
    assert healthy["label"] == "ae"  # the healthy run finished and has its results
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    (failure,) = meta["failures"]
    assert failure["kind"] == "diverged" and (failure["epoch"], failure["step"]) == (1, 5)
    assert "1 run(s) failed" in (tmp_path / "out" / "table.md").read_text()  # in the report's header

    assert main(["run", "--config", str(config)]) == 1  # a deterministic divergence is not retried by default
    assert "not retried (pass --retry-failed)" in capsys.readouterr().out
    assert main(["run", "--config", str(config), "--retry-failed"]) == 1
    assert "vae_lr1000 · seed 0: training" in capsys.readouterr().out  # retried when asked (and fails again)


class NaNDecoder:
    """A model whose codes are fine but whose decoder returns NaN: what a diverged decoder hands the metrics."""

    prior = None

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(x.flatten(1)[:, :3])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(z), 1, 8, 8), math.nan)


def test_non_finite_inputs_fail_only_the_metrics_that_read_them() -> None:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    result = evaluate(NaNDecoder(), EvalContext.build(dm, "digits", EvaluationConfig(samplers=["prior"])), seed=0)
    assert {"recon_mse", "fid_recon", "fid_samples", "kid_prior", "interp_path_ratio"} <= set(result.failures)
    # completion restores the observed pixels, so it finds the NaNs of the decoder in the pixels it filled in
    assert all(why.startswith(("non-finite decoded images", "non-finite inpainted images")) for why in result.failures.values())
    assert "probe_acc" in result.metrics and "fid_data" in result.metrics  # they read no decoded image
    assert result.figure == {}


def _record(label: str, seed: int, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"run_id": f"{label}-{seed}", "dataset": "digits", "model": label, "label": label, "seed": seed,
            "hparams": {}, "config": {}, "metrics": metrics, **extra}  # fmt: skip


def test_cells_count_the_seeds_with_a_finite_value_and_never_hide_a_non_finite_one_as_n_a() -> None:
    records = [
        _record("vae", 0, {"fid_prior": 315.6, "elbo": math.nan}),
        _record("vae", 1, {"fid_prior": math.inf, "elbo": math.nan}, metric_failures={"recon_mse": "non-finite"}),
    ]
    (row,) = aggregate(records)
    assert cell_text(row, "fid_prior") == "315.6 (1 of 2 seeds)"
    assert cell_text(row, "elbo") == "non-finite"
    assert cell_text(row, "recon_mse") == "failed"
    assert cell_text(row, "probe_acc") == "n/a"  # does not apply: absent from every seed


def test_a_finite_but_diverged_run_is_flagged_and_never_best() -> None:
    def curve(*values: float) -> list[dict[str, float]]:
        return [{"epoch": i, "step": 10 * i, "train/recon": v} for i, v in enumerate(values)]

    records = [
        _record("ae", 0, {"kid_prior": 5.0}, curves=curve(40.0, 20.0, 12.0)),
        _record("ae_lr10", 0, {"kid_prior": 1.0}, curves=curve(40.0, 900.0, 62397.0)),
        _record("ae_small", 0, {"kid_prior": 7.0}, curves=curve(40.0, 30.0, 25.0)),
    ]
    for r in records:
        r["model"] = "ae"
    rows = aggregate(records)
    assert rows[1].flags == {"diverged": [0]}
    table = markdown_table(rows)
    assert "| ae_lr10 [diverged] | 1 |" in table  # every seed of the row: no seed list
    assert "**5**" in table and "**1**" not in table  # best: the healthy run's kid_prior, not the diverged one's lower one


# -- damaged and concurrent files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        pytest.param(lambda p: p.write_bytes(b"\xff\xfe not utf-8"), "UnicodeDecodeError", marks=pytest.mark.slow),
        pytest.param(lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "label"})),
                     "missing key 'label'", marks=pytest.mark.slow),
        pytest.param(lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "metrics": {}})),
                     "no metrics although", marks=pytest.mark.slow),
        pytest.param(lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "metrics": {"recon_mse": "high"}})),
                     "not a number", marks=pytest.mark.slow),
    ],
    ids=["non-utf8", "missing-key", "empty-metrics", "non-numeric-metric"],
)
def test_a_damaged_results_file_is_redone_by_run_and_listed_by_report(tiny_copy: Path, damage, why: str, capsys) -> None:
    config, tmp_path = tiny_copy, tiny_copy.parent
    (path,) = (tmp_path / "out" / "results").glob("digits-ae-seed0-*.json")
    damage(path)
    assert main(["report", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "1 file(s) unreadable" in err and why in err and path.name in err
    assert "could not be read" in (tmp_path / "out" / "table.md").read_text()
    with pytest.warns(UserWarning, match="the run will be redone"):
        assert main(["run", "--config", str(config)]) == 0
    assert record_problem(json.loads(path.read_text())) is None  # rewritten whole


@pytest.mark.slow
def test_a_damaged_figure_file_is_redone_like_its_results(tiny_copy: Path, capsys) -> None:
    config, tmp_path = tiny_copy, tiny_copy.parent
    (npz,) = (tmp_path / "out" / "results").glob("digits-ae-seed0-*.npz")
    npz.write_bytes(npz.read_bytes()[:100])
    assert main(["report", str(tmp_path / "out")]) == 1
    assert "unreadable figure data" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="unreadable figure data"):
        assert main(["run", "--config", str(config)]) == 0
    assert "re-evaluating from its checkpoint" in capsys.readouterr().out  # no retraining: the checkpoint is there
    assert main(["report", str(tmp_path / "out")]) == 0


def test_a_damaged_checkpoint_or_results_file_given_to_evaluate_is_one_line(tiny_copy: Path, capsys) -> None:
    tmp_path = tiny_copy.parent
    (ckpt,) = (tmp_path / "out" / "checkpoints").glob("digits-ae-seed0-*/last.ckpt")
    (record,) = (tmp_path / "out" / "results").glob("digits-ae-seed0-*.json")
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])
    assert main(["evaluate", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable checkpoint" in err and str(ckpt) in err
    ckpt.write_bytes(good)
    record.write_text("{")
    assert main(["evaluate", str(ckpt)]) == 2
    assert "unreadable results file" in capsys.readouterr().err  # not "no results file"


def test_results_files_are_world_readable_and_orphan_temp_files_are_removed(tiny_benchmark: Path, tiny_copy: Path) -> None:
    for path in [*(tiny_benchmark / "results").iterdir(), tiny_benchmark / "table.json", tiny_benchmark / "report.html"]:
        assert path.stat().st_mode & 0o777 == 0o644, path  # as the benchmark wrote them
    config, out = tiny_copy, tiny_copy.parent / "out"
    orphan = out / "results" / ".something.json.x1y2.tmp"  # what a kill during an atomic write leaves
    orphan.write_text("half")
    assert main(["run", "--config", str(config)]) == 0
    assert not orphan.exists()


def test_a_second_writer_of_the_same_folder_is_refused_with_the_holders_pid(tiny_copy: Path, capsys) -> None:
    config, tmp_path = tiny_copy, tiny_copy.parent
    with output_lock(tmp_path / "out"):
        assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"PID {os.getpid()}" in err and "another aebench process" in err and err.count("\n") == 1
    assert main(["run", "--config", str(config)]) == 0  # released with its holder


def test_a_disk_that_cannot_be_written_mid_run_is_one_line_and_keeps_finished_results(tmp_path: Path, monkeypatch, capsys) -> None:
    config = write_config(tmp_path, [AE, VAE])
    import benchmarks.execution.store as store

    real = store.write_text_atomic
    written: list[Path] = []

    def full_after_first(path: Path, text: str) -> None:
        if path.parent.name == "results" and written:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real(path, text)

    monkeypatch.setattr(store, "write_text_atomic", full_after_first)
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "finished results are kept" in err and "Traceback" not in err
    assert len(results(tmp_path)) == 1  # the first run's results survived


def test_a_label_with_a_pipe_keeps_the_markdown_row_whole() -> None:
    (row,) = aggregate([_record("a|b", 0, {"recon_mse": 0.1})])
    line = markdown_table([row]).splitlines()[-1]
    assert line.startswith("| a\\|b | 1 |") and line.count(" | ") == 2


def test_read_result_turns_the_non_finite_strings_back_into_floats(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json_atomic(path, _record("vae", 0, {"nll_iwae": math.inf, "elbo": math.nan, "kl_per_dim": [1.0, -math.inf]}))
    assert '"nll_iwae": "inf"' in path.read_text() and '"elbo": "nan"' in path.read_text()
    metrics = read_result(path)["metrics"]
    assert metrics["nll_iwae"] == math.inf and math.isnan(metrics["elbo"]) and metrics["kl_per_dim"][1] == -math.inf


# -- signals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_training_exits_non_zero_with_one_line_and_keeps_finished_runs(
    tmp_path: Path, monkeypatch, capsys, signum: int, code: int
) -> None:
    config = write_config(tmp_path, [AE, VAE])
    real = DivergenceGuard.on_train_epoch_end

    def signal_in_the_second_run(self, trainer, pl_module):  # noqa: ANN001
        if type(pl_module).__name__ == "VAE":
            os.kill(os.getpid(), signum)
        return real(self, trainer, pl_module)

    monkeypatch.setattr(DivergenceGuard, "on_train_epoch_end", signal_in_the_second_run)
    before = signal.getsignal(signum)  # SIG_IGN for SIGINT in a pytest-xdist worker, the default otherwise
    assert main(["run", "--config", str(config)]) == code
    assert f"interrupted ({signal.Signals(signum).name})" in capsys.readouterr().err
    assert [r["label"] for r in results(tmp_path).values()] == ["ae"]
    assert signal.getsignal(signum) == before  # handlers restored
