"""``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``: who predicts what, from tree importances.

Protocol (Eastwood & Williams 2018, as ``dci`` of disentanglement_lib / Locatello et al. 2019):

1. ``num_train`` and ``num_test`` uniform factor combinations and their latent means. Per factor, a
   gradient-boosted tree classifier (scikit-learn's ``GradientBoostingClassifier``: depth-3 trees, learning rate
   0.1) predicts the factor's class from the D code dims; its ``feature_importances_`` (each sums to 1) are column
   k of the importance matrix R (D, K).
2. Disentanglement: per code dim d, 1 − H_K(P_d), the entropy (base K) of its row normalised to a distribution
   over factors; their mean weighted by the dim's share of all importance, ρ_d = Σ_k R_dk / Σ R.
3. Completeness: per factor k, 1 − H_D(column k), base D; their mean weighted by the factor's share of all
   importance (the plain mean whenever each column sums to 1, i.e. each classifier used some dim).
4. Informativeness: the mean over factors of the classifiers' test accuracy.

All three are in [0, 1], higher better. Boosting stages: ``n_estimators`` (``evaluation.disentanglement.
dci_estimators``) is 10 by default, not the library's 100 (a deliberate deviation, for time): on CPU one stage
fits one tree per class of each factor (113 trees per stage on dSprites), so 100 stages take minutes per run.
Fewer stages are not a neutral choice: early trees split on the most informative dim, later ones spread the
importance over the others, so at 10 stages disentanglement and completeness read higher than the library's (on
a noisy entangled test code of dSprites' factors, D/C/I = 0.69/0.59/0.43 at 10 stages, 0.55/0.48/0.46 at 30,
0.45/0.39/0.48 at 100). Compare values at one setting only; set ``dci_estimators: 100`` to reproduce the library.
Trees split on thresholds of single features, so the scores are invariant to strictly increasing per-dim maps
(z ↦ a z + b, a > 0) and to permutations of the code dims, up to the trees' tie-breaking.

The metric leaves R in the run's figure data (``dci_importance``, with ``factor_names``): the report labels each
row of a latent traversal with the factor its code dim is most important for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import Representation, representation, sample_codes, seed_from

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def _importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    n_estimators: int,
    seed: int,
) -> tuple[np.ndarray, float]:
    """R (D, K): the feature importances of one boosted classifier per factor; and their mean test accuracy."""
    importance, accuracy = np.zeros((train_codes.shape[1], train_factors.shape[1])), []
    for k in range(train_factors.shape[1]):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(train_codes, train_factors[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        accuracy.append(model.score(test_codes, test_factors[:, k]))
    return importance, float(np.mean(accuracy))


def _one_minus_entropy(weights: np.ndarray) -> np.ndarray:
    """1 − the entropy of each row of non-negative ``weights`` normalised to sum 1, in base (row length):
    1 for a one-hot row, 0 for a uniform one (and for a row of zeros). A row of length 1 scores 1."""
    n = weights.shape[1]
    if n == 1:
        return np.ones(len(weights))
    totals = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, totals, out=np.full_like(weights, 1.0 / n, dtype=float), where=totals > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return 1.0 + plogp.sum(axis=1) / np.log(n)


def _dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix (D codes, K factors).

    Example:
        >>> _dci_from_importance(np.eye(3))  # each code predicts one factor, each factor from one code
        (1.0, 1.0)
        >>> [round(v, 12) for v in _dci_from_importance(np.ones((3, 3)))]  # every code predicts every factor equally
        [0.0, 0.0]
    """
    total = importance.sum()
    if total == 0:  # no classifier used any code: nothing is disentangled
        return 0.0, 0.0
    per_code, per_factor = _one_minus_entropy(importance), _one_minus_entropy(importance.T)
    code_weight, factor_weight = importance.sum(axis=1) / total, importance.sum(axis=0) / total
    return float(per_code @ code_weight), float(per_factor @ factor_weight)


def _dci(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    n_estimators: int = 10,
    seed: int = 0,
) -> tuple[dict[str, float], np.ndarray]:
    """The three DCI scores of codes (N, D) for factor classes (N, K), train and test, and the importance matrix
    R (D, K) they come from; ``seed`` seeds the trees."""
    importance, accuracy = _importance_matrix(
        train_codes, train_factors, test_codes, test_factors, n_estimators=n_estimators, seed=seed
    )
    disentanglement, completeness = _dci_from_importance(importance)
    scores = {"dci_disentanglement": disentanglement, "dci_completeness": completeness, "dci_informativeness": accuracy}
    return scores, importance


def dci_with_importance(
    datamodule: Any,
    represent: Representation,
    generator: torch.Generator,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    n_estimators: int = 10,
) -> tuple[dict[str, float], np.ndarray]:
    """The DCI scores of codes ``represent(classes)`` on factors drawn from ``datamodule`` (train, then test), and
    the importance matrix R (D codes, K factors)."""
    train = sample_codes(datamodule, represent, num_train, generator)
    test = sample_codes(datamodule, represent, num_test, generator)
    return _dci(*train, *test, n_estimators=n_estimators, seed=seed_from(generator))


def dci(
    datamodule: Any,
    represent: Representation,
    generator: torch.Generator,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    n_estimators: int = 10,
) -> dict[str, float]:
    """The DCI scores of :func:`dci_with_importance`, without the matrix."""
    return dci_with_importance(
        datamodule, represent, generator, num_train=num_train, num_test=num_test, n_estimators=n_estimators
    )[0]


class DCI(Metric):
    name = "dci"
    group = "disentanglement"
    keys = (
        Key("dci_disentanglement", True, "DCI disentanglement: 1 − entropy over factors of each latent dim's importance in gradient-boosted trees predicting the factors from latent means, weighted by the dim's share of importance", "Eastwood & Williams 2018", bounds=UNIT),
        Key("dci_completeness", True, "DCI completeness: 1 − entropy over latent dims of each factor's importances, averaged over factors", "Eastwood & Williams 2018", bounds=UNIT),
        Key("dci_informativeness", True, "DCI informativeness: test accuracy of those tree classifiers, averaged over factors", "Eastwood & Williams 2018", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config = inputs.config.disentanglement
        scores, importance = dci_with_importance(
            inputs.datamodule, representation(inputs), inputs.generator(self.name),
            num_train=config.num_train, num_test=config.num_test, n_estimators=config.dci_estimators,
        )  # fmt: skip
        inputs.figure_arrays.update(dci_importance=importance, factor_names=np.array(inputs.datamodule.label_names))
        return scores
