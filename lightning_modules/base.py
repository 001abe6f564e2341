"""The base LightningModule: networks, the model interface and the shared steps. Subclasses define the loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from lightning_modules.interface import Prior
from lightning_modules.likelihoods import LikelihoodName, make_likelihood
from lightning_modules.networks import build_decoder, build_encoder
from lightning_modules.posterior import Posterior
from lightning_modules.priors import StandardNormal


#: attributes of :class:`AutoencoderModule` set directly (see its ``__setattr__``)
_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name", "_count", "_sums"})


class AutoencoderModule(pl.LightningModule, ABC):
    """Encoder, decoder and likelihood shared by every model (AE, VAE, β-VAE, IWAE, RAE, WAE); only
    :meth:`loss_terms` differs.

    The harness talks to every model through the interface of :mod:`lightning_modules.interface`:
    ``encode``, ``decode``, ``log_likelihood`` and ``prior`` (N(0, I) for the variational models and the WAE,
    whose deterministic codes are matched to it; None for the AE and the RAE). Epoch means of the loss terms
    are logged once per epoch (no per-step ``self.log``: it costs more than a step of these small models, see
    DESIGN.md).
    """

    variational = False  # does ``encode`` return a distribution (mean and log-variance)?
    prior: Prior | None = None
    #: the gradient-norm clip of :meth:`training_step`, set by the harness from ``trainer.gradient_clip_val``
    #: (Lightning clips only under automatic optimisation)
    gradient_clip_val: float | None = None
    #: set by the harness for one fit when Lightning's backward and optimiser-step wrappers do nothing for it
    #: (see :meth:`training_step` and :func:`benchmarks.execution.train.plain_steps`); False: Lightning's calls
    plain_steps: bool = False

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.likelihood = make_likelihood(likelihood, gaussian_sigma)
        enc_out = 2 * latent_dim if self.variational else latent_dim
        self.encoder = build_encoder(self.image_shape, enc_out, hidden)
        self.decoder = build_decoder(latent_dim, self.image_shape, hidden)
        self.prior = StandardNormal(latent_dim) if self.variational else None
        self._sums: dict[str, Tensor] = {}
        self._count = 0
        # One optimiser and one backward a step, written out: Lightning's automatic-optimisation closure costs
        # ~0.5 ms a step, 20% of an MLP step on digits (measured by `aebench perf`, reports/performance.md).
        self.automatic_optimization = False

    # -- the model interface ------------------------------------------------------------------
    def encode(self, x: Tensor) -> Posterior:
        h = self.encoder(x)
        if not self.variational:
            return Posterior(h)
        mean, logvar = h.chunk(2, dim=1)
        return Posterior(mean, logvar)

    def decode(self, z: Tensor) -> Tensor:
        """Mean images (B, C, H, W) of codes ``z`` (B, D)."""
        return self.likelihood.mean(self.decoder(z))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) per image, (B,) nats, under the configured likelihood."""
        return self.likelihood.log_prob(x, self.decoder(z))

    def log_likelihood_pixels(self, x: Tensor, z: Tensor) -> Tensor:
        """The per-value terms (B, C, H, W) of :meth:`log_likelihood` (the pixels factorise given z): a sum over
        a subset of them is the likelihood of those pixels alone, as inpainting's sampler reads it."""
        return self.likelihood.log_prob_pixels(x, self.decoder(z))

    # -- the loss ------------------------------------------------------------------------------
    @abstractmethod
    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Batch means of ``loss`` (what is minimised), ``recon`` (−log p(x|z)) and ``kl`` (0 without a posterior
        distribution); a model may add terms of its own (logged alongside as ``train/<name>``)."""

    # -- Lightning steps -----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        # Plain attributes set on every step (Lightning sets `_current_fx_name` twice around each of the ~15 hook
        # calls of a step) skip nn.Module's parameter/buffer/submodule checks: ~1.5 µs a call, 2% of a digits MLP
        # step. They are never tensors registered with the module, so where they are stored does not change.
        if name in _PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        optimizer = self.optimizers()
        terms = self.loss_terms(batch[0])
        optimizer.zero_grad()
        # With `plain_steps` (one device, plain 32-bit precision, no hook around backward or the step overridden;
        # checked by the harness for the fit) this is what `manual_backward` and `optimizer.step()` come to: the
        # same backward and step, and the same step counter, without 6 no-op hook dispatches and 4 wrapper layers
        # (~0.1 ms a step, 4% of a digits MLP step; see reports/performance.md).
        if self.plain_steps:
            terms["loss"].backward()
        else:
            self.manual_backward(terms["loss"])
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")
        if self.plain_steps:
            optimizer._on_before_step()  # the manual-optimisation loop's step counter (`trainer.global_step`)
            optimizer.optimizer.step()
            optimizer._on_after_step()
        else:
            optimizer.step()
        sums = self._sums
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + value.detach()
        self._count += 1

    def on_train_epoch_end(self) -> None:
        if self._count:
            means = {f"train/{k}": v / self._count for k, v in self._sums.items()}
            self.log_dict(means, sync_dist=True)
        self._sums, self._count = {}, 0

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        terms = self.loss_terms(batch[0])
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=len(batch[0]), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
