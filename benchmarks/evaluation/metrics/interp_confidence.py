"""``interp_confidence``: how sure the FID feature classifier is of the decoded latent midpoints' class.

The midpoints are those of ``fid_interp`` (:func:`decoded_midpoints`: t = 0.5 between random pairs of test
codes). A latent space whose in-between regions decode to images of *some* class scores near the test images'
own value ``confidence_data``; blends of two digits and blobs that are no digit score lower. Most random pairs
are of two classes, so a midpoint that is a fair blend is ambiguous by design: the value is read against the
other models' and ``confidence_data``, not against 1. Confidence as in :mod:`classifier_confidence`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.evaluation.metrics.base import UNIT, Key
from benchmarks.evaluation.metrics.classifier_confidence import ClassifierMetric, confidence_and_hole_rate
from benchmarks.evaluation.metrics.fid_interp import decoded_midpoints

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


class InterpConfidence(ClassifierMetric):
    name = "interp_confidence"
    group = "latent space"
    keys = (
        Key("interp_confidence", True, "the FID feature classifier's mean largest class probability (mean over label columns) on the decoded midpoints of `fid_interp`: whether in-between codes decode to an image of some class; real images get `confidence_data`", "this suite", bounds=UNIT),
    )  # fmt: skip
    requires = frozenset({"decoder", "labels"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        confidence, _ = confidence_and_hole_rate(inputs.class_probabilities(decoded_midpoints(inputs)))
        return {"interp_confidence": confidence}
