"""β-VAE (Higgins et al. 2017) and its capacity-controlled variant (Burgess et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from lightning_modules.kl_control import KLWarmup
from lightning_modules.likelihoods import LikelihoodName
from lightning_modules.vae import VAE


class BetaVAE(VAE):
    """Loss = recon + β·KL, or recon + γ·|KL − C| with C annealed linearly to ``capacity_max`` nats.

    The capacity variant is on when ``capacity_max`` is set; β is then unused. The VAE's KL warm-up and free
    bits apply on top (see :class:`~lightning_modules.vae.VAE`): the warm-up weight multiplies the β- (or
    capacity-) weighted term, and free bits floor the KL inside it.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        beta: float = 4.0,
        capacity_max: float | None = None,
        capacity_gamma: float = 1000.0,
        capacity_steps: int = 10000,
        kl_warmup: KLWarmup = "none",
        kl_warmup_steps: int = 10000,
        kl_cycles: int = 4,
        free_bits: float = 0.0,
    ) -> None:
        super().__init__(
            image_shape,
            latent_dim,
            likelihood,
            gaussian_sigma,
            hidden,
            lr,
            kl_warmup=kl_warmup,
            kl_warmup_steps=kl_warmup_steps,
            kl_cycles=kl_cycles,
            free_bits=free_bits,
        )
        self.save_hyperparameters()
        self.beta = beta
        self.capacity_max = capacity_max
        self.capacity_gamma = capacity_gamma
        self.capacity_steps = capacity_steps

    def capacity(self) -> float:
        """C at the current step: 0 → ``capacity_max`` over ``capacity_steps`` steps."""
        assert self.capacity_max is not None
        return self.capacity_max * min(1.0, self.global_step / self.capacity_steps)

    def kl_weighted(self, kl: Tensor) -> Tensor:
        if self.capacity_max is None:
            return self.beta * kl
        return self.capacity_gamma * (kl - self.capacity()).abs()
