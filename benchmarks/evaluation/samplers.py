"""Latent samplers for generation: where the codes that the decoder turns into images come from.

``prior`` draws from the model's own prior (N(0, I) for the VAE family); a model without one (the AE) is
sampled from N(0, I) over its code dims, as the literature does to show that an AE is not generative.
``gauss`` and ``gmm`` are the post-hoc samplers of Ghosh et al. 2020 ("From variational to deterministic autoencoders"): a full-covariance
Gaussian or a Gaussian mixture fitted to the training codes, which give an AE (or a VAE whose aggregate
posterior does not match its prior) a fair chance to generate. Each sampler feeds the FID column named by its
``metric_key``.

Example:
    >>> codes = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> sampler = SAMPLERS.get("gauss")().fit(codes, None, seed=0)
    >>> sampler.sample(4, torch.Generator().manual_seed(1)).shape
    torch.Size([4, 3])
    >>> sampler.metric_key
    'fid_gauss'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from aebench_registry import Registry
from benchmarks.evaluation.linalg import psd_factor
from lightning_modules import Prior, StandardNormal

if TYPE_CHECKING:
    from benchmarks.config import EvaluationConfig


class LatentSampler(ABC):
    """Fitted to training codes (N, D) and the model's prior, then draws (n, D) float32 codes with randomness
    only from a generator."""

    metric_key: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def from_config(cls, config: EvaluationConfig) -> LatentSampler:
        """The sampler with the options the evaluation config sets for it (none by default)."""
        return cls()

    @abstractmethod
    def fit(self, codes: Tensor, prior: Prior | None, seed: int) -> LatentSampler:
        """Fit to the training codes; ``prior`` is the model's (None for the AE)."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` codes (n, D), float32, on the CPU."""


class MixtureSampler(LatentSampler):
    """Draws from a mixture of Gaussians: component ``k`` with probability ``weights[k]``, mean ``means[k]``
    and a square root ``scales[k]`` of its covariance; subclasses set the three in :meth:`fit`."""

    def __init__(self) -> None:
        self.weights: Tensor | None = None  # (K,)
        self.means: Tensor | None = None  # (K, D)
        self.scales: Tensor | None = None  # (K, D, D), scales[k] @ scales[k].T = covariance of component k

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if self.means is None:
            raise RuntimeError(f"{type(self).__name__}.sample called before fit")
        k, d = self.means.shape
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
        z = self.means[component] + torch.einsum("nij,nj->ni", self.scales[component], eps)
        return z.float()


class PriorSampler(LatentSampler):
    """The model's prior; N(0, I) over the code dims for a model without one (only their number is read)."""

    metric_key = "fid_prior"
    description = "the model's prior (N(0, I) for the VAE family and, to show the missing prior, for the AE)"

    def __init__(self) -> None:
        self.prior: Prior | None = None

    def fit(self, codes: Tensor, prior: Prior | None, seed: int) -> PriorSampler:
        self.prior = prior if prior is not None else StandardNormal(codes.shape[1])
        return self

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if self.prior is None:
            raise RuntimeError("PriorSampler.sample called before fit")
        return self.prior.sample(n, generator).float()


class GaussSampler(MixtureSampler):
    """One full-covariance Gaussian with the mean and (unbiased) covariance of the training codes."""

    metric_key = "fid_gauss"
    description = "a full-covariance Gaussian fitted to the training codes"

    def fit(self, codes: Tensor, prior: Prior | None, seed: int) -> GaussSampler:
        codes = codes.detach().cpu().double()
        self.weights = torch.ones(1, dtype=torch.float64)
        self.means = codes.mean(dim=0, keepdim=True)
        self.scales = psd_factor(torch.cov(codes.T).reshape(codes.shape[1], codes.shape[1])).unsqueeze(0)
        return self


class GMMSampler(MixtureSampler):
    """A full-covariance Gaussian mixture fitted by EM (scikit-learn), initialised from ``seed``.

    Draws come from the fitted parameters with the torch generator rather than from
    ``GaussianMixture.sample``, which takes a numpy seed and returns the draws grouped by component.
    """

    metric_key = "fid_gmm"
    description = "a full-covariance Gaussian mixture (``gmm_components``) fitted to the training codes"

    def __init__(self, n_components: int = 10) -> None:
        super().__init__()
        self.n_components = n_components

    @classmethod
    def from_config(cls, config: EvaluationConfig) -> GMMSampler:
        return cls(config.gmm_components)

    def fit(self, codes: Tensor, prior: Prior | None, seed: int) -> GMMSampler:
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(self.n_components, covariance_type="full", random_state=seed)
        gmm.fit(codes.detach().cpu().double().numpy())
        self.weights = torch.as_tensor(gmm.weights_, dtype=torch.float64)
        self.means = torch.as_tensor(gmm.means_, dtype=torch.float64)
        self.scales = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_, dtype=torch.float64))
        return self


SAMPLERS: Registry[type[LatentSampler]] = Registry("sampler", base=LatentSampler)
SAMPLERS.add("prior", PriorSampler)
SAMPLERS.add("gauss", GaussSampler)
SAMPLERS.add("gmm", GMMSampler)
