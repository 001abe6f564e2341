"""Everything wrong with a config or this machine is one line naming the key and the fix, exit 2, before any
training: config mistakes, missing files, an unavailable accelerator, an unwritable or full output folder,
missing optional packages. Every problem of a config is reported at once."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import benchmarks.execution.preflight as preflight_module
from benchmarks.cli import main

BASE: dict[str, Any] = {
    "name": "pre",
    "seeds": [0],
    "datasets": [{"name": "digits"}],
    "models": [{"name": "ae", "latent_dim": 2, "hidden": [8]}],
    "trainer": {"max_epochs": 1, "accelerator": "cpu"},
    "evaluation": {"baselines": [], "samplers": ["prior"]},
}


@pytest.fixture
def no_training(monkeypatch) -> None:
    monkeypatch.setattr("benchmarks.execution.runner.fit", lambda *a, **k: pytest.fail("something trained"))


def run(tmp_path: Path, *extra: str, **changes: Any) -> int:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**BASE, "output_dir": str(tmp_path / "out"), **changes}))
    return main(["run", "--config", str(path), *extra])


@pytest.mark.parametrize(
    ("changes", "extra", "message"),
    [
        ({"evaluation": {"samplers": ["prior", "gaus"]}}, (), "evaluation.samplers[1]: unknown sampler 'gaus'; did you mean 'gauss'"),
        ({"models": [{"name": "vae", "likelihood": "bernouli"}]}, (), "models[0].likelihood: expected one of 'bernoulli'"),
        ({"models": [{"name": "vae", "hidden": [0]}]}, (), "models[0].hidden[0]: must be an integer > 0"),
        ({"models": [{"name": "vae", "lr": float("nan")}]}, (), "models[0].lr: must be a finite number"),
        ({"models": [{"name": "beta_vae", "beta": float("inf")}]}, (), "models[0].beta: must be a finite number"),
        ({"seeds": [2**32]}, (), "seeds[0]: must be in [0, 4294967295]"),
        ({"seeds": [-1]}, (), "seeds[0]: must be in [0, 4294967295]"),
        ({"datasets": [{"name": "digits", "val_fraction": 0.0}]}, (), "datasets[0].val_fraction: must be in (0, 1)"),
        ({"datasets": [{"name": "digits", "val_fraction": 0.5, "test_fraction": 0.5}]}, (), "val_fraction + test_fraction must be < 1"),
        ({"evaluation": {"fid_samples": 1}}, (), "evaluation.fid_samples: must be >= 2"),
        ({"cpu_threads": 0}, (), "cpu_threads: must be >= 1"),
        ({}, ("--seeds", "[0,"), "--seeds: '[0,' is not a valid YAML value"),
        ({}, ("--trainer.max_epochs",), "override --trainer.max_epochs needs a value"),
        ({}, ("--trainer.max_epochs", "--seeds", "[0]"), "override --trainer.max_epochs needs a value"),
        ({"extends": ["a", "b"]}, (), "extends: expected the name or path of one config"),
        ({}, ("--datasets.4.batch_size", "8"), "datasets.4: index out of range"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_each_config_mistake_is_one_line_exit_2_before_training(tmp_path, capsys, no_training, changes, extra, message) -> None:
    assert run(tmp_path, *extra, **changes) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_gmm_components_beyond_the_training_set_is_a_preflight_problem(tmp_path, capsys, no_training) -> None:
    evaluation = {"baselines": [], "samplers": ["gmm"], "gmm_components": 5000}
    assert run(tmp_path, evaluation=evaluation) == 2
    assert "evaluation.gmm_components: 5000 components for the 1258 training codes" in capsys.readouterr().err


def test_every_environment_problem_of_a_config_is_reported_at_once(tmp_path, capsys, no_training, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights there
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real_find_spec(name, *a))
    code = run(
        tmp_path,
        datasets=[{"name": "mnist", "root": str(tmp_path / "nodata")}, {"name": "digits"}],
        trainer={"max_epochs": 1, "accelerator": "gpu"},
        evaluation={"fid_backend": "inception", "baselines": [], "samplers": ["prior"]},
        logger={"type": "wandb"},
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "pre-flight: 4 problem(s), nothing was trained" in err
    assert "datasets[0] (mnist): MNIST not found: expected train-images-idx3-ubyte" in err and str(tmp_path / "nodata") in err
    assert "evaluation.fid_backend: the inception FID backend needs the InceptionV3 weights file" in err
    assert "trainer (accelerator 'gpu'" in err
    assert "logger.type: 'wandb' needs the package wandb: pip install wandb" in err


def test_an_unknown_precision_is_lightnings_own_error_before_training(tmp_path, capsys, no_training) -> None:
    assert run(tmp_path, "--trainer.precision", "17") == 2
    err = capsys.readouterr().err
    assert "precision 17)" in err and "'bf16-mixed'" in err  # Lightning's list of the valid values


def test_an_unwritable_or_full_output_folder_is_found_before_training(tmp_path, capsys, no_training, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preflight_module.tempfile, "TemporaryFile", refuse)
    assert run(tmp_path) == 2
    assert "output_dir: cannot write" in capsys.readouterr().err
    monkeypatch.undo()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(preflight_module.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    assert run(tmp_path) == 2
    err = capsys.readouterr().err
    assert "MB free, the runs need about" in err and "choose another --output-dir" in err


def test_validate_names_the_file_of_each_problem(tmp_path, capsys) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(BASE))
    bad.write_text(yaml.safe_dump({**BASE, "datasets": [{"name": "mnist", "root": str(tmp_path / "none")}],
                                   "trainer": {"precision": "17"}}))  # fmt: skip
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"ok  {good}" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{bad}: ") for line in lines)
    broken = tmp_path / "broken.yaml"
    broken.write_text("seeds: [0,\n")
    assert main(["validate", str(broken)]) == 2
    assert f"{broken}: {broken}: not valid YAML" in capsys.readouterr().err  # and YAML's own marks name it too


def test_relative_data_roots_follow_the_config_file_or_aebench_data(tmp_path, monkeypatch) -> None:
    from benchmarks.config import load_config

    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "c.yaml").write_text(yaml.safe_dump({**BASE, "datasets": [{"name": "mnist", "root": "mydata"}]}))
    monkeypatch.chdir(tmp_path)  # anywhere else
    monkeypatch.delenv("AEBENCH_DATA", raising=False)
    assert load_config(folder / "c.yaml").datasets[0].options["root"] == str(folder / "mydata")
    monkeypatch.setenv("AEBENCH_DATA", str(tmp_path / "store"))
    assert load_config(folder / "c.yaml").datasets[0].options["root"] == str(tmp_path / "store" / "mydata")
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({**BASE, "datasets": [{"name": "mnist"}]}))
    assert load_config(plain).datasets[0].options["root"] == str(tmp_path / "store")
