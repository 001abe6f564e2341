"""A model written outside the package, against the model interface alone: a small VAE with its own encoder.

It is not an ``AutoencoderModule`` (the suite's base class): everything the harness calls is defined here, so
this file is what a user's own model needs. The config names it by import path,
``examples.custom_model.my_vae:TinyVAE``; its constructor's keyword arguments are its config schema.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from lightning_modules import Posterior, StandardNormal


class TinyVAE(pl.LightningModule):
    """A Gaussian VAE with a residual MLP encoder, a Bernoulli decoder and an N(0, I) prior.

    The harness constructs it as ``TinyVAE(image_shape, **hyperparameters)``, trains it with a Lightning
    Trainer (it reads the epoch mean of ``train/loss`` to catch divergence, and ``val/loss`` when the config
    has a validation loop), then evaluates it through ``encode``, ``decode``, ``log_likelihood`` and ``prior``.
    """

    def __init__(self, image_shape: Sequence[int], latent_dim: int = 4, width: int = 64, lr: float = 2e-3) -> None:
        super().__init__()
        self.image_shape, self.lr = tuple(image_shape), lr
        pixels = math.prod(image_shape)
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(pixels, width), nn.SiLU())
        self.block = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU())  # a residual branch
        self.head = nn.Linear(width, 2 * latent_dim)  # mean and log-variance
        self.decoder = nn.Sequential(nn.Linear(latent_dim, width), nn.SiLU(), nn.Linear(width, pixels))
        self.prior = StandardNormal(latent_dim)  # an object with sample(n, generator) and log_prob(z)

    def encode(self, x: Tensor) -> Posterior:
        """q(z|x) as a diagonal Gaussian: a log-variance makes the KL, active-units and MI metrics apply."""
        h = self.stem(x)
        mean, logvar = self.head(h + self.block(h)).chunk(2, dim=-1)
        return Posterior(mean, logvar.clamp(-10, 10))

    def _logits(self, z: Tensor) -> Tensor:
        return self.decoder(z).reshape(len(z), *self.image_shape)

    def decode(self, z: Tensor) -> Tensor:
        """Mean images in [0, 1]."""
        return torch.sigmoid(self._logits(z))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) per image (nats): a Bernoulli on grey values, as the suite's default likelihood."""
        bce = nn.functional.binary_cross_entropy_with_logits(self._logits(z), x, reduction="none")
        return -bce.flatten(1).sum(1)

    def _loss(self, x: Tensor) -> Tensor:
        """The negative ELBO per image, averaged over the batch."""
        q = self.encode(x)
        kl = 0.5 * (q.mean.pow(2) + q.logvar.exp() - 1 - q.logvar).sum(1)  # type: ignore[union-attr]
        return (kl - self.log_likelihood(x, q.rsample())).mean()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch[0])
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch[0]), on_step=False, on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
