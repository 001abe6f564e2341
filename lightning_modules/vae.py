"""The variational autoencoder (Kingma & Welling 2014): diagonal Gaussian posterior, N(0, I) prior."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from lightning_modules.base import AutoencoderModule
from lightning_modules.kl_control import KLWarmup, check_kl_options, free_bits_kl, warmup_weight
from lightning_modules.likelihoods import LikelihoodName


class VAE(AutoencoderModule):
    """Minimises −ELBO = −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)), one reparameterised sample per image.

    Two remedies for posterior collapse, both off by default, enter the KL term of the loss here, in one place:

    - ``kl_warmup``: the KL term is multiplied by a weight that rises from 0 to 1: ``"linear"``
      (min(1, step / ``kl_warmup_steps``), Bowman et al. 2016) or ``"cyclical"`` (``kl_cycles`` cycles over
      ``kl_warmup_steps`` steps, each rising linearly over its first half and then 1, Fu et al. 2019); 1 afterwards.
      The step is ``self.global_step``. Only the training loss is scheduled: outside training (``val/loss``, which
      picks the best checkpoint and drives early stopping) the weight is 1, the objective the schedule ends at, so
      a checkpoint is never preferred for being taken while the weight was small.
    - ``free_bits``: the KL term is Σ_d max(``free_bits``, KL_d), KL_d the batch-mean KL of dim d in nats
      (Kingma et al. 2016); the logged ``kl`` stays the true KL.

    So loss = recon + w(step) · kl_weighted(Σ_d max(free_bits, KL_d)), where :meth:`kl_weighted` is the identity
    here and β·KL (or the capacity term) in β-VAE.
    """

    variational = True

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        kl_warmup: KLWarmup = "none",
        kl_warmup_steps: int = 10000,
        kl_cycles: int = 4,  # Fu et al. 2019's M
        free_bits: float = 0.0,  # nats per latent dim; 0 is the plain KL
    ) -> None:
        check_kl_options(kl_warmup, kl_warmup_steps, kl_cycles, free_bits)
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.kl_warmup = kl_warmup
        self.kl_warmup_steps = kl_warmup_steps
        self.kl_cycles = kl_cycles
        self.free_bits = free_bits

    def kl_weight(self) -> float:
        """The warm-up weight at ``self.global_step`` while training; 1 in evaluation mode (see the class doc)."""
        if not self.training:
            return 1.0
        return warmup_weight(self.kl_warmup, self.global_step, self.kl_warmup_steps, self.kl_cycles)

    def kl_weighted(self, kl: Tensor) -> Tensor:
        """The KL term as it enters the loss, before the warm-up weight; β-VAE overrides this."""
        return kl

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        q = self.encode(x)
        recon = -self.log_likelihood(x, q.rsample()).mean()
        kl_per_dim = self.prior.kl_per_dim(q)  # type: ignore[union-attr]
        kl = kl_per_dim.sum(1).mean()
        # free_bits = 0 keeps the plain KL as it was summed before the option existed (runs reproduce to the bit)
        kl_term = free_bits_kl(kl_per_dim.mean(0), self.free_bits) if self.free_bits > 0 else kl
        return {"loss": recon + self.kl_weight() * self.kl_weighted(kl_term), "recon": recon, "kl": kl}
