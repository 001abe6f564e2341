"""The variational autoencoder (Kingma & Welling 2014): diagonal Gaussian posterior, N(0, I) prior."""

from __future__ import annotations

from torch import Tensor

from lightning_modules.base import AutoencoderModule


class VAE(AutoencoderModule):
    """Minimises −ELBO = −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)), one reparameterised sample per image."""

    variational = True

    def kl_weighted(self, kl: Tensor) -> Tensor:
        """The KL term as it enters the loss; β-VAE overrides this."""
        return kl

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        q = self.encode(x)
        recon = -self.log_likelihood(x, q.rsample()).mean()
        kl = self.prior.kl_per_dim(q).sum(1).mean()  # type: ignore[union-attr]
        return {"loss": recon + self.kl_weighted(kl), "recon": recon, "kl": kl}
