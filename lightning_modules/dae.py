"""The denoising autoencoder (Vincent et al. 2008): the AE trained to reconstruct clean images from corrupted ones."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from lightning_modules.ae import AE
from lightning_modules.corruption import Corruption, check_corruption, corrupt
from lightning_modules.likelihoods import LikelihoodName


class DAE(AE):
    """Minimises −log p(x | z = enc(x̃)), x̃ the input corrupted by ``corruption`` at ``noise_level`` (see
    :mod:`lightning_modules.corruption`), drawn afresh each step; the target is the clean x.

    Only training (and the validation loss) sees corrupted inputs: ``encode`` is the AE's, so an evaluation encodes
    clean images as for any model. ``noise_level`` 0 is the plain AE.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        corruption: Corruption = "gauss",
        noise_level: float = 0.3,  # σ of gauss, the middle of the denoise_mse_gauss* levels; a share otherwise
    ) -> None:
        check_corruption(corruption, noise_level)
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters()
        self.corruption = corruption
        self.noise_level = noise_level

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        noisy = corrupt(x, self.corruption, self.noise_level)
        recon = -self.log_likelihood(x, self.encode(noisy).mean).mean()
        return {"loss": recon, "recon": recon, "kl": recon.new_zeros(())}
