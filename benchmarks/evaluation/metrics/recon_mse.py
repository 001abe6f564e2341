"""``recon_mse``: per-pixel mean squared error of the test images' reconstructions (decoded posterior means)."""

from __future__ import annotations

from typing import Any

from torchmetrics import MeanSquaredError

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import Key, Metric


class ReconMSE(Metric):
    name = "recon_mse"
    keys = (Key("recon_mse", False, "per-pixel MSE of reconstructions (decoded posterior means) of the test split"),)
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        mse = MeanSquaredError(sync_on_compute=False)  # one process, the whole test split
        batch = inputs.config.batch_size
        for recon, x in zip(inputs.reconstructions.split(batch), inputs.images("test").split(batch)):
            mse.update(recon, x)
        return {"recon_mse": float(mse.compute())}
