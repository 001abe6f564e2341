"""``fid_prior``, ``fid_gauss``, ``fid_gmm``: FID of decoded samples from each latent sampler vs the test split.

The samplers are those of ``evaluation.samplers`` (:mod:`benchmarks.evaluation.samplers`): the model's prior
(N(0, I) for a model without one) and the post-hoc Gaussian and GMM of Ghosh et al. 2020.
"""

from __future__ import annotations

from typing import Any

from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric
from benchmarks.evaluation.samplers import SAMPLERS

_REFERENCES = {"prior": "Heusel et al. 2017"}


class FIDSamples(Metric):
    name = "fid_samples"
    group = "generation"
    keys = tuple(
        Key(sampler.metric_key, False, f"FID of decoded samples from {sampler.description} vs the test split",
            _REFERENCES.get(name, "Ghosh et al. 2020"), bounds=POSITIVE)
        for name, sampler in zip(SAMPLERS.in_order(), SAMPLERS.values())
    )  # fmt: skip
    requires = frozenset({"decoder"})
    settings = ("fid_backend", "fid_samples", "samplers", "gmm_components")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        scorer = inputs.context.scorer
        return {
            SAMPLERS.get(name).metric_key: scorer.fid_of_features(
                inputs.fid_features(f"samples/{name}", inputs.samples(name))
            )
            for name in inputs.config.samplers
        }
