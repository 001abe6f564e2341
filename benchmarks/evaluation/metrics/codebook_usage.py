"""``codebook_usage``: the share of a quantised model's codebook entries that the test split uses (codebook collapse).

:class:`CodeCounts` is a torchmetrics ``Metric`` whose state is a float64 count per codebook entry with
``dist_reduce_fx="sum"``, so batches accumulate and a DDP sync is a sum; ``codebook_perplexity`` reads the same counts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric as TorchMetric

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import UNIT, Key, Metric


def _codebook_usage(counts: Tensor) -> float:
    """The share of entries with a count above 0, of all ``len(counts)`` entries."""
    return float((counts > 0).sum() / len(counts))


class CodeCounts(TorchMetric):
    """How often each of ``codebook_size`` entries codes a position, over all updates: (K,) float64.

    ``update`` takes codes (B, P) of codebook indices (any shape of integers in [0, K)).

    Example:
        >>> counts = CodeCounts(4)
        >>> counts.update(torch.tensor([[0, 0], [2, 0]]))
        >>> counts.compute().tolist()
        [3.0, 0.0, 1.0, 0.0]
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, codebook_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.codebook_size = codebook_size
        self.add_state("counts", torch.zeros(codebook_size, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, codes: Tensor) -> None:
        self.counts = self.counts + torch.bincount(codes.flatten(), minlength=self.codebook_size).double()

    def compute(self) -> Tensor:
        return self.counts


def code_counts(inputs: EvalInputs) -> Tensor:
    """The counts (K,) of the codebook entries in the test split's codes, on one process (no sync)."""
    counts = CodeCounts(len(inputs.model.codebook), sync_on_compute=False)  # type: ignore[attr-defined]
    counts.update(inputs.posterior("test").codes)  # type: ignore[arg-type]
    return counts.compute()


class CodebookUsage(Metric):
    """1/K when every position of every test image takes one entry; 1 when each entry is taken somewhere."""

    name = "codebook_usage"
    group = "likelihood and posterior"
    keys = (
        Key("codebook_usage", True, "share of the K codebook entries that code at least one position of a test image",
            "van den Oord et al. 2017", bounds=UNIT),
    )  # fmt: skip
    requires = frozenset({"codebook"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        return {"codebook_usage": _codebook_usage(code_counts(inputs))}
