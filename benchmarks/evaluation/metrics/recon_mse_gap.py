"""``recon_mse_gap``: how much better a model reconstructs its training images than new ones.

recon_mse_gap = per-pixel MSE of the decoded posterior means of the test split − the same on the training split
(its evaluation view: binarised where the test split is). > 0: the model reconstructs the images it was trained
on better than new images of the same distribution, the first sign of overfitting; ≈ 0: it generalises. A test of
the claim that the KL term prevents overfitting: read the VAE's gap beside the AE's. The test part is
``recon_mse`` (here in float64).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.evaluation.metrics.base import Key, Metric
from benchmarks.evaluation.metrics.denoise import per_pixel_mse

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


class ReconMSEGap(Metric):
    name = "recon_mse_gap"
    group = "applications: overfitting"
    keys = (
        Key("recon_mse_gap", None, "per-pixel reconstruction MSE of the test split − that of the training split: > 0 when the model reconstructs its training images better than new ones (overfitting), ≈ 0 when it generalises", "generalisation gap"),
    )  # fmt: skip
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        train = per_pixel_mse(inputs.decode(inputs.posterior("train").mean), inputs.images("train"))
        return {"recon_mse_gap": per_pixel_mse(inputs.reconstructions, inputs.images("test")) - train}
