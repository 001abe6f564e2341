"""PCA / probabilistic-PCA baseline: exact at full rank, better with more components, samples with the PPCA moments."""

import torch

from benchmarks.evaluation.baselines import pca_baseline, pixel_codes
from datamodules.digits import DigitsDataModule


def test_full_rank_pca_reconstructs_exactly() -> None:
    images = torch.rand(40, 1, 3, 4, generator=torch.Generator().manual_seed(0))
    baseline = pca_baseline(images, 12)
    assert baseline.encode(images).mean.shape == (40, 12) and baseline.encode(images).logvar is None
    torch.testing.assert_close(baseline.decode(baseline.encode(images).mean), images, atol=1e-5, rtol=0)


def test_digits_reconstruction_error_falls_with_components() -> None:
    data = DigitsDataModule()
    data.setup()
    errors = []
    for k in (2, 8, 32, 64):
        baseline = pca_baseline(data.train.images, k, seed=0)
        recon = baseline.decode(baseline.encode(data.test.images).mean)
        assert recon.shape == data.test.images.shape and 0.0 <= recon.min() and recon.max() <= 1.0
        errors.append(float((recon - data.test.images).pow(2).mean()))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-10 < errors[0]  # 64 components = all pixels: exact


def test_ppca_samples_have_the_data_mean_and_subspace_covariance() -> None:
    """Data inside (0, 1) so that clipping never acts; sample moments against μ and W Wᵀ = U_k (Λ_k − σ² I) U_kᵀ."""
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(9, 9, generator=gen, dtype=torch.float64))[0]
    spread = torch.tensor([0.08, 0.05, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02], dtype=torch.float64)
    data = 0.5 + (torch.randn(5000, 9, generator=gen, dtype=torch.float64) * spread) @ basis.T
    images = data.float().reshape(-1, 1, 3, 3)
    baseline = pca_baseline(images, 3)
    samples = pixel_codes(baseline.decode(baseline.prior.sample(20000, torch.Generator().manual_seed(1)))).double()
    assert samples.min() > 0 and samples.max() < 1  # clipping inactive, so the moments are PPCA's
    u = torch.as_tensor(baseline.pca.components_).T  # (9, 3)
    lam = torch.as_tensor(baseline.pca.explained_variance_)
    sigma2 = float(baseline.pca.noise_variance_)
    assert abs(sigma2 - 0.02**2) < 3e-5  # the mean of the discarded eigenvalues
    torch.testing.assert_close(samples.mean(0), pixel_codes(images).double().mean(0), atol=2e-3, rtol=0)
    expected = u @ torch.diag(lam - sigma2) @ u.T
    cov = torch.cov(samples.T)
    torch.testing.assert_close(cov, expected, atol=1e-4, rtol=0)  # entries up to 6e-3; measured error 1.3e-5
    # no isotropic pixel noise: adding it would raise every variance by σ² ≈ 4e-4
    assert abs(float((cov.diagonal() - expected.diagonal()).mean())) < sigma2 / 4


def test_sampling_is_seeded() -> None:
    baseline = pca_baseline(torch.rand(30, 1, 2, 2, generator=torch.Generator().manual_seed(0)), 2)
    first, again = (baseline.decode(baseline.prior.sample(5, torch.Generator().manual_seed(7))) for _ in range(2))
    assert first.shape == (5, 1, 2, 2) and torch.equal(first, again)
