"""``elbo_gap``: how much more likely a model finds its training images than new ones, by the ELBO.

elbo_gap = mean ELBO of the training split (its evaluation view) − mean ELBO of the test split, in nats per image,
each from one posterior sample per image (:func:`elbo`; the test part is the ``elbo`` column's value,
:func:`per_image_elbo`). > 0: the model's bound is higher on the images it was trained on, i.e. it overfits;
≈ 0 (up to the one-sample noise): it generalises. Unlike ``recon_mse_gap`` it includes the KL term, so a posterior that is
sharper on training images than on test ones counts too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmarks.evaluation.metrics.base import Key, Metric
from benchmarks.evaluation.metrics.elbo import ELBO, elbo, per_image_elbo

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


class ELBOGap(Metric):
    name = "elbo_gap"
    group = "applications: overfitting"
    keys = (
        Key("elbo_gap", None, "mean ELBO of the training split − that of the test split, nats per image (one posterior sample per image): > 0 when the model's bound favours its training images (overfitting), ≈ 0 when it generalises", "generalisation gap"),
    )  # fmt: skip
    requires = ELBO.requires

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        generator = inputs.generator(f"{self.name}/train")
        train = elbo(inputs.model, inputs.images("train"), generator=generator, batch_size=inputs.config.batch_size)
        return {"elbo_gap": float(train.mean()) - float(per_image_elbo(inputs).mean())}
