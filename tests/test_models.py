"""Every registered model: the interface, gradients, a falling loss, the KL and the β-VAE special cases."""

from __future__ import annotations

import pytest
import torch

from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior
from lightning_modules.posterior import standard_normal_log_prob

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)]


@pytest.fixture(scope="module")
def digits():
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("shape", SHAPES)
def test_interface_shapes_and_gradients(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(shape, latent_dim=3)
    x = torch.rand(4, *shape)
    q = model.encode(x)
    assert q.mean.shape == (4, 3) and q.is_stochastic == model.variational
    assert model.decode(q.mean).shape == (4, *shape)
    recon, samples = model.reconstruct(x), model.sample(5)
    assert recon.shape == (4, *shape) and samples.shape == (5, *shape)
    assert 0 <= recon.min() and recon.max() <= 1  # Bernoulli means
    terms = model.loss_terms(x)
    terms["loss"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_drops_when_training(name: str, likelihood: str, digits) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(digits.image_shape, latent_dim=4, likelihood=likelihood, beta=1.0) if name == "beta_vae" else (
        MODELS.get(name)(digits.image_shape, latent_dim=4, likelihood=likelihood)
    )
    opt = model.configure_optimizers()
    x = digits.train.images[:256]
    with torch.no_grad():
        before = model.loss_terms(x)["loss"].item()
    for _ in range(60):
        opt.zero_grad()
        model.loss_terms(x)["loss"].backward()
        opt.step()
    with torch.no_grad():
        after = model.loss_terms(x)["loss"].item()
    assert after < before - 0.1 * abs(before), (before, after)


def test_analytic_kl_matches_monte_carlo() -> None:
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, generator=gen), torch.randn(3, 4, generator=gen) * 0.5
    q = Posterior(mean, logvar)
    z = q.rsample(200_000, generator=gen)
    mc = (q.log_prob(z) - standard_normal_log_prob(z)).mean(0)
    analytic = q.kl_per_dim().sum(1)
    torch.testing.assert_close(mc, analytic, rtol=0.02, atol=0.01)
    # and against torch.distributions, a second implementation
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    )
    torch.testing.assert_close(q.kl_per_dim(), ref)


def test_beta_one_equals_vae_and_beta_scales_kl(digits) -> None:
    torch.manual_seed(0)
    vae = MODELS.get("vae")(digits.image_shape, latent_dim=4)
    beta1 = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, beta=1.0)
    beta5 = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, beta=5.0)
    beta1.load_state_dict(vae.state_dict())
    beta5.load_state_dict(vae.state_dict())
    x = digits.train.images[:64]
    terms = {}
    for key, model in (("vae", vae), ("b1", beta1), ("b5", beta5)):
        torch.manual_seed(1)
        terms[key] = model.loss_terms(x)
    torch.testing.assert_close(terms["vae"]["loss"], terms["b1"]["loss"])
    t5 = terms["b5"]
    torch.testing.assert_close(t5["loss"], t5["recon"] + 5.0 * t5["kl"])


def test_capacity_variant_follows_burgess_formula(digits) -> None:
    model = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, capacity_max=10.0, capacity_gamma=100.0, capacity_steps=100)
    assert model.capacity() == 0.0
    kl = torch.tensor(3.0)
    torch.testing.assert_close(model.kl_weighted(kl), torch.tensor(300.0))  # γ·|KL − 0|


def test_ae_has_no_posterior_and_samples_from_standard_normal() -> None:
    model = MODELS.get("ae")((1, 8, 8), latent_dim=2)
    q = model.encode(torch.rand(2, 1, 8, 8))
    assert not q.is_stochastic
    with pytest.raises(ValueError, match="no posterior"):
        q.kl_per_dim()
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    b = model.sample(3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
