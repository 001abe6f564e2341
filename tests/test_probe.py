"""Linear probe: separable codes score ≈ 1, random codes ≈ chance, one entry per label column."""

import time

import numpy as np
import pytest
import torch

from benchmarks.evaluation.metrics.probe import _select_c, linear_probe, probe_per_column


def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes at the corners of a square in 2 of 6 dims, well apart; the other dims are noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=gen)
    x = torch.randn(n, 6, generator=gen)
    x[:, 0] += 8.0 * (y % 2)
    x[:, 1] += 8.0 * (y // 2)
    return x, y


def test_separable_codes_score_one() -> None:
    (train_x, train_y), (test_x, test_y) = _separable(400, 0), _separable(200, 1)
    assert linear_probe(train_x, train_y, test_x, test_y) == pytest.approx(1.0, abs=0.01)


def test_random_codes_score_chance() -> None:
    gen = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(1000, 8, generator=gen), torch.randn(2000, 8, generator=gen)
    train_y, test_y = torch.randint(0, 10, (1000,), generator=gen), torch.randint(0, 10, (2000,), generator=gen)
    # chance is 0.1; the binomial std of an accuracy on 2000 test labels is 0.007, so 0.04 is > 5 std
    assert linear_probe(train_x, train_y, test_x, test_y) == pytest.approx(0.1, abs=0.04)


def test_regularisation_is_chosen_on_held_out_train() -> None:
    """Ten ordered classes on one axis: only weak regularisation separates the middle classes."""
    gen = np.random.default_rng(0)
    y = gen.integers(0, 10, 600)
    x = np.c_[y + 0.1 * gen.standard_normal(600)]
    assert _select_c(x[:500], y[:500], seed=0) >= 10.0  # C = 0.01 scores ≈ 0.35 on held-out train, C ≥ 10 ≈ 1.0
    assert linear_probe(x[:500], y[:500], x[500:], y[500:]) > 0.95


def test_per_column_returns_one_entry_per_name() -> None:
    (train_x, train_y), (test_x, test_y) = _separable(400, 0), _separable(200, 1)
    columns = lambda y: torch.stack([y % 2, y // 2, torch.zeros_like(y) + (y == 3)], 1)  # noqa: E731
    scores = probe_per_column(train_x, columns(train_y), test_x, columns(test_y), names=("x", "y", "both"))
    assert list(scores) == ["x", "y", "both"]
    assert all(score == pytest.approx(1.0, abs=0.03) for score in scores.values())
    with pytest.raises(ValueError, match="2 names for 3 label columns"):
        probe_per_column(train_x, columns(train_y), test_x, columns(test_y), names=("x", "y"))


def test_digits_sized_probe_is_fast_and_seeded() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(1300, 8, generator=gen), torch.randint(0, 10, (1300,), generator=gen)
    x[:, :4] += torch.nn.functional.one_hot(y, 10)[:, :4] * 2.0  # partly informative, like a small latent code
    start = time.perf_counter()
    first = linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], seed=3)
    assert time.perf_counter() - start < 2.0
    assert 0.2 < first < 0.9
    assert linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], seed=3) == first
