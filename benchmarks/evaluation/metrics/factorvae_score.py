"""``factorvae_score``: which factor a batch holds fixed, read off the code dim whose variance it lowers most.

Protocol (Kim & Mnih 2018, as ``factor_vae_score`` of disentanglement_lib / Locatello et al. 2019):

1. The per-dim std of the latent means over ``num_variance`` uniform samples (``ddof=1``). A dim whose std is
   below ``prune_threshold`` (0.05, the library's ``prune_dims.threshold`` of the study) is *collapsed*: it never
   votes. The threshold is on the raw std of the code, so it is the one step that sees the code's scale. No
   active dim at all scores 0.
2. A vote: a factor k uniform over the K factors, a batch of ``batch_size`` codes with factor k held at one value
   (:func:`~benchmarks.evaluation.metrics.factor_sampling.sample_with_one_factor_fixed`); the codes divided by the
   global std, the vote goes to the active dim of smallest variance (``ddof=1``), labelled k.
3. The majority-vote classifier maps each dim to the factor it was most often the vote of on ``num_train``
   votes (ties and dims never voted for: the lowest factor index); the score is its accuracy on ``num_eval``
   fresh votes, in [0, 1].

A code that keeps factor k in its own dim has variance 0 there when k is fixed: every vote is right, the score
is 1. Chance is 1/K (0.2 on dSprites): the votes of a code that ignores the factors do not depend on k.
Dividing by the global std makes the score invariant to any per-dim affine map (z ↦ a z + b, a ≠ 0) as long as
it keeps each dim on the same side of the pruning threshold, and to permutations of the code dims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric
from benchmarks.evaluation.metrics.factor_sampling import (
    Representation,
    num_factors,
    representation,
    sample_codes,
    sample_with_one_factor_fixed,
)

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs


def _votes(
    batches: np.ndarray, factor: np.ndarray, global_std: np.ndarray, active: np.ndarray, num_factors: int
) -> np.ndarray:
    """(K, D) vote counts of code batches (n, B, D) with ``factor`` (n,) fixed: each batch votes for the active dim
    of least variance after division by ``global_std`` (D,)."""
    variance = (batches[:, :, active] / global_std[active]).var(axis=1, ddof=1)  # (n, active dims)
    dims = np.flatnonzero(active)[np.argmin(variance, axis=1)]
    votes = np.zeros((num_factors, batches.shape[2]), dtype=np.int64)
    np.add.at(votes, (factor, dims), 1)
    return votes


def _factorvae_score(
    global_codes: np.ndarray,
    train_batches: np.ndarray,
    train_factor: np.ndarray,
    eval_batches: np.ndarray,
    eval_factor: np.ndarray,
    *,
    num_factors: int,
    prune_threshold: float = 0.05,
) -> float:
    """The score from codes (N, D) for the global std and batches (n, B, D) with their fixed factor (n,).

    Example:
        >>> gen = np.random.default_rng(0)
        >>> factor, batches = gen.integers(0, 2, 50), gen.normal(size=(50, 8, 2))
        >>> batches[np.arange(50), :, factor] = 0.0  # dim k is constant when factor k is fixed
        >>> _factorvae_score(gen.normal(size=(500, 2)), batches, factor, batches, factor, num_factors=2)
        1.0
    """
    global_std = global_codes.std(axis=0, ddof=1)
    active = global_std >= prune_threshold
    if not active.any():
        return 0.0
    train_votes = _votes(train_batches, train_factor, global_std, active, num_factors)
    eval_votes = _votes(eval_batches, eval_factor, global_std, active, num_factors)
    classifier = train_votes.argmax(axis=0)  # dim → the factor it voted for most
    return float(eval_votes[classifier, np.arange(len(classifier))].sum() / eval_votes.sum())


def factorvae_score(
    datamodule: Any,
    represent: Representation,
    generator: torch.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance: int = 10000,
    prune_threshold: float = 0.05,
) -> float:
    """The score of codes ``represent(classes)`` on factors drawn from ``datamodule`` (the module docstring)."""
    global_codes, _ = sample_codes(datamodule, represent, num_variance, generator)

    def batches(n: int) -> tuple[np.ndarray, np.ndarray]:
        k, classes = sample_with_one_factor_fixed(datamodule, n, batch_size, generator)
        return represent(classes), k.numpy()

    train, evaluation = batches(num_train), batches(num_eval)
    return _factorvae_score(
        global_codes, *train, *evaluation, num_factors=num_factors(datamodule), prune_threshold=prune_threshold
    )


class FactorVAEScore(Metric):
    name = "factorvae_score"
    group = "disentanglement"
    keys = (
        Key("factorvae_score", True, "accuracy of the majority vote from the latent dim of least variance (latent means divided by their global std; dims of std < 0.05 pruned) to the factor held fixed in a batch of 64 (chance 1/K: 0.2 on dSprites)", "Kim & Mnih 2018", bounds=UNIT),
    )
    requires = frozenset({"factors"})
    settings = ("disentanglement",)

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        config = inputs.config.disentanglement
        score = factorvae_score(
            inputs.datamodule, representation(inputs), inputs.generator(self.name),
            batch_size=config.factorvae_batch_size, num_train=config.factorvae_num_train,
            num_eval=config.factorvae_num_eval, num_variance=config.factorvae_num_variance,
            prune_threshold=config.factorvae_prune_threshold,
        )  # fmt: skip
        return {"factorvae_score": score}
