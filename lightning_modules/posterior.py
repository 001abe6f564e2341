"""The encoder's output: a diagonal Gaussian q(z|x), or a point (the AE's code) when ``logvar`` is None; a
quantised model's point also carries its discrete ``codes``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Posterior:
    mean: Tensor  # (B, D)
    logvar: Tensor | None = None  # (B, D); None for a deterministic encoder
    codes: Tensor | None = None  # (B, P) codebook indices of a quantised encoder (VQ-VAE), whose ``mean`` they index

    @property
    def is_stochastic(self) -> bool:
        return self.logvar is not None

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Reparameterised samples: (B, D), or (n, B, D) when ``n`` is given."""
        if self.logvar is None:
            return self.mean if n is None else self.mean.expand(n, *self.mean.shape)
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + eps * torch.exp(0.5 * self.logvar)

    def kl_per_dim(self) -> Tensor:
        """Analytic KL(q(z|x) ‖ N(0, I)) per dimension, (B, D) nats."""
        if self.logvar is None:
            raise ValueError("a deterministic code has no posterior: KL is undefined")
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over dims; ``z`` is (..., B, D), broadcast against the batch."""
        if self.logvar is None:
            raise ValueError("a deterministic code has no density")
        return (-0.5 * ((z - self.mean).pow(2) / self.logvar.exp() + self.logvar + math.log(2 * math.pi))).sum(-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dim."""
    return (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(-1)
