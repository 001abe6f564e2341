"""Overfitting and memorisation: the nearest-neighbour distances against a brute-force search, the memorisation
ratio on held-out real images (≈ 1) and on copies of training images (≈ 0), and the generalisation gaps of
constructed models with closed forms (equal errors by construction, a model that memorises its training set)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import logsumexp
from sklearn.neighbors import NearestNeighbors
from torch import Tensor

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import memorisation
from benchmarks.evaluation.metrics.elbo_gap import ELBOGap
from benchmarks.evaluation.metrics.memorisation import Memorisation, memorisation_scores, nearest_distances
from benchmarks.evaluation.metrics.recon_mse_gap import ReconMSEGap
from benchmarks.reporting.figures import FIGURES, FigureData
from datamodules import DATAMODULES, InMemoryDataModule
from lightning_modules import Posterior, StandardNormal


@pytest.fixture(scope="module")
def digits() -> InMemoryDataModule:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


def _inputs(dm: InMemoryDataModule, model: object) -> EvalInputs:
    return EvalInputs(model, EvalContext.build(dm, "digits", EvaluationConfig()), seed=0)  # type: ignore[arg-type]


def _nearest_sklearn(queries: Tensor, database: Tensor) -> np.ndarray:
    index = NearestNeighbors(n_neighbors=1).fit(database.flatten(1).double().numpy())
    return index.kneighbors(queries.flatten(1).double().numpy())[0][:, 0]


# -- memorisation ---------------------------------------------------------------------------------------------
def test_nearest_distances_match_a_brute_force_search_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    queries, database = torch.rand(30, 1, 4, 4, generator=gen), torch.rand(50, 1, 4, 4, generator=gen)
    monkeypatch.setattr(memorisation, "CHUNK_ELEMENTS", 7 * 50)  # queries in chunks of 7: the chunking is exercised
    np.testing.assert_allclose(nearest_distances(queries, database).numpy(), _nearest_sklearn(queries, database), atol=1e-10)


def _halves(images: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[: len(images) // 2]], images[order[len(images) // 2 :]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_real_images_as_samples_score_a_ratio_near_one(digits: InMemoryDataModule, seed: int) -> None:
    """Half the test images stand in for the samples, the other half is the reference: the same distribution."""
    samples, test = _halves(digits.test.images, seed)
    train = digits.evaluation_train.images
    scores = memorisation_scores(nearest_distances(samples, train), nearest_distances(test, train))
    assert 0.9 < scores["memorisation_ratio"] < 1.1
    assert 0.0 < scores["memorisation_share"] < 0.15  # 0.05 by construction, ± the sampling error of ~180 images


def test_noisy_copies_of_training_images_score_a_ratio_near_zero_and_a_minority_shows_in_the_share(digits: InMemoryDataModule) -> None:
    gen = torch.Generator().manual_seed(0)
    train, (held_out, test) = digits.evaluation_train.images, _halves(digits.test.images, 0)
    copies = train[torch.randint(len(train), (len(test),), generator=gen)] + 0.01 * torch.randn(len(test), 1, 8, 8, generator=gen)
    test_d = nearest_distances(test, train)
    scores = memorisation_scores(nearest_distances(copies, train), test_d)
    assert scores["memorisation_ratio"] < 0.1 and scores["memorisation_share"] == 1.0
    n_copied = len(held_out) // 5  # 20% of the samples copied: the median barely moves, the share does
    mixed = torch.cat([copies[:n_copied], held_out[n_copied:]])
    scores = memorisation_scores(nearest_distances(mixed, train), test_d)
    assert scores["memorisation_ratio"] > 0.8 and scores["memorisation_share"] > 0.2


class TrainingSetGenerator:
    """A "model" whose decoder returns a training image chosen by the code: every sample a copy."""

    prior = None

    def __init__(self, train: Tensor) -> None:
        self.train = train

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(x.flatten(1)[:, :4])

    def decode(self, z: Tensor) -> Tensor:
        return self.train[(z[:, 0].abs() * 1e4).long() % len(self.train)]


def test_the_metric_scores_a_copying_generator_zero_and_leaves_both_distributions(digits: InMemoryDataModule) -> None:
    inputs = _inputs(digits, TrainingSetGenerator(digits.evaluation_train.images))
    scores = Memorisation().compute(inputs)
    assert scores["memorisation_ratio"] < 1e-6 and scores["memorisation_share"] == 1.0
    samples, test = inputs.figure_arrays["memorisation_sample_distances"], inputs.figure_arrays["memorisation_test_distances"]
    assert samples.shape == (inputs.context.n_fid,) and samples.max() < 1e-3
    np.testing.assert_allclose(test, _nearest_sklearn(digits.test.images, digits.evaluation_train.images), rtol=1e-5)


def test_the_memorisation_figure_draws_each_model_and_skips_without_its_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    results = [{"label": label, "run_id": label, "seed": 0} for label in ("ae", "vae", "pca")]
    arrays = {
        label: {"memorisation_sample_distances": rng.gamma(9, scale, 300), "memorisation_test_distances": rng.gamma(9, 0.5, 200)}
        for label, scale in (("ae", 0.2), ("vae", 0.5))
    }  # fmt: skip
    path = FIGURES["memorisation"](FigureData("digits", results, arrays), tmp_path)
    assert path == tmp_path / "memorisation.png"
    with Image.open(path) as image:
        image.verify()
        assert 300 <= image.width <= 1600 and 200 <= image.height <= 2000
    assert FIGURES["memorisation"](FigureData("digits", results, {"pca": {}}), tmp_path / "none") is None


# -- recon_mse_gap --------------------------------------------------------------------------------------------
class Shifted:
    """Reconstructs every image as itself plus one fixed pattern δ: the per-pixel MSE is mean(δ²) on any split."""

    prior = None

    def __init__(self) -> None:
        self.delta = torch.linspace(-0.3, 0.3, 64).reshape(1, 1, 8, 8)

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        return z.reshape(len(z), 1, 8, 8) + self.delta


class NearestTrainingImage(Shifted):
    """Memorises the training split: decodes a code (the image) to its nearest training image."""

    def __init__(self, train: Tensor) -> None:
        self.train = train

    def decode(self, z: Tensor) -> Tensor:
        return self.train[torch.cdist(z.double(), self.train.flatten(1).double()).argmin(1)]


def test_recon_mse_gap_is_zero_for_equal_errors_by_construction(digits: InMemoryDataModule) -> None:
    model = Shifted()
    inputs = _inputs(digits, model)
    assert ReconMSEGap().compute(inputs)["recon_mse_gap"] == pytest.approx(0.0, abs=1e-9)
    assert float(((inputs.reconstructions - inputs.images("test")) ** 2).mean()) == pytest.approx(float(model.delta.pow(2).mean()), rel=1e-5)


def test_recon_mse_gap_of_a_memorising_model_is_the_test_images_nearest_training_distance(digits: InMemoryDataModule) -> None:
    train, test = digits.evaluation_train.images, digits.test.images
    gap = ReconMSEGap().compute(_inputs(digits, NearestTrainingImage(train)))["recon_mse_gap"]
    expected = float(np.mean(_nearest_sklearn(test, train) ** 2)) / test[0].numel()  # train error 0, test error this
    assert gap > 0 and gap == pytest.approx(expected, rel=1e-6)


# -- elbo_gap -------------------------------------------------------------------------------------------------
class FixedGaussian:
    """q(z|x) = p(z) = N(0, I) (KL 0) and log p(x|z) = log N(x; m, σ²I) whatever z: ELBO(x) = log N(x; m, σ²I)."""

    def __init__(self, centre: Tensor, sigma: float) -> None:
        self.prior, self.centre, self.sigma = StandardNormal(2), centre, sigma

    def encode(self, x: Tensor) -> Posterior:
        return Posterior(torch.zeros(len(x), 2), torch.zeros(len(x), 2))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return _log_normal(x.flatten(1)[:, None], self.centre.flatten(1)[None], self.sigma)[:, 0]


class KernelDensity(FixedGaussian):
    """log p(x|z) a Gaussian kernel density on the training images, whatever z: a memorising density model."""

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return torch.logsumexp(_log_normal(x.flatten(1)[:, None], self.centre.flatten(1)[None], self.sigma), 1) - math.log(len(self.centre))


def _log_normal(x: Tensor, mean: Tensor, sigma: float) -> Tensor:
    return -0.5 * ((x - mean) / sigma).pow(2).sum(-1) - x.shape[-1] * math.log(sigma * math.sqrt(2 * math.pi))


def test_elbo_gap_of_a_fixed_gaussian_is_its_closed_form(digits: InMemoryDataModule) -> None:
    train, test = digits.evaluation_train.images.double(), digits.test.images.double()
    centre = test.mean(0, keepdim=True)  # the test images' mean: they are closer to it, the gap is negative
    gap = ELBOGap().compute(_inputs(digits, FixedGaussian(centre.float(), 0.5)))["elbo_gap"]
    distance = {name: float((x - centre).pow(2).flatten(1).sum(1).mean()) for name, x in (("train", train), ("test", test))}
    assert gap < 0 and gap == pytest.approx(-0.5 * (distance["train"] - distance["test"]) / 0.5**2, rel=1e-4)


def test_elbo_gap_of_a_kernel_density_on_the_training_images_is_positive_and_its_closed_form(digits: InMemoryDataModule) -> None:
    train, test = digits.evaluation_train.images, digits.test.images
    gap = ELBOGap().compute(_inputs(digits, KernelDensity(train, 0.1)))["elbo_gap"]

    def log_density(x: Tensor) -> np.ndarray:  # numpy and scipy, in float64
        d2 = ((x.flatten(1).double().numpy()[:, None] - train.flatten(1).double().numpy()[None]) ** 2).sum(-1)
        return logsumexp(-0.5 * d2 / 0.1**2, axis=1) - math.log(len(train)) - 64 * math.log(0.1 * math.sqrt(2 * math.pi))

    assert gap > 0 and gap == pytest.approx(log_density(train).mean() - log_density(test).mean(), rel=1e-4)
