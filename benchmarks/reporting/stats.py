"""The statistics of the report, in one place: intervals over seeds, the tests behind the claims, Holm's correction.

The seeds are the replicates. Everything here is a pure function of per-seed values.

- :func:`summarize`: the mean and its 95% Student-t interval, intersected with the metric's possible range
  (a confidence set intersected with the parameter space keeps its coverage, since the true mean lies in
  that range: ``fid_data`` cannot have an interval below 0, an accuracy none above 1).
- :func:`welch`: Welch's two-sided t-test of a difference of means (unequal variances), for directional claims.
- :func:`non_inferiority`: Welch's one-sided test that a mean is not worse than another's by more than a
  margin (the two one-sided tests of TOST, of which "at least as good" needs one), for "at least as" claims.
- :func:`slope_test`: the slope of values against ln β with a permutation p-value over the points, exact when
  the arrangements can be enumerated: valid when the residual variance is zero and never below
  ``1 / (number of distinct arrangements)``, the smallest p the seeds can support.
- :func:`holm`: Holm's step-down adjustment of the claims' p-values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
PERMUTATIONS = 20_000  # Monte Carlo draws when the exact arrangements are more than this


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for one seed
    ci95: float  # half-width of the 95% Student-t interval; nan for one seed
    n: int
    low: float  # the interval [mean − ci95, mean + ci95] intersected with the metric's range
    high: float

    @property
    def truncated(self) -> bool:
        """Whether the range cut the symmetric interval (then it is shown as ``[low, high]``)."""
        return math.isfinite(self.ci95) and (self.low > self.mean - self.ci95 or self.high < self.mean + self.ci95)


def summarize(values: Sequence[float], bounds: tuple[float | None, float | None] = (None, None)) -> Stat:
    """Mean, sample std and the 95% t-interval of per-seed values, the interval kept inside ``bounds``.

    Example:
        >>> s = summarize([0.0, 1.0, 8.0], bounds=(0.0, None))
        >>> round(s.mean, 3), s.low, round(s.high, 1)
        (3.0, 0.0, 13.8)
    """
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Stat(mean, 0.0, math.nan, n, mean, mean)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    lower, upper = bounds
    low = mean - half if lower is None else max(lower, mean - half)
    high = mean + half if upper is None else min(upper, mean + half)
    return Stat(mean, std, half, n, low, high)


@dataclass(frozen=True)
class Difference:
    """A test of the difference of two means: the estimate, its interval, the p-value and the statistic."""

    estimate: float
    low: float
    high: float
    p: float
    statistic: float
    df: float


def _welch_parts(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(difference of means, its standard error, Welch–Satterthwaite degrees of freedom)."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else math.inf
    return float(np.mean(a) - np.mean(b)), se, df


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Welch's two-sided test of mean(a) − mean(b) = 0, with the 95% interval of the difference.

    Identical constant samples (zero variance) give p = 1 when equal and p = 0 when not.
    """
    diff, se, df = _welch_parts(a, b)
    if se == 0:
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0, math.copysign(math.inf, diff) if diff else 0.0, df)
    t = diff / se
    half = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
    return Difference(diff, diff - half, diff + half, float(2 * stats.t.sf(abs(t), df)), t, df)


def non_inferiority(a: Sequence[float], b: Sequence[float], margin: float, higher_is_better: bool) -> Difference:
    """One-sided Welch test that ``a`` is not worse than ``b`` by ``margin`` or more.

    With the difference d = mean(a) − mean(b) signed so that positive means better, H0: d ≤ −margin is rejected
    when the lower end of the one-sided 95% interval lies above −margin; ``p`` is that test's p-value. The
    interval reported is the two-sided 90% one (the TOST convention), whose lower end decides.
    """
    diff, se, df = _welch_parts(a, b)
    sign = 1.0 if higher_is_better else -1.0
    d = sign * diff
    if se == 0:
        return Difference(d, d, d, 0.0 if d > -margin else 1.0, math.inf if d > -margin else -math.inf, df)
    t = (d + margin) / se
    half = float(stats.t.ppf(1 - ALPHA, df)) * se
    return Difference(d, d - half, d + half, float(stats.t.sf(t, df)), t, df)


