"""``nll_iwae``: the importance-weighted estimate of −log p(x) (Burda et al. 2016), nats per image.

log p̂(x) = logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K with z_k ~ q(z|x). It is a lower
bound on log p(x) in expectation, tightening as K grows, and exact for any K when q(z|x) is the true
posterior. K samples are drawn ``chunk_size`` at a time and folded into a running logsumexp, so memory is
O(chunk_size · batch_size · pixels) whatever K is. It reads only the model interface: ``encode``,
``log_likelihood`` and ``prior.log_prob``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from benchmarks.evaluation.inputs import EvalInputs, model_device
from benchmarks.evaluation.metrics.base import Key, Metric
from lightning_modules import LatentModel, Posterior
from lightning_modules.likelihoods import bits_per_dim


def require_density_model(model: LatentModel, posterior: Posterior) -> None:
    """Raise unless the model has a Gaussian posterior and a prior density: what a likelihood bound needs."""
    if posterior.logvar is None or getattr(getattr(model, "prior", None), "log_prob", None) is None:
        raise ValueError(
            f"{type(model).__name__} has no Gaussian q(z|x) or no prior density, so no ELBO or IWAE bound"
        )


def _log_weights(model: LatentModel, x: Tensor, q: Posterior, z: Tensor) -> Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for samples ``z`` (n, B, D) of images ``x`` (B, ...) → (n, B)."""
    n, b = z.shape[:2]
    log_px_z = model.log_likelihood(x.expand(n, *x.shape).flatten(0, 1), z.flatten(0, 1)).view(n, b)
    return log_px_z + model.prior.log_prob(z) - q.log_prob(z)  # type: ignore[union-attr]


@torch.no_grad()
def nll_iwae(
    model: LatentModel,
    images: Tensor,
    *,
    k: int = 1000,
    chunk_size: int = 100,
    batch_size: int = 64,
    generator: torch.Generator,
) -> Tensor:
    """−log p̂(x) in nats for each of the N ``images`` (N,), float64, with K importance samples per image.

    ``model`` offers the model interface (ideally in eval mode); the only randomness is ``generator`` (a CPU
    generator). Raises ``ValueError`` for a model without a Gaussian posterior or a prior density (the AE).
    """
    device = model_device(model)
    nll = []
    for x in images.split(batch_size):
        x = x.to(device)
        q = model.encode(x)
        require_density_model(model, q)
        log_sum = torch.full((len(x),), -math.inf, dtype=torch.float64, device=device)
        for start in range(0, k, chunk_size):
            z = q.rsample(min(chunk_size, k - start), generator)
            log_sum = torch.logaddexp(log_sum, torch.logsumexp(_log_weights(model, x, q, z).double(), dim=0))
        nll.append(math.log(k) - log_sum)
    return torch.cat(nll).cpu()


def per_image_nll_iwae(inputs: EvalInputs) -> Tensor:
    """−log p̂(x) (N,) of each test image of a run, K = ``evaluation.iwae_k``: the values ``nll_iwae`` averages,
    computed once per run (K decoder passes per image: the costliest input of an evaluation)."""
    batch = max(1, inputs.config.batch_size // 8)  # K decoder passes per image: keep a chunk's memory small
    return inputs.shared("nll_iwae/test", lambda: nll_iwae(
        inputs.model, inputs.images("test"), k=inputs.config.iwae_k, generator=inputs.generator(NLLIWAE.name),
        batch_size=batch,
    ))  # fmt: skip


class NLLIWAE(Metric):
    name = "nll_iwae"
    group = "likelihood and posterior"
    keys = (
        Key("nll_iwae", False, "importance-weighted estimate of −log p(x), K samples (default 1000), nats per image", "Burda et al. 2016"),
        Key("nll_iwae_bpd", False, "the same in bits per dimension: nll_iwae / (pixels · ln 2)"),
    )
    requires = frozenset({"gaussian_posterior", "prior_density", "likelihood"})
    settings = ("iwae_k",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        nats = float(per_image_nll_iwae(inputs).mean())
        return {"nll_iwae": nats, "nll_iwae_bpd": bits_per_dim(nats, inputs.images("test")[0].numel())}
