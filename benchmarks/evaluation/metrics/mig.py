"""``mig``: the mutual information gap, how much more one code dim knows about a factor than any other dim does.

Protocol (Chen et al. 2018, as ``mig`` of disentanglement_lib / Locatello et al. 2019, "discrete_mig"):

1. ``num_train`` uniform factor combinations and their latent means. Each code dim is discretised into ``bins``
   (20) equal-width bins between its minimum and maximum (:func:`discretize`, the library's histogram
   discretiser).
2. The mutual information (nats, plug-in estimate: scikit-learn's ``mutual_info_score``) of every binned dim
   with every factor, (D, K) (:func:`mutual_info_matrix`); each factor's entropy H(v_k) (plug-in, in the sample).
3. Per factor, the gap between the largest and the second largest MI over the dims, divided by H(v_k); the score
   is the mean over factors, in [0, 1] (a code of one dim has a second largest MI of 0).

Binning is done on each dim's own range, so the score is invariant to per-dim affine maps (z ↦ a z + b, a ≠ 0)
and to permutations of the code dims. A perfect code reaches 1 only if the bins resolve every value of every
factor: a factor with more values than bins loses H(v_k) − H(bin(v_k)) of its gap (on dSprites' 40 orientations
and 32 positions, 20 bins cap the score at 0.902, see ``tests/test_disentanglement.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import Representation, representation, sample_codes

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def discretize(codes: np.ndarray, bins: int) -> np.ndarray:
    """Codes (N, D) → integer bins (N, D) in 1…bins: equal-width bins between each dim's min and max.

    The maximum falls in the last bin (``np.histogram``'s edges, the last one dropped, as disentanglement_lib's
    ``_histogram_discretize``); a constant dim falls in one bin.

    Example:
        >>> discretize(np.array([[0.0], [0.4], [0.6], [1.0]]), bins=2).ravel().tolist()
        [1, 1, 2, 2]
    """
    return np.stack(
        [np.digitize(column, np.histogram_bin_edges(column, bins)[:-1]) for column in codes.T], axis=1
    )


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) plug-in mutual information in nats between each discrete code dim (N, D) and each factor (N, K)."""
    return np.array([[mutual_info_score(f, c) for f in factors.T] for c in discrete_codes.T]).reshape(
        discrete_codes.shape[1], factors.shape[1]
    )


def entropies(factors: np.ndarray) -> np.ndarray:
    """(K,) plug-in entropy in nats of each factor column (N, K) in the sample: H(v) = I(v; v)."""
    return np.array([mutual_info_score(f, f) for f in factors.T])


def _mig(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> float:
    """MIG of codes (N, D) for factor classes (N, K), the module docstring's protocol.

    Example:
        >>> factors = np.repeat(np.arange(4), 25)[:, None]  # one factor, 4 values
        >>> _mig(np.c_[factors, np.zeros(100)], factors, bins=4)  # dim 0 is the factor, dim 1 is blank
        1.0
    """
    entropy = entropies(factors)
    if (entropy == 0).any():
        raise ValueError(f"factors {np.flatnonzero(entropy == 0).tolist()} take one value only in the sample")
    mi = mutual_info_matrix(discretize(codes, bins), factors)
    top = -np.sort(-np.vstack([mi, np.zeros((1, mi.shape[1]))]), axis=0)  # a zero row: one dim has a gap of its MI
    return float(np.mean((top[0] - top[1]) / entropy))


def mig(
    datamodule: Any, represent: Representation, generator: torch.Generator, *, num_train: int = 10000, bins: int = 20
) -> float:
    """MIG of codes ``represent(classes)`` on ``num_train`` factor combinations drawn from ``datamodule``."""
    return _mig(*sample_codes(datamodule, represent, num_train, generator), bins=bins)


class MIG(Metric):
    name = "mig"
    group = "disentanglement"
    keys = (
        Key("mig", True, "mutual information gap: per factor, the top minus the second mutual information with a latent dim (latent means in 20 equal-width bins) over the factor's entropy, averaged over factors; ≤ 0.90 for a perfect code on dSprites (20 bins cannot resolve 40 orientations or 32 positions)", "Chen et al. 2018", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config, represent = inputs.config.disentanglement, representation(inputs)
        generator = inputs.generator(self.name)
        return {"mig": mig(inputs.datamodule, represent, generator, num_train=config.num_train, bins=config.mig_bins)}
