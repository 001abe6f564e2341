"""``recon_mse``: per-pixel mean squared error of the test images' reconstructions (decoded posterior means);
``recon_var_ratio``: how much of the test images' variation the reconstructions keep (0: a constant decoder).

``recon_var_ratio`` = Σ_pixels Var_n(x̂) / Σ_pixels Var_n(x) over the test split: about 1 for faithful
reconstructions, below 1 for blurred ones (a regression to the mean), 0 when every image decodes to the same
picture, the degenerate case the report flags.
"""

from __future__ import annotations

from typing import Any

from torchmetrics import MeanSquaredError

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric


class ReconMSE(Metric):
    name = "recon_mse"
    group = "reconstruction"
    keys = (
        Key("recon_mse", False, "per-pixel MSE of reconstructions (decoded posterior means) of the test split", bounds=POSITIVE),
        Key("recon_var_ratio", None, "variance of the reconstructions across test images ÷ that of the test images, summed over pixels (0: every image decodes alike)", bounds=POSITIVE),
    )
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        mse = MeanSquaredError(sync_on_compute=False)  # one process, the whole test split
        batch = inputs.config.batch_size
        for recon, x in zip(inputs.reconstructions.split(batch), inputs.images("test").split(batch)):
            mse.update(recon, x)
        spread = inputs.reconstructions.flatten(1).double().var(0).sum() / inputs.images("test").flatten(1).double().var(0).sum()
        return {"recon_mse": float(mse.compute()), "recon_var_ratio": float(spread)}
