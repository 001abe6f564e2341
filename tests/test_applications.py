"""The applications: retrieval (precision@10, mAP), denoising, the denoising AE, and the AUROC of anomaly scores.

Each against an independent reference: scikit-learn (``average_precision_score`` per query, ``roc_auc_score``),
closed forms of the corruptions' MSE, and constructed codes with known answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import retrieval
from benchmarks.evaluation.metrics.denoise import CORRUPTIONS, Denoise, DenoiseInput
from benchmarks.evaluation.metrics.retrieval import Retrieval, retrieval_scores
from benchmarks.evaluation.ranking import auroc
from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior
from lightning_modules.corruption import corrupt


# -- retrieval ------------------------------------------------------------------------------------------------
def test_retrieval_of_a_hand_ranked_query() -> None:
    """One query at 0 over items at 1, 2, 3, 4 labelled relevant, not, relevant, not."""
    db, labels = torch.tensor([[1.0], [2.0], [3.0], [4.0]]), torch.tensor([1, 0, 1, 0])
    precision, ap = retrieval_scores(torch.zeros(1, 1), torch.tensor([1]), db, labels, k=2)
    assert precision[0] == pytest.approx(1 / 2)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)  # hits at ranks 1 and 3


def test_separated_classes_score_one_and_a_collapsed_code_scores_the_class_share() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    codes = torch.randn(200, 3, generator=gen) + 20.0 * torch.nn.functional.one_hot(labels, 4)[:, :3]
    precision, ap = retrieval_scores(codes[:40], labels[:40], codes[40:], labels[40:])
    assert precision[0] == pytest.approx(1.0) and ap[0] == pytest.approx(1.0)
    collapsed = torch.zeros(200, 3)  # every distance ties: both scores are the share of the query's class, 1/4
    precision, ap = retrieval_scores(collapsed[:40], labels[:40], collapsed[40:], labels[40:])
    assert precision[0] == pytest.approx(0.25) and ap[0] == pytest.approx(0.25)


@pytest.mark.parametrize("ties", [False, True])
def test_retrieval_matches_sklearn_per_query(ties: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(1)
    queries, db = torch.randn(30, 3, generator=gen), torch.randn(300, 3, generator=gen)
    if ties:  # a coarse grid: many equal distances
        queries, db = queries.round(), db.round()
    q_labels, db_labels = torch.randint(0, 5, (30,), generator=gen), torch.randint(0, 5, (300,), generator=gen)
    monkeypatch.setattr(retrieval, "CHUNK_ELEMENTS", 7 * 300)  # queries in chunks of 7: the chunking is exercised
    precision, ap = retrieval_scores(queries, q_labels, db, db_labels)
    d = torch.cdist(queries.double(), db.double()).numpy()
    relevant = (q_labels[:, None] == db_labels[None]).numpy()
    expected_ap = np.mean([average_precision_score(r, -row) for r, row in zip(relevant, d)])
    assert ap[0] == pytest.approx(expected_ap, abs=1e-12)
    if not ties:
        nearest = np.argsort(d, axis=1)[:, :10]
        assert precision[0] == pytest.approx(np.take_along_axis(relevant, nearest, 1).mean())


def test_one_value_per_label_column() -> None:
    gen = torch.Generator().manual_seed(2)
    codes, labels = torch.randn(120, 2, generator=gen), torch.randint(0, 3, (120, 2), generator=gen)
    precision, ap = retrieval_scores(codes[:20], labels[:20], codes[20:], labels[20:])
    single = retrieval_scores(codes[:20], labels[:20, 1], codes[20:], labels[20:, 1])
    assert precision.shape == ap.shape == (2,)
    assert (precision[1], ap[1]) == pytest.approx((single[0][0], single[1][0]))


def test_the_metric_scores_each_label_column_of_a_multi_label_dataset_and_their_mean(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    labels, factors = torch.randint(0, 3, (150,), generator=gen), torch.randint(0, 2, (150, 2), generator=gen)
    images = (torch.rand(150, 1, 8, 8, generator=gen) + labels[:, None, None, None]) / 3  # pixels carry the label
    np.savez(tmp_path / "d.npz", images=images.numpy(), labels=labels.numpy(), factors=factors.numpy())
    dm = DATAMODULES.get("tensor_file")(path=str(tmp_path / "d.npz"))
    dm.setup()
    inputs = EvalInputs(Identity(), EvalContext.build(dm, "d", EvaluationConfig()), seed=0)  # type: ignore[arg-type]
    out = Retrieval().compute(inputs)
    names = ("label", "factor_0", "factor_1")
    assert dm.label_names == names and set(out) == {f"retrieval_{m}{s}" for m in ("p@10", "map") for s in ("", *(f"_{n}" for n in names))}
    assert out["retrieval_map"] == pytest.approx(np.mean([out[f"retrieval_map_{n}"] for n in names]))
    assert out["retrieval_p@10_label"] > 0.9 and out["retrieval_p@10_factor_0"] < 0.8  # pixels know the label only


# -- AUROC ----------------------------------------------------------------------------------------------------
def test_auroc_matches_sklearn_with_and_without_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500).astype(bool)
    scores = rng.normal(size=500) + y
    assert auroc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert auroc(torch.from_numpy(scores.round()), torch.from_numpy(y)) == pytest.approx(roc_auc_score(y, scores.round()), abs=1e-12)


def test_auroc_of_constructed_cases() -> None:
    y = np.array([0, 0, 0, 1, 1])
    assert auroc(np.arange(5.0), y) == 1.0  # perfect separation
    assert auroc(-np.arange(5.0), y) == 0.0  # reversed
    assert auroc(np.ones(5), y) == 0.5  # all tied
    with pytest.raises(ValueError, match="both classes"):
        auroc(np.arange(3.0), np.zeros(3))


# -- denoising ------------------------------------------------------------------------------------------------
def test_gaussian_noise_without_clipping_has_mse_sigma_squared() -> None:
    x = torch.full((200, 1, 16, 16), 0.5)  # 0.5 ± 5σ stays inside [0, 1]: clipping never binds at σ = 0.1
    noisy = corrupt(x, "gauss", 0.1, torch.Generator().manual_seed(0))
    assert (noisy - x).pow(2).mean().item() == pytest.approx(0.1**2, rel=0.02)


class Identity:
    """The model that "reconstructs" its input: its denoising MSE is the corruption's own."""

    prior = None

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        return z.reshape(len(z), 1, 8, 8)


