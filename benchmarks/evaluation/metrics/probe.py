"""``probe_acc``: the linear probe, how much of the labels a linear classifier can read off the codes (the linear evaluation protocol).

Protocol (after dinov2's ``eval/log_regression.py``):

1. Features are converted to float64 once; labels to integers.
2. A held-out 20% of train (stratified by label when every class has enough members, its own ``seed``) selects
   the inverse regularisation strength C of a multinomial logistic regression from :data:`C_GRID` by accuracy.
3. A ``StandardScaler`` + ``LogisticRegression(C)`` pipeline is refit on all of train (the scaler sees train only)
   and scored on test. The result is an accuracy in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

#: candidate values of C, chosen on the held-out part of train: 1e-2 … 1e2 on a log grid
C_GRID = (1e-2, 1e-1, 1.0, 1e1, 1e2)
VAL_FRACTION = 0.2
MAX_ITER = 2000  # lbfgs on standardised features; weakly regularised separable data needs more than the default 100

Array = torch.Tensor | np.ndarray


def _numpy(a: Array) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _classifier(c: float) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=MAX_ITER))


def _select_c(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The C of :data:`C_GRID` with the best accuracy on a held-out ``VAL_FRACTION`` of (x, y); ties → smallest C."""
    classes, counts = np.unique(y, return_counts=True)
    n_val = int(np.ceil(VAL_FRACTION * len(y)))
    can_stratify = counts.min() >= 2 and len(classes) <= min(n_val, len(y) - n_val)
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=VAL_FRACTION, random_state=seed, stratify=y if can_stratify else None
    )
    scores = [_classifier(c).fit(x_fit, y_fit).score(x_val, y_val) for c in C_GRID]
    return C_GRID[int(np.argmax(scores))]


def linear_probe(train_x: Array, train_y: Array, test_x: Array, test_y: Array, *, seed: int = 0) -> float:
    """Test accuracy of a logistic regression fit on (train_x, train_y), features (N, D), labels (N,).

    The protocol is the module docstring's; ``seed`` only drives the train/validation split that picks C.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0], [12.0], [13.0]] * 3)
        >>> y = (x[:, 0] > 5).astype(int)
        >>> linear_probe(x, y, x, y)
        1.0
    """
    x_train, y_train = _numpy(train_x).astype(np.float64), _numpy(train_y).astype(np.int64)
    c = _select_c(x_train, y_train, seed)
    classifier = _classifier(c).fit(x_train, y_train)
    return float(classifier.score(_numpy(test_x).astype(np.float64), _numpy(test_y).astype(np.int64)))


def probe_per_column(
    train_x: Array, train_y: Array, test_x: Array, test_y: Array, *, names: Sequence[str], seed: int = 0
) -> dict[str, float]:
    """:func:`linear_probe` of each label column (N, F), e.g. the dSprites factors, keyed by ``names`` (F of them)."""
    train_y, test_y = _numpy(train_y).reshape(len(train_y), -1), _numpy(test_y).reshape(len(test_y), -1)
    if len(names) != train_y.shape[1]:
        raise ValueError(f"{len(names)} names for {train_y.shape[1]} label columns")
    return {
        name: linear_probe(train_x, train_y[:, j], test_x, test_y[:, j], seed=seed) for j, name in enumerate(names)
    }


class Probe(Metric):
    """One probe per label column: ``probe_acc`` is their mean (the single label on class-labelled data)."""

    name = "probe_acc"
    group = "latent space"
    keys = (
        Key("probe_acc", True, "logistic regression on standardised latent means, C chosen on a held-out 20% of train, scored on test (per factor as `probe_acc_<factor>` on dSprites, `probe_acc` their mean)", "linear evaluation protocol", bounds=UNIT),
        Key("probe_acc_<factor>", True, "the probe of one label column (factor) of a multi-label dataset", bounds=UNIT),
    )
    requires = frozenset({"labels"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        train_codes, test_codes = inputs.posterior("train").mean, inputs.posterior("test").mean
        train_y, test_y = inputs.datamodule.train.labels, inputs.datamodule.test.labels
        if train_y.dim() == 1:
            return {"probe_acc": linear_probe(train_codes, train_y, test_codes, test_y, seed=inputs.seed)}
        names = inputs.datamodule.label_names
        per = probe_per_column(train_codes, train_y, test_codes, test_y, names=names, seed=inputs.seed)
        return {"probe_acc": float(np.mean(list(per.values()))), **{f"probe_acc_{k}": v for k, v in per.items()}}
