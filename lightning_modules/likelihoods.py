"""Observation models p(x | z): how decoder outputs become log-likelihoods and mean images."""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor


class Bernoulli:
    """Decoder outputs are logits; log p(x|z) is the negative BCE summed over pixels (nats per image)."""

    name = "bernoulli"

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """(B, C, H, W) data and decoder outputs → (B,) log-likelihoods."""
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)


class Gaussian:
    """Decoder outputs are means of N(mean, sigma² I); log p(x|z) includes the normalising constant."""

    name = "gaussian"

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        sq = (x - out).pow(2).flatten(1).sum(1)
        d = x[0].numel()
        return -0.5 * sq / self.sigma**2 - d * (math.log(self.sigma) + 0.5 * math.log(2 * math.pi))

    def mean(self, out: Tensor) -> Tensor:
        return out


LikelihoodName = Literal["bernoulli", "gaussian"]  # the config schema of a model's ``likelihood`` option
LIKELIHOODS = get_args(LikelihoodName)


def make_likelihood(name: str, sigma: float) -> Bernoulli | Gaussian:
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(sigma)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got '{name}'")
