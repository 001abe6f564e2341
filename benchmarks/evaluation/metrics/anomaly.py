"""``anomaly_auroc*``: how well a model's own anomaly score separates a class it never saw from the ones it did.

Protocol (on a dataset with ``held_out_class``, see :class:`~datamodules.base.InMemoryDataModule`): the model is
trained without one class of the first label column; every test image is scored, higher = more anomalous, and the
score's AUROC (:func:`benchmarks.evaluation.ranking.auroc`) is the probability that a test image of the held-out
class scores above one of the other classes (0.5: chance; ties count ½). The scores:

- ``recon``: the per-pixel squared error of the image's reconstruction, decode(encode(x).mean), averaged over its
  pixels: every model with a decoder, the PCA baseline included;
- ``elbo``: −ELBO(x), one posterior sample (the values behind ``elbo``);
- ``iwae``: −log p̂(x), the IWAE bound at K = ``evaluation.iwae_k`` (the values behind ``nll_iwae``).

``anomaly_auroc`` is the model's own score, one column to compare every row: −IWAE where the model has a
likelihood bound (a Gaussian posterior, a prior density and a likelihood: the VAE family), else the
reconstruction error (the AE, PCA). A report averages the AUROC over the held-out classes (one trained model each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.elbo import ELBO, per_image_elbo
from benchmarks.evaluation.metrics.nll_iwae import per_image_nll_iwae
from benchmarks.evaluation.ranking import auroc
from datamodules.base import first_label_column

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def reconstruction_errors(images: Tensor, reconstructions: Tensor) -> Tensor:
    """Per-image mean squared error (N,) over the pixels, float64."""
    return (reconstructions.double() - images.double()).flatten(1).pow(2).mean(1)


def anomaly_scores(inputs: EvalInputs) -> dict[str, Tensor]:
    """The scores (N,) of the run's test images that apply to its model, higher = more anomalous, by name."""
    scores = {"recon": reconstruction_errors(inputs.images("test"), inputs.reconstructions)}
    if ELBO.requires <= inputs.capabilities:  # a likelihood bound: the ELBO's and the IWAE's requirements alike
        scores["elbo"] = -per_image_elbo(inputs)
        scores["iwae"] = per_image_nll_iwae(inputs)
    return scores


class Anomaly(Metric):
    name = "anomaly"
    group = "applications: anomaly detection"
    keys = (
        Key("anomaly_auroc", True, "AUROC of the model's own anomaly score for the held-out class against the other test images: −IWAE where the model has a likelihood bound, else the reconstruction error", "An & Cho 2015", bounds=UNIT),
        Key("anomaly_auroc_recon", True, "AUROC with the per-image reconstruction error (decoded posterior mean) as the score", bounds=UNIT),
        Key("anomaly_auroc_elbo", True, "AUROC with −ELBO (one posterior sample) as the score", bounds=UNIT),
        Key("anomaly_auroc_iwae", True, "AUROC with −log p̂(x), the IWAE bound at K = `iwae_k`, as the score", bounds=UNIT),
    )  # fmt: skip
    requires = frozenset({"held_out_class", "decoder"})
    settings = ("iwae_k",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        datamodule = inputs.datamodule
        is_anomaly = first_label_column(datamodule.test.labels) == datamodule.held_out_class  # type: ignore[union-attr]
        out = {f"anomaly_auroc_{name}": auroc(score, is_anomaly) for name, score in anomaly_scores(inputs).items()}
        out["anomaly_auroc"] = out.get("anomaly_auroc_iwae", out["anomaly_auroc_recon"])
        return out
