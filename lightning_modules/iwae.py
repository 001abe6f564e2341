"""The importance-weighted autoencoder (Burda et al. 2016): the VAE's model, trained on a K-sample bound."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from lightning_modules.kl_control import KL_OPTIONS
from lightning_modules.likelihoods import LikelihoodName
from lightning_modules.posterior import Posterior
from lightning_modules.vae import VAE


class IWAE(VAE):
    """Minimises −L_K, L_K = mean over the batch of logsumexp_k(log w_k) − log K (Burda et al. 2016).

    log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x) with z_1 … z_K reparameterised draws from q(z|x); the
    posterior (diagonal Gaussian) and the prior (N(0, I)) are the VAE's. L_1 is the one-sample ELBO with a
    Monte Carlo KL (log q − log p of the same draw), equal in expectation to the VAE's loss, which uses the
    analytic KL; L_K rises with K towards log p(x) (their Theorem 1). ``recon`` and ``kl`` are the one-sample
    terms, for the training curves: −log p(x|z_1) and the analytic KL(q(z|x) ‖ p(z)).

    The VAE's warm-up and free bits do not apply: the bound has no separate KL term to weight or floor.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        k: int = 5,  # Burda et al. train with K ∈ {1, 5, 50}; 5 costs 5 decoder passes per image
    ) -> None:
        if k < 1:
            raise ValueError(f"k (importance samples) must be >= 1, got {k}")
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters(ignore=list(KL_OPTIONS))  # the VAE's KL options are not this model's
        self.k = k

    def log_weights(self, x: Tensor, q: Posterior, z: Tensor) -> tuple[Tensor, Tensor]:
        """log w (K, B) of codes ``z`` (K, B, D) drawn from ``q``, and the log p(x|z) (K, B) inside it."""
        k, b = z.shape[:2]
        images = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
        log_px = self.log_likelihood(images, z.reshape(k * b, -1)).view(k, b)
        return log_px + self.prior.log_prob(z) - q.log_prob(z), log_px  # type: ignore[union-attr]

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        q = self.encode(x)
        log_w, log_px = self.log_weights(x, q, q.rsample(self.k))
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.k)
        kl = self.prior.kl_per_dim(q).sum(1).mean()  # type: ignore[union-attr]
        return {"loss": -bound.mean(), "recon": -log_px[0].mean(), "kl": kl}
