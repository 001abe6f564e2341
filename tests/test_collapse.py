"""Posterior-collapse indicators: constructed codes with known active dims, KL against Monte Carlo."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from benchmarks.evaluation.metrics.active_units import ActiveUnits
from benchmarks.evaluation.metrics.kl import KLPerDim, collapsed_dims


def _means_with_active_dims(active: list[int], n: int = 600, d: int = 8, seed: int = 0) -> torch.Tensor:
    """Means with variance ~1 in the ``active`` dims and ~1e-4 (< 0.01) in the others, plus arbitrary offsets."""
    gen = torch.Generator().manual_seed(seed)
    means = 1e-2 * torch.randn(n, d, generator=gen) + torch.linspace(-3, 3, d)
    means[:, active] += torch.randn(n, len(active), generator=gen)
    return means


@pytest.mark.parametrize("active", [[], [3], [0, 2, 5], list(range(8))])
def test_active_units_counts_the_varying_dims(active: list[int]) -> None:
    metric = ActiveUnits()
    metric.update(_means_with_active_dims(active))
    assert metric.compute() == len(active)


def test_active_units_threshold_sits_on_the_variance() -> None:
    means = torch.tensor([[-1.0, -1.0], [1.0, 1.0]]) * torch.tensor([0.2, 0.05])  # variances 0.04 and 0.0025
    for threshold, expected in [(0.01, 1), (0.001, 2), (0.05, 0)]:
        metric = ActiveUnits(threshold=threshold)
        metric.update(means)
        assert metric.compute() == expected


def test_active_units_batches_equal_single_pass() -> None:
    means = _means_with_active_dims([1, 4], n=500)
    single, batched = ActiveUnits(threshold=0.5), ActiveUnits(threshold=0.5)
    single.update(means)
    for batch in means.split(64):
        batched.update(batch)
    torch.testing.assert_close(batched.mean_sum, single.mean_sum)
    torch.testing.assert_close(batched.sq_sum, single.sq_sum)
    assert batched.compute() == single.compute() == 2
    expected_var = means.double().var(0, unbiased=False)  # the documented population variance
    torch.testing.assert_close(batched.sq_sum / 500 - (batched.mean_sum / 500) ** 2, expected_var)


def _posteriors(n: int = 300, d: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen) * torch.tensor([0.0, 0.5, 1.0, 2.0]), torch.randn(n, d, generator=gen)


def _single_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)) per dim by torch.distributions: an independent closed form."""
    return kl_divergence(Normal(mean.double(), (0.5 * logvar.double()).exp()), Normal(0.0, 1.0))


def test_kl_per_dim_matches_monte_carlo_and_torch_distributions() -> None:
    mean, logvar = _posteriors()
    metric = KLPerDim()
    metric.update(mean, logvar)
    kl = metric.compute()
    assert kl.shape == (4,) and kl.dtype == torch.float64
    q, p = Normal(mean.double(), (0.5 * logvar.double()).exp()), Normal(0.0, 1.0)
    torch.testing.assert_close(kl, _single_kl(mean, logvar).mean(0))
    torch.manual_seed(0)
    z = q.sample((4000,))  # Monte Carlo E_q[log q − log p], ~1% noise on these KLs
    mc = (q.log_prob(z) - p.log_prob(z)).mean((0, 1))
    torch.testing.assert_close(kl, mc, rtol=0.03, atol=0.01)


def test_kl_per_dim_batches_equal_single_pass_and_reset() -> None:
    mean, logvar = _posteriors()
    single, batched = KLPerDim(), KLPerDim()
    single.update(mean, logvar)
    for m, lv in zip(mean.split(70), logvar.split(70)):
        batched.update(m, lv)
    torch.testing.assert_close(batched.compute(), single.compute())
    batched.reset()
    batched.update(mean[:1], logvar[:1])
    torch.testing.assert_close(batched.compute(), _single_kl(mean[0], logvar[0]))


def test_collapsed_dims_counts_kl_below_threshold() -> None:
    mean, logvar = torch.zeros(50, 5), torch.zeros(50, 5)
    mean[:, 1:3] = 1.0  # 0.5 nats each; dims 0, 3, 4 equal the prior
    metric = KLPerDim()
    metric.update(mean, logvar)
    assert collapsed_dims(metric.compute()) == 3
    assert collapsed_dims(metric.compute(), threshold=1.0) == 5
