"""``codebook_perplexity``: exp of the entropy of the test split's code usage, the effective number of entries used."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import Key, Metric
from benchmarks.evaluation.metrics.codebook_usage import code_counts


def _perplexity(counts: Tensor) -> float:
    """exp(−Σ_i p_i log p_i) with p = counts / Σ counts (0 log 0 = 0): 1 for one entry, K for uniform use of K."""
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float((-(p * p.log()).sum()).exp())


class CodebookPerplexity(Metric):
    """Between 1 (every position takes one entry) and K (every entry equally often); read beside the codebook size."""

    name = "codebook_perplexity"
    group = "likelihood and posterior"
    keys = (
        Key("codebook_perplexity", None, "exp of the entropy of how often each codebook entry codes a position of a "
            "test image: the effective number of entries used (1 … K)", "the Sonnet VQ-VAE's perplexity",
            bounds=(1.0, None)),
    )  # fmt: skip
    requires = frozenset({"codebook"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        return {"codebook_perplexity": _perplexity(code_counts(inputs))}
