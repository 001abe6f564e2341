"""``hole_rate``: the share of decoded prior samples the FID feature classifier cannot assign to a class.

A test of the claim that a VAE's prior covers its latent space with no holes: a code drawn from the prior (N(0, I)
for the AE too, which has none: the regions between its codes are the holes) should decode to an image of some
class. A sample is a hole when the classifier's largest class probability is below :data:`HOLE_THRESHOLD` (0.5;
:mod:`classifier_confidence`), averaged over label columns. The samples are the ``fid_prior`` ones
(``inputs.samples("prior")``, ``n_fid`` of them). Real test images are not all assignable either: the floor is
``hole_rate_data`` (≈ 0.003 on digits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.evaluation.metrics.base import UNIT, Key
from benchmarks.evaluation.metrics.classifier_confidence import (
    HOLE_THRESHOLD,
    ClassifierMetric,
    confidence_and_hole_rate,
)

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


class HoleRate(ClassifierMetric):
    name = "hole_rate"
    group = "latent space"
    keys = (
        Key("hole_rate", False, f"share of decoded prior samples (those of `fid_prior`) whose largest class probability under the FID feature classifier is below τ = {HOLE_THRESHOLD:g} (no class takes half the probability; mean over label columns): codes of the prior that decode to no recognisable class; the floor is `hole_rate_data`", "this suite", bounds=UNIT),
    )  # fmt: skip
    requires = frozenset({"decoder", "labels"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        _, holes = confidence_and_hole_rate(inputs.class_probabilities(inputs.samples("prior")))
        return {"hole_rate": holes}
