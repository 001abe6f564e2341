"""Anomaly detection by a held-out class: the dataset options ``held_out_class`` and ``train_size``, run ids that do
not move, the ``anomaly`` metric against scikit-learn's AUROC, and the report's mean over classes, then seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import stats
from sklearn.metrics import roc_auc_score

from benchmarks.config import ConfigError, EvaluationConfig, expand_grid, load_config
from benchmarks.evaluation.baselines import pca_baseline
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics.anomaly import Anomaly
from benchmarks.evaluation.metrics.elbo import elbo
from benchmarks.evaluation.metrics.nll_iwae import nll_iwae
from benchmarks.reporting.anomaly import anomaly_tasks
from benchmarks.reporting.writers import anomaly_markdown
from datamodules import DATAMODULES
from datamodules.base import DataOptionError, stratified_subset
from lightning_modules import MODELS

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def _digits(**options: object):
    dm = DATAMODULES.get("digits")(**options)
    dm.setup()
    return dm


def _load(tmp_path: Path, **data: object):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"extends": "default", **data}))
    return load_config(path)


# -- the dataset options ------------------------------------------------------------------------------------------
def test_held_out_class_leaves_train_and_val_and_keeps_the_test_split_whole() -> None:
    plain, held = _digits(), _digits(held_out_class=3)
    assert 3 not in held.train.labels.tolist() and 3 not in held.val.labels.tolist()
    assert torch.equal(held.test.images, plain.test.images) and torch.equal(held.test.labels, plain.test.labels)
    for name in ("train", "val"):  # exactly the other images, in their order
        keep = getattr(plain, name).labels != 3
        assert torch.equal(getattr(held, name).images, getattr(plain, name).images[keep])
    assert held.num_classes == (10,)


def test_train_size_is_a_stratified_subset_fixed_by_the_split_seed() -> None:
    plain = _digits()
    a, b, other = _digits(train_size=500, seed=0), _digits(train_size=500, seed=7), _digits(train_size=500, split_seed=1)
    assert len(a.train) == 500 and torch.equal(a.train.images, b.train.images)  # not the training seed's business
    assert not torch.equal(a.train.images, other.train.images[: len(a.train)])
    assert torch.equal(a.val.images, plain.val.images) and torch.equal(a.test.images, plain.test.images)
    share = torch.bincount(plain.train.labels, minlength=10) * 500 / len(plain.train)
    assert (torch.bincount(a.train.labels, minlength=10) - share).abs().max() <= 1  # every class within one item
    rows = {tuple(x.flatten().tolist()) for x in plain.train.images}
    assert all(tuple(x.flatten().tolist()) in rows for x in a.train.images)  # a subset of the training split


def test_stratified_subset_takes_every_class_in_proportion() -> None:
    labels = torch.tensor([0] * 7 + [1] * 31 + [2] * 62)
    for size in (1, 10, 33, 99, 100):
        idx = stratified_subset(labels, size, seed=size)
        assert len(idx.unique()) == size
        counts = torch.bincount(labels[idx], minlength=3).double()
        assert (counts - size * torch.tensor([0.07, 0.31, 0.62])).abs().max() < 1 + 1e-9


def test_both_options_compose_and_errors_name_the_option() -> None:
    dm = _digits(held_out_class=0, train_size=300)
    assert len(dm.train) == 300 and 0 not in dm.train.labels.tolist()
    with pytest.raises(DataOptionError, match=r"held_out_class: 12 is not a class .*valid: \[0, 1, 2"):
        _digits(held_out_class=12)
    with pytest.raises(DataOptionError, match=r"train_size: 5000 exceeds the \d+ training images once class 0"):
        _digits(held_out_class=0, train_size=5000)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"name": "digits", "held_out_class": -1}, r"datasets\[0\]\.held_out_class: must be >= 0"),
        ({"name": "digits", "train_size": 0}, r"datasets\[0\]\.train_size: must be > 0"),
        ({"name": "digits", "held_out_class": 1.5}, r"datasets\[0\]\.held_out_class: expected int \| null"),
        ({"name": "digits", "sweep": {"held_out_class": [0, -2]}}, r"datasets\[0\]\.sweep\.held_out_class\[1\]: must be >= 0"),
        ({"name": "digits", "sweep": {"held_out": [0]}}, r"datasets\[0\]\.sweep\.held_out: unknown key \(did you mean 'held_out_class'"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key(dataset: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, datasets=[dataset])


def test_every_in_memory_dataset_offers_both_options() -> None:
    import inspect

    for name in DATAMODULES.names():
        params = inspect.signature(DATAMODULES.get(name).__init__).parameters
        assert {"held_out_class", "train_size"} <= set(params), name


def test_the_fid_classifier_cache_sees_the_changed_training_split() -> None:
    from benchmarks.evaluation.features import _cache_key

    keys = [_cache_key(_digits(**options), seed=0) for options in ({}, {"held_out_class": 0}, {"train_size": 500})]
    assert len({json.dumps(k, sort_keys=True) for k in keys}) == 3


# -- run ids and the dataset sweep ---------------------------------------------------------------------------------
@pytest.mark.parametrize("meta_path", sorted(REPORTS.glob("*/meta.json")), ids=lambda p: p.parent.name)
def test_committed_reports_keep_their_run_ids(meta_path: Path) -> None:
    """The grid of each committed report's config still names the runs its results files hold (the options added
    since, at their neutral default, are left out of the identity)."""
    meta = json.loads(meta_path.read_text())
    ids = [run.run_id for run in expand_grid(load_config(meta["config"]["source"]))]
    files = sorted((meta_path.parent / "results").glob("*.json"))
    assert ids == meta["run_ids"]
    assert sorted(ids) == sorted(p.stem for p in files) == sorted(json.loads(p.read_text())["run_id"] for p in files)


def test_a_held_out_class_or_a_train_size_is_another_run(tmp_path: Path) -> None:
    ids = {}
    for key, options in {"plain": {}, "held": {"held_out_class": 0}, "size": {"train_size": 500}}.items():
        config = _load(tmp_path, datasets=[{"name": "digits", "batch_size": 64, **options}], models=[{"name": "ae"}])
        ids[key] = expand_grid(config)[0].run_id
    assert len(set(ids.values())) == 3
    explicit = _load(tmp_path, datasets=[{"name": "digits", "batch_size": 64, "held_out_class": None, "train_size": None}],
                     models=[{"name": "ae"}])  # fmt: skip
    assert expand_grid(explicit)[0].run_id == ids["plain"]  # None written out is the default


def test_a_dataset_sweep_expands_to_labelled_datasets(tmp_path: Path) -> None:
    config = _load(tmp_path, datasets=[{"name": "digits", "sweep": {"held_out_class": [0, 2]}}], models=[{"name": "ae"}],
                   seeds=[0], evaluation={"baselines": []})  # fmt: skip
    runs = expand_grid(config)
    assert [r.dataset.display_name for r in runs] == ["digits[held_out_class=0]", "digits[held_out_class=2]"]
    assert [r.dataset.options["held_out_class"] for r in runs] == [0, 2] and runs[0].run_id != runs[1].run_id
    assert config.resolved()["datasets"][0]["sweep"] == {"held_out_class": [0, 2]}
    with pytest.raises(ConfigError, match=r"datasets: duplicate dataset labels .*\['digits'\]"):
        _load(tmp_path, datasets=["digits", {"name": "digits", "batch_size": 32}])


def test_the_anomaly_config_trains_one_model_per_class() -> None:
    config = load_config("anomaly")
    runs = expand_grid(config)
    assert sorted({r.dataset.options["held_out_class"] for r in runs}) == list(range(10))
    assert {r.label for r in runs} == {"ae", "vae", "pca"} and len(runs) == 10 * 3 * 3
    assert set(config.evaluation.selected_metrics()) == {"recon_mse", "elbo", "nll_iwae", "anomaly"}


# -- the metric ----------------------------------------------------------------------------------------------------
def _inputs(model: object, dm, **evaluation: object) -> EvalInputs:
    return EvalInputs(model, EvalContext.build(dm, "digits", EvaluationConfig(**evaluation)), seed=0)  # type: ignore[arg-type]


def test_pca_scores_its_reconstruction_error_as_sklearn_does() -> None:
    dm = _digits(held_out_class=1)
    pca = pca_baseline(dm.train.images, 8)
    out = Anomaly().compute(_inputs(pca, dm))
    x = dm.test.images.double().numpy().reshape(len(dm.test), -1)
    recon = pca.decode(pca.encode(dm.test.images).mean).double().numpy().reshape(len(x), -1)
    expected = roc_auc_score(dm.test.labels.numpy() == 1, ((recon - x) ** 2).sum(1))
    assert set(out) == {"anomaly_auroc", "anomaly_auroc_recon"}
    assert out["anomaly_auroc_recon"] == pytest.approx(expected, abs=1e-12) and out["anomaly_auroc"] == out["anomaly_auroc_recon"]
    assert out["anomaly_auroc"] > 0.6  # PCA fitted without the 1s reconstructs them worse than the others


def test_a_vae_scores_elbo_and_iwae_as_sklearn_does_and_its_own_score_is_iwae() -> None:
    torch.manual_seed(0)
    dm = _digits(held_out_class=4)
    vae = MODELS.get("vae")(dm.image_shape, latent_dim=4).eval()
    inputs = _inputs(vae, dm, iwae_k=20)
    out = Anomaly().compute(inputs)
    is_four = dm.test.labels.numpy() == 4
    neg_elbo = -elbo(vae, dm.test.images, generator=inputs.generator("elbo"), batch_size=500)  # the elbo metric's draws
    nll = nll_iwae(vae, dm.test.images, k=20, generator=inputs.generator("nll_iwae"), batch_size=500 // 8)
    assert out["anomaly_auroc_elbo"] == pytest.approx(roc_auc_score(is_four, neg_elbo.numpy()), abs=1e-12)
    assert out["anomaly_auroc_iwae"] == pytest.approx(roc_auc_score(is_four, nll.numpy()), abs=1e-12)
    assert out["anomaly_auroc"] == out["anomaly_auroc_iwae"] and 0 <= out["anomaly_auroc_recon"] <= 1


def test_the_metric_applies_only_with_a_held_out_class() -> None:
    vae = MODELS.get("vae")((1, 8, 8), latent_dim=2)
    metrics = ["anomaly", "nll_iwae"]
    plain = evaluate(vae, EvalContext.build(_digits(), "digits", EvaluationConfig(metrics=metrics, iwae_k=5)), seed=0)
    held = evaluate(vae, EvalContext.build(_digits(held_out_class=0), "d", EvaluationConfig(metrics=metrics, iwae_k=5)), seed=0)
    assert "anomaly" not in plain.identity["applied"] and not any(k.startswith("anomaly") for k in plain.metrics)
    assert "anomaly" in held.identity["applied"] and "held_out_class" in held.identity["capabilities"]


# -- the report ----------------------------------------------------------------------------------------------------
def _record(label: str, seed: int, cls: int, metrics: dict[str, float]) -> dict:
    return {
        "run_id": f"{label}-{cls}-{seed}", "dataset": f"toy[held_out_class={cls}]", "model": label, "label": label,
        "seed": seed, "n_test": 100, "eval_info": {"iwae_k": 200},
        "config": {"dataset": {"name": "toy", "label": f"toy[held_out_class={cls}]", "held_out_class": cls}},
        "metrics": metrics,
    }  # fmt: skip


def test_the_report_averages_over_classes_within_a_seed_then_over_seeds() -> None:
    rng = np.random.default_rng(0)
    classes, seeds = [0, 1, 2, 3], [0, 1, 2]
    ae = rng.uniform(0.5, 0.7, (len(seeds), len(classes)))  # [seed, class]
    vae = rng.uniform(0.8, 0.95, (len(seeds), len(classes)))
    results = [_record("ae", s, c, {"anomaly_auroc": ae[i, j], "anomaly_auroc_recon": ae[i, j]})
               for i, s in enumerate(seeds) for j, c in enumerate(classes)]  # fmt: skip
    results += [_record("vae", s, c, {"anomaly_auroc": vae[i, j], "anomaly_auroc_iwae": vae[i, j], "anomaly_auroc_recon": 0.4})
                for i, s in enumerate(seeds) for j, c in enumerate(classes)]  # fmt: skip
    results.append(_record("vae", 3, 0, {"anomaly_auroc": 0.1}))  # a seed with one class only: not a mean over classes
    (task,) = anomaly_tasks(results)
    assert task.classes == classes and [r.label for r in task.rows] == ["ae", "vae"]
    for row, values in zip(task.rows, (ae, vae)):
        per_seed = values.mean(axis=1)  # by hand: the classes first ...
        half = stats.t.ppf(0.975, len(seeds) - 1) * per_seed.std(ddof=1) / math.sqrt(len(seeds))  # ... then the seeds
        stat = row.stats["anomaly_auroc"]
        assert stat.n == 3 and stat.mean == pytest.approx(per_seed.mean()) and stat.ci95 == pytest.approx(half)
        pooled = values.std(ddof=1) * stats.t.ppf(0.975, values.size - 1) / math.sqrt(values.size)
        assert not math.isclose(stat.ci95, pooled)  # pooling the 12 values as replicates would give another interval
    vae_row = task.rows[1]
    assert vae_row.seeds == [0, 1, 2, 3] and vae_row.stats["anomaly_auroc_recon"].mean == pytest.approx(0.4)
    assert [row.stats["anomaly_auroc"].mean for row in task.per_class[2]] == pytest.approx([ae[:, 2].mean(), vae[:, 2].mean()])
    md = anomaly_markdown(results[:-1])
    assert "### toy" in md and "K = 200" in md and "held out 3" in md
    vae_line = next(line for line in md.splitlines() if line.startswith("| vae | 3 |"))
    assert vae_line.split(" | ")[2].startswith("**")  # the best own score, marked as in the main table
    assert "(3 of 4 seeds)" in anomaly_markdown(results)  # the incomplete seed is said, not averaged in
    assert anomaly_markdown([{**r, "config": {"dataset": {"name": "toy"}}} for r in results]) == ""


def test_the_datasets_of_a_sweep_are_reported_in_the_order_of_their_values() -> None:
    from benchmarks.reporting.build import table_order

    meta = {"config": {"datasets": [{"name": "digits"}], "models": [{"name": "ae"}], "evaluation": {"baselines": ["pca"]}}}
    results = [_record(label, 0, c, {}) | {"dataset": f"digits[held_out_class={c}]"} for c in (10, 2, 0) for label in ("pca", "ae")]
    ordered = [(r["dataset"], r["label"]) for r in table_order(results, meta)]
    assert ordered == [(f"digits[held_out_class={c}]", m) for c in (0, 2, 10) for m in ("ae", "pca")]


def test_the_claims_read_one_record_per_model_and_seed_averaged_over_the_classes() -> None:
    from benchmarks.reporting.anomaly import claim_records
    from benchmarks.reporting.claims import CLAIMS, SUPPORTED, evaluate_claim

    rng = np.random.default_rng(1)
    classes, seeds = [0, 1, 2], [0, 1, 2]
    ae = rng.uniform(0.6, 0.7, (len(seeds), len(classes)))
    vae = rng.uniform(0.9, 0.95, (len(seeds), len(classes)))
    results = [_record("ae", s, c, {"anomaly_auroc_recon": ae[i, j]}) for i, s in enumerate(seeds) for j, c in enumerate(classes)]
    results += [_record("vae", s, c, {"anomaly_auroc_iwae": vae[i, j]}) for i, s in enumerate(seeds) for j, c in enumerate(classes)]
    other = {"dataset": "digits", "model": "ae", "label": "ae", "seed": 0, "metrics": {"recon_mse": 0.1}}
    records = claim_records([*results, other])
    assert other in records and len(records) == 1 + 2 * len(seeds)  # 18 per-class runs → 6 per-seed means
    pooled = [r for r in records if r is not other]
    assert {r["dataset"] for r in pooled} == {"toy, mean over held-out classes 0, 1, 2"}
    by_key = {(r["label"], r["seed"]): r["metrics"] for r in pooled}
    for i, s in enumerate(seeds):
        assert by_key["ae", s]["anomaly_auroc_recon"] == pytest.approx(ae[i].mean())
        assert by_key["vae", s]["anomaly_auroc_iwae"] == pytest.approx(vae[i].mean())
    claim = next(c for c in CLAIMS if c.id == "13")
    assert evaluate_claim(claim, pooled)["verdict"] == SUPPORTED  # the VAE's −IWAE AUROC above the AE's recon AUROC
