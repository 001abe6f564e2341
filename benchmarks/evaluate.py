"""Evaluation of a trained model on the test split: every metric of the results file is computed here."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import MeanMetric, MeanSquaredError

from benchmarks.config import EvaluationConfig
from datamodules import InMemoryDataModule
from lightning_modules import AutoencoderModule


def _batches(images: Tensor, batch_size: int) -> list[Tensor]:
    return list(images.split(batch_size))


@torch.no_grad()
def evaluate(
    model: AutoencoderModule, datamodule: InMemoryDataModule, config: EvaluationConfig, *, seed: int
) -> dict[str, Any]:
    """Metrics of ``model`` on the test split of ``datamodule`` (keys as in ``benchmarks.metrics.METRICS``)."""
    model.eval()
    device = model.device
    gen = torch.Generator().manual_seed(seed)
    mse = MeanSquaredError().to(device)
    elbo = MeanMetric().to(device)
    kl_sum: Tensor | None = None
    n = 0
    for x in _batches(datamodule.test.images, config.batch_size):  # type: ignore[union-attr]
        x = x.to(device)
        q = model.encode(x)
        mse.update(model.likelihood.mean(model.decode(q.mean)), x)
        if q.is_stochastic:
            kl = q.kl_per_dim()
            kl_sum = kl.sum(0) if kl_sum is None else kl_sum + kl.sum(0)
            log_px = model.likelihood.log_prob(x, model.decode(q.rsample(generator=gen)))
            elbo.update(log_px - kl.sum(1))
        n += len(x)
    metrics: dict[str, Any] = {"recon_mse": float(mse.compute())}
    if kl_sum is not None:
        kl_per_dim = (kl_sum / n).tolist()
        metrics.update(kl_per_dim=kl_per_dim, kl_total=float(sum(kl_per_dim)), elbo=float(elbo.compute()))
    return metrics
