"""What the FID feature classifier makes of a set of images, and ``confidence_data``, ``hole_rate_data``: the values
of the test images themselves, the reference for ``interp_confidence`` and ``hole_rate``.

The classifier is the ``domain`` backend's (:meth:`EvalInputs.class_probabilities`): one softmax per label
column, trained on the dataset's own labels. Per image and column:

- its *confidence* is the largest class probability, 1/K … 1;
- it is a *hole* when that is below :data:`HOLE_THRESHOLD` = 0.5: no class takes even as much probability as
  all the others together, the classifier cannot assign it.

:func:`confidence_and_hole_rate` averages both over images and label columns (one column on digits and MNIST;
each dSprites factor counts once). The real test images are not all confident (an ambiguous 4/9 is a hole), so
a model's values are read against this module's references, not against 1 and 0. A classifier can also be
confident on images that look like no digit at all: a low hole rate is necessary for plausible images, not
sufficient (read it beside the FIDs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric

if TYPE_CHECKING:
    from benchmarks.config import EvaluationConfig
    from benchmarks.evaluation.inputs import EvalInputs

HOLE_THRESHOLD = 0.5  # the most probable class under half the probability: the classifier cannot assign the image


def confidence_and_hole_rate(probabilities: list[Tensor], threshold: float = HOLE_THRESHOLD) -> tuple[float, float]:
    """(mean largest class probability, share of images whose largest probability is below ``threshold``) of
    per-column softmax probabilities (N, K_j), each averaged over images and label columns.

    Example:
        >>> two_classes = torch.tensor([[0.75, 0.25], [0.625, 0.375]])
        >>> three_classes = torch.tensor([[0.375, 0.375, 0.25], [1.0, 0.0, 0.0]])  # the first image is a hole here
        >>> confidence_and_hole_rate([two_classes, three_classes])
        (0.6875, 0.25)
    """
    top = torch.stack([p.double().max(1).values for p in probabilities], 1)  # (N, F)
    return float(top.mean()), float((top < threshold).double().mean())


class ClassifierMetric(Metric):
    """A metric that reads the domain classifier's class probabilities: it applies where the run's data have
    labels (in ``requires``) and the FID features are the ``domain`` classifier's (Inception's have no heads for
    the dataset's classes)."""

    @classmethod
    def enabled_by(cls, config: EvaluationConfig) -> bool:
        return config.fid_backend == "domain"


class ClassifierData(ClassifierMetric):
    """The test images' own confidence and hole rate: the model does not change them (``per_model=False``)."""

    name = "classifier_data"
    group = "latent space"
    keys = (
        Key("confidence_data", None, "the FID feature classifier's mean largest class probability on the test images: the value real images get (the reference of `interp_confidence`)", bounds=UNIT, per_model=False),
        Key("hole_rate_data", None, f"share of the test images whose largest class probability is below {HOLE_THRESHOLD:g}: the floor of `hole_rate`", bounds=UNIT, per_model=False),
    )  # fmt: skip
    requires = frozenset({"labels"})
    settings = ("fid_backend",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        confidence, holes = confidence_and_hole_rate(inputs.class_probabilities(inputs.images("test")))
        return {"confidence_data": confidence, "hole_rate_data": holes}
