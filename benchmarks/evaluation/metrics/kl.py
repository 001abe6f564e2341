"""``kl_total``, ``kl_per_dim``, ``collapsed_dims``: the KL of each latent dimension, the posterior-collapse indicator.

:class:`KLPerDim` is a torchmetrics ``Metric`` whose states are float64 sums with ``dist_reduce_fx="sum"`` (as in
torchmetrics' ``fid.py``), so batches accumulate and a DDP sync is a sum. The sums start as 0-d zeros and
broadcast to the latent size on the first ``update``: every rank must see at least one batch before ``compute``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric as TorchMetric

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric
from lightning_modules import Posterior


def collapsed_dims(kl_per_dim: Tensor, threshold: float = 0.01) -> int:
    """Number of latent dims whose mean KL(q(z_u|x) ‖ N(0, 1)) is below ``threshold`` nats: collapsed to the prior.

    Example:
        >>> collapsed_dims(torch.tensor([0.0, 0.005, 0.5, 2.0]))
        2
    """
    return int((kl_per_dim < threshold).sum())


class KLPerDim(TorchMetric):
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


class KL(Metric):
    """The KL of the test posteriors, on one process over the whole split (rank 0 after DDP training): no sync."""

    name = "kl"
    group = "likelihood and posterior"
    keys = (
        Key("kl_total", None, "KL(q(z|x) ‖ N(0, I)) in nats, summed over dims, mean over the test split", bounds=POSITIVE),
        Key("kl_per_dim", None, "the same KL per latent dim (a list in results files; the KL-bars figure)"),
        Key("collapsed_dims", None, "latent dims whose mean KL is below 0.01 nats", bounds=POSITIVE),
    )
    requires = frozenset({"gaussian_posterior", "standard_normal_prior"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        q = inputs.posterior("test")
        kl = KLPerDim(sync_on_compute=False)
        kl.update(q.mean, q.logvar)
        per_dim = kl.compute()
        return {"kl_total": float(per_dim.sum()), "kl_per_dim": per_dim.tolist(), "collapsed_dims": collapsed_dims(per_dim)}
