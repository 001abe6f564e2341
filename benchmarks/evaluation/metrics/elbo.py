"""``elbo``: the test ELBO, nats per image, from one posterior sample per image.

ELBO(x) = log p(x|z) − KL(q(z|x) ‖ p(z)) at one z ~ q(z|x): the KL in closed form when the prior offers it
(N(0, I): the training loss of the VAE at β = 1), else its one-sample estimate log q(z|x) − log p(z). So it
is comparable with ``nll_iwae``: −ELBO ≥ −log p(x) in expectation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks.evaluation.inputs import EvalInputs, model_device
from benchmarks.evaluation.metrics.base import Key, Metric
from benchmarks.evaluation.metrics.nll_iwae import require_density_model
from lightning_modules import LatentModel
from lightning_modules.likelihoods import bits_per_dim


@torch.no_grad()
def elbo(model: LatentModel, images: Tensor, *, generator: torch.Generator, batch_size: int = 64) -> Tensor:
    """ELBO in nats per image (N,), float64; raises ``ValueError`` for a model without a likelihood bound."""
    device, prior = model_device(model), model.prior
    values = []
    for x in images.split(batch_size):
        x = x.to(device)
        q = model.encode(x)
        require_density_model(model, q)
        z = q.rsample(generator=generator)
        kl_per_dim = getattr(prior, "kl_per_dim", None)
        kl = kl_per_dim(q).sum(1) if kl_per_dim is not None else q.log_prob(z) - prior.log_prob(z)  # type: ignore[union-attr]
        values.append((model.log_likelihood(x, z) - kl).double())
    return torch.cat(values).cpu()


def per_image_elbo(inputs: EvalInputs) -> Tensor:
    """The ELBO (N,) of each test image of a run: the values ``elbo`` averages, computed once per run."""
    return inputs.shared("elbo/test", lambda: elbo(
        inputs.model, inputs.images("test"), generator=inputs.generator(ELBO.name), batch_size=inputs.config.batch_size
    ))  # fmt: skip


class ELBO(Metric):
    name = "elbo"
    group = "likelihood and posterior"
    keys = (
        Key("elbo", True, "test ELBO, nats per image (one posterior sample per image, analytic KL)", "Kingma & Welling 2014"),
        Key("elbo_bpd", False, "−ELBO in bits per dimension: −elbo / (pixels · ln 2)"),
    )
    requires = frozenset({"gaussian_posterior", "prior_density", "likelihood"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        nats = float(per_image_elbo(inputs).mean())
        return {"elbo": nats, "elbo_bpd": bits_per_dim(-nats, inputs.images("test")[0].numel())}
