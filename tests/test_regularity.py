"""Latent regularity: ``fid_interp`` against a second computation of its FID, the classifier's confidence and hole
rate on constructed classifier outputs and through a constructed classifier with a closed form, and where the
classifier metrics apply."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import Tensor, nn

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.evaluate import evaluate
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import METRICS
from benchmarks.evaluation.metrics.classifier_confidence import ClassifierData, ClassifierMetric, confidence_and_hole_rate
from benchmarks.evaluation.metrics.fid_interp import MIDPOINTS, FIDInterp, random_pairs
from benchmarks.evaluation.metrics.hole_rate import HoleRate
from benchmarks.evaluation.metrics.interp_confidence import InterpConfidence
from datamodules import DATAMODULES, InMemoryDataModule
from lightning_modules import MODELS
from tests.test_applications import Identity

CLASSIFIER_METRICS = ("interp_confidence", "hole_rate", "classifier_data")


@pytest.fixture(scope="module")
def digits() -> InMemoryDataModule:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


# -- fid_interp -----------------------------------------------------------------------------------------------
def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets by the textbook formula, with scipy's matrix square root."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_fid_interp_of_a_linear_decoder_is_the_fid_of_the_averaged_image_pairs(digits: InMemoryDataModule) -> None:
    """The identity's codes are the pixels: the decoded midpoint of two codes is the mean of the two images."""
    context = EvalContext.build(digits, "digits", EvaluationConfig(fid_samples=300))
    inputs = EvalInputs(Identity(), context, seed=0)  # type: ignore[arg-type]
    value = FIDInterp().compute(inputs)["fid_interp"]
    test = digits.test.images
    pairs = random_pairs(len(test), 300, inputs.generator(MIDPOINTS))
    blends = (test[pairs[:, 0]] + test[pairs[:, 1]]) / 2
    with torch.no_grad():
        features = [context.scorer.extractor(x).double().numpy() for x in (blends, test[:300])]
    assert value == pytest.approx(_frechet(*features), rel=1e-5)
    assert value > 3 * context.fid_data(0)  # blends of two digits are farther from the test set than real digits


def test_random_pairs_are_distinct_and_uniform_over_ordered_pairs() -> None:
    pairs = random_pairs(5, 40_000, torch.Generator().manual_seed(0))
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    counts = torch.zeros(5, 5).index_put_((pairs[:, 0], pairs[:, 1]), torch.ones(len(pairs)), accumulate=True)
    expected = 40_000 / 20  # 20 ordered pairs of distinct items; binomial sd ≈ 44
    off_diagonal = counts[~torch.eye(5, dtype=torch.bool)]
    assert float((off_diagonal - expected).abs().max()) < 5 * math.sqrt(expected)


# -- confidence and holes -------------------------------------------------------------------------------------
def test_confidence_and_hole_rate_of_constructed_probabilities() -> None:
    unsure, tied, sure = torch.tensor([0.4, 0.3, 0.2, 0.1]), torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.9, 0.05, 0.05, 0.0])
    probabilities = torch.stack([unsure] * 30 + [tied] * 20 + [sure] * 50)  # 30% below τ; exactly 0.5 is assignable
    confidence, holes = confidence_and_hole_rate([probabilities])
    assert holes == pytest.approx(0.3)
    assert confidence == pytest.approx(0.3 * 0.4 + 0.2 * 0.5 + 0.5 * 0.9)
    second = torch.tensor([0.45, 0.55]).expand(100, 2)  # a second label column, every image assignable at 0.55
    both = confidence_and_hole_rate([probabilities, second])
    assert both == pytest.approx(((confidence + 0.55) / 2, (0.3 + 0.0) / 2))  # the mean over label columns


class Brightness(nn.Module):
    """A 4-class classifier with logits (a, 0, 0, 0), a = sharpness · (mean pixel − offset): its largest class
    probability is max(eᵃ, 1) / (eᵃ + 3), below 1/2 exactly where a < log 3."""

    def __init__(self, sharpness: float, offset: float) -> None:
        super().__init__()
        self.sharpness = nn.Parameter(torch.tensor(sharpness))  # class_probabilities reads a parameter's device
        self.offset = offset

    def logit(self, images: Tensor) -> Tensor:
        return self.sharpness * (images.flatten(1).mean(1) - self.offset)

    def forward(self, images: Tensor) -> list[Tensor]:
        a = self.logit(images)
        return [torch.stack([a, *[torch.zeros_like(a)] * 3], 1)]

    def expected(self, images: Tensor) -> tuple[float, float]:
        """(confidence, hole rate) of ``images`` in closed form."""
        a = self.logit(images).detach().double()
        top = torch.where(a >= 0, 1 / (1 + 3 * (-a.abs()).exp()), 1 / (a.clamp(max=0).exp() + 3))  # no overflow of eᵃ
        return float(top.mean()), float((a < math.log(3)).double().mean())


