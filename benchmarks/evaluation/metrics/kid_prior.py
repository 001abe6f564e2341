"""``kid_prior``: KID (Bińkowski et al. 2018) of decoded prior samples, unbiased and less sensitive to N than FID."""

from __future__ import annotations

from typing import Any

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


class KIDPrior(Metric):
    name = "kid_prior"
    group = "generation"
    keys = (
        Key("kid_prior", False, "KID of decoded prior samples (unbiased, less sensitive to N than FID)", "Bińkowski et al. 2018", bounds=POSITIVE),
    )
    requires = frozenset({"decoder"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        features = inputs.fid_features("samples/prior", inputs.samples("prior"))  # shared with fid_prior
        mean, _std = inputs.context.scorer.kid_of_features(features)
        return {"kid_prior": mean}
