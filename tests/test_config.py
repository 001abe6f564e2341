"""Config validation: bad input stops before training with an error naming the key; grids and run ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.config import CONFIG_DIR, ConfigError, load_config, parse_overrides
from benchmarks.config import BaselineSpec, RunSpec, expand_grid

from .conftest import TINY_CONFIG


def _load(tmp_path: Path, **changes) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**TINY_CONFIG, **changes}))
    return load_config(path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"models": [{"name": "vea"}]}, r"models\[0\]\.name: unknown model 'vea'; did you mean 'vae'\?"),
        ({"datasets": [{"name": "mnits"}]}, r"datasets\[0\]\.name: unknown dataset 'mnits'; did you mean 'mnist'\?"),
        ({"models": [{"name": "vae", "latent_dim": 0}]}, r"models\[0\]\.latent_dim: must be > 0"),
        ({"models": [{"name": "beta_vae", "beta": -1}]}, r"models\[0\]\.beta: must be >= 0"),
        ({"models": [{"name": "beta_vae", "sweep": {"beta": [1, -2]}}]}, r"models\[0\]\.sweep\.beta\[1\]: must be >= 0"),
        ({"models": [{"name": "ae", "beta": 2}]}, r"models\[0\]\.beta: unknown key; valid keys: .*latent_dim"),
        ({"models": [{"name": "vae", "latent_dim": "eight"}]}, r"models\[0\]\.latent_dim: expected int, got 'eight'"),
        ({"trainer": {"max_epoch": 3}}, r"trainer\.max_epoch: unknown key \(did you mean 'max_epochs'\?\)"),
        ({"evaluation": {"fid_backend": "incept"}}, r"evaluation\.fid_backend: expected one of 'domain' \| 'inception'"),
        ({"seeds": []}, r"seeds: must list at least one entry"),
        ({"models": [{"name": "vae"}, {"name": "vae"}]}, r"duplicate row labels \['vae'\]"),
        ({"datasets": [{"name": "digits", "test_fraction": 1.5}]}, r"datasets\[0\]\.test_fraction: must be in \(0, 1\)"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, **changes)


def test_missing_file_lists_shipped_configs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*shipped configs: .*default"):
        load_config(tmp_path / "nope.yaml")


def test_every_shipped_config_builds() -> None:
    for path in CONFIG_DIR.glob("*.yaml"):
        assert expand_grid(load_config(path)), path


def test_sweep_expands_to_labelled_rows_and_run_ids_are_stable(tmp_path: Path) -> None:
    config = _load(tmp_path, models=[{"name": "beta_vae", "sweep": {"beta": [1.0, 4.0]}}], seeds=[0, 1])
    runs, baselines = _split(expand_grid(config))
    assert [r.label for r in runs] == ["beta_vae[beta=1]"] * 2 + ["beta_vae[beta=4]"] * 2
    assert [r.model.hparams["beta"] for r in runs] == [1.0, 1.0, 4.0, 4.0]
    assert len({r.run_id for r in runs}) == 4
    assert [r.run_id for r in runs] == [r.run_id for r in _split(expand_grid(config))[0]]  # stable across loads
    assert [(b.name, b.seed, b.n_components) for b in baselines] == [("pca", 0, 8), ("pca", 1, 8), ("pixels", 0, 0), ("pixels", 1, 0)]
    changed = _load(tmp_path, models=[{"name": "beta_vae", "sweep": {"beta": [1.0, 4.0]}}], seeds=[0, 1], trainer={"max_epochs": 3})
    changed_runs, changed_baselines = _split(expand_grid(changed))
    assert not {r.run_id for r in runs} & {r.run_id for r in changed_runs}  # a different budget is a different run
    assert [b.run_id for b in baselines] == [b.run_id for b in changed_baselines]  # baselines are not trained
    evaluation = _load(tmp_path, models=[{"name": "beta_vae", "sweep": {"beta": [1.0, 4.0]}}], seeds=[0, 1],
                       evaluation={"iwae_k": 7, "fid_samples": 50})  # fmt: skip
    same_runs, same_baselines = _split(expand_grid(evaluation))
    assert [r.run_id for r in same_runs + same_baselines] == [r.run_id for r in runs + baselines]  # evaluation is not identity


def test_unknown_metric_in_the_selection_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"evaluation.metrics\[1\]: unknown metric 'nll_iwea'; did you mean 'nll_iwae'"):
        _load(tmp_path, evaluation={"metrics": ["recon_mse", "nll_iwea"]})
    assert _load(tmp_path, evaluation={"metrics": ["probe_acc", "recon_mse"]}).evaluation.selected_metrics() == [
        "recon_mse", "probe_acc"]  # registry order, whatever the order written


def _split(grid: list) -> tuple[list[RunSpec], list[BaselineSpec]]:
    return [r for r in grid if isinstance(r, RunSpec)], [r for r in grid if isinstance(r, BaselineSpec)]


def test_extends_and_command_line_overrides(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("extends: default\nseeds: [7]\n")
    config = load_config(child, parse_overrides(["--trainer.max_epochs", "3", "--models", "[ae]"]))
    assert config.seeds == [7] and config.trainer.max_epochs == 3
    assert [m.name for m in config.models] == ["ae"] and config.datasets[0].name == "digits"  # from default.yaml
    assert parse_overrides(["--trainer.devices=2"]) == {"trainer": {"devices": 2}}
    with pytest.raises(ConfigError, match="needs a value"):
        parse_overrides(["--seeds"])
