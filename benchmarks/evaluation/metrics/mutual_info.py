"""``mutual_info``: I(x; z) under the encoder's joint q(x, z) = p_data(x) q(z|x), as in He et al. 2019.

I(x; z) = E_x[E_{q(z|x)} log q(z|x)] − E_{z~q(z)} log q(z), with the aggregate posterior
q(z) = (1/N) Σ_n q(z|x_n) a mixture over the N codes given. This is ``calc_mi`` of "Lagging Inference
Networks" (He et al. 2019) with two changes: the mixture runs over all N codes instead of one batch (the
estimate can never exceed log N, :func:`mi_upper_bound`, so their batch-wise value saturates at
log(batch size)), and the first term is evaluated at the sampled z instead of in closed form (see
:func:`_mutual_info` for why).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric
from lightning_modules import Posterior

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def mi_upper_bound(n: int) -> float:
    """log n: the ceiling of the estimate when the aggregate posterior is a mixture of n codes.

    Example:
        >>> round(mi_upper_bound(1000), 3)
        6.908
    """
    return math.log(n)


def _mutual_info(mean: Tensor, logvar: Tensor, z: Tensor, chunk_size: int) -> float:
    """The estimate for posteriors (N, D) and one sample ``z`` (N, D) per posterior, in float64.

    Averages log q(z_n|x_n) − log q(z_n) over n, log q(z_n) being a logsumexp over the N mixture components
    minus log N. He et al. take the first term in closed form (the negative entropy); evaluating it at the same
    z_n instead keeps each term ≤ log N exactly (component n alone contributes q(z_n|x_n)/N to q(z_n)) and
    cancels the noise the two terms share: posteriors that all equal the prior give exactly 0.

    The (chunk, N) matrix of log q(z_i|x_m) comes from expanding the square, Σ_d (z_id − μ_md)² / v_md =
    z_i² · (1/v_m) − 2 z_i · (μ_m/v_m) + μ_m² · (1/v_m), i.e. two matrix products: memory O(chunk · N), not
    O(chunk · N · D), and BLAS speed on whole test splits.
    """
    mean, logvar, z = mean.double(), logvar.double(), z.double()
    precision = torch.exp(-logvar)
    const = (mean.pow(2) * precision + logvar).sum(1) + mean.shape[1] * math.log(2 * math.pi)  # (N,)
    n = len(mean)
    total = 0.0
    for start in range(0, n, chunk_size):
        zc = z[start : start + chunk_size]
        log_q = -0.5 * (zc.pow(2) @ precision.T - 2 * zc @ (mean * precision).T + const)  # (chunk, N)
        own = log_q.diagonal(offset=start)  # log q(z_n | x_n)
        total += float((own - torch.logsumexp(log_q, dim=1)).sum())
    return total / n + math.log(n)


def mutual_info(mean: Tensor, logvar: Tensor, *, generator: torch.Generator, chunk_size: int = 1024) -> float:
    """I(x; z) in nats from the posteriors of N inputs: mean and log-variance (N, D), one z ~ q(z|x) per input.

    Pass the whole evaluation split: the value is capped at log N (:func:`mi_upper_bound`), so report log N
    beside it and keep I well below it. The only randomness is the draw of z from ``generator``.

    Example:
        >>> mean, logvar = torch.zeros(500, 3), torch.zeros(500, 3)  # every posterior is the prior: I = 0
        >>> abs(mutual_info(mean, logvar, generator=torch.Generator().manual_seed(0))) < 1e-9
        True
    """
    z = Posterior(mean.double(), logvar.double()).rsample(generator=generator)
    return _mutual_info(mean, logvar, z, chunk_size)


class MutualInfo(Metric):
    name = "mutual_info"
    group = "likelihood and posterior"
    keys = (
        Key("mutual_info", None, "I(x; z) under q, Monte Carlo over the whole test split; cannot exceed log N (printed beside it)", "He et al. 2019", bounds=POSITIVE),
    )
    requires = frozenset({"gaussian_posterior"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        q = inputs.posterior("test")
        return {"mutual_info": mutual_info(q.mean, q.logvar, generator=inputs.generator(self.name))}  # type: ignore[arg-type]
