"""``memorisation_ratio``, ``memorisation_share``: whether decoded prior samples copy training images.

Protocol (the nearest-neighbour comparison of Meehan et al. 2020's data-copying test): the Euclidean pixel
distance from each decoded prior sample (those of ``fid_prior``) to its nearest training image (the evaluation
view of the training split), against the same distance from each test image, a new image of the data's own
distribution.

- ``memorisation_ratio`` = median sample distance ÷ median test distance: ≈ 1 when samples are as far from the
  training set as new real images are, ≪ 1 when samples copy training images, > 1 when they are farther from
  every training image than real images are (unlike the data).
- ``memorisation_share``: the share of samples closer to their nearest training image than the
  :data:`SHARE_QUANTILE` (5%) quantile of the test distances: ≈ 0.05 without copying, up to 1. It sees what the
  median hides, a minority of copied samples (a model that copies 20% of its samples keeps a ratio near 1 and
  gets a share near 0.25).

The distances are not blind to image quality: a blurred sample (a mean of several digits) is closer to many
training images in Euclidean distance than a sharp real digit is, so blur alone lowers both values; and decoded
means of a Bernoulli model are grey where the evaluated images are binary, which raises them. Read them beside
``fid_prior`` and the figure of the two distributions (the arrays ``memorisation_sample_distances`` and
``memorisation_test_distances`` in the run's figure data), and compare models of one likelihood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from benchmarks.evaluation.metrics.base import POSITIVE, UNIT, Key, Metric

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

SHARE_QUANTILE = 0.05  # the test distance below which a sample counts as a near copy
CHUNK_ELEMENTS = 2**22  # query × database distances held at once


def nearest_distances(queries: Tensor, database: Tensor) -> Tensor:
    """Euclidean distance (N,) from each of the query images (N, ...) to its nearest database image (M, ...),
    pixels flattened, in float64 on the queries' device; the queries in chunks of ``CHUNK_ELEMENTS // M``."""
    db, chunk = database.flatten(1).double(), max(1, CHUNK_ELEMENTS // len(database))
    return torch.cat([torch.cdist(q.double(), db).min(1).values for q in queries.flatten(1).split(chunk)])


def memorisation_scores(sample_distances: Tensor, test_distances: Tensor) -> dict[str, float]:
    """The two keys of the module docstring from the samples' and the test images' nearest-training distances.

    Example:
        >>> memorisation_scores(torch.tensor([0.5, 3.0, 5.0]), torch.arange(1.0, 21.0))  # test median 10.5, 5% 1.95
        {'memorisation_ratio': 0.2857142857142857, 'memorisation_share': 0.3333333333333333}
    """
    samples, test = sample_distances.double(), test_distances.double()
    ratio = samples.quantile(0.5) / test.quantile(0.5)
    share = (samples < test.quantile(SHARE_QUANTILE)).double().mean()
    return {"memorisation_ratio": float(ratio), "memorisation_share": float(share)}


class Memorisation(Metric):
    name = "memorisation"
    group = "applications: overfitting"
    keys = (
        Key("memorisation_ratio", None, "median over decoded prior samples of the Euclidean pixel distance to the nearest training image ÷ the same median over test images: ≈ 1 when samples are as far from the training set as new real images, ≪ 1 when they copy training images (blur lowers it too)", "Meehan et al. 2020", bounds=POSITIVE),
        Key("memorisation_share", None, "share of decoded prior samples closer to their nearest training image than 95% of the test images are to theirs: ≈ 0.05 without copying, up to 1; sees a minority of copies that the median ratio hides", "Meehan et al. 2020", bounds=UNIT),
    )  # fmt: skip
    requires = frozenset({"decoder"})
    settings = ("fid_samples",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        train = inputs.images("train").to(inputs.device)
        samples = nearest_distances(inputs.samples("prior").to(inputs.device), train).cpu()
        test = nearest_distances(inputs.images("test").to(inputs.device), train).cpu()
        inputs.figure_arrays.update(
            memorisation_sample_distances=samples.float().numpy(), memorisation_test_distances=test.float().numpy()
        )
        return memorisation_scores(samples, test)
