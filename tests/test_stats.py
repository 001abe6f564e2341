"""The report's statistics against hand computations, exact enumerations and simulated error rates."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from benchmarks.reporting.stats import holm, non_inferiority, seeds_to_separate, slope_test, welch


def test_holm_against_a_hand_computation() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
    assert holm(p) == [0.03, 0.06, 0.06, 0.02]
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_welch_against_scipy() -> None:
    a, b = [1.0, 1.2, 0.9, 1.1], [1.6, 1.4, 1.9]
    ours, ref = welch(a, b), stats.ttest_ind(a, b, equal_var=False)
    assert ours.p == pytest.approx(ref.pvalue) and ours.statistic == pytest.approx(ref.statistic)
    low, high = ref.confidence_interval(0.95)
    assert (ours.low, ours.high) == (pytest.approx(low), pytest.approx(high))
    assert welch([2.0, 2.0], [2.0, 2.0]).p == 1.0 and welch([2.0, 2.0], [3.0, 3.0]).p == 0.0


def test_non_inferiority_supported_with_enough_seeds_not_separated_with_two_and_contradicted_when_shifted() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(0.90, 0.01, size=(2, 20))
    assert non_inferiority(same[0], same[1], 0.02, higher_is_better=True).p < 0.05  # one distribution, 20 seeds
    two = rng.normal(0.90, 0.01, size=(2, 2))
    assert non_inferiority(two[0], two[1], 0.02, higher_is_better=True).p > 0.05  # 2 seeds: no evidence either way
    worse = rng.normal(0.90, 0.01, size=20), rng.normal(0.95, 0.01, size=20)
    assert non_inferiority(worse[1], worse[0], -0.02, higher_is_better=True).p < 0.05  # shifted beyond the margin
    lower_is_better = non_inferiority([0.011, 0.012, 0.010], [0.0105, 0.0115, 0.0112], 0.002, higher_is_better=False)
    assert lower_is_better.p < 0.05 and lower_is_better.estimate > 0  # lower is better: a's 0.011 vs b's 0.01107


def test_non_inferiority_error_rates_against_simulation() -> None:
    """At the margin (the null's boundary) the test rejects about 5% of the time; far inside, nearly always."""
    rng = np.random.default_rng(1)
    margin, n, trials = 0.02, 5, 4000
    at_margin = rng.normal(0.0, 0.01, size=(trials, 2, n))
    at_margin[:, 0] -= margin  # true difference exactly −margin: H0 holds
    false_positive = np.mean([non_inferiority(t[0], t[1], margin, True).p < 0.05 for t in at_margin])
    assert 0.03 < false_positive < 0.07  # 5% nominal; Welch's df makes it slightly conservative
    equal = rng.normal(0.0, 0.01, size=(500, 2, n))
    power = np.mean([non_inferiority(t[0], t[1], margin, True).p < 0.05 for t in equal])
    # se = 0.01·√(2/5) = 0.0063, one-sided t(≈8) = 1.86: rejects when d > −0.0082, P ≈ 0.90 for d ~ N(0, 0.0063)
    assert power > 0.8


def test_slope_permutation_p_is_exact_and_valid_with_zero_residual_variance() -> None:
    x, y = [0.0] * 3 + [1.0] * 3, [2.0, 2.0, 2.0, 5.0, 5.0, 5.0]
    fit = slope_test(x, y)
    assert fit.slope == pytest.approx(3.0) and fit.exact and fit.arrangements == 20
    assert fit.p == pytest.approx(0.1) and fit.smallest_p == pytest.approx(0.1)  # not 1.8e-32: it and its mirror
    # by hand: enumerate all 6!/(3!3!) = 20 ways to deal y into the two groups
    slopes = [np.mean([y[i] for i in range(6) if i not in g]) - np.mean([y[i] for i in g]) for g in itertools.combinations(range(6), 3)]
    assert fit.p == pytest.approx(np.mean(np.abs(slopes) >= 3.0 - 1e-12))


def test_slope_permutation_is_sampled_for_large_sweeps_and_never_below_its_resolution() -> None:
    x = np.repeat(np.log([0.25, 0.5, 1, 2, 4, 8]), 3)
    y = 2 * x + np.random.default_rng(2).normal(0, 0.01, size=len(x))
    fit = slope_test(x, y)
    assert not fit.exact and fit.p == pytest.approx(fit.smallest_p) and fit.p > 0


def test_seeds_needed_shrink_the_interval_below_the_gap() -> None:
    n = seeds_to_separate(spread=1.0, gap=1.0, one_sided=False)
    t = stats.t.ppf(0.975, 2 * n - 2)
    assert t * math.sqrt(2 / n) < 1.0 <= stats.t.ppf(0.975, 2 * n - 4) * math.sqrt(2 / (n - 1))
    assert seeds_to_separate(spread=1.0, gap=0.0, one_sided=True) is None
