"""The finiteness guard: non-finite codes, images or features stop one metric with a recorded reason.

A diverged model hands NaN to the evaluation; linear algebra on NaN can crash the process inside oneMKL
(``torch.linalg.eigvals``), so every tensor the metrics share is checked before any of them reads it.
"""

from __future__ import annotations

import torch
from torch import Tensor


class NonFiniteInputError(ValueError):
    """A metric's input holds NaN or ±inf: the metric is recorded as failed, the run goes on."""


def check_finite(tensor: Tensor, what: str) -> Tensor:
    """``tensor`` itself, or :class:`NonFiniteInputError` naming ``what`` and how many entries are not finite."""
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise NonFiniteInputError(f"non-finite {what} ({bad} of {tensor.numel()} values)")
    return tensor
