"""Posterior-collapse remedies of the VAE family as pure functions: the KL warm-up weight and the free-bits floor.

:class:`~lightning_modules.vae.VAE` uses both in its loss, in one place, so β-VAE inherits them:
``loss = recon + warmup_weight(step) · kl_weighted(Σ_d max(free_bits, KL_d))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from torch import Tensor

KLWarmup = Literal["none", "linear", "cyclical"]  # the schema of a model's ``kl_warmup``
KL_WARMUPS = get_args(KLWarmup)
#: the VAE family's constructor arguments for these remedies (config keys)
KL_OPTIONS = ("kl_warmup", "kl_warmup_steps", "kl_cycles", "free_bits")
CYCLICAL_RISE = 0.5  # Fu et al. 2019's R: the share of each cycle over which the weight rises from 0 to 1


def linear_warmup(step: int, steps: int) -> float:
    """min(1, step / steps): the KL annealing of Bowman et al. 2016 and the warm-up of Sønderby et al. 2016.

    Example:
        >>> [linear_warmup(s, 100) for s in (0, 25, 100, 500)]
        [0.0, 0.25, 1.0, 1.0]
    """
    return min(1.0, step / steps)


def cyclical_warmup(step: int, steps: int, cycles: int, rise: float = CYCLICAL_RISE) -> float:
    """The cyclical schedule of Fu et al. 2019 ("Cyclical annealing schedule", NAACL) with a linear rise.

    ``steps`` are split into ``cycles`` cycles of ``steps / cycles`` steps; within a cycle, at position
    τ ∈ [0, 1), the weight is τ / ``rise`` while τ < ``rise`` and 1 for the rest. After ``steps`` it stays 1.

    Example:
        >>> [cyclical_warmup(s, 400, 4) for s in (0, 25, 50, 99, 100, 125, 400)]
        [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0]
    """
    if step >= steps:
        return 1.0
    period = steps / cycles
    tau = (step % period) / period
    return min(1.0, tau / rise)


_WARMUPS: dict[str, Callable[[int, int, int], float]] = {
    "none": lambda step, steps, cycles: 1.0,
    "linear": lambda step, steps, cycles: linear_warmup(step, steps),
    "cyclical": lambda step, steps, cycles: cyclical_warmup(step, steps, cycles),
}


def warmup_weight(schedule: str, step: int, steps: int, cycles: int) -> float:
    """The KL weight of ``schedule`` (one of :data:`KL_WARMUPS`) at optimiser step ``step``."""
    if schedule not in _WARMUPS:
        raise ValueError(f"kl_warmup must be one of {KL_WARMUPS}, got '{schedule}'")
    return _WARMUPS[schedule](step, steps, cycles)


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """Σ_d max(``free_bits``, KL_d) over the last dim: the "free bits" KL of Kingma et al. 2016 (IAF, appendix).

    ``kl_per_dim`` holds the batch-mean KL of each latent dim, in nats. A dim below the floor adds the floor
    and no gradient, so the optimiser has no reason to push its KL further towards 0 (one dim per group here).

    Example:
        >>> import torch
        >>> round(float(free_bits_kl(torch.tensor([0.05, 0.3, 2.0]), 0.25)), 6)  # 0.25 + 0.3 + 2.0
        2.55
    """
    return kl_per_dim.clamp(min=free_bits).sum(-1)


def check_kl_options(kl_warmup: str, kl_warmup_steps: int, kl_cycles: int, free_bits: float) -> None:
    """Raise ``ValueError`` for an impossible warm-up or free-bits setting (before anything trains)."""
    if kl_warmup not in KL_WARMUPS:
        raise ValueError(f"kl_warmup must be one of {KL_WARMUPS}, got '{kl_warmup}'")
    if kl_warmup_steps <= 0 or kl_cycles <= 0:
        raise ValueError(f"kl_warmup_steps and kl_cycles must be > 0, got {kl_warmup_steps} and {kl_cycles}")
    if free_bits < 0:
        raise ValueError(f"free_bits must be >= 0 nats, got {free_bits}")
