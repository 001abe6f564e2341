"""FID and KID: pinned to closed forms, to scipy's ``sqrtm`` and to fresh-scorer results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn
from torchmetrics.image.fid import _compute_fid

from benchmarks.evaluation.fid_scorer import FIDScorer, _frechet_distance
from benchmarks.evaluation.finite import NonFiniteInputError


class Flatten(nn.Flatten):
    """An identity-like extractor: images (N, 1, 1, d) are their own d features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def scipy_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Second implementation, as in pytorch-fid: the matrix square root by ``scipy.linalg.sqrtm``."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def correlated(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """n samples of a random non-diagonal Gaussian in d dims, as (n, 1, 1, d) "images"."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=torch.Generator().manual_seed(123)) / d**0.5
    return (torch.randn(n, d, generator=gen, dtype=torch.float64) @ mixing.double() + shift).reshape(n, 1, 1, d)


def test_frechet_distance_of_identical_gaussians_is_zero():
    a = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma, mu = a @ a.T + torch.eye(6), torch.arange(6.0)
    assert abs(_frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_frechet_distance_matches_closed_form_for_diagonal_covariances():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0, 3.0]), torch.tensor([1.0, 1.0, 0.5, -1.0])
    var1, var2 = torch.tensor([1.0, 4.0, 0.25, 9.0]), torch.tensor([2.0, 1.0, 1.0, 0.5])
    # diagonal covariances commute: Tr((Σ1Σ2)^½) = Σ_i sqrt(v1_i v2_i)
    expected = ((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * (var1 * var2).sqrt()).sum()
    got = _frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2))
    assert got == pytest.approx(float(expected), rel=1e-10)


def test_frechet_distance_matches_closed_form_for_commuting_full_covariances():
    # Σ1 = Q diag(a) Qᵀ and Σ2 = Q diag(b) Qᵀ share eigenvectors: (Σ1Σ2)^½ has eigenvalues sqrt(a b)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    a, b = torch.tensor([0.5, 1.0, 2.0, 3.0, 5.0]).double(), torch.tensor([4.0, 0.1, 1.0, 2.0, 0.7]).double()
    mu = torch.zeros(5, dtype=torch.float64)
    expected = (a + b - 2 * (a * b).sqrt()).sum()
    got = _frechet_distance(mu, q @ torch.diag(a) @ q.T, mu + 1, q @ torch.diag(b) @ q.T)
    assert got == pytest.approx(float(expected) + 5.0, rel=1e-9)


def test_scorer_matches_scipy_on_correlated_features():
    real, fake = correlated(3000, 8, seed=0), correlated(2000, 8, seed=1, shift=0.3) * 1.5
    scorer = FIDScorer(Flatten(8), real, batch_size=256)
    expected = scipy_fid(real.reshape(3000, 8).numpy(), fake.reshape(2000, 8).numpy())
    assert expected > 1.0  # a non-trivial distance, so relative agreement means something
    assert scorer.fid(fake) == pytest.approx(expected, rel=1e-3)
    assert scorer.fid(real) == pytest.approx(0.0, abs=1e-6)


def test_reused_scorer_equals_fresh_scorers():
    real = correlated(600, 4, seed=2)
    fakes = [correlated(500, 4, seed=3, shift=0.2), correlated(300, 4, seed=4, shift=-0.5)]
    reused = FIDScorer(Flatten(4), real, batch_size=128, kid_subsets=5)
    reused_scores = [(reused.fid(f), reused.kid(f)) for f in fakes]
    for fake, (fid, kid) in zip(fakes, reused_scores):
        fresh = FIDScorer(Flatten(4), real, batch_size=128, kid_subsets=5)
        assert fid == pytest.approx(fresh.fid(fake), rel=1e-12)
        assert kid == pytest.approx(fresh.kid(fake), rel=1e-12)
        features = fresh.features(fake)  # one extraction, both scores
        assert fresh.fid_of_features(features) == pytest.approx(fid, rel=1e-12)
        assert fresh.kid_of_features(features) == pytest.approx(kid, rel=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift():
    real = correlated(800, 6, seed=5)
    scorer = FIDScorer(Flatten(6), real, kid_subsets=50, kid_subset_size=200)
    mean, std = scorer.kid(correlated(800, 6, seed=6))
    assert std > 0 and abs(mean) < 3 * std
    shifted = [scorer.kid(correlated(800, 6, seed=6, shift=s))[0] for s in (0.25, 0.5, 1.0)]
    assert shifted[0] > mean + 3 * std  # the smallest shift is already clearly detected
    assert shifted[0] < shifted[1] < shifted[2]


def test_rank_deficient_real_covariance_with_repeated_columns_matches_scipy():
    """Real features whose 8 independent columns each repeat 8 times (a 64-d covariance of rank 8).

    torchmetrics' ``_compute_fid`` takes ``eigvals(Σ1 Σ2)`` of this product and raises ``_LinAlgError``; the
    symmetric form gives scipy's ``sqrtm`` value (scipy may warn that the matrix is singular).
    """
    real = correlated(2000, 8, seed=7).reshape(2000, 8).repeat_interleave(8, dim=1).reshape(2000, 1, 1, 64)
    fake = correlated(1500, 64, seed=8, shift=0.2)
    flat_real, flat_fake = real.reshape(2000, 64), fake.reshape(1500, 64)
    assert np.linalg.matrix_rank(np.cov(flat_real.numpy(), rowvar=False)) == 8
    with pytest.raises(torch.linalg.LinAlgError):
        _compute_fid(flat_real.mean(0), torch.cov(flat_real.T), flat_fake.mean(0), torch.cov(flat_fake.T))
    scorer = FIDScorer(Flatten(64), real, batch_size=512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = scipy_fid(flat_real.numpy(), flat_fake.numpy())
    assert expected > 1.0
    assert scorer.fid(fake) == pytest.approx(expected, rel=1e-6)
    assert scorer.fid(real) == pytest.approx(0.0, abs=1e-6)


def test_non_finite_images_or_features_raise_a_clear_error_instead_of_reaching_linear_algebra():
    scorer = FIDScorer(Flatten(4), correlated(200, 4, seed=9))
    bad = correlated(200, 4, seed=10)
    bad[3, 0, 0, 1] = float("nan")
    with pytest.raises(NonFiniteInputError, match="non-finite"):
        scorer.fid(bad)
    with pytest.raises(NonFiniteInputError, match="non-finite"):
        _frechet_distance(torch.zeros(2), torch.eye(2) * float("inf"), torch.zeros(2), torch.eye(2))
