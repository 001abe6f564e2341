"""Latent samplers: draws match what was fitted, and depend only on the generator."""

from __future__ import annotations

import pytest
import torch

from benchmarks.evaluation.samplers import SAMPLERS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def correlated_codes(n: int = 4000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes from N(mean, cov) with strong correlations, and that mean and covariance."""
    mean = torch.tensor([1.0, -2.0, 0.5])
    scale = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.5, 0.3, 0.4]])
    return mean + torch.randn(n, 3, generator=gen(0)) @ scale.T, mean, scale @ scale.T


def test_registry_and_metric_keys():
    assert SAMPLERS.in_order() == ["prior", "gauss", "gmm"]
    assert {SAMPLERS.get(name).metric_key for name in SAMPLERS} == {"fid_prior", "fid_gauss", "fid_gmm"}


def test_prior_sampler_without_a_model_prior_is_standard_normal():
    codes, _, _ = correlated_codes()  # the prior ignores them but for their dimension
    z = SAMPLERS.get("prior")().fit(codes, None, seed=0).sample(20000, gen(1))
    assert z.shape == (20000, 3) and z.dtype == torch.float32
    # sampling error of a mean / covariance entry at n = 20000 is ~0.007 (1 / sqrt(n)); 0.04 is > 5 sigma
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=0.04)
    assert torch.allclose(torch.cov(z.T), torch.eye(3), atol=0.04)


def test_prior_sampler_draws_from_the_model_prior():
    class Shifted:
        def sample(self, n, generator=None):
            return torch.full((n, 3), 7.0)

        def log_prob(self, z):
            return torch.zeros(len(z))

    codes, _, _ = correlated_codes(100)
    z = SAMPLERS.get("prior")().fit(codes, Shifted(), seed=0).sample(4, gen(0))
    assert torch.equal(z, torch.full((4, 3), 7.0))


def test_gauss_sampler_reproduces_mean_and_covariance_of_the_codes():
    codes, _, _ = correlated_codes()
    z = SAMPLERS.get("gauss")().fit(codes, None, seed=0).sample(40000, gen(2))
    # compared with the codes' own statistics (what was fitted); sampling error ~0.005 per entry at n = 40000
    assert torch.allclose(z.mean(0), codes.mean(0), atol=0.03)
    assert torch.allclose(torch.cov(z.T), torch.cov(codes.T), atol=0.03)
    assert torch.cov(z.T)[1, 0] > 0.7  # the correlation is kept (an independent sampler would give ~0)


def test_gauss_sampler_handles_a_dead_latent_dimension():
    codes, _, _ = correlated_codes()
    codes[:, 1] = 0.25  # a constant dim: singular covariance, where a Cholesky factorisation fails
    z = SAMPLERS.get("gauss")().fit(codes, None, seed=0).sample(1000, gen(3))
    assert torch.isfinite(z).all() and torch.allclose(z[:, 1], torch.full((1000,), 0.25), atol=1e-4)


def test_gmm_sampler_finds_three_clusters_in_their_proportions():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    weights = torch.tensor([0.5, 0.3, 0.2])
    labels = torch.multinomial(weights, 3000, replacement=True, generator=gen(4))
    codes = centres[labels] + 0.3 * torch.randn(3000, 2, generator=gen(5))
    z = SAMPLERS.get("gmm")(n_components=3).fit(codes, None, seed=0).sample(20000, gen(6))
    distance, nearest = torch.cdist(z, centres).min(dim=1)
    assert (distance < 2.0).float().mean() > 0.99  # samples lie at the centres, not between them
    share = torch.bincount(nearest, minlength=3).float() / len(z)
    # the fit sees ~3000 · w_k codes per cluster (sd of a share ~0.009), the draws 20000 (~0.004)
    assert torch.allclose(share, weights, atol=0.04)
    # draws are shuffled across components (sklearn's GaussianMixture.sample groups them)
    assert len(torch.unique(nearest[:100])) == 3


@pytest.mark.parametrize("name", ["prior", "gauss", "gmm"])
def test_same_generator_seed_gives_same_samples(name):
    codes, _, _ = correlated_codes(600)
    options = {"n_components": 2} if name == "gmm" else {}
    first = SAMPLERS.get(name)(**options).fit(codes, None, seed=0)
    second = SAMPLERS.get(name)(**options).fit(codes, None, seed=0)
    assert torch.equal(first.sample(50, gen(7)), second.sample(50, gen(7)))
    assert not torch.equal(first.sample(50, gen(7)), first.sample(50, gen(8)))


def test_sample_before_fit_fails_loudly():
    with pytest.raises(RuntimeError, match="before fit"):
        SAMPLERS.get("gauss")().sample(3, gen(0))
