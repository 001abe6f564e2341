"""Interrupted benchmarks resume to the same report, and a checkpoint re-evaluates to its results file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import benchmarks.execution.runner
from benchmarks.cli import main
from benchmarks.execution.reevaluate import evaluate_checkpoint


class Killed(BaseException):
    """Stands in for the process being killed: not an ``Exception``, so nothing in the runner catches it."""


def _config(tmp_path: Path, name: str) -> Path:
    config = {
        "name": "resume",
        "output_dir": str(tmp_path / name),
        "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 128}],
        "models": [{"name": "ae", "latent_dim": 4, "hidden": [32]}, {"name": "vae", "latent_dim": 4, "hidden": [32]}],
        "trainer": {"max_epochs": 2, "accelerator": "cpu"},
        "evaluation": {"iwae_k": 16, "samplers": ["prior", "gauss"], "baselines": ["pca"]},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "table.json").read_text())["rows"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    assert main(["run", "--config", str(_config(tmp, "out"))]) == 0
    return tmp / "out"


@pytest.mark.slow
def test_interrupted_benchmark_finishes_only_what_is_missing(tmp_path: Path, uninterrupted: Path, monkeypatch) -> None:
    config = _config(tmp_path, "out")
    real_execute = benchmarks.execution.runner.execute
    calls: list[str] = []
    killed: list[str] = []

    def interrupt_second(run, *args, **kwargs):
        calls.append(run.run_id)
        if len(calls) == 2 and not killed:
            killed.append(run.run_id)
            raise Killed  # the process dies during the second run
        return real_execute(run, *args, **kwargs)

    monkeypatch.setattr(benchmarks.execution.runner, "execute", interrupt_second)
    with pytest.raises(Killed):
        main(["run", "--config", str(config)])
    finished = sorted((tmp_path / "out" / "results").glob("*.json"))
    assert [p.stem for p in finished] == [calls[0]]  # the first run's results survived the interrupt

    calls.clear()
    assert main(["run", "--config", str(config)]) == 0
    assert len(calls) == 2 and finished[0].stem not in calls  # only the two missing runs were executed
    assert _rows(tmp_path / "out") == _rows(uninterrupted)  # same report as a run never interrupted


def test_checkpoint_reevaluates_to_the_recorded_metrics(uninterrupted: Path, capsys) -> None:
    (vae_file,) = (uninterrupted / "results").glob("digits-vae-*.json")
    record = json.loads(vae_file.read_text())
    checkpoint = uninterrupted / record["checkpoint"]
    assert checkpoint.name == "last.ckpt" and checkpoint.is_file()
    metrics = evaluate_checkpoint(checkpoint)
    for key, value in record["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-6), key
    assert main(["evaluate", str(checkpoint), "--evaluation.iwae_k", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["nll_iwae"] != record["metrics"]["nll_iwae"]  # K changed
    assert main(["evaluate", str(uninterrupted / "missing.ckpt")]) == 2


def test_an_evaluation_change_reevaluates_from_checkpoints_and_never_retrains(tmp_path: Path, monkeypatch) -> None:
    config = _config(tmp_path, "out")
    assert main(["run", "--config", str(config)]) == 0
    out = tmp_path / "out"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"] == f"aebench run --config {config}"  # the argv given to main, not pytest's
    before = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())) for p in (out / "results").glob("*.json")}
    monkeypatch.setattr("benchmarks.execution.runner.fit", lambda *a, **k: pytest.fail("an evaluation change retrained"))
    assert main(["run", "--config", str(config), "--evaluation.iwae_k", "64"]) == 0
    after = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())) for p in (out / "results").glob("*.json")}
    assert set(after) == set(before)  # same run ids: the training identity did not change
    for name, (mtime, record) in after.items():
        if record["model"] == "vae":  # reads iwae_k: re-evaluated from its checkpoint
            assert record["metrics"]["nll_iwae"] != before[name][1]["metrics"]["nll_iwae"]
            assert record["reevaluated"]["command"].endswith("--evaluation.iwae_k 64")
            assert record["curves"] == before[name][1]["curves"] and record["eval_identity"]["settings"]["iwae_k"] == 64
        else:  # the AE and PCA read no iwae_k: untouched
            assert mtime == before[name][0]


@pytest.mark.slow
def test_evaluate_rescores_a_whole_folder_and_says_so(uninterrupted: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(uninterrupted, folder)
    old = {r["label"]: r for r in map(lambda p: json.loads(p.read_text()), (folder / "results").glob("*.json"))}
    assert main(["evaluate", str(folder), "--evaluation.iwae_k", "32"]) == 0
    assert "re-evaluated 3 run(s)" in capsys.readouterr().out
    new = {r["label"]: r for r in map(lambda p: json.loads(p.read_text()), (folder / "results").glob("*.json"))}
    assert new["vae"]["metrics"]["nll_iwae"] != old["vae"]["metrics"]["nll_iwae"]
    assert new["ae"]["metrics"]["recon_mse"] == pytest.approx(old["ae"]["metrics"]["recon_mse"], rel=1e-6)
    assert all(r["reevaluated"]["command"] == f"aebench evaluate {folder} --evaluation.iwae_k 32" for r in new.values())
    assert json.loads((folder / "meta.json").read_text())["reevaluated"]["evaluation_overrides"] == {"iwae_k": 32}
    assert "IWAE K = 32" in (folder / "table.md").read_text()


def _resumable_config(tmp_path: Path, name: str) -> Path:
    path = _config(tmp_path, name)
    config = yaml.safe_load(path.read_text())
    config["trainer"].update(max_epochs=4, checkpoint_every_n_epochs=1)
    config["evaluation"]["baselines"] = []
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_killed_mid_training_resumes_from_its_checkpoint_to_the_metrics_of_an_uninterrupted_one(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    assert main(["run", "--config", str(_resumable_config(tmp_path, "whole"))]) == 0
    whole = {r["label"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "whole" / "results").glob("*.json"))}

    from benchmarks.execution.callbacks import DivergenceGuard

    def killed_in_epoch_three(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise Killed  # the process dies after epoch 2's resume checkpoint, before epoch 3's
    with monkeypatch.context() as patch:
        patch.setattr(DivergenceGuard, "on_train_epoch_end", killed_in_epoch_three)
        with pytest.raises(Killed):
            main(["run", "--config", str(_resumable_config(tmp_path, "killed"))])
    (resume,) = (tmp_path / "killed" / "checkpoints").glob("*/resume.ckpt")
    capsys.readouterr()
    assert main(["run", "--config", str(_resumable_config(tmp_path, "killed"))]) == 0
    assert "resuming from" in capsys.readouterr().out and not resume.exists()  # used, then removed
    resumed = {r["label"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "killed" / "results").glob("*.json"))}
    for label in ("ae", "vae"):  # the VAE too: its noise comes from the RNG state saved in the checkpoint
        assert resumed[label]["steps"] == whole[label]["steps"] and resumed[label]["epochs"] == 4
        assert [c["epoch"] for c in resumed[label]["curves"]] == [c["epoch"] for c in whole[label]["curves"]]
        for key, value in whole[label]["metrics"].items():
            assert resumed[label]["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (label, key)
