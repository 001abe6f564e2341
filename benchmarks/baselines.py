"""The linear ancestors of the autoencoders, as rows of the comparison table: PCA / probabilistic PCA and raw pixels.

A linear AE with squared error learns the PCA subspace, and probabilistic PCA (Tipping & Bishop 1999) is a
linear-Gaussian VAE whose ML solution is closed form, so these rows show what the non-linear models add.
They produce tensors only; the caller scores them with the same metrics (FID, probe, MSE) as the models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import Tensor


def pixel_codes(images: Tensor) -> Tensor:
    """Flattened pixels (N, C·H·W): the "no encoder" features for the linear probe."""
    return images.flatten(1)


@dataclass(frozen=True)
class PCABaseline:
    """A PCA fitted to flattened training images, with the model interface's ``encode``/``reconstruct``/``sample``.

    ``sample`` draws from the probabilistic PCA fitted by the same decomposition: x = μ + W z, z ~ N(0, I_k),
    with the ML loading W = U_k (Λ_k − σ² I)^{1/2}, Λ_k the top-k eigenvalues of the pixel covariance and σ²
    the mean of the discarded ones (sklearn's ``noise_variance_``). The isotropic noise N(0, σ² I) is *not*
    added: samples are mean images, as the VAE's samples are decoded to means. Their covariance is therefore
    W Wᵀ = U_k (Λ_k − σ² I) U_kᵀ. Images leave ``reconstruct`` and ``sample`` clipped to [0, 1].
    """

    pca: PCA
    image_shape: tuple[int, ...]  # (C, H, W)

    def _to_images(self, flat: np.ndarray) -> Tensor:
        images = torch.from_numpy(np.clip(flat, 0.0, 1.0)).float()
        return images.reshape(len(flat), *self.image_shape)

    def encode(self, images: Tensor) -> Tensor:
        """Coordinates in the principal subspace (N, k), float32."""
        return torch.from_numpy(self.pca.transform(pixel_codes(images).double().numpy())).float()

    def reconstruct(self, images: Tensor) -> Tensor:
        """Orthogonal projection onto the principal subspace, as images in [0, 1]."""
        flat = pixel_codes(images).double().numpy()
        return self._to_images(self.pca.inverse_transform(self.pca.transform(flat)))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` probabilistic-PCA mean images μ + W z, z ~ N(0, I) from ``generator`` (no pixel noise)."""
        z = torch.randn(n, self.pca.n_components_, generator=generator, dtype=torch.float64).numpy()
        scale = np.sqrt(np.maximum(self.pca.explained_variance_ - self.pca.noise_variance_, 0.0))
        return self._to_images(self.pca.mean_ + (z * scale) @ self.pca.components_)


def pca_baseline(train_images: Tensor, n_components: int, *, seed: int = 0) -> PCABaseline:
    """Fit PCA with ``n_components`` to the flattened ``train_images`` (N, C, H, W); ``seed`` fixes sklearn's solver.

    Example:
        >>> images = torch.rand(50, 1, 4, 4)
        >>> baseline = pca_baseline(images, 16)  # full rank: reconstruction is exact
        >>> bool(torch.allclose(baseline.reconstruct(images), images, atol=1e-5))
        True
    """
    pca = PCA(n_components=n_components, random_state=seed).fit(pixel_codes(train_images).double().numpy())
    return PCABaseline(pca, tuple(train_images.shape[1:]))
