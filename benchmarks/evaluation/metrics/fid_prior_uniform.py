"""``fid_prior_uniform``: FID of images decoded from codes drawn uniformly from a quantised model's codebook.

The VQ-VAE trains with a uniform prior over its codes (a constant KL) and samples through a prior learned on its
codes afterwards (``fid_prior``); this column shows what that second stage buys: the same decoder fed independent
uniform draws, one codebook entry per position.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


def uniform_codebook_draws(codebook: Tensor, n_positions: int, n: int, generator: torch.Generator) -> Tensor:
    """``n`` codes (n, n_positions · code_dim): each position an entry of ``codebook`` (K, code_dim), uniformly.

    Example:
        >>> book = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> z = uniform_codebook_draws(book, 3, 4, torch.Generator().manual_seed(0))
        >>> z.shape, bool(((z == 0) | (z == 1)).all())
        (torch.Size([4, 6]), True)
    """
    codes = torch.randint(len(codebook), (n, n_positions), generator=generator)
    return codebook.detach().cpu()[codes].flatten(1)


class FIDPriorUniform(Metric):
    name = "fid_prior_uniform"
    group = "generation"
    keys = (
        Key("fid_prior_uniform", False, "FID of samples decoded from codes drawn uniformly from the codebook, one "
            "entry per position (a quantised model without its learned prior) vs the test split",
            "van den Oord et al. 2017", bounds=POSITIVE),
    )  # fmt: skip
    requires = frozenset({"decoder", "codebook"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        codebook = inputs.model.codebook  # type: ignore[attr-defined]
        n_positions = inputs.posterior("train").codes.shape[1]  # type: ignore[union-attr]
        z = uniform_codebook_draws(codebook, n_positions, inputs.context.n_fid, inputs.generator(self.name))
        return {"fid_prior_uniform": inputs.context.scorer.fid(inputs.decode(z))}
