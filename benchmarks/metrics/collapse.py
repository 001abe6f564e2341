"""Posterior-collapse indicators: active units (Burda et al. 2016) and the KL of each latent dimension.

Both are torchmetrics ``Metric``s whose states are float64 sums with ``dist_reduce_fx="sum"`` (as in
torchmetrics' ``fid.py``), so batches accumulate and a DDP sync is a sum. The sums start as 0-d zeros and
broadcast to the latent size on the first ``update``: every rank must see at least one batch before ``compute``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_modules.posterior import Posterior


def _active_units(mean_sum: Tensor, sq_sum: Tensor, n: Tensor, threshold: float) -> int:
    """Count dims whose population variance (divisor N) of posterior means exceeds ``threshold``."""
    variance = sq_sum / n - (mean_sum / n).pow(2)
    return int((variance > threshold).sum())


def collapsed_dims(kl_per_dim: Tensor, threshold: float = 0.01) -> int:
    """Number of latent dims whose mean KL(q(z_u|x) ‖ N(0, 1)) is below ``threshold`` nats: collapsed to the prior.

    Example:
        >>> collapsed_dims(torch.tensor([0.0, 0.005, 0.5, 2.0]))
        2
    """
    return int((kl_per_dim < threshold).sum())


class ActiveUnits(Metric):
    """Number of latent dims u with Cov_x(E_q[z_u | x]) > ``threshold`` (Burda et al. 2016, default 0.01).

    ``update`` takes posterior means (B, D) (for the AE, its codes). The variance over x is the population
    variance (divide by N, not N − 1); at the test-split sizes used here the two differ by < 0.1%. It is
    computed from float64 sums of the means and their squares, which is what makes the state sum-reducible.

    Example:
        >>> metric = ActiveUnits()
        >>> metric.update(torch.tensor([[0.0, 1.0], [0.0, -1.0]]))
        >>> metric.compute()
        1
    """

    is_differentiable = False
    higher_is_better = None  # a count to read beside the latent size, not to rank
    full_state_update = False

    def __init__(self, threshold: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("mean_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("sq_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mean: Tensor) -> None:
        mean = mean.detach().double()
        self.mean_sum = self.mean_sum + mean.sum(0)
        self.sq_sum = self.sq_sum + mean.pow(2).sum(0)
        self.n = self.n + len(mean)

    def compute(self) -> int:
        return _active_units(self.mean_sum, self.sq_sum, self.n, self.threshold)


class KLPerDim(Metric):
    """Mean analytic KL(q(z_u|x) ‖ N(0, 1)) of each latent dim u over all updates, (D,) nats.

    ``update`` takes the posterior's mean and log-variance (B, D); the KL is the closed form of
    :meth:`Posterior.kl_per_dim`, evaluated in float64. Its sum is ``kl_total``; :func:`collapsed_dims` counts
    the dims that carry no information.

    Example:
        >>> metric = KLPerDim()
        >>> metric.update(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2))
        >>> metric.compute()
        tensor([0.0000, 0.5000], dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("kl_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mean: Tensor, logvar: Tensor) -> None:
        kl = Posterior(mean.detach().double(), logvar.detach().double()).kl_per_dim()
        self.kl_sum = self.kl_sum + kl.sum(0)
        self.n = self.n + len(kl)

    def compute(self) -> Tensor:
        return self.kl_sum / self.n
