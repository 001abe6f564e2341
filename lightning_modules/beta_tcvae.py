"""β-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in Variational Autoencoders")."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from lightning_modules.kl_control import KL_OPTIONS
from lightning_modules.likelihoods import LikelihoodName
from lightning_modules.total_correlation import TC_ESTIMATORS, TCEstimator, kl_decomposition
from lightning_modules.vae import VAE


class BetaTCVAE(VAE):
    """Loss = recon + α·MI + β·TC + γ·dimension-wise KL, the three terms of the KL decomposition estimated on the
    minibatch at one reparameterised code per image (:mod:`lightning_modules.total_correlation`).

    α = γ = 1 with β > 1 is the β-TCVAE of the paper: only the total correlation of q(z) is penalised more; α = β
    = γ = 1 is the VAE's objective with a Monte Carlo KL (the terms sum to log q(z|x) − log p(z) exactly).
    ``beta`` = 6 is the middle of the grid {1, 2, 4, 6, 8, 10} on which Locatello et al. 2019 compare β-TCVAE.

    The estimator weighs the batch's posteriors by the number N of training images (``dataset_size``). None
    (default) takes N from the training split of the Trainer's datamodule when fitting; outside a Trainer (a loss
    computed by hand) the batch stands for the data set, N = batch size. ``estimator`` is ``"mss"`` (default:
    consistent, so the logged ``mi``, ``tc`` and ``dim_kl`` estimate those quantities) or ``"mws"``, the paper's
    main estimator, whose terms are offset by constants multiple of log N (same gradients; see the module).

    The logged ``kl`` is the analytic KL(q(z|x) ‖ p(z)), as for the VAE. The VAE's warm-up and free bits do not
    apply: the KL enters the loss through its three terms.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        alpha: float = 1.0,  # weight of the index-code mutual information
        beta: float = 6.0,  # weight of the total correlation (see the class doc)
        gamma: float = 1.0,  # weight of the dimension-wise KL
        dataset_size: int | None = None,  # N of the estimator; None: the training split's size (class doc)
        estimator: TCEstimator = "mss",
    ) -> None:
        if min(alpha, beta, gamma) < 0:
            raise ValueError(f"alpha, beta and gamma must be >= 0, got {alpha}, {beta} and {gamma}")
        if dataset_size is not None and dataset_size < 1:
            raise ValueError(f"dataset_size must be >= 1 or None, got {dataset_size}")
        if estimator not in TC_ESTIMATORS:
            raise ValueError(f"estimator must be one of {TC_ESTIMATORS}, got '{estimator}'")
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters(ignore=list(KL_OPTIONS))  # the VAE's KL options are not this model's
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.estimator = estimator
        self.dataset_size = dataset_size
        self._training_images: int | None = None  # counted in `setup` when dataset_size is None

    def setup(self, stage: str) -> None:
        """Count the training images for the estimator when ``dataset_size`` is not given."""
        if self.dataset_size is None:
            train = getattr(self.trainer.datamodule, "train", None)
            if train is None:
                raise ValueError("beta_tcvae: set dataset_size, the datamodule has no training split to count")
            self._training_images = len(train)

    def estimator_size(self, batch_size: int) -> int:
        """N of the estimator: ``dataset_size``, else the counted training images, else ``batch_size``."""
        return self.dataset_size or self._training_images or batch_size

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        q = self.encode(x)
        z = q.rsample()
        recon = -self.log_likelihood(x, z).mean()
        parts = kl_decomposition(z, q, self.estimator_size(len(x)), self.estimator)
        mi, tc, dim_kl = parts.mutual_info.mean(), parts.total_correlation.mean(), parts.dimwise_kl.mean()
        kl = self.prior.kl_per_dim(q).sum(1).mean()  # type: ignore[union-attr]
        loss = recon + self.alpha * mi + self.beta * tc + self.gamma * dim_kl
        return {"loss": loss, "recon": recon, "kl": kl, "mi": mi, "tc": tc, "dim_kl": dim_kl}
