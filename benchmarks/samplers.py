"""Latent samplers for generation: where the codes that the decoder turns into images come from.

``prior`` draws from N(0, I), what a VAE is trained for and an AE is not. ``gauss`` and ``gmm`` are the
post-hoc samplers of Ghosh et al. 2020 ("From variational to deterministic autoencoders"): a full-covariance
Gaussian or a Gaussian mixture fitted to the training codes, which give an AE (or a VAE whose aggregate
posterior does not match its prior) a fair chance to generate. Each sampler feeds the FID column named by its
``metric_key``.

Example:
    >>> codes = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> sampler = SAMPLERS.get("gauss")().fit(codes, seed=0)
    >>> sampler.sample(4, torch.Generator().manual_seed(1)).shape
    torch.Size([4, 3])
    >>> sampler.metric_key
    'fid_gauss'
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from benchmarks.registry import Registry


class LatentSampler:
    """Fitted to training codes (N, D), then draws (n, D) float32 codes with randomness only from a generator.

    The draws are a mixture of Gaussians: component ``k`` with probability ``weights[k]``, mean ``means[k]``
    and a square root ``scales[k]`` of its covariance; subclasses set the three in :meth:`fit`.
    """

    metric_key: ClassVar[str]

    def __init__(self) -> None:
        self.weights: Tensor | None = None  # (K,)
        self.means: Tensor | None = None  # (K, D)
        self.scales: Tensor | None = None  # (K, D, D), scales[k] @ scales[k].T = covariance of component k

    def fit(self, codes: Tensor, seed: int) -> LatentSampler:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if self.means is None:
            raise RuntimeError(f"{type(self).__name__}.sample called before fit")
        k, d = self.means.shape
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
        z = self.means[component] + torch.einsum("nij,nj->ni", self.scales[component], eps)
        return z.float()


def _psd_sqrt(cov: Tensor) -> Tensor:
    """A square root S of a covariance (S @ S.T = cov) that also works when it is singular (dead latent dims)."""
    evals, evecs = torch.linalg.eigh(cov)
    return evecs * evals.clamp(min=0).sqrt()


SAMPLERS: Registry[type[LatentSampler]] = Registry("sampler", base=LatentSampler)


@SAMPLERS.register("prior")
class PriorSampler(LatentSampler):
    """N(0, I): the VAE prior. ``fit`` only reads the latent dimension from the codes."""

    metric_key = "fid_prior"

    def fit(self, codes: Tensor, seed: int) -> PriorSampler:
        d = codes.shape[1]
        self.weights = torch.ones(1, dtype=torch.float64)
        self.means = torch.zeros(1, d, dtype=torch.float64)
        self.scales = torch.eye(d, dtype=torch.float64).unsqueeze(0)
        return self


@SAMPLERS.register("gauss")
class GaussSampler(LatentSampler):
    """One full-covariance Gaussian with the mean and (unbiased) covariance of the training codes."""

    metric_key = "fid_gauss"

    def fit(self, codes: Tensor, seed: int) -> GaussSampler:
        codes = codes.detach().cpu().double()
        self.weights = torch.ones(1, dtype=torch.float64)
        self.means = codes.mean(dim=0, keepdim=True)
        self.scales = _psd_sqrt(torch.cov(codes.T).reshape(codes.shape[1], codes.shape[1])).unsqueeze(0)
        return self


@SAMPLERS.register("gmm")
class GMMSampler(LatentSampler):
    """A full-covariance Gaussian mixture fitted by EM (scikit-learn), initialised from ``seed``.

    Draws come from the fitted parameters with the torch generator rather than from
    ``GaussianMixture.sample``, which takes a numpy seed and returns the draws grouped by component.
    """

    metric_key = "fid_gmm"

    def __init__(self, n_components: int = 10) -> None:
        super().__init__()
        self.n_components = n_components

    def fit(self, codes: Tensor, seed: int) -> GMMSampler:
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(self.n_components, covariance_type="full", random_state=seed)
        gmm.fit(codes.detach().cpu().double().numpy())
        self.weights = torch.as_tensor(gmm.weights_, dtype=torch.float64)
        self.means = torch.as_tensor(gmm.means_, dtype=torch.float64)
        self.scales = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_, dtype=torch.float64))
        return self
