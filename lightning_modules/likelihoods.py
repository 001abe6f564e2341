"""Observation models p(x | z): how decoder outputs become log-likelihoods and mean images."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor


class Bernoulli:
    """Decoder outputs are logits; log p(x|z) is the negative BCE summed over pixels (nats per image)."""

    name = "bernoulli"

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """(B, C, H, W) data and decoder outputs → (B,) log-likelihoods."""
        return self.log_prob_pixels(x, out).flatten(1).sum(1)

    def log_prob_pixels(self, x: Tensor, out: Tensor) -> Tensor:
        """The per-value terms (B, C, H, W) of :meth:`log_prob`: the pixels factorise given z."""
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none")

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)


class ContinuousBernoulli:
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): a density on [0, 1] for grey pixels.

    Decoder outputs are logits l of λ = sigmoid(l); per pixel log p(x|λ) = x log λ + (1−x) log(1−λ) + log C(λ)
    with C(λ) = 2 atanh(1−2λ) / (1−2λ) (C(½) = 2). Being a density, not a probability, its log-likelihoods can be
    positive and are not comparable with a Bernoulli's on binary pixels.

    In logits, 1−2λ = −tanh(l/2) and 2 atanh(1−2λ) = −l, so C = l / tanh(l/2) and the mean
    E[x] = λ/(2λ−1) + 1/(2 atanh(1−2λ)) = ½ + (coth(l/2) − 2/l)/2: exact for any logit, no saturated λ and no log
    of 0. Only near l = 0 (λ = ½) are both 0/0; there, inside ``|l| < TAYLOR_BAND``, they are Taylor series in
    u = l/2 whose first omitted term is below 1e-15.
    """

    name = "continuous_bernoulli"
    #: |logit| below which log C and the mean are Taylor series (|λ − ½| < 0.025): series error < 1e-15, while the
    #: closed forms' cancellation (relative error ~ machine eps / u) stays harmless outside it
    TAYLOR_BAND = 0.1

    def log_normalizer(self, out: Tensor) -> Tensor:
        """log C(λ) per pixel from logits ``out``: log 2 at λ = ½, ≈ log|l| for large |l|."""
        u = out.abs() / 2
        near = u < self.TAYLOR_BAND / 2
        safe = torch.where(near, torch.ones_like(u), u)  # keeps the unused branch (and its gradient) finite at 0
        closed = torch.log(safe) - torch.log(torch.tanh(safe))  # log(u / tanh u)
        u2 = u * u
        # log(u coth u) = u²/3 − 7u⁴/90 + 62u⁶/2835 − 127u⁸/18900 + 146u¹⁰/66825 − …
        series = u2 * (1 / 3 + u2 * (-7 / 90 + u2 * (62 / 2835 + u2 * (-127 / 18900))))
        return math.log(2) + torch.where(near, series, closed)

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """(B, C, H, W) data in [0, 1] and logits → (B,) log-densities (nats per image)."""
        return self.log_prob_pixels(x, out).flatten(1).sum(1)

    def log_prob_pixels(self, x: Tensor, out: Tensor) -> Tensor:
        """The per-value terms (B, C, H, W) of :meth:`log_prob`."""
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none") + self.log_normalizer(out)

    def mean(self, out: Tensor) -> Tensor:
        """E[x] = ½ + (coth u − 1/u)/2 with u = l/2 (the Langevin function), → ½ at λ = ½; not sigmoid(l)."""
        u = out / 2
        near = u.abs() < self.TAYLOR_BAND / 2
        safe = torch.where(near, torch.ones_like(u), u)
        closed = 1 / torch.tanh(safe) - 1 / safe
        u2 = u * u
        # coth u − 1/u = u/3 − u³/45 + 2u⁵/945 − u⁷/4725 + 2u⁹/93555 − …
        series = u * (1 / 3 + u2 * (-1 / 45 + u2 * (2 / 945 + u2 * (-1 / 4725))))
        return 0.5 + 0.5 * torch.where(near, series, closed)


class Gaussian:
    """Decoder outputs are means of N(mean, sigma² I); log p(x|z) includes the normalising constant."""

    name = "gaussian"

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """(B, C, H, W) data and decoder means → (B,) log-densities (nats per image)."""
        return self.log_prob_pixels(x, out).flatten(1).sum(1)

    def log_prob_pixels(self, x: Tensor, out: Tensor) -> Tensor:
        """The per-value terms (B, C, H, W) of :meth:`log_prob`."""
        return -0.5 * (x - out).pow(2) / self.sigma**2 - (math.log(self.sigma) + 0.5 * math.log(2 * math.pi))

    def mean(self, out: Tensor) -> Tensor:
        return out


Likelihood = Bernoulli | ContinuousBernoulli | Gaussian
LikelihoodName = Literal["bernoulli", "continuous_bernoulli", "gaussian"]  # the schema of a model's ``likelihood``
LIKELIHOODS = get_args(LikelihoodName)

_BUILDERS: dict[str, Callable[[float], Likelihood]] = {
    "bernoulli": lambda sigma: Bernoulli(),
    "continuous_bernoulli": lambda sigma: ContinuousBernoulli(),
    "gaussian": Gaussian,
}


def make_likelihood(name: str, sigma: float) -> Likelihood:
    """The likelihood called ``name``; ``sigma`` is the Gaussian's standard deviation (ignored by the others)."""
    if name not in _BUILDERS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got '{name}'")
    return _BUILDERS[name](sigma)


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    """A negative log-likelihood in nats per image as bits per dimension: nats / (D · ln 2).

    Example:
        >>> round(bits_per_dim(80.0, 784), 4)  # 80 nats on a 28×28 image
        0.1472
        >>> bits_per_dim(784 * math.log(2), 784)
        1.0
    """
    return nats_per_image / (dims * math.log(2))
