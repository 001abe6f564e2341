"""The regularised autoencoder (Ghosh et al. 2020, "From variational to deterministic autoencoders")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from lightning_modules.base import AutoencoderModule
from lightning_modules.likelihoods import LikelihoodName

RAERegulariser = Literal["l2", "gp"]  # the schema of a model's ``reg``
RAE_REGULARISERS = get_args(RAERegulariser)


def decoder_weight_norm(decoder: nn.Module) -> Tensor:
    """Σ θ² over every parameter of ``decoder`` (weights and biases): the paper's L_L2 = ‖θ‖²₂."""
    return torch.stack([p.pow(2).sum() for p in decoder.parameters()]).sum()


def jacobian_sq_norm(fn: Callable[[Tensor], Tensor], z: Tensor) -> Tensor:
    """‖∂fn(z_i)/∂z_i‖²_F of each row of ``z`` (B, D), (B,), exact and differentiable (``create_graph``).

    The Jacobian's D columns J e_d are forward-mode products, got from reverse mode by the double-backward
    trick: g(u) = uᵀJ is linear in a dummy u, and ∂⟨g(u), e_d⟩/∂u = J e_d. The batch is repeated once per
    latent dim, so this costs a D-times larger batch through the decoder and two extra backward passes.
    Under ``torch.no_grad``/``inference_mode`` (validation) it is computed on detached codes and returned
    detached: the value is the same, only nothing is trained through it.
    """
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        with torch.inference_mode(False), torch.enable_grad():
            return jacobian_sq_norm(fn, z.detach().clone()).detach()
    b, d = z.shape
    if not z.requires_grad:
        z = z.detach().requires_grad_()
    zs = z.repeat(d, 1)  # row block k is the batch, to be pushed along e_k
    out = fn(zs).flatten(1)
    u = torch.zeros_like(out, requires_grad=True)
    (vjp,) = torch.autograd.grad(out, zs, u, create_graph=True)
    directions = torch.eye(d, dtype=z.dtype, device=z.device).repeat_interleave(b, dim=0)
    (jvp,) = torch.autograd.grad(vjp, u, directions, create_graph=True)  # J e_k for every row of block k
    return jvp.pow(2).sum(1).view(d, b).sum(0)


class RAE(AutoencoderModule):
    """Deterministic autoencoder with an explicit regulariser, no prior (samples come from post-hoc densities).

    Loss = −log p(x | z) + ``z_weight`` · ½‖z‖² + ``reg_weight`` · L_REG, z = enc(x) (Ghosh et al. 2020),
    batch means; L_REG is ``reg``:

    - ``"l2"``: Σ θ² over the decoder's parameters (RAE-L2, Tikhonov / weight decay on the decoder);
    - ``"gp"``: the gradient penalty ‖∂ decoder(z)/∂z‖²_F (RAE-GP), the squared Frobenius norm of the decoder
      network's Jacobian at the code, through autograd (:func:`jacobian_sq_norm`). For the Bernoulli and
      continuous Bernoulli likelihoods the network's outputs are logits, so this is the Jacobian of the logits.

    Defaults are the authors' MNIST settings (``configurations/config.py`` of their code,
    github.com/ParthaEth/Regularized_autoencoders-RAE-): β = 1e-4 on L_Z for RAE-L2 and RAE-GP, λ = 1e-7 for
    RAE-L2 and 5e-8 for RAE-GP (pass ``reg_weight=5e-8`` with ``reg="gp"``). Those weights go with their
    reconstruction term, a per-pixel mean squared error, while ``recon`` here is −log p(x|z) in nats per image
    (a sum over pixels): against it the same numbers regularise about D-fold less (D = 784 on MNIST). Sweep them.

    ``kl`` is logged as 0 (no posterior distribution); ``z_penalty`` (½‖z‖²) and ``decoder_reg`` (L_REG) too.
    """

    variational = False

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int = 8,
        likelihood: LikelihoodName = "bernoulli",
        gaussian_sigma: float = 0.1,
        hidden: Sequence[int] = (256, 128),
        lr: float = 1e-3,
        reg: RAERegulariser = "l2",
        z_weight: float = 1e-4,  # β of the paper; the authors' MNIST value for RAE-L2 and RAE-GP
        reg_weight: float = 1e-7,  # λ of the paper; the authors' MNIST value for RAE-L2 (RAE-GP: 5e-8)
    ) -> None:
        if reg not in RAE_REGULARISERS:
            raise ValueError(f"reg must be one of {RAE_REGULARISERS}, got '{reg}'")
        if z_weight < 0 or reg_weight < 0:
            raise ValueError(f"z_weight and reg_weight must be >= 0, got {z_weight} and {reg_weight}")
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters()
        self.reg = reg
        self.z_weight = z_weight
        self.reg_weight = reg_weight

    def regulariser(self, z: Tensor) -> Tensor:
        """L_REG of the configured ``reg`` at codes ``z`` (B, D), a scalar (the batch mean for ``"gp"``)."""
        if self.reg == "gp":
            return jacobian_sq_norm(self.decoder, z).mean()
        return decoder_weight_norm(self.decoder)

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        z = self.encode(x).mean
        recon = -self.log_likelihood(x, z).mean()
        z_penalty = 0.5 * z.pow(2).sum(1).mean()
        reg = self.regulariser(z)
        loss = recon + self.z_weight * z_penalty + self.reg_weight * reg
        return {"loss": loss, "recon": recon, "kl": recon.new_zeros(()), "z_penalty": z_penalty, "decoder_reg": reg}