def seeds_to_separate(spread: float, gap: float, *, one_sided: bool, alpha: float = ALPHA) -> int | None:
    """About how many seeds per row would make an interval of the measured ``spread`` (pooled std) narrower than
    ``gap`` (the distance the test needs to clear) at level ``alpha``; None when no number can (a gap ≤ 0).

    Solves t(n) · spread · √(2/n) < gap for the smallest n ≥ 2 (equal seeds in both rows).
    """
    if gap <= 0 or not math.isfinite(gap):
        return None
    if spread <= 0:
        return 2
    q = 1 - alpha if one_sided else 1 - alpha / 2
    for n in range(2, 10_001):
        if float(stats.t.ppf(q, 2 * n - 2)) * spread * math.sqrt(2 / n) < gap:
            return n
    return None


@dataclass(frozen=True)
class Slope:
    slope: float
    p: float  # two-sided permutation p-value
    arrangements: int  # distinct arrangements of the values over the points (enumerated, or counted)
    exact: bool
    smallest_p: float  # the smallest p-value these points can give (the share of arrangements at the largest |slope|)


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc**2).sum())


def slope_test(x: Sequence[float], y: Sequence[float], seed: int = 0) -> Slope:
    """OLS slope of ``y`` against ``x`` and its two-sided permutation p-value over the points.

    The null hypothesis is that the values do not depend on x: every assignment of the values to the x
    positions is equally likely. Points sharing an x are interchangeable, so the distinct arrangements are
    the ways to deal the values into groups of those sizes: enumerated when there are at most
    :data:`PERMUTATIONS`, else sampled (seeded). The p-value counts arrangements whose |slope| is at least the
    observed one (the observed arrangement included).

    Example:
        >>> t = slope_test([0, 0, 0, 1, 1, 1], [1.0, 1.0, 1.0, 2.0, 2.0, 2.0])  # no spread at all
        >>> t.slope, t.arrangements, t.p  # 2 of the 20 deals are as extreme: this one and its mirror
        (1.0, 20, 0.1)
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    observed = _ols_slope(xs, ys)
    levels, counts = np.unique(xs, return_counts=True)
    arrangements = math.factorial(len(xs)) // math.prod(math.factorial(int(c)) for c in counts)
    tol = 1e-9 * max(1.0, abs(observed))
    if arrangements <= PERMUTATIONS:
        dealt_x = np.repeat(levels, counts)
        slopes = np.abs([_ols_slope(dealt_x, ys[order]) for order in _deals(len(ys), [int(c) for c in counts])])
        hits = int((slopes >= abs(observed) - tol).sum())
        extreme = int((slopes >= slopes.max() - 1e-9 * max(1.0, slopes.max())).sum())
        return Slope(observed, hits / len(slopes), arrangements, True, extreme / len(slopes))
    rng = np.random.default_rng(seed)
    hits = sum(abs(_ols_slope(xs, rng.permutation(ys))) >= abs(observed) - tol for _ in range(PERMUTATIONS))
    return Slope(observed, (hits + 1) / (PERMUTATIONS + 1), arrangements, False, 1 / (PERMUTATIONS + 1))


def _deals(n: int, sizes: list[int]) -> Iterator[np.ndarray]:
    """Every way to deal indices 0..n−1 into consecutive groups of ``sizes`` (order within a group ignored),
    as the concatenated index order."""

    def deal(rest: tuple[int, ...], remaining: list[int]) -> Iterator[list[int]]:
        if not remaining:
            yield []
            return
        for group in itertools.combinations(rest, remaining[0]):
            left = tuple(i for i in rest if i not in group)
            for tail in deal(left, remaining[1:]):
                yield [*group, *tail]

    for order in deal(tuple(range(n)), sizes):
        yield np.asarray(order)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order.

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m, adjusted, running = len(p_values), [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return [round(p, 12) for p in adjusted]
