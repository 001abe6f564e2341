"""The unbiased MMD² between two samples under the inverse multiquadric kernels of WAE-MMD (Tolstikhin et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

#: multiples of the base constant C = 2·D·σ² summed over, as in the reference implementation (tolstikhin/wae)
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """‖a_i − b_j‖², (n, m), without the square root whose gradient is infinite at 0 (``torch.cdist``)."""
    sq = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T
    return sq.clamp(min=0)  # round-off can make a distance of 0 slightly negative


def mmd_imq(x: Tensor, y: Tensor, prior_var: float = 1.0, scales: Sequence[float] = IMQ_SCALES) -> Tensor:
    """Unbiased MMD²(x, y) (Gretton et al. 2012's MMD²_u) under Σ_s k_s, k_s(a, b) = C_s / (C_s + ‖a − b‖²).

    ``x`` is (n, D), ``y`` (m, D), n, m ≥ 2; C_s = s · 2·D·``prior_var`` (2·D·σ_z², the expected ‖a − b‖² of two
    draws of N(0, σ_z² I)). The U-statistic leaves out the diagonal of the within-sample sums:

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / (n(n−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / (nm),

    so it is 0 in expectation when x and y come from one distribution, and can then be negative.

    Example:
        >>> import torch
        >>> gen = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(500, 2, generator=gen), torch.randn(500, 2, generator=gen)
        >>> abs(float(mmd_imq(x, y))) < 0.01  # one distribution: ≈ 0
        True
        >>> float(mmd_imq(x, y + 2.0)) > 0.5  # a shifted mean
        True
    """
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 points per sample, got {n} and {m}")
    base = 2.0 * x.shape[1] * prior_var
    dxx, dyy, dxy = _squared_distances(x, x), _squared_distances(y, y), _squared_distances(x, y)
    total = x.new_zeros(())
    for scale in scales:
        c = base * scale
        kxx, kyy, kxy = c / (c + dxx), c / (c + dyy), c / (c + dxy)
        within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        total = total + within_x + within_y - 2 * kxy.mean()
    return total
