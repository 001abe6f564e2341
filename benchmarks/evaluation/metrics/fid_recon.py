"""``fid_recon``: FID of the test images' reconstructions vs the test split.

Reconstructions are paired with the test images they reconstruct, so this can fall below ``fid_data``, the
floor for *independent* samples.
"""

from __future__ import annotations

from typing import Any

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


class FIDRecon(Metric):
    name = "fid_recon"
    group = "reconstruction"
    keys = (Key("fid_recon", False, "FID of reconstructions vs the test split", bounds=POSITIVE),)
    requires = frozenset({"decoder"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        recon = inputs.reconstructions[: inputs.context.n_fid]
        return {"fid_recon": inputs.context.scorer.fid_of_features(inputs.fid_features("recon", recon))}
