"""``fid_data``: FID of as many training images as the other FIDs use vs the test split: the floor at that N.

It does not depend on the model (only on the seed that draws the training subset), so it is computed once
per seed and dataset and shown in every row, beside the FIDs it bounds.
"""

from __future__ import annotations

from typing import Any

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


class FIDData(Metric):
    name = "fid_data"
    group = "generation"
    keys = (Key("fid_data", None, "FID of a train subset of the same size vs the test split: the floor at this N", bounds=POSITIVE, per_model=False),)
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        return {"fid_data": inputs.context.fid_data(inputs.seed)}
