"""The observation models: the continuous Bernoulli against numerical integration and closed forms; bits/dim."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
from scipy.integrate import quad

from lightning_modules.likelihoods import (
    LIKELIHOODS,
    Bernoulli,
    ContinuousBernoulli,
    bits_per_dim,
    make_likelihood,
)

CB = ContinuousBernoulli()
LAMBDAS = [0.5, 0.5 + 1e-6, 0.5 - 1e-6, 0.5 + 1e-3, 0.5 - 1e-3, 0.5 + 0.01, 0.5 - 0.01, 0.3, 0.8, 0.001, 0.999]


def _logit(lam: float) -> torch.Tensor:
    return torch.tensor(math.log(lam / (1 - lam)), dtype=torch.float64)


def _unnormalised(x: float, lam: float) -> float:
    return lam**x * (1 - lam) ** (1 - x)


def _integral(f) -> float:
    return quad(f, 0, 1, epsabs=0, epsrel=1e-12)[0]


@pytest.mark.parametrize("lam", LAMBDAS)
def test_log_normaliser_matches_numerical_integration(lam: float) -> None:
    expected = -math.log(_integral(lambda x: _unnormalised(x, lam)))
    assert CB.log_normalizer(_logit(lam)).item() == pytest.approx(expected, abs=1e-12)
    assert CB.log_normalizer(_logit(lam).float()).item() == pytest.approx(expected, abs=1e-6)  # float32 too


def test_log_normaliser_pinned_values() -> None:
    values = CB.log_normalizer(torch.stack([_logit(lam) for lam in (0.5, 0.5 + 0.01, 0.001)]))
    expected = [math.log(2), 0.69328053701005754, 1.9345018888388040]  # log 2; ≈ log 2 + (4/3)·1e-4; log C(0.001)
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-14)


@pytest.mark.parametrize("lam", [0.5, 0.5 + 1e-3, 0.3, 0.02, 0.999])
def test_density_integrates_to_one(lam: float) -> None:
    logit = _logit(lam).reshape(1, 1, 1, 1)

    def density(x: float) -> float:
        return CB.log_prob(torch.full((1, 1, 1, 1), x, dtype=torch.float64), logit).exp().item()

    assert _integral(density) == pytest.approx(1.0, abs=1e-10)


def _closed_form_mean(lam: float) -> float:
    """λ/(2λ−1) + 1/(2 atanh(1−2λ)) at 50 digits, where the two terms' cancellation near λ = ½ does no harm."""
    with mpmath.workdps(50):
        lam = mpmath.mpf(lam)
        return 0.5 if lam == 0.5 else float(lam / (2 * lam - 1) + 1 / (2 * mpmath.atanh(1 - 2 * lam)))


@pytest.mark.parametrize("lam", LAMBDAS)
def test_mean_matches_closed_form_and_integral(lam: float) -> None:
    mean = CB.mean(_logit(lam)).item()
    assert mean == pytest.approx(_closed_form_mean(lam), abs=1e-12)
    by_quadrature = _integral(lambda x: x * _unnormalised(x, lam)) / _integral(lambda x: _unnormalised(x, lam))
    assert mean == pytest.approx(by_quadrature, abs=1e-10)
    assert mean != pytest.approx(1 / (1 + math.exp(-_logit(lam).item())), abs=1e-3) or abs(lam - 0.5) < 3e-3  # ≠ λ


def test_series_and_closed_forms_meet_at_the_band_edge() -> None:
    outside = torch.tensor(ContinuousBernoulli.TAYLOR_BAND, dtype=torch.float64)  # the first closed-form logit
    inside = torch.nextafter(outside, torch.zeros_like(outside))  # the last series logit, 1 ulp closer to 0
    # no jump: the series' first omitted term there is < 1e-15, the closed forms' float64 rounding ~1e-13
    for f in (CB.log_normalizer, CB.mean):
        assert f(inside).item() == pytest.approx(f(outside).item(), abs=3e-13)
        assert f(-inside).item() == pytest.approx(f(-outside).item(), abs=3e-13)


def test_agrees_with_torch_distributions() -> None:
    logits = torch.linspace(-10, 10, 2001, dtype=torch.float64)  # beyond ±10 torch's own version loses digits
    x = torch.rand(len(logits), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = torch.distributions.ContinuousBernoulli(logits=logits)
    ours = CB.log_prob(x.reshape(-1, 1, 1, 1), logits.reshape(-1, 1, 1, 1))
    torch.testing.assert_close(ours, ref.log_prob(x), rtol=0, atol=1e-9)
    torch.testing.assert_close(CB.mean(logits), ref.mean, rtol=0, atol=1e-9)


def test_finite_values_and_gradients_for_logits_up_to_30() -> None:
    logits = torch.cat([torch.linspace(-30, 30, 6001), torch.zeros(1), torch.tensor([1e-8, -1e-8])])
    logits.requires_grad_()
    x = torch.rand(len(logits), generator=torch.Generator().manual_seed(0))
    log_prob = CB.log_prob(x.reshape(-1, 1, 1, 1), logits.reshape(-1, 1, 1, 1))
    mean = CB.mean(logits)
    (log_prob.sum() + mean.sum()).backward()
    assert torch.isfinite(log_prob).all() and torch.isfinite(mean).all() and torch.isfinite(logits.grad).all()
    assert mean[-3] == 0.5 and 0 < mean.min() and mean.max() < 1
    # at large |l|, log C → log|l| (C = l / tanh(l/2)) and the mean → ½ ± (½ − 1/|l|)
    assert CB.log_normalizer(torch.tensor(30.0)).item() == pytest.approx(math.log(30), abs=1e-6)
    assert CB.mean(torch.tensor([-30.0, 30.0])).tolist() == pytest.approx([1 / 30, 1 - 1 / 30], abs=1e-6)


def test_bits_per_dim() -> None:
    for nats, dims in ((80.0, 784), (3000.0, 3072), (0.0, 10)):
        assert bits_per_dim(nats, dims) == pytest.approx(nats / (dims * math.log(2)), rel=1e-15)
    assert bits_per_dim(784 * math.log(256), 784) == pytest.approx(8.0)  # uniform over 256 levels: 8 bits
    # a Bernoulli with p = ½ costs exactly one bit per binary pixel
    x = torch.randint(0, 2, (3, 1, 8, 8), generator=torch.Generator().manual_seed(0)).float()
    nats = -Bernoulli().log_prob(x, torch.zeros_like(x))
    assert [bits_per_dim(n, 64) for n in nats.tolist()] == pytest.approx([1.0] * 3, rel=1e-6)


def test_every_listed_likelihood_can_be_made() -> None:
    assert [make_likelihood(name, 0.1).name for name in LIKELIHOODS] == list(LIKELIHOODS)
    with pytest.raises(ValueError, match="continuous_bernoulli"):
        make_likelihood("poisson", 0.1)
