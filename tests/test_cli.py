"""``aebench`` end to end on a tiny config: results files, the table, resume, and clean config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchmarks.cli import main


def test_run_writes_results_and_a_row_per_model_then_resumes(tiny_copy: Path, capsys) -> None:
    out_dir = tiny_copy.parent / "out"  # the session's tiny benchmark, trained by `aebench run`
    results = sorted((out_dir / "results").glob("*.json"))
    assert len(results) == 10  # (3 models + 2 baselines) × 2 seeds
    record = json.loads(results[0].read_text())
    assert {"run_id", "dataset", "model", "seed", "config", "versions", "wall_time_s", "metrics"} <= set(record)
    assert record["metrics"]["recon_mse"] > 0
    assert record["curves"] and "train/loss" in record["curves"][-1]
    rows = [r["label"] for r in json.loads((out_dir / "table.json").read_text())["rows"]]
    assert rows == ["ae", "vae", "beta_vae", "pca", "pixels"]
    assert (out_dir / "report.html").is_file() and (out_dir / "table.tex").is_file()
    assert (out_dir / "table.csv").read_text().count("\n") == 6  # header + 5 rows
    assert len(list((out_dir / "results").glob("*.npz"))) == 8  # figure data of every run but `pixels`

    mtimes = {p: p.stat().st_mtime_ns for p in results}
    capsys.readouterr()
    assert main(["run", "--config", str(tiny_copy)]) == 0
    assert capsys.readouterr().out.count("already done") == 10
    assert {p: p.stat().st_mtime_ns for p in results} == mtimes  # nothing retrained or rewritten


@pytest.mark.slow
def test_report_rebuilds_from_results_without_training(tiny_copy: Path, capsys, monkeypatch) -> None:
    out_dir = tiny_copy.parent / "out"
    before = (out_dir / "table.csv").read_text()
    (out_dir / "table.csv").unlink()
    monkeypatch.setattr("benchmarks.execution.runner.fit", lambda *a, **k: pytest.fail("report must not train"))
    stale = json.loads(next((out_dir / "results").glob("digits-vae-*.json")).read_text())
    stale.update(run_id="digits-old_vae-seed0-0000000000", label="old_vae")  # a run of an earlier config
    (out_dir / "results" / f"{stale['run_id']}.json").write_text(json.dumps(stale))
    assert main(["report", str(out_dir)]) == 0
    assert (out_dir / "table.csv").read_text() == before  # rebuilt identically, the stale run left out
    figure = out_dir / "figures" / "digits" / "latent_2d.png"
    pca_png = figure.read_bytes()
    assert main(["report", str(out_dir), "--latent-2d", "tsne"]) == 0
    assert figure.read_bytes() != pca_png  # the latent map is redrawn with t-SNE from the stored means
    assert main(["report", str(out_dir / "nothing-here")]) == 2


def test_bad_config_fails_before_training_with_the_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [digits]\nmodels: [{name: vae, latent_dim: -1}]\noutput_dir: " + str(tmp_path / "o") + "\n")
    assert main(["run", "--config", str(bad)]) == 2
    assert "models[0].latent_dim: must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_config_show_prints_defaults(capsys) -> None:
    assert main(["config", "show", "--trainer.max_epochs", "5"]) == 0
    out = capsys.readouterr().out
    assert "max_epochs: 5" in out and "gaussian_sigma: 0.1" in out


def test_unknown_subcommand_argument_is_rejected() -> None:
    with pytest.raises(SystemExit):
        main(["ls", "--bogus"])


@pytest.mark.slow
def test_rerun_with_everything_done_keeps_the_report_byte_identical(tiny_copy: Path) -> None:
    """A rerun over finished results must not rewrite their provenance."""
    out_dir = tiny_copy.parent / "out"
    before = {name: (out_dir / name).read_bytes() for name in ("meta.json", "table.md", "table.json", "table.csv")}
    assert main(["run", "--config", str(tiny_copy)]) == 0
    assert {name: (out_dir / name).read_bytes() for name in before} == before


def _tiny_without_output_dir(tmp_path: Path) -> Path:
    from .conftest import TINY_CONFIG

    path = tmp_path / "tiny.yaml"
    config = {**TINY_CONFIG, "seeds": [0], "models": TINY_CONFIG["models"][:1],
              "evaluation": {**TINY_CONFIG["evaluation"], "baselines": ["pca"]}}  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path


def test_runs_go_to_a_working_folder_and_reports_are_written_only_on_purpose(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    config = _tiny_without_output_dir(tmp_path)
    assert main(["run", "--config", str(config), "--output-dir", "reports/tiny"]) == 2
    assert "--write-reference" in capsys.readouterr().err and not (tmp_path / "reports").exists()
    assert main(["run", "--config", str(config), "--write-reference"]) == 0
    reference = tmp_path / "reports" / "tiny"
    assert (reference / "table.json").is_file()
    capsys.readouterr()
    assert main(["run", "--config", str(config), "--trainer.max_epochs", "1"]) == 0  # an override run
    assert (tmp_path / "runs" / "tiny" / "table.json").is_file()  # it trained into the working folder
    out = capsys.readouterr().out
    assert "not reproduced: 2/2 runs trained here" in out  # 1 epoch is not the reference's 2
    assert main(["run", "--config", str(config), "--output-dir", "runs/fresh"]) == 0  # as in a fresh clone
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith(("reproduced", "not reproduced")))
    assert verdict.startswith("reproduced: 2/2 runs trained here, all ") and "cells within their 95% intervals" in verdict
    assert (tmp_path / "runs" / "fresh" / "reproduction.md").is_file()


def test_a_shipped_config_is_found_by_name_and_help_documents_overrides(capsys) -> None:
    assert main(["config", "show", "beta_sweep"]) == 0
    assert "name: beta_sweep" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    assert "--datasets.0.batch_size 32" in help_text and "--write-reference" in help_text


def test_evaluate_accepts_only_evaluation_overrides(tmp_path: Path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "x.ckpt"), "--trainer.max_epochs", "5"]) == 2
    assert "only --evaluation.KEY overrides apply" in capsys.readouterr().err


def test_when_every_run_fails_there_is_no_report(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "name": "allfail", "output_dir": str(tmp_path / "out"), "seeds": [0], "datasets": [{"name": "digits", "batch_size": 256}],
        "models": [{"name": "vae", "latent_dim": 2, "hidden": [16], "lr": 1000.0}],
        "trainer": {"max_epochs": 2, "accelerator": "cpu"}, "evaluation": {"baselines": []},
    }))  # fmt: skip
    assert main(["run", "--config", str(path)]) == 1
    assert "every run failed (1); no report was written" in capsys.readouterr().err
    assert not (tmp_path / "out" / "table.md").exists()


@pytest.mark.slow
def test_output_to_a_closed_pipe_ends_quietly() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "config", "show"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # like `| head` that has already exited: every write fails with EPIPE
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and b"BrokenPipeError" not in err and b"Traceback" not in err, err


def test_default_batch_size_is_the_one_the_readme_states_and_shipped_configs_explain_departures() -> None:
    import inspect

    from benchmarks.config import CONFIG_DIR
    from datamodules import DATAMODULES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    defaults = {inspect.signature(DATAMODULES.get(n).__init__).parameters["batch_size"].default for n in DATAMODULES}
    assert defaults == {64} and "batch_size: 64" in readme
    for path in CONFIG_DIR.glob("*.yaml"):  # a shipped config that departs from the default says why, in its comments
        text = path.read_text()
        for b in {d.get("batch_size") for d in yaml.safe_load(text).get("datasets", [])} - {64, None}:
            assert f"Batch {b}, not 64" in text, f"{path.name}: batch_size {b} without a comment saying why"
