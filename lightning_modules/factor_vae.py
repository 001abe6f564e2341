"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising"): the VAE plus γ·TC, the total correlation of q(z)
estimated by a discriminator between codes and codes with every dimension shuffled across the batch."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from lightning_modules.kl_control import KL_OPTIONS
from lightning_modules.likelihoods import LikelihoodName
from lightning_modules.vae import VAE

DISC_BETAS = (0.5, 0.9)  # the paper's Adam betas for the discriminator
LEAKY_SLOPE = 0.2  # the paper's discriminator activation: LeakyReLU(0.2)


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each column of ``z`` (B, D) shuffled by its own random permutation of the batch (the paper's ``permute_dims``).

    The rows of the result are draws from the product of the batch's marginals Π_d q(z_d): each column keeps its
    values, the dependence between columns is broken.

    Example:
        >>> z = torch.arange(6.0).view(3, 2)
        >>> p = permute_dims(z, torch.Generator().manual_seed(0))
        >>> [sorted(p[:, d].tolist()) == z[:, d].tolist() for d in range(2)]
        [True, True]
    """
    keys = torch.rand(z.shape, generator=generator, dtype=torch.float32).to(z.device)
    return z.gather(0, keys.argsort(dim=0))


def build_discriminator(latent_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """An MLP from codes (B, D) to two logits (B, 2): class 0 "drawn from q(z)", class 1 "from Π_d q(z_d)"."""
    sizes = [latent_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.LeakyReLU(LEAKY_SLOPE)]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 2))


class FactorVAE(VAE):
    """VAE loss + γ·TC, TC ≈ E_q(z)[log D(z) / (1 − D(z))] = the mean over the batch of logit₀ − logit₁ of the
    discriminator D at the batch's reparameterised codes.

    D is trained by cross-entropy to tell the batch's codes (class 0) from :func:`permute_dims` of them (class 1);
    the paper draws the shuffled codes from a second batch, here they are the same batch's codes shuffled, so each
    step costs one encoder pass. At D's optimum logit₀ − logit₁ = log q(z) / Π_d q(z_d), whose mean is the TC.

    Both objectives are minimised in one backward pass of ``loss`` = ``vae_loss`` + ``disc_loss``, each reaching
    only its own parameters: the TC term of ``vae_loss`` reads D through detached copies of its weights, and
    ``disc_loss`` reads detached codes. :meth:`configure_optimizers` gives the two parameter sets their own Adam
    settings (the VAE ``lr``; D ``disc_lr`` with betas (0.5, 0.9), the paper's), in one optimiser with two
    parameter groups: Adam's state is per parameter, so its updates are those of two optimisers, while the
    Trainer keeps one step per batch (``max_steps``), gradient clipping (over both groups together) and a single
    optimiser state in checkpoints. ``val/loss``, which picks the best checkpoint, includes ``disc_loss`` too.

    ``gamma`` = 10 is the smallest of the grid {10, 20, 30, 40, 50, 100} on which Locatello et al. 2019 compare
    FactorVAE. The paper's discriminator has 6 layers of 1000 units; the default here has 3 hidden layers of 256
    (``disc_hidden``), about 30 times fewer weights (135k against 4.0M at D = 10) for CPU runs; pass
    ``[1000, 1000, 1000, 1000, 1000]`` for the paper's. The VAE's warm-up and free bits do not apply.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        gamma: float = 10.0,  # TC weight (see the class doc)
        disc_hidden: Sequence[int] = (256, 256, 256),  # the paper: (1000,) * 5, for GPUs
        disc_lr: float = 1e-4,  # the paper's
    ) -> None:
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if disc_lr <= 0 or not disc_hidden or min(disc_hidden) <= 0:
            raise ValueError(f"disc_lr must be > 0 and disc_hidden non-empty widths > 0, got {disc_lr}, {disc_hidden}")
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters(ignore=list(KL_OPTIONS))  # the VAE's KL options are not this model's
        self.gamma = gamma
        self.discriminator = build_discriminator(latent_dim, disc_hidden)

    def tc_estimate(self, z: Tensor) -> Tensor:
        """Mean of logit₀ − logit₁ of D at ``z``, differentiable in ``z`` only (D's weights are read detached)."""
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        logits = functional_call(self.discriminator, frozen, (z,))
        return (logits[:, 0] - logits[:, 1]).mean()

    def discriminator_loss(self, z: Tensor) -> Tensor:
        """Cross-entropy of D on the detached codes ``z`` (class 0) and their :func:`permute_dims` (class 1)."""
        codes = z.detach()
        logits = self.discriminator(torch.cat([codes, permute_dims(codes)]))
        labels = torch.arange(2, device=z.device).repeat_interleave(len(z))
        return F.cross_entropy(logits, labels)

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        q = self.encode(x)
        z = q.rsample()
        recon = -self.log_likelihood(x, z).mean()
        kl = self.prior.kl_per_dim(q).sum(1).mean()  # type: ignore[union-attr]
        tc = self.tc_estimate(z)
        vae_loss = recon + kl + self.gamma * tc
        disc_loss = self.discriminator_loss(z)
        return {"loss": vae_loss + disc_loss, "recon": recon, "kl": kl, "tc": tc, "vae_loss": vae_loss,
                "disc_loss": disc_loss}  # fmt: skip

    def configure_optimizers(self) -> torch.optim.Optimizer:
        disc = list(self.discriminator.parameters())
        disc_ids = {id(p) for p in disc}
        vae = [p for p in self.parameters() if id(p) not in disc_ids]
        return torch.optim.Adam([
            {"params": vae, "lr": self.hparams.lr},
            {"params": disc, "lr": self.hparams.disc_lr, "betas": DISC_BETAS},
        ])  # fmt: skip
