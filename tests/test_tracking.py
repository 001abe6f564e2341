"""Experiment tracking end to end on a tiny benchmark: W&B offline runs, a W&B failure, TensorBoard events.

wandb 0.31 offline writes no ``wandb-summary.json``, ``config.yaml`` or ``wandb-metadata.json``: a run's
summary, history, group and job type live only in its ``run-<id>.wandb`` transaction log, which
:func:`read_wandb_log` decodes. Media (images, tables, HTML) are plain files under the run's ``files/media/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from wandb.proto.wandb_internal_pb2 import Record

from benchmarks.cli import main
from .conftest import TINY_CONFIG


def write_config(tmp_path: Path, logger: dict[str, Any], **overrides: Any) -> Path:
    """The tiny config with one sampler, no FID-heavy sizes and ``logger``; output under ``tmp_path/out``."""
    config = {
        **TINY_CONFIG,
        "models": TINY_CONFIG["models"][:2],  # ae, vae
        "evaluation": {"iwae_k": 8, "samplers": ["prior"], "fid_samples": 200, "baselines": []},
        "logger": logger,
        "output_dir": str(tmp_path / "out"),
        **overrides,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def results_by_label(out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The results records under ``out``, keyed by (label, seed)."""
    records = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
    return {(r["label"], r["seed"]): r for r in records}


@dataclass
class OfflineRun:
    """What one offline W&B run recorded: its run record, merged summary, history keys and exit code."""

    dir: Path
    name: str = ""
    group: str = ""
    job_type: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    history_keys: set[str] = field(default_factory=set)
    exit_code: int | None = None


