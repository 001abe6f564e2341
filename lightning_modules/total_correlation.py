"""The KL decomposition of Chen et al. 2018 ("Isolating Sources of Disentanglement in VAEs", β-TCVAE), estimated on a
minibatch.

With n the index of an image, q(z) = (1/N) Σ_n q(z|n) the aggregate posterior of the N training images and a
factorised prior p(z) = Π_d p(z_d), the KL term of the ELBO averaged over the data splits as

    E_n KL(q(z|n) ‖ p(z)) = E_q(z,n)[log q(z|n) − log q(z)]          index-code mutual information
                          + E_q(z)[log q(z) − Π_d log q(z_d)]         total correlation (TC)
                          + Σ_d E_q(z_d)[log q(z_d) − log p(z_d)]     dimension-wise KL

q(z) and its marginals q(z_d) are sums over the whole training set; on a minibatch of M images they
are estimated from the M posteriors of the batch, evaluated at each image's sampled code. Whatever the estimate of
log q(z) and log q(z_d), the three terms telescope to log q(z|n) − log p(z), so their sum is exactly the one-sample
Monte Carlo KL; only how that KL is split between them depends on the estimator. Two estimators of the paper:

- ``"mss"``, minibatch stratified sampling (their appendix C.2): the image's own posterior gets weight 1/N and each
  of the M − 1 others (N − 1)/(N (M − 1)), the weights of a uniform draw of the others from the rest of the data
  set, so that Σ_j w_j q(z|n_j) is an unbiased estimate of q(z). Its TC converges to the true TC as M grows.
- ``"mws"``, minibatch weighted sampling (the paper's main estimator, and the default of the authors' code): every
  posterior of the batch gets weight 1/(N M). These weights sum to 1/N, not 1: where the posteriors overlap this
  estimates log q(z) − log N, so the estimated TC carries a constant +(D − 1) log N, the mutual information +log N
  and the dimension-wise KL −D log N. Constants do not change the gradients (nor the sum), but the logged terms are
  not estimates of the quantities themselves.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor

from lightning_modules.posterior import Posterior

TCEstimator = Literal["mss", "mws"]  # the schema of β-TCVAE's ``estimator``
TC_ESTIMATORS = get_args(TCEstimator)
_LOG_2PI = math.log(2 * math.pi)


class KLDecomposition(NamedTuple):
    """The three terms of the KL decomposition for each image of a batch, (B,) nats each."""

    mutual_info: Tensor
    total_correlation: Tensor
    dimwise_kl: Tensor


def pairwise_log_density(z: Tensor, q: Posterior) -> Tensor:
    """log q(z_id | x_j), (B, B, D): each code ``z`` (B, D) under every posterior of the batch, per dimension."""
    assert q.logvar is not None, "the decomposition needs a Gaussian posterior"
    diff = z.unsqueeze(1) - q.mean.unsqueeze(0)
    logvar = q.logvar.unsqueeze(0)
    return -0.5 * (diff.pow(2) * torch.exp(-logvar) + logvar + _LOG_2PI)


def log_importance_weights(batch_size: int, dataset_size: int, estimator: TCEstimator, like: Tensor) -> Tensor:
    """log w_ij (B, B): the weight of posterior j in the estimate of q(z_i), with the dtype and device of ``like``.

    Example:
        >>> w = log_importance_weights(3, 10, "mss", torch.zeros(())).exp()
        >>> [round(s, 6) for s in w.sum(1).tolist()], round(float(w[0, 0]), 3), round(float(w[0, 1]), 3)  # 1/10, 9/(10·2)
        ([1.0, 1.0, 1.0], 0.1, 0.45)
    """
    if estimator not in TC_ESTIMATORS:
        raise ValueError(f"estimator must be one of {TC_ESTIMATORS}, got '{estimator}'")
    if dataset_size < batch_size:
        raise ValueError(f"dataset_size must be at least the batch size {batch_size}, got {dataset_size}")
    b, n = batch_size, dataset_size
    if estimator == "mws":
        return like.new_full((b, b), -math.log(n * b))
    if b == 1:  # no other posterior to stand for the rest of the data: the batch is all of q(z)
        return like.new_zeros((1, 1))
    weights = like.new_full((b, b), math.log(n - 1) - math.log(n * (b - 1)))
    return weights.fill_diagonal_(-math.log(n))


def kl_decomposition(z: Tensor, q: Posterior, dataset_size: int, estimator: TCEstimator = "mss") -> KLDecomposition:
    """The decomposition of the module docstring at codes ``z`` (B, D) drawn from ``q`` (one per image), under the
    N(0, I) prior; ``dataset_size`` is N, the number of training images the batch was drawn from."""
    pairs = pairwise_log_density(z, q)
    log_w = log_importance_weights(len(z), dataset_size, estimator, z)
    log_qz = torch.logsumexp(pairs.sum(2) + log_w, dim=1)  # (B,)
    log_qz_dims = torch.logsumexp(pairs + log_w.unsqueeze(2), dim=1)  # (B, D): log q(z_id)
    log_pz_dims = -0.5 * (z.pow(2) + _LOG_2PI)
    log_qz_x = q.log_prob(z)
    return KLDecomposition(
        mutual_info=log_qz_x - log_qz,
        total_correlation=log_qz - log_qz_dims.sum(1),
        dimwise_kl=(log_qz_dims - log_pz_dims).sum(1),
    )
