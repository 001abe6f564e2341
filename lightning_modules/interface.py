"""The model interface: everything the harness may call on a model, and nothing else is reached into.

A model (built in, or a user's own class) offers

- ``encode(x) -> Posterior``: images (B, C, H, W) in [0, 1] to q(z|x): a mean (B, D), with a log-variance for a
  diagonal Gaussian posterior, none for a deterministic code (the AE), discrete ``codes`` for a quantised one;
- ``decode(z) -> Tensor``: codes (B, D) to mean images (B, C, H, W) in [0, 1];
- ``log_likelihood(x, z) -> Tensor``: log p(x | z) of each image, (B,) nats; optionally also
  ``log_likelihood_pixels(x, z) -> Tensor``, its per-value terms (B, C, H, W), for the metrics that score some
  pixels only (inpainting's samplers);
- ``prior``: an object with ``sample(n, generator)`` and ``log_prob(z)`` (:class:`Prior`), or ``None`` (the AE);
- a quantised model (the VQ-VAE) also offers ``codebook``: the (K, code_dim) vectors its ``codes`` index, which
  ``mean`` holds flattened to (B, D).

Which metrics apply follows from what a model offers (see ``benchmarks.evaluation.inputs.capabilities``):
a model without ``prior`` gets no ELBO or IWAE bound, one with a deterministic posterior no KL, active
units or mutual information, one without ``codes`` and ``codebook`` no codebook metrics. Those cells read n/a;
nothing crashes.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from lightning_modules.posterior import Posterior

#: the names a model class must define: three methods and a ``prior`` attribute (a class-level ``prior = None``
#: is enough for a model without one)
INTERFACE = ("encode", "decode", "log_likelihood", "prior")


class Prior(Protocol):
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, D) codes on the CPU."""

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) summed over the last dim."""


class LatentModel(Protocol):
    prior: Prior | None

    def encode(self, x: Tensor) -> Posterior: ...

    def decode(self, z: Tensor) -> Tensor: ...

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor: ...


def missing_interface(cls: type) -> list[str]:
    """The names of :data:`INTERFACE` that ``cls`` does not define."""
    methods = [name for name in INTERFACE if name != "prior" and not callable(getattr(cls, name, None))]
    return methods + ([] if hasattr(cls, "prior") else ["prior"])


def interface_problem(cls: type) -> str | None:
    """The interface methods ``cls`` lacks, or None: ``MODELS``'s check of every model, built in or a user's.

    ``prior`` is not required of the class: a model may set it in ``__init__``, and one without it has no prior.
    """
    missing = [name for name in missing_interface(cls) if name != "prior"]
    if not missing:
        return None
    methods = "encode, decode, log_likelihood; see lightning_modules/interface.py"
    return f"lacks {', '.join(missing)} of the model interface ({methods})"
