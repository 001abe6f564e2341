"""``active_units`` (Burda et al. 2016): latent dims whose posterior mean varies with the input.

:class:`ActiveUnits` is a torchmetrics ``Metric`` whose states are float64 sums with ``dist_reduce_fx="sum"``,
so batches accumulate and a DDP sync is a sum.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric as TorchMetric

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


def _active_units(mean_sum: Tensor, sq_sum: Tensor, n: Tensor, threshold: float) -> int:
    """Count dims whose population variance (divisor N) of posterior means exceeds ``threshold``."""
    variance = sq_sum / n - (mean_sum / n).pow(2)
    return int((variance > threshold).sum())


class ActiveUnits(TorchMetric):
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


class ActiveUnitsMetric(Metric):
    """The 0.01 threshold is in prior units: meaningless for an AE's unscaled codes, so it needs N(0, I)."""

    name = "active_units"
    group = "likelihood and posterior"
    keys = (Key("active_units", None, "latent dims with Cov_x(E_q[z_u]) > 0.01", "Burda et al. 2016", bounds=POSITIVE),)
    requires = frozenset({"gaussian_posterior", "standard_normal_prior"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        active = ActiveUnits(sync_on_compute=False)
        active.update(inputs.posterior("test").mean)
        return {"active_units": active.compute()}
