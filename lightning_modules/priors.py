"""Priors p(z) a model can offer the harness: sample codes and score their log-density."""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_modules.posterior import Posterior, standard_normal_log_prob


class StandardNormal:
    """N(0, I) over ``dim`` latent dims: the VAE family's prior.

    Example:
        >>> prior = StandardNormal(3)
        >>> prior.sample(2, torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3])
        >>> round(float(prior.log_prob(torch.zeros(3))), 4)  # -3/2 log 2π
        -2.7568
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, dim) float32 draws on the CPU, with randomness only from ``generator``."""
        return torch.randn(n, self.dim, generator=generator)

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) summed over the last dim."""
        return standard_normal_log_prob(z)

    def kl_per_dim(self, q: Posterior) -> Tensor:
        """Analytic KL(q(z|x) ‖ N(0, I)) per dim, (B, D) nats, for a diagonal Gaussian posterior."""
        return q.kl_per_dim()
