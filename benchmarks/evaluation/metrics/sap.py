"""``sap``: the separated attribute predictability, how much better the best single code dim predicts a factor
than the second best.

Protocol (Kumar et al. 2018, as ``sap_score`` of disentanglement_lib / Locatello et al. 2019 with
``continuous_factors=False``, the setting of the study for dSprites' discrete factors):

1. ``num_train`` and ``num_test`` uniform factor combinations and their latent means.
2. Score matrix S (D, K): S_dk is the test accuracy of a linear SVM (scikit-learn's ``LinearSVC``, C = 0.01,
   balanced class weights, one-vs-rest) fit on code dim d alone, on its raw values, to predict factor k.
3. Per factor, the gap between the two largest S_dk over the dims; the score is the mean over factors, in [0, 1].

A one-dim linear one-vs-rest classifier gives each class a line in z and predicts the top one, so a class wins on
one interval at most, and under C = 0.01 only a factor's extreme values get one: even a perfect code reads
dSprites' 40 orientations and 32 positions off their own dims with accuracies of 0.05–0.07, and its SAP is small
(0.25 for standardised dims at the default sizes, see ``tests/test_disentanglement.py``). The classifier sees the
raw values under a fixed C that multiplies a sum over the training points, so the score depends on the scale of
the code (0.23 for the same perfect code as class indices) and on ``num_train`` (0.17 at 2,000 points): it is not
invariant to per-dim affine maps. It is invariant to permutations of the code dims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.svm import LinearSVC

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import Representation, representation, sample_codes

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

C = 0.01  # the library's regularisation of the one-dim classifiers


def _score_matrix(
    train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray
) -> np.ndarray:
    """S (D, K): test accuracy of a one-dim linear SVM per (code dim, factor)."""
    scores = np.zeros((train_codes.shape[1], train_factors.shape[1]))
    for d in range(train_codes.shape[1]):
        for k in range(train_factors.shape[1]):
            classifier = LinearSVC(C=C, class_weight="balanced").fit(train_codes[:, d : d + 1], train_factors[:, k])
            scores[d, k] = classifier.score(test_codes[:, d : d + 1], test_factors[:, k])
    return scores


def _top_two_gap(scores: np.ndarray) -> float:
    """The mean over columns (factors) of the largest minus the second largest entry (0 for a single row).

    Example:
        >>> round(_top_two_gap(np.array([[0.9, 0.2], [0.1, 0.5], [0.3, 0.4]])), 6)  # (0.6 + 0.1) / 2
        0.35
    """
    top = -np.sort(-np.vstack([scores, np.zeros((1, scores.shape[1]))]), axis=0)
    return float(np.mean(top[0] - top[1]))


def _sap(
    train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray
) -> float:
    """SAP of codes (N, D) for factor classes (N, K), fit on train and scored on test."""
    return _top_two_gap(_score_matrix(train_codes, train_factors, test_codes, test_factors))


def sap(
    datamodule: Any,
    represent: Representation,
    generator: torch.Generator,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
) -> float:
    """SAP of codes ``represent(classes)`` on factor combinations drawn from ``datamodule``, train then test."""
    train = sample_codes(datamodule, represent, num_train, generator)
    return _sap(*train, *sample_codes(datamodule, represent, num_test, generator))


class SAP(Metric):
    name = "sap"
    group = "disentanglement"
    keys = (
        Key("sap", True, "separated attribute predictability: per factor, the test accuracy of the best minus the second-best one-dim linear SVM on a latent mean, averaged over factors; small even for a perfect code on dSprites (≈ 0.25: a one-dim linear classifier tells only a factor's extreme values apart)", "Kumar et al. 2018", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config, represent = inputs.config.disentanglement, representation(inputs)
        generator = inputs.generator(self.name)
        value = sap(inputs.datamodule, represent, generator, num_train=config.num_train, num_test=config.num_test)
        return {"sap": value}
