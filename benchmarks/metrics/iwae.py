"""Importance-weighted estimate of −log p(x) (Burda et al. 2016) and the one-sample ELBO, per image.

log p̂(x) = logsumexp_k [log p(x|z_k) + log N(z_k; 0, I) − log q(z_k|x)] − log K with z_k ~ q(z|x). It is a
lower bound on log p(x) in expectation, tightening as K grows, and exact for any K when q(z|x) is the true
posterior. K samples are drawn ``chunk_size`` at a time and folded into a running logsumexp, so memory is
O(chunk_size · batch_size · pixels) whatever K is.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_modules.posterior import Posterior, standard_normal_log_prob


def _require_variational(model: torch.nn.Module) -> None:
    if not model.variational:
        raise ValueError(f"{type(model).__name__} is not variational: it has no q(z|x), so no ELBO or IWAE bound")


def _log_weights(model: torch.nn.Module, x: Tensor, q: Posterior, z: Tensor) -> Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for samples ``z`` (n, B, D) of images ``x`` (B, ...) → (n, B)."""
    n, b = z.shape[:2]
    out = model.decode(z.flatten(0, 1))
    log_px_z = model.likelihood.log_prob(x.expand(n, *x.shape).flatten(0, 1), out).view(n, b)
    return log_px_z + standard_normal_log_prob(z) - q.log_prob(z)


@torch.no_grad()
def nll_iwae(
    model: torch.nn.Module,
    images: Tensor,
    *,
    k: int = 1000,
    chunk_size: int = 100,
    batch_size: int = 64,
    generator: torch.Generator,
) -> Tensor:
    """−log p̂(x) in nats for each of the N ``images`` (N,), float64, with K importance samples per image.

    ``model`` is any variational model of the suite (``encode``, ``decode``, ``likelihood``, ``variational``,
    ``device``), ideally in eval mode; the only randomness is ``generator`` (a CPU generator). Raises
    ``ValueError`` for a model without a posterior (the AE).
    """
    _require_variational(model)
    nll = []
    for x in images.split(batch_size):
        x = x.to(model.device)
        q = model.encode(x)
        log_sum = torch.full((len(x),), -math.inf, dtype=torch.float64, device=model.device)
        for start in range(0, k, chunk_size):
            z = q.rsample(min(chunk_size, k - start), generator)
            log_sum = torch.logaddexp(log_sum, torch.logsumexp(_log_weights(model, x, q, z).double(), dim=0))
        nll.append(math.log(k) - log_sum)
    return torch.cat(nll).cpu()


@torch.no_grad()
def elbo(model: torch.nn.Module, images: Tensor, *, generator: torch.Generator, batch_size: int = 64) -> Tensor:
    """ELBO in nats per image (N,): log p(x|z) at one z ~ q(z|x), minus the analytic KL(q(z|x) ‖ N(0, I)).

    The same estimator as the training loss of the VAE (at β = 1), so it is comparable with ``nll_iwae``:
    −ELBO ≥ −log p(x) in expectation.
    """
    _require_variational(model)
    values = []
    for x in images.split(batch_size):
        x = x.to(model.device)
        q = model.encode(x)
        log_px_z = model.likelihood.log_prob(x, model.decode(q.rsample(generator=generator)))
        values.append((log_px_z - q.kl_per_dim().sum(1)).double())
    return torch.cat(values).cpu()