def _key(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def read_wandb_log(run_dir: Path) -> OfflineRun:
    """Decode ``run-<id>.wandb``: a 7-byte header (``:W&B``, magic, version), then records in the LevelDB log
    format (32 KiB blocks; each chunk is crc32 (4 bytes), length (2, little-endian), type (1: full, 2: first,
    3: middle, 4: last), payload), each record a protobuf ``Record``."""
    data = next(run_dir.glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    run, pos, chunks = OfflineRun(run_dir), 7, []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is zero padding
            pos += 32768 - pos % 32768
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunks.append(data[pos + 7 : pos + 7 + length])
        pos += 7 + length
        if kind not in (1, 4):
            continue
        record = Record.FromString(b"".join(chunks))
        chunks = []
        kind_name = record.WhichOneof("record_type")
        if kind_name == "run":
            run.name, run.group, run.job_type = record.run.display_name, record.run.run_group, record.run.job_type
        elif kind_name == "summary":
            run.summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind_name == "history":
            run.history_keys |= {_key(i) for i in record.history.item}
        elif kind_name == "exit":
            run.exit_code = record.exit.exit_code
    return run


@pytest.mark.slow
def test_wandb_offline_logs_each_run_grouped_by_configuration_and_the_table(tmp_path: Path) -> None:
    """Every run (trained or baseline) and the report become finished offline W&B runs holding the same numbers
    as the results files and table.json, the seeds of one configuration in one group."""
    config = write_config(
        tmp_path,
        {"type": "wandb", "tags": ["test"]},
        seeds=[0, 1],
        evaluation={"iwae_k": 8, "samplers": ["prior"], "fid_samples": 200, "baselines": ["pca"]},
    )
    assert main(["run", "--config", str(config)]) == 0
    out = tmp_path / "out"
    results = results_by_label(out)
    runs = {r.name: r for r in map(read_wandb_log, sorted((out / "wandb").glob("offline-run-*")))}
    assert len(runs) == len(results) + 1  # one W&B run per run of the grid, and the report's

    for (label, _seed), record in results.items():
        run = runs[record["run_id"]]
        assert run.exit_code == 0  # finished after log_run, not left for the next run to reuse
        assert run.group == f"digits/{label}"  # both seeds of a configuration sit in one group
        assert run.summary["test/recon_mse"] == record["metrics"]["recon_mse"]
        assert list((run.dir / "files" / "media" / "images").rglob("reconstructions_*.png"))
        trained = label != "pca"
        assert run.job_type == ("train" if trained else "baseline")
        assert ("train/loss" in run.history_keys) == trained  # Lightning's curves went to the trained runs
    vae = runs[results[("vae", 0)]["run_id"]]
    bars = json.loads(next(vae.dir.glob("files/media/table/test/kl_per_dim_table_*.table.json")).read_text())
    assert bars["data"] == [[i, pytest.approx(v)] for i, v in enumerate(results[("vae", 0)]["metrics"]["kl_per_dim"])]

    report = runs["tiny-table"]
    assert report.job_type == "report" and report.exit_code == 0
    table = json.loads(next((report.dir / "files" / "media" / "table").glob("comparison_*.table.json")).read_text())
    rows = {row[table["columns"].index("label")]: dict(zip(table["columns"], row)) for row in table["data"]}
    assert list(rows) == ["ae", "vae", "pca"]
    expected = json.loads((out / "table.json").read_text())["rows"][1]["stats"]["recon_mse"]
    assert rows["vae"]["n_seeds"] == 2
    assert rows["vae"]["recon_mse_mean"] == pytest.approx(expected["mean"])
    assert rows["vae"]["recon_mse_ci95"] == pytest.approx(expected["ci95"])
    assert list((report.dir / "files" / "media" / "html").glob("report_*.html"))


def test_wandb_failure_warns_once_and_keeps_results_and_report(tmp_path: Path, monkeypatch) -> None:
    """``wandb.init`` failing (no network, no API key) costs no result: one warning, tracking off, exit code 0."""
    calls = []

    def no_network(**kwargs: Any) -> None:
        calls.append(kwargs["name"])
        raise RuntimeError("api_key not configured (no-tty)")

    monkeypatch.setattr("wandb.init", no_network)
    config = write_config(tmp_path, {"type": "csv"})  # W&B switched on by the --wandb flag instead
    with pytest.warns(UserWarning, match=r"W&B logging failed: RuntimeError: api_key .*results files and the report"):
        assert main(["run", "--config", str(config), "--wandb"]) == 3  # results kept, tracking failed
    assert len(calls) == 1  # tracking was switched off after the first failure, not retried per run
    out = tmp_path / "out"
    assert set(results_by_label(out)) == {("ae", 0), ("ae", 1), ("vae", 0), ("vae", 1)}
    assert (out / "table.md").is_file() and (out / "report.html").is_file()


def test_tensorboard_events_hold_curves_final_metrics_and_images(tmp_path: Path) -> None:
    """Each run's events file holds Lightning's curves plus the results' metrics, images and per-dim KL."""
    config = write_config(tmp_path, {"type": "tensorboard"}, seeds=[0])
    assert main(["run", "--config", str(config)]) == 0
    out = tmp_path / "out"
    for (label, _), record in results_by_label(out).items():
        events = EventAccumulator(str(out / "logs" / "tensorboard" / record["run_id"]))
        events.Reload()
        assert "train/loss" in events.Tags()["scalars"]
        (final,) = events.Scalars("test/recon_mse")
        assert final.step == record["steps"]
        assert final.value == pytest.approx(record["metrics"]["recon_mse"], rel=1e-6)
        assert {"images/reconstructions", "images/samples_prior"} <= set(events.Tags()["images"])
        if label == "vae":  # a list metric: one scalar per latent dim, the step being the dim
            per_dim = [(e.step, e.value) for e in events.Scalars("test/kl_per_dim")]
            assert per_dim == [(i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(record["metrics"]["kl_per_dim"])]
    table = EventAccumulator(str(out / "logs" / "tensorboard" / "tiny-table"))
    table.Reload()
    assert "comparison/text_summary" in table.Tags()["tensors"]
