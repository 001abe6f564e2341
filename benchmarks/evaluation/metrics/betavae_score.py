"""``betavae_score``: which factor a batch of pairs shares, read off their code differences by a linear classifier.

Protocol (Higgins et al. 2017, as ``beta_vae_sklearn`` of disentanglement_lib / Locatello et al. 2019):

1. A point: a factor k uniform over the K factors, ``batch_size`` pairs of factor combinations, each pair
   sharing the value of factor k (:func:`~benchmarks.evaluation.metrics.factor_sampling.sample_pairs_sharing_one_factor`);
   its feature is the batch mean of |z₁ − z₂| over the pairs' latent means, its label k.
2. A logistic regression (scikit-learn's defaults: L2, C = 1, on the raw features, as the library) is fit on
   ``num_train`` points and the score is its accuracy on ``num_eval`` fresh points, in [0, 1].

A code that keeps factor k in its own dims has |z₁ − z₂| = 0 there exactly when k is shared: the score is 1.
Chance is 1/K (0.2 on dSprites): the features of a code that ignores the factors do not depend on k.
The features are per-dim, so permuting code dims permutes them (the same score); a per-dim scaling scales them,
which a regularised classifier does not ignore exactly (the score is not scale-invariant in general).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import (
    Representation,
    representation,
    sample_pairs_sharing_one_factor,
)

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

MAX_ITER = 1000  # lbfgs on unscaled features; the default 100 stops short on codes of large scale


def _pair_features(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The features of batches of code pairs (n, B, D) each: the mean over the batch of |z₁ − z₂|, (n, D).

    Example:
        >>> _pair_features(np.zeros((1, 2, 3)), np.array([[[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]]]))
        array([[2., 1., 0.]])
    """
    return np.abs(first - second).mean(axis=1)


def _betavae_score(
    train_features: np.ndarray, train_factor: np.ndarray, eval_features: np.ndarray, eval_factor: np.ndarray
) -> float:
    """Accuracy on (eval_features (n, D), eval_factor (n,)) of a logistic regression fit on the train points."""
    classifier = LogisticRegression(max_iter=MAX_ITER).fit(train_features, train_factor)
    return float(classifier.score(eval_features, eval_factor))


def betavae_score(
    datamodule: Any,
    represent: Representation,
    generator: torch.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> float:
    """The score of codes ``represent(classes)`` on factors drawn from ``datamodule`` (the module docstring)."""

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        k, first, second = sample_pairs_sharing_one_factor(datamodule, n, batch_size, generator)
        return _pair_features(represent(first), represent(second)), k.numpy()

    train, evaluation = points(num_train), points(num_eval)
    return _betavae_score(*train, *evaluation)


class BetaVAEScore(Metric):
    name = "betavae_score"
    group = "disentanglement"
    keys = (
        Key("betavae_score", True, "accuracy of a logistic regression telling from the batch mean of |z₁ − z₂| over 64 pairs of latent means which factor the pairs share (chance 1/K: 0.2 on dSprites)", "Higgins et al. 2017", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config = inputs.config.disentanglement
        score = betavae_score(
            inputs.datamodule, representation(inputs), inputs.generator(self.name),
            batch_size=config.betavae_batch_size, num_train=config.betavae_num_train, num_eval=config.betavae_num_eval,
        )  # fmt: skip
        return {"betavae_score": score}
