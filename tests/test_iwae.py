"""IWAE −log p(x) and the ELBO on a linear-Gaussian model whose log p(x) is closed form, and on a real VAE."""

import pytest
import torch

from benchmarks.evaluation.metrics.elbo import elbo
from benchmarks.evaluation.metrics.nll_iwae import nll_iwae
from lightning_modules import MODELS, StandardNormal
from lightning_modules.likelihoods import Gaussian
from lightning_modules.posterior import Posterior

SIGMA = 0.5
IMAGE_SHAPE = (1, 2, 3)  # x has 6 pixels, z has 2 dims


class LinearGaussian(torch.nn.Module):
    """p(z) = N(0, I), p(x|z) = N(W z + b, σ² I), so p(x) = N(b, W Wᵀ + σ² I), behind the model interface.

    W has orthogonal columns (norms ``scales``), which makes the true posterior diagonal:
    q*(z|x) = N(V Wᵀ (x − b) / σ², V) with V = diag(1 / (1 + scales² / σ²)). The encoder returns it with its
    mean multiplied by ``mean_scale`` and its variance by ``var_scale``: 1 and 1 give the exact posterior.
    """

    def __init__(self, mean_scale: float = 1.0, var_scale: float = 1.0) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(6, 2, generator=torch.Generator().manual_seed(0)))
        self.scales = torch.tensor([1.5, 0.7])
        self.w, self.b = q * self.scales, torch.linspace(-0.5, 0.5, 6)
        self.likelihood = Gaussian(SIGMA)
        self.prior = StandardNormal(2)
        self.mean_scale, self.var_scale = mean_scale, var_scale

    def encode(self, x: torch.Tensor) -> Posterior:
        var = 1.0 / (1.0 + self.scales**2 / SIGMA**2)
        mean = var * ((x.flatten(1) - self.b) @ self.w) / SIGMA**2
        return Posterior(self.mean_scale * mean, torch.log(self.var_scale * var).expand_as(mean))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.w.T + self.b).reshape(len(z), *IMAGE_SHAPE)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.log_prob(x, self.decode(z))

    def exact_nll(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.w @ self.w.T + SIGMA**2 * torch.eye(6)
        return -torch.distributions.MultivariateNormal(self.b, cov).log_prob(x.flatten(1)).double()

    def data(self, n: int, seed: int = 999) -> torch.Tensor:  # a seed the samplers below never use
        gen = torch.Generator().manual_seed(seed)
        z, noise = torch.randn(n, 2, generator=gen), SIGMA * torch.randn(n, 6, generator=gen)
        return (z @ self.w.T + self.b + noise).reshape(n, *IMAGE_SHAPE)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_exact_posterior_gives_exact_nll_for_any_k() -> None:
    model = LinearGaussian()
    x = model.data(20)
    exact = model.exact_nll(x)
    for k, chunk in [(1, 1), (250, 100)]:  # 250 / 100: a partial last chunk must be counted right
        estimate = nll_iwae(model, x, k=k, chunk_size=chunk, generator=_gen())
        torch.testing.assert_close(estimate, exact, atol=1e-4, rtol=0)
    # the one-sample ELBO is only exact in expectation: over 200 images its error has std ≈ 1.14 / √200 = 0.08
    x = model.data(200)
    assert abs(float((-elbo(model, x, generator=_gen()) - model.exact_nll(x)).mean())) < 0.25


def test_imperfect_encoder_converges_to_exact_nll() -> None:
    model = LinearGaussian(mean_scale=0.8, var_scale=2.0)
    x = model.data(40)
    error = nll_iwae(model, x, k=5000, chunk_size=500, batch_size=16, generator=_gen()) - model.exact_nll(x)
    # measured over 3 seeds at K = 5000: worst image ≤ 0.03 nats, mean over images ≤ 0.001
    assert error.abs().max() < 0.06
    assert error.mean().abs() < 0.01


def test_bound_tightens_with_k_and_beats_the_elbo() -> None:
    model = LinearGaussian(mean_scale=0.5, var_scale=3.0)
    x = model.data(1000)
    exact = model.exact_nll(x).mean()
    neg_elbo = -elbo(model, x, generator=_gen()).mean()
    nll = {k: nll_iwae(model, x, k=k, chunk_size=100, generator=_gen(k)).mean() for k in (1, 10, 100)}
    # means over 1000 images: K = 1 is the ELBO with a sampled KL, equal in expectation (std of the gap ≈ 0.15)
    assert abs(float(neg_elbo - nll[1])) < 0.5
    assert neg_elbo > nll[10] > nll[100] > exact - 0.01
    assert float(neg_elbo - exact) > 0.3  # the encoder is poor enough for these gaps to be real


def test_chunked_and_unchunked_agree() -> None:
    model = LinearGaussian(mean_scale=0.9, var_scale=1.5)
    x = model.data(30)
    whole = nll_iwae(model, x, k=2000, chunk_size=2000, batch_size=30, generator=_gen(1))
    chunked = nll_iwae(model, x, k=2000, chunk_size=64, batch_size=7, generator=_gen(2))
    # different draws, so Monte Carlo agreement: each is within ~0.03 nats of the truth per image (K = 2000)
    torch.testing.assert_close(chunked, whole, atol=0.08, rtol=0)
    assert (chunked - whole).mean().abs() < 0.01


def test_real_vae_shapes_and_the_ae_is_refused() -> None:
    torch.manual_seed(0)
    vae = MODELS.get("vae")((1, 8, 8), latent_dim=4).eval()
    images = torch.rand(10, 1, 8, 8)
    nll = nll_iwae(vae, images, k=50, chunk_size=20, batch_size=4, generator=_gen())
    neg_elbo = -elbo(vae, images, generator=_gen(), batch_size=4)
    assert nll.shape == neg_elbo.shape == (10,)
    assert nll.dtype == torch.float64 and torch.isfinite(nll).all() and torch.isfinite(neg_elbo).all()
    ae = MODELS.get("ae")((1, 8, 8), latent_dim=4)
    with pytest.raises(ValueError, match="no Gaussian q"):
        nll_iwae(ae, images, generator=_gen())
    with pytest.raises(ValueError, match="no Gaussian q"):
        elbo(ae, images, generator=_gen())
