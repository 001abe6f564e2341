"""The VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning"), with a learned prior over its codes.

The encoder's flat output of ``latent_dim`` numbers is read as ``latent_dim // code_dim`` positions of ``code_dim``
numbers; each position is replaced by the nearest of ``codebook_size`` codebook vectors, and the decoder reads the
quantised vectors, flattened back to (B, latent_dim). The discrete codes (B, positions) are the codebook indices.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_modules.base import AutoencoderModule
from lightning_modules.likelihoods import LikelihoodName
from lightning_modules.posterior import Posterior

EMA_EPSILON = 1e-5  # Laplace smoothing of the cluster sizes (Sonnet's VectorQuantizerEMA)


def ema_codebook_update(
    cluster_size: Tensor, code_sum: Tensor, z_e: Tensor, codes: Tensor, decay: float, epsilon: float = EMA_EPSILON
) -> tuple[Tensor, Tensor, Tensor]:
    """One EMA step of the codebook (the paper's appendix, eqs. 6–8): new cluster sizes N, sums m and codebook e.

    N_i ← γ N_i + (1 − γ) n_i and m_i ← γ m_i + (1 − γ) Σ_{j: code j = i} z_e,j over the batch's ``z_e`` (M, d) and
    their ``codes`` (M,); e_i = m_i / Ñ_i with the Laplace-smoothed Ñ_i = (N_i + ε) / (n + K ε) · n, n = Σ_i N_i, so
    that an entry no batch has chosen yet (N_i = 0) does not divide by zero.

    Example:
        >>> n, m, e = ema_codebook_update(torch.zeros(2), torch.zeros(2, 1), torch.tensor([[1.0], [3.0]]),
        ...                               torch.tensor([0, 1]), decay=0.5, epsilon=0.0)
        >>> n.tolist(), m.tolist(), e.tolist()
        ([0.5, 0.5], [[0.5], [1.5]], [[1.0], [3.0]])
    """
    one_hot = F.one_hot(codes, len(cluster_size)).to(code_sum.dtype)
    counts, sums = one_hot.sum(0), one_hot.T @ z_e.to(code_sum.dtype)
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # DDP: the statistics of every rank
        torch.distributed.all_reduce(counts)
        torch.distributed.all_reduce(sums)
    cluster_size = decay * cluster_size + (1 - decay) * counts
    code_sum = decay * code_sum + (1 - decay) * sums
    n = cluster_size.sum()
    smoothed = (cluster_size + epsilon) / (n + len(cluster_size) * epsilon) * n
    return cluster_size, code_sum, code_sum / smoothed.unsqueeze(1)


class VectorQuantiser(nn.Module):
    """A codebook of ``codebook_size`` vectors of ``code_dim``: a parameter (codebook loss) or, with ``ema``, buffers
    updated by :func:`ema_codebook_update`. Initialised uniform in ±√(3 / code_dim) (Sonnet's variance scaling)."""

    def __init__(self, codebook_size: int, code_dim: int, *, ema: bool, decay: float) -> None:
        super().__init__()
        init = (2 * torch.rand(codebook_size, code_dim) - 1) * math.sqrt(3 / code_dim)
        self.ema, self.decay = ema, decay
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("cluster_size", torch.zeros(codebook_size))
            self.register_buffer("code_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)

    def nearest(self, z: Tensor) -> Tensor:
        """Index (...) of the codebook vector nearest to each vector of ``z`` (..., code_dim), in squared distance."""
        flat = z.reshape(-1, z.shape[-1]).to(self.codebook.dtype)
        sq = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)
        return sq.argmin(1).view(z.shape[:-1])

    def lookup(self, codes: Tensor) -> Tensor:
        """The codebook vectors (..., code_dim) of indices ``codes`` (...)."""
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def update(self, z_e: Tensor, codes: Tensor) -> None:
        """The EMA step of the codebook from encoder outputs ``z_e`` (..., code_dim) and their ``codes`` (...)."""
        cluster_size, code_sum, codebook = ema_codebook_update(
            self.cluster_size, self.code_sum, z_e.reshape(-1, z_e.shape[-1]), codes.reshape(-1), self.decay
        )
        self.cluster_size.copy_(cluster_size)
        self.code_sum.copy_(code_sum)
        self.codebook.copy_(codebook)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` (out, in): MADE's connectivity."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask, persistent=False)  # rebuilt from the sizes: not in checkpoints

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class CodeMADE(nn.Module):
    """An autoregressive categorical model of code sequences (B, P): MADE (Germain et al. 2015) on one-hot codes.

    The input of position p and the logits of position p have degree p + 1; hidden unit k has degree
    1 + k mod (P − 1); an edge exists from degree a to hidden degree b when b ≥ a, and from hidden degree b to an
    output of degree a when a > b. So the logits of position p depend on positions < p only, and
    log p(codes) = Σ_p log p(code_p | codes_<p) in one pass. With one position the logits are the output bias.
    """

    def __init__(self, n_positions: int, codebook_size: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.n_positions, self.codebook_size = n_positions, codebook_size
        io_degree = torch.arange(n_positions).repeat_interleave(codebook_size) + 1  # (P·K,)
        degrees = [io_degree] + [torch.arange(h) % max(1, n_positions - 1) + 1 for h in hidden]
        layers: list[nn.Module] = []
        for before, after in itertools.pairwise(degrees):
            layers += [MaskedLinear((after[:, None] >= before[None, :]).float()), nn.ReLU()]
        layers.append(MaskedLinear((io_degree[:, None] > degrees[-1][None, :]).float()))
        self.net = nn.Sequential(*layers)

    def logits(self, codes: Tensor) -> Tensor:
        """Logits (B, P, K) of each position given the codes before it; ``codes`` (B, P) indices."""
        one_hot = F.one_hot(codes, self.codebook_size).flatten(1).to(self.net[0].weight.dtype)
        return self.net(one_hot).view(len(codes), self.n_positions, self.codebook_size)

    def log_prob(self, codes: Tensor) -> Tensor:
        """log p(codes) (B,) in nats."""
        log_p = self.logits(codes).log_softmax(-1)
        return log_p.gather(2, codes.unsqueeze(2)).squeeze(2).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` code sequences (n, P) on the CPU, position by position, with randomness only from ``generator``."""
        device = self.net[0].weight.device
        codes = torch.zeros(n, self.n_positions, dtype=torch.long)
        for p in range(self.n_positions):
            probs = self.logits(codes.to(device))[:, p].softmax(-1).float().cpu()
            codes[:, p] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return codes


class LearnedCodePrior:
    """The VQ-VAE's prior as the interface's :class:`~lightning_modules.interface.Prior`: a :class:`CodeMADE` over
    the codes, read and written as their quantised vectors flattened to (n, positions · code_dim)."""

    def __init__(self, network: CodeMADE, quantiser: VectorQuantiser) -> None:
        self.network, self.quantiser = network, quantiser

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, D) quantised vectors of code sequences drawn from the prior, on the CPU."""
        codes = self.network.sample(n, generator)
        return self.quantiser.lookup(codes.to(self.quantiser.codebook.device)).flatten(1).cpu()

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(codes) of the codes nearest to ``z`` (..., D), exact for vectors of the codebook; (...) nats."""
        n_positions = self.network.n_positions
        vectors = z.to(self.quantiser.codebook.device).reshape(-1, n_positions, z.shape[-1] // n_positions)
        return self.network.log_prob(self.quantiser.nearest(vectors)).view(z.shape[:-1]).to(z.device)


class VQVAE(AutoencoderModule):
    """Minimises −log p(x | z_q) + ‖sg[z_e] − z_q‖² + ``commitment`` · ‖z_e − sg[z_q]‖² (van den Oord et al. 2017).

    z_e is the encoder's output, z_q its positions replaced by their nearest codebook vectors, sg the stop-gradient;
    the decoder reads z_e + sg[z_q − z_e] (the straight-through estimator: the forward pass is z_q, the gradient of
    the reconstruction passes to z_e unchanged). The squared norms are summed over the whole code and averaged over
    the batch, per image as the reconstruction term (which is summed over pixels). With ``ema`` the codebook term is
    dropped and the codebook is an exponential moving average of the encoder outputs assigned to each entry, with
    decay ``ema_decay`` and Laplace-smoothed cluster sizes (the paper's appendix; Sonnet's VectorQuantizerEMA), updated
    in training steps only (under DDP from the statistics of every rank). An entry that no batch chooses keeps a
    cluster size near 0 and drifts off, as in the reference implementations: ``codebook_usage`` and
    ``codebook_perplexity`` measure how many entries are used.

    ``encode`` is deterministic: ``mean`` is z_q flattened to (B, latent_dim) and ``codes`` (B, positions) its
    indices. The KL of the paper (log K per position against a uniform prior) is a constant, logged as 0; so ELBO,
    IWAE, KL, active-unit and mutual-information metrics read n/a, as for the AE.

    The prior is learned in a second stage, as the paper does with a PixelCNN: a MADE-style masked MLP over the
    position sequence (:class:`CodeMADE`, hidden widths ``prior_hidden``), trained by maximum likelihood on the codes
    of the whole training split for ``prior_steps`` Adam steps of ``prior_batch_size`` codes drawn with a generator
    seeded with ``torch.initial_seed()`` (the run's seed, which Lightning's ``seed_everything`` set, also in every
    DDP process), so the same codes give the same prior; in :meth:`on_train_end`, after the last step and before
    Lightning's teardown: its weights are in the state dict, and the weights saved at the end of training hold it.
    Its parameters are frozen outside that stage (the first stage's loss does not reach them, and DDP needs every
    trainable parameter used). Where the harness evaluates the best checkpoint rather than the last weights, it
    refits the prior to those (:meth:`fit_prior`) and saves them back; the other checkpoints written during
    training hold the untrained prior. ``prior`` draws codes from it and returns their vectors.

    ``code_dim`` = 1 (scalar codes) lets any ``latent_dim`` work; the paper's vectors need a ``code_dim`` > 1 that
    divides ``latent_dim``. ``commitment`` = 0.25 and ``ema_decay`` = 0.99 are the paper's.
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
        codebook_size: int = 32,  # K; the paper's 512 is for 32×32 grids of ImageNet codes
        code_dim: int = 1,  # numbers per position: latent_dim // code_dim positions (see the class doc)
        commitment: float = 0.25,  # β of the paper
        ema: bool = False,
        ema_decay: float = 0.99,  # γ of the paper's appendix
        prior_hidden: Sequence[int] = (256, 256),
        prior_steps: int = 500,  # digits, K = 64, 4 positions: 2.4 s on one thread; 1000 overfit its 1437 codes
        prior_batch_size: int = 256,
        prior_lr: float = 1e-3,
    ) -> None:
        if codebook_size < 1 or code_dim < 1 or latent_dim % code_dim:
            raise ValueError(
                f"codebook_size and code_dim must be >= 1 and code_dim divide latent_dim, got {codebook_size}, "
                f"{code_dim}, {latent_dim}"
            )
        if commitment < 0 or not 0 < ema_decay < 1:
            raise ValueError(f"commitment must be >= 0 and ema_decay in (0, 1), got {commitment}, {ema_decay}")
        if prior_steps < 0 or prior_batch_size < 1 or prior_lr <= 0 or not prior_hidden or min(prior_hidden) < 1:
            raise ValueError(
                f"prior_steps must be >= 0, prior_batch_size >= 1, prior_lr > 0 and prior_hidden non-empty widths "
                f">= 1, got {prior_steps}, {prior_batch_size}, {prior_lr}, {prior_hidden}"
            )
        super().__init__(image_shape, latent_dim, likelihood, gaussian_sigma, hidden, lr)
        self.save_hyperparameters()
        self.code_dim, self.n_positions, self.commitment = code_dim, latent_dim // code_dim, commitment
        self.prior_steps, self.prior_batch_size, self.prior_lr = prior_steps, prior_batch_size, prior_lr
        self.quantiser = VectorQuantiser(codebook_size, code_dim, ema=ema, decay=ema_decay)
        self.prior_net = CodeMADE(self.n_positions, codebook_size, prior_hidden).requires_grad_(False)
        self.prior = LearnedCodePrior(self.prior_net, self.quantiser)

    @property
    def codebook(self) -> Tensor:
        """The codebook (K, code_dim) that ``codes`` index."""
        return self.quantiser.codebook

    def _positions(self, h: Tensor) -> Tensor:
        """The encoder's flat output (B, latent_dim) as (B, positions, code_dim)."""
        return h.view(len(h), self.n_positions, self.code_dim)

    def encode(self, x: Tensor) -> Posterior:
        codes = self.quantiser.nearest(self._positions(self.encoder(x)))
        return Posterior(self.quantiser.lookup(codes).flatten(1), codes=codes)

    def loss_terms(self, x: Tensor) -> dict[str, Tensor]:
        z_e = self._positions(self.encoder(x))
        codes = self.quantiser.nearest(z_e.detach())
        z_q = self.quantiser.lookup(codes)
        commitment = (z_e - z_q.detach()).pow(2).sum((1, 2)).mean()
        if self.quantiser.ema:
            codebook_term = commitment.new_zeros(())
            if self.training:
                self.quantiser.update(z_e.detach(), codes)
        else:
            codebook_term = (z_q - z_e.detach()).pow(2).sum((1, 2)).mean()
        z_st = z_e + (z_q - z_e).detach()  # straight-through: the value of z_q, the gradient of z_e
        recon = -self.log_likelihood(x, z_st.flatten(1)).mean()
        loss = recon + codebook_term + self.commitment * commitment
        return {"loss": loss, "recon": recon, "kl": recon.new_zeros(()), "commitment": commitment}

    # -- the second stage: the prior over the codes ------------------------------------------------------------------
    @torch.no_grad()
    def encode_codes(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """The codes (N, positions) of ``images``, encoded in batches on the model's device."""
        return torch.cat([self.encode(x.to(self.device)).codes for x in images.split(batch_size)])  # type: ignore[misc]

    def fit_prior(self, images: Tensor) -> None:
        """Train the prior (from its current weights) on the codes of ``images``: ``prior_steps`` Adam steps."""
        codes = self.encode_codes(images)
        generator = torch.Generator().manual_seed(torch.initial_seed())  # the run's seed (seed_everything)
        with torch.inference_mode(False), torch.enable_grad():
            self.prior_net.requires_grad_(True)
            optimiser = torch.optim.Adam(self.prior_net.parameters(), lr=self.prior_lr)
            for _ in range(self.prior_steps):
                batch = codes[torch.randint(len(codes), (self.prior_batch_size,), generator=generator).to(codes.device)]
                optimiser.zero_grad(set_to_none=True)
                (-self.prior_net.log_prob(batch).mean()).backward()
                optimiser.step()
            self.prior_net.requires_grad_(False).zero_grad(set_to_none=True)

    def on_train_end(self) -> None:
        """The second stage: fit the prior to the codes of the training split (as evaluated, when the DataModule
        says: ``evaluation_train``), else of the training batches."""
        split = getattr(self.trainer.datamodule, "evaluation_train", None)
        images = split.images if split is not None else torch.cat([b[0] for b in self.trainer.train_dataloader])
        self.fit_prior(images)
