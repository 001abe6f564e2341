"""Input corruptions of denoising: what the ``dae`` trains on and what the ``denoise_mse_*`` metrics score.

Each acts on every value independently (each channel of a colour pixel on its own) and keeps images in [0, 1]:

- ``gauss``: x + σ·ε, ε ~ N(0, 1), clipped to [0, 1] (``level`` = σ);
- ``saltpepper``: a share ``level`` of the values set to 0 or 1, each with probability ½;
- ``dropout``: a share ``level`` of the values set to 0 (the masking noise of Vincent et al. 2008).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

Corruption = Literal["gauss", "saltpepper", "dropout"]  # the schema of the dae's ``corruption``
CORRUPTIONS = get_args(Corruption)


def check_corruption(kind: str, level: float) -> None:
    """Raise ValueError unless ``kind`` is a corruption and ``level`` a valid σ (≥ 0) or share (in [0, 1]) for it."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {kind!r}")
    if level < 0 or (kind != "gauss" and level > 1):
        bound = ">= 0" if kind == "gauss" else "in [0, 1]"
        raise ValueError(f"noise_level of {kind!r} must be {bound}, got {level}")


def corrupt(x: Tensor, kind: Corruption, level: float, generator: torch.Generator | None = None) -> Tensor:
    """``x`` (images in [0, 1]) corrupted by ``kind`` at ``level``; randomness from ``generator`` (on its device,
    the global one on ``x``'s device when None).

    Example:
        >>> x = torch.full((2, 1, 4, 4), 0.5)
        >>> corrupt(x, "dropout", 1.0).sum().item(), corrupt(x, "gauss", 0.0).equal(x)
        (0.0, True)
    """
    check_corruption(kind, level)
    device = x.device if generator is None else generator.device
    u = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    if kind == "gauss":
        noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
        return (x + level * noise).clamp(0.0, 1.0)
    if kind == "dropout":
        return torch.where(u < level, torch.zeros_like(x), x)
    salt = (u < level / 2).to(x.dtype)  # u < level/2: salt (1); level/2 ≤ u < level: pepper (0)
    return torch.where(u < level, salt, x)
