"""The plain autoencoder: a deterministic code, trained on reconstruction alone."""

from __future__ import annotations

from torch import Tensor

from lightning_modules.base import AutoencoderModule


class AE(AutoencoderModule):
    """Minimises −log p(x | z = enc(x)); there is no prior and no KL (logged as 0)."""

    variational = False

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        recon = -self.log_likelihood(x, self.encode(x).mean).mean()
        return {"loss": recon, "recon": recon, "kl": recon.new_zeros(())}