def _with_classifier(dm: InMemoryDataModule, classifier: nn.Module, model: object) -> EvalInputs:
    context = EvalContext.build(dm, "digits", EvaluationConfig())
    context.scorer = SimpleNamespace(extractor=SimpleNamespace(classifier=classifier))  # type: ignore[assignment]
    return EvalInputs(model, context, seed=0)  # type: ignore[arg-type]


def test_the_hole_rate_of_the_test_images_is_hole_rate_data_and_its_closed_form(
    digits: InMemoryDataModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = digits.test.images
    means = test.flatten(1).mean(1)
    levels = means.unique()  # sorted: a brightness t between two of them, far from every image's
    t = float(levels[len(levels) // 2 - 1] + levels[len(levels) // 2]) / 2
    for classifier in (Brightness(1e4, float(means.min()) - 0.01), Brightness(50.0, t - math.log(3) / 50)):
        inputs = _with_classifier(digits, classifier, Identity())
        monkeypatch.setattr(inputs, "samples", lambda name: test)  # a model whose prior samples are the test images
        confidence, holes = classifier.expected(test)
        data = ClassifierData().compute(inputs)
        assert HoleRate().compute(inputs)["hole_rate"] == data["hole_rate_data"] == pytest.approx(holes)
        assert data["confidence_data"] == pytest.approx(confidence)
    assert holes == pytest.approx(float((means < t).double().mean()))  # a < log 3 exactly for the images darker than t
    assert 0.3 < holes < 0.7
    assert Brightness(1e4, float(means.min()) - 0.01).expected(test) == pytest.approx((1.0, 0.0))  # confident on all


def test_interp_confidence_of_a_linear_decoder_is_the_closed_form_on_the_blended_pairs(digits: InMemoryDataModule) -> None:
    classifier = Brightness(50.0, float(digits.test.images.mean()))
    inputs = _with_classifier(digits, classifier, Identity())
    test = digits.test.images
    pairs = random_pairs(len(test), inputs.context.n_fid, inputs.generator(MIDPOINTS))
    expected, _ = classifier.expected((test[pairs[:, 0]] + test[pairs[:, 1]]) / 2)
    assert InterpConfidence().compute(inputs)["interp_confidence"] == pytest.approx(expected)


# -- where they apply -----------------------------------------------------------------------------------------
def test_the_classifier_metrics_need_labels_and_the_domain_classifier(digits: InMemoryDataModule, tmp_path: Path) -> None:
    def applying(dm: InMemoryDataModule, **config: object) -> set[str]:
        inputs = EvalInputs(Identity(), EvalContext.build(dm, "d", EvaluationConfig(**config)), seed=0)  # type: ignore[arg-type]
        return {name for name in (*CLASSIFIER_METRICS, "fid_interp") if METRICS.get(name)().applies(inputs)}

    assert all(issubclass(METRICS.get(name), ClassifierMetric) for name in CLASSIFIER_METRICS)
    assert applying(digits) == {*CLASSIFIER_METRICS, "fid_interp"}
    assert applying(digits, fid_backend="inception") == {"fid_interp"}  # no classifier of the digits' classes
    np.savez(tmp_path / "u.npz", images=digits.test.images.numpy())
    unlabelled = DATAMODULES.get("tensor_file")(path=str(tmp_path / "u.npz"))
    unlabelled.setup()
    assert applying(unlabelled) == {"fid_interp"}


# -- end to end -----------------------------------------------------------------------------------------------
def test_a_vae_gets_every_regularity_key_inside_its_bounds(digits: InMemoryDataModule) -> None:
    torch.manual_seed(0)
    model = MODELS.get("vae")(digits.image_shape, latent_dim=4, hidden=[32])
    names = ["fid_interp", *CLASSIFIER_METRICS]
    result = evaluate(model, EvalContext.build(digits, "digits", EvaluationConfig(metrics=names)), seed=0)
    keys = {key.name: key for name in names for key in METRICS.get(name).keys}
    assert set(result.metrics) == set(keys) and set(result.seconds) == set(names)
    for name, value in result.metrics.items():
        low, high = keys[name].bounds
        assert (low is None or value >= low) and (high is None or value <= high), name
    assert result.metrics["hole_rate_data"] < 0.05 and result.metrics["confidence_data"] > 0.9  # real digits are assignable
