"""``modularity``: whether each code dim carries information about one factor only.

Protocol (Ridgeway & Zemel 2018, as ``modularity_explicitness`` of disentanglement_lib / Locatello et al. 2019):

1. ``num_train`` uniform factor combinations and their latent means, discretised and scored as for MIG: the
   plug-in mutual information m_dk (nats) of each binned code dim with each factor
   (:func:`~benchmarks.evaluation.metrics.mig.discretize`, :func:`~benchmarks.evaluation.metrics.mig.mutual_info_matrix`).
2. Per code dim, with θ_d = max_k m_dk: its deviation from the ideal modular template (all information in that
   one factor) δ_d = Σ_{k ≠ k*} m_dk² / (θ_d² (K − 1)); its score 1 − δ_d, and 0 for a dim with no information
   at all (θ_d = 0, as the library).
3. The score is the mean over code dims, in [0, 1].

The library's test split serves only its ``explicitness``, which is not reported here: modularity reads train only.
Binning is done per dim on the dim's own range, so the score is invariant to per-dim affine maps
(z ↦ a z + b, a ≠ 0) and to permutations of the code dims. The plug-in MI of a dim independent of a factor is
not 0 but ≈ (bins − 1)(values − 1) / 2N, so the score of a code that ignores the factors is not 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import Representation, representation, sample_codes
from benchmarks.evaluation.metrics.mig import discretize, mutual_info_matrix

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def _modularity_from_mi(mi: np.ndarray) -> float:
    """The mean over code dims of 1 − δ_d for a mutual information matrix (D codes, K factors).

    Example:
        >>> _modularity_from_mi(np.array([[2.0, 0.0], [0.0, 1.0]]))  # each dim informs one factor
        1.0
        >>> _modularity_from_mi(np.array([[1.0, 1.0], [0.0, 0.0]]))  # dim 0 informs both; dim 1 nothing
        0.0
    """
    squared = np.square(mi)
    top = squared.max(axis=1)
    if mi.shape[1] == 1:  # one factor: every informative dim is modular
        return float(np.mean(top > 0))
    deviation = np.divide(squared.sum(axis=1) - top, top * (mi.shape[1] - 1), out=np.ones_like(top), where=top > 0)
    return float(np.mean(np.where(top > 0, 1.0 - deviation, 0.0)))


def _modularity(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> float:
    """Modularity of codes (N, D) for factor classes (N, K), the module docstring's protocol."""
    return _modularity_from_mi(mutual_info_matrix(discretize(codes, bins), factors))


def modularity(
    datamodule: Any, represent: Representation, generator: torch.Generator, *, num_train: int = 10000, bins: int = 20
) -> float:
    """Modularity of codes ``represent(classes)`` on ``num_train`` factor combinations drawn from ``datamodule``."""
    return _modularity(*sample_codes(datamodule, represent, num_train, generator), bins=bins)


class Modularity(Metric):
    name = "modularity"
    group = "disentanglement"
    keys = (
        Key("modularity", True, "per latent dim, 1 − the deviation of its mutual informations with the factors (latent means in 20 equal-width bins) from having one factor only, averaged over dims", "Ridgeway & Zemel 2018", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config, represent = inputs.config.disentanglement, representation(inputs)
        generator = inputs.generator(self.name)
        value = modularity(inputs.datamodule, represent, generator, num_train=config.num_train, bins=config.mig_bins)
        return {"modularity": value}
