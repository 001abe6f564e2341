"""``aebench`` end to end on a tiny config: results files, the table, resume, and clean config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.cli import main


def test_run_writes_results_and_a_row_per_model_then_resumes(tiny_config_file: Path, capsys) -> None:
    assert main(["run", "--config", str(tiny_config_file)]) == 0
    out_dir = tiny_config_file.parent / "out"
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
    assert main(["run", "--config", str(tiny_config_file)]) == 0
    assert capsys.readouterr().out.count("already done") == 10
    assert {p: p.stat().st_mtime_ns for p in results} == mtimes  # nothing retrained or rewritten


def test_report_rebuilds_from_results_without_training(tiny_config_file: Path, capsys, monkeypatch) -> None:
    assert main(["run", "--config", str(tiny_config_file)]) == 0
    out_dir = tiny_config_file.parent / "out"
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


def test_rerun_with_everything_done_keeps_the_report_byte_identical(tiny_config_file: Path) -> None:
    """``make bench`` on a fresh clone of committed results must not rewrite their provenance."""
    assert main(["run", "--config", str(tiny_config_file)]) == 0
    out_dir = tiny_config_file.parent / "out"
    before = {name: (out_dir / name).read_bytes() for name in ("meta.json", "table.md", "table.json", "table.csv")}
    assert main(["run", "--config", str(tiny_config_file)]) == 0
    assert {name: (out_dir / name).read_bytes() for name in before} == before
