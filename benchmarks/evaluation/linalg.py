"""Linear algebra on covariances that may be singular (dead latent dims, repeated feature columns)."""

from __future__ import annotations

import torch
from torch import Tensor


def psd_factor(cov: Tensor) -> Tensor:
    """A factor F with F @ F.T = ``cov``, from its eigendecomposition (negative round-off clipped to 0).

    Unlike a Cholesky factor it exists for singular covariances.

    Example:
        >>> cov = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)  # rank 1
        >>> factor = psd_factor(cov)
        >>> bool(torch.allclose(factor @ factor.T, cov))
        True
    """
    evals, evecs = torch.linalg.eigh(cov)
    return evecs * evals.clamp(min=0).sqrt()
