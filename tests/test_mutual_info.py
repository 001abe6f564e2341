"""I(x; z) under q: the closed form of a linear-Gaussian encoder, zero at the prior, the log N ceiling."""

import math

import pytest
import torch

from benchmarks.evaluation.metrics.mutual_info import _mutual_info, mi_upper_bound, mutual_info

N = 4000  # log N = 8.29, far above the informations tested below


def _linear_gaussian(a: float, s: float, d: int, seed: int = 0, n: int = N) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x ~ N(0, I_d), q(z|x) = N(a x, s² I): q(z) = N(0, (a² + s²) I), so I(x; z) = d/2 · log((a² + s²) / s²)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a * x, torch.full_like(x, 2 * math.log(s)), d / 2 * math.log((a**2 + s**2) / s**2)


@pytest.mark.parametrize(("a", "s", "d"), [(1.0, 0.5, 2), (1.0, 1.0, 3), (0.3, 1.0, 4)])
def test_matches_linear_gaussian_closed_form(a: float, s: float, d: int) -> None:
    mean, logvar, exact = _linear_gaussian(a, s, d)
    estimate = mutual_info(mean, logvar, generator=torch.Generator().manual_seed(1))
    # over 8 seeds the error at N = 4000 stayed within 0.031 nats; the mixture's bias is negligible while I ≪ log N
    assert estimate == pytest.approx(exact, abs=0.06)


def test_zero_when_every_posterior_is_the_prior() -> None:
    estimate = mutual_info(torch.zeros(N, 3), torch.zeros(N, 3), generator=torch.Generator().manual_seed(0))
    assert abs(estimate) < 1e-9


def test_never_exceeds_log_n_and_saturates_there() -> None:
    mean, logvar, exact = _linear_gaussian(a=1.0, s=1e-3, d=4)  # exact I ≈ 27.6 nats ≫ log N
    assert exact > 3 * mi_upper_bound(N)
    estimate = mutual_info(mean, logvar, generator=torch.Generator().manual_seed(0))
    assert estimate <= mi_upper_bound(N) + 1e-9
    assert estimate == pytest.approx(mi_upper_bound(N), abs=1e-3)  # every code is told apart from all others


def test_chunking_does_not_change_the_value() -> None:
    mean, logvar, _ = _linear_gaussian(a=1.0, s=0.5, d=2, n=1000)
    z = mean + 0.5 * torch.randn(mean.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    values = [_mutual_info(mean, logvar, z, chunk_size) for chunk_size in (1000, 256, 333)]
    assert values == pytest.approx([values[0]] * 3, abs=1e-10)


def test_second_implementation_full_matrix() -> None:
    """Against a direct, unchunked evaluation with torch.distributions on a small set."""
    gen = torch.Generator().manual_seed(3)
    mean, logvar = torch.randn(200, 3, generator=gen), torch.randn(200, 3, generator=gen) - 1
    z = mean + (0.5 * logvar).exp() * torch.randn(200, 3, generator=gen)
    q = torch.distributions.Independent(torch.distributions.Normal(mean, (0.5 * logvar).exp()), 1)
    log_q = q.log_prob(z.unsqueeze(1))  # (200 samples, 200 components)
    direct = (log_q.diagonal() - torch.logsumexp(log_q, 1) + math.log(200)).mean()
    assert _mutual_info(mean, logvar, z, chunk_size=64) == pytest.approx(float(direct), abs=1e-4)
