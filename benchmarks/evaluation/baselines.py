"""The linear ancestors of the autoencoders, as rows of the comparison table: PCA / probabilistic PCA and raw pixels.

A linear AE with squared error learns the PCA subspace, and probabilistic PCA (Tipping & Bishop 1999) is a
linear-Gaussian VAE whose ML solution is closed form, so these rows show what the non-linear models add.
Both implement the model interface (:mod:`lightning_modules.interface`) and go through the same evaluation
loop as the models: whatever metric applies to what they offer is computed the same way.

- ``pca``: ``encode`` gives the coordinates in the principal subspace, ``decode`` maps them back to images,
  and its ``prior`` is the probabilistic PCA's distribution of those coordinates. No ``log_likelihood``.
- ``pixels``: the "no encoder" features for the probe; no decoder and no prior.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import Tensor

from lightning_modules import Posterior


def pixel_codes(images: Tensor) -> Tensor:
    """Flattened pixels (N, C·H·W)."""
    return images.flatten(1)


class PPCAPrior:
    """The coordinates of probabilistic PCA's mean images μ + W z: N(0, diag(Λ_k − σ²)) in the PCA basis.

    With the ML loading W = U_k (Λ_k − σ² I)^{1/2}, Λ_k the top-k eigenvalues of the pixel covariance and σ² the
    mean of the discarded ones (sklearn's ``noise_variance_``), z ~ N(0, I_k) gives coordinates
    (Λ_k − σ² I)^{1/2} z. The isotropic pixel noise N(0, σ² I) is *not* added: samples are mean images, as the
    VAE's samples are decoded to means, so their covariance is W Wᵀ = U_k (Λ_k − σ² I) U_kᵀ.
    """

    def __init__(self, std: Tensor) -> None:
        self.std = std.double()  # (k,)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, len(self.std), generator=generator, dtype=torch.float64)
        return (z * self.std).float()

    def log_prob(self, z: Tensor) -> Tensor:
        normal = torch.distributions.Normal(torch.zeros_like(self.std), self.std.clamp(min=1e-12))
        return normal.log_prob(z.double()).sum(-1)


@dataclass
class PCABaseline:
    """A PCA fitted to flattened training images, behind the model interface. Images leave ``decode`` in [0, 1]."""

    pca: PCA
    image_shape: tuple[int, ...]  # (C, H, W)

    def __post_init__(self) -> None:
        std = np.sqrt(np.maximum(self.pca.explained_variance_ - self.pca.noise_variance_, 0.0))
        self.prior = PPCAPrior(torch.from_numpy(std))

    def encode(self, images: Tensor) -> Posterior:
        """Coordinates in the principal subspace (N, k), float32, as a deterministic posterior."""
        return Posterior(torch.from_numpy(self.pca.transform(pixel_codes(images).double().numpy())).float())

    def decode(self, z: Tensor) -> Tensor:
        """The images at subspace coordinates ``z`` (N, k), clipped to [0, 1]."""
        flat = self.pca.inverse_transform(z.detach().cpu().double().numpy())
        return torch.from_numpy(np.clip(flat, 0.0, 1.0)).float().reshape(len(z), *self.image_shape)


def pca_baseline(train_images: Tensor, n_components: int, *, seed: int = 0) -> PCABaseline:
    """Fit PCA with ``n_components`` to the flattened ``train_images`` (N, C, H, W); ``seed`` fixes sklearn's solver.

    Example:
        >>> images = torch.rand(50, 1, 4, 4)
        >>> baseline = pca_baseline(images, 16)  # full rank: reconstruction is exact
        >>> bool(torch.allclose(baseline.decode(baseline.encode(images).mean), images, atol=1e-5))
        True
    """
    pca = PCA(n_components=n_components, random_state=seed).fit(pixel_codes(train_images).double().numpy())
    return PCABaseline(pca, tuple(train_images.shape[1:]))


class PixelBaseline:
    """Raw pixels as the code: the probe's "no encoder" row. It has nothing to decode and no prior."""

    prior = None

    def encode(self, images: Tensor) -> Posterior:
        return Posterior(pixel_codes(images))


Baseline = PCABaseline | PixelBaseline

#: name → fit(train_images, n_components, seed=...): the baselines a config can list in ``evaluation.baselines``
BASELINES: dict[str, Callable[..., Baseline]] = {
    "pca": pca_baseline,
    "pixels": lambda train_images, n_components, *, seed: PixelBaseline(),
}