def _clipped_gauss_mse(x: np.ndarray, sigma: float) -> float:
    """E[(clip(x + σε, 0, 1) − x)²] per value, in closed form: σ² ∫_a^b ε²φ + x² Φ(a) + (1 − x)² (1 − Φ(b))."""
    a, b = -x / sigma, (1 - x) / sigma
    inside = norm.cdf(b) - norm.cdf(a) - (b * norm.pdf(b) - a * norm.pdf(a))
    return float(np.mean(sigma**2 * inside + x**2 * norm.cdf(a) + (1 - x) ** 2 * norm.sf(b)))


def test_denoising_by_the_identity_is_the_corruptions_closed_form() -> None:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    inputs = EvalInputs(Identity(), EvalContext.build(dm, "digits", EvaluationConfig()), seed=0)  # type: ignore[arg-type]
    model, raw = Denoise().compute(inputs), DenoiseInput().compute(inputs)
    assert [model[f"denoise_mse_{n}"] for n in CORRUPTIONS] == [raw[f"denoise_input_mse_{n}"] for n in CORRUPTIONS]
    x = dm.test.images.double().numpy()
    for name, (kind, level) in CORRUPTIONS.items():
        closed = {
            "gauss": lambda: _clipped_gauss_mse(x, level),
            "dropout": lambda: level * np.mean(x**2),
            "saltpepper": lambda: level * np.mean(0.5 * x**2 + 0.5 * (1 - x) ** 2),
        }[kind]()
        assert model[f"denoise_mse_{name}"] == pytest.approx(closed, rel=0.05), name


# -- the denoising AE -----------------------------------------------------------------------------------------
def test_the_dae_reconstructs_clean_targets_from_corrupted_inputs() -> None:
    """Dropout of every pixel: the encoder sees only zeros, and the loss is still −log p(clean x | enc(0))."""
    torch.manual_seed(0)
    model = MODELS.get("dae")((1, 8, 8), latent_dim=3, hidden=(16,), corruption="dropout", noise_level=1.0)
    x = torch.rand(5, 1, 8, 8)
    code_of_nothing = model.encode(torch.zeros_like(x)).mean
    torch.testing.assert_close(model.loss_terms(x)["loss"], -model.log_likelihood(x, code_of_nothing).mean())
    assert not torch.isclose(model.loss_terms(x)["loss"], -model.log_likelihood(torch.zeros_like(x), code_of_nothing).mean())
    torch.testing.assert_close(model.encode(x).mean, model.encoder(x))  # evaluation encodes the clean input
    with pytest.raises(ValueError, match="must be in"):
        MODELS.get("dae")((1, 8, 8), corruption="dropout", noise_level=1.5)


# -- end to end -----------------------------------------------------------------------------------------------
NEW_KEYS = {f"denoise_mse_{n}" for n in CORRUPTIONS} | {f"denoise_input_mse_{n}" for n in CORRUPTIONS} | {"retrieval_p@10", "retrieval_map"}


def test_a_tiny_benchmark_writes_the_new_keys_for_models_and_baselines(tmp_path: Path) -> None:
    from benchmarks.cli import main

    config = {
        "name": "apps", "output_dir": str(tmp_path / "out"), "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 128}],
        "models": [{"name": name, "latent_dim": 4, "hidden": [32]} for name in ("ae", "vae", "dae")],
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "evaluation": {"metrics": ["retrieval", "denoise", "denoise_input"], "baselines": ["pca", "pixels"]},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(tmp_path / "c.yaml")]) == 0
    records = {r["label"]: r for r in map(json.loads, map(Path.read_text, (tmp_path / "out" / "results").glob("*.json")))}
    for label in ("ae", "vae", "dae", "pca"):
        values = records[label]["metrics"]
        assert NEW_KEYS <= set(values) and all(np.isfinite(values[k]) for k in NEW_KEYS), label
    pixels = records["pixels"]["metrics"]  # no decoder: retrieval and the identity's row, no denoise_mse
    assert {"retrieval_p@10", "retrieval_map", "denoise_input_mse_dropout"} <= set(pixels) and "denoise_mse_dropout" not in pixels
    assert records["ae"]["metrics"]["denoise_input_mse_gauss0.3"] == pixels["denoise_input_mse_gauss0.3"]
