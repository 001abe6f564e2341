"""``retrieval_p@10``, ``retrieval_map``: the latent space as a search index, test items as queries over train.

Protocol: the latent mean of each test item (the baselines' codes: PCA coordinates, raw pixels) is a query;
the latent means of the training split are the database, ranked by Euclidean distance; a database item is
relevant when it has the query's label.

- precision@10: the share of relevant items among the 10 nearest; items tied with the 10th nearest count by
  their expected share (the value under a random order of the ties), so it does not depend on the database order.
- mAP: the mean over queries of average precision over the *whole* ranking of the training split (no cut-off),
  AP = Σ_n (R_n − R_{n−1}) P_n over the distinct distances (tied items form one threshold), exactly
  ``sklearn.metrics.average_precision_score`` of the negated distances; queries whose label no training item
  has are left out (AP is undefined there).

On a multi-label dataset (the dSprites factors) relevance is per label column, as in ``probe_acc``: a value per
column (``retrieval_p@10_<factor>``, ``retrieval_map_<factor>``) and their mean under the plain keys. Chance
is the share of the query's class in train (≈ 0.1 on digits) for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from benchmarks.evaluation.metrics.base import UNIT, Key, Metric

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

K = 10  # the 10 of precision@10
CHUNK_ELEMENTS = 2**22  # query × database × label-column entries held at once (a few arrays of this many)


def _precision_at_k(d: Tensor, rel: Tensor, k: int) -> Tensor:
    """Precision@k (Q, F) of each row of distances ``d`` (Q, N) with relevance ``rel`` (Q, N, F) per label column,
    ties at the k-th distance counted by their expected share."""
    t = d.kthvalue(k, dim=1).values[:, None]
    less, tied = (d < t)[..., None], (d == t)[..., None]
    n_less, n_tied = less.sum(1), tied.sum(1)
    hits = (rel & less).sum(1) + (k - n_less) * (rel & tied).sum(1).double() / n_tied
    return hits / k


def _average_precision(d: Tensor, rel: Tensor) -> Tensor:
    """AP (Q, F) of each row of distances ``d`` (Q, N) with relevance ``rel`` (Q, N, F), a tied group of distances
    being one threshold (precision read at the group's end); NaN where a row has no relevant item."""
    sorted_d, order = d.sort(1)  # the order within a tied group changes nothing below
    sorted_rel = rel.gather(1, order[..., None].expand_as(rel))
    n = d.shape[1]
    is_end = torch.ones_like(sorted_d, dtype=torch.bool)
    is_end[:, :-1] = sorted_d[:, 1:] != sorted_d[:, :-1]
    position = torch.arange(n, device=d.device).expand_as(sorted_d)
    end = torch.where(is_end, position, n).flip(1).cummin(1).values.flip(1)  # the last position of each one's group
    hits = sorted_rel.double().cumsum(1)
    precision_at_end = hits.gather(1, end[..., None].expand_as(hits)) / (end + 1)[..., None]
    return (sorted_rel * precision_at_end).sum(1) / hits[:, -1]


def retrieval_scores(
    query_codes: Tensor, query_labels: Tensor, db_codes: Tensor, db_labels: Tensor, *, k: int = K
) -> tuple[np.ndarray, np.ndarray]:
    """Mean precision@k and mAP (see the module docstring) of queries (Q, D) over a database (N, D), one value
    per label column of the labels (Q,) / (Q, F) and (N,) / (N, F). Runs on the codes' device, in float64.

    Example:
        >>> codes, labels = torch.tensor([[0.0], [1.0], [10.0], [11.0]]), torch.tensor([0, 0, 1, 1])
        >>> retrieval_scores(codes[[0, 2]], labels[[0, 2]], codes, labels, k=2)
        (array([1.]), array([1.]))
    """
    if not 1 <= k <= len(db_codes):
        raise ValueError(f"precision@{k} needs at least {k} database items, got {len(db_codes)}")
    query_labels, db_labels = query_labels.reshape(len(query_labels), -1), db_labels.reshape(len(db_labels), -1)
    db, chunk = db_codes.double(), max(1, CHUNK_ELEMENTS // db_labels.numel())
    precision, ap = [], []
    for q, y in zip(query_codes.double().split(chunk), query_labels.split(chunk)):
        d = torch.cdist(q, db)
        rel = y[:, None, :] == db_labels[None]  # (chunk, N, F)
        precision.append(_precision_at_k(d, rel, k))
        ap.append(_average_precision(d, rel))
    return torch.cat(precision).mean(0).cpu().numpy(), torch.cat(ap).nanmean(0).cpu().numpy()


class Retrieval(Metric):
    """Nearest-neighbour retrieval by label: one value per label column, the plain keys their mean."""

    name = "retrieval"
    group = "applications: retrieval"
    keys = (
        Key("retrieval_p@10", True, "test items' latent means as queries over the training split, Euclidean: share of the 10 nearest with the query's label (ties at the 10th by expected share); per factor as `retrieval_p@10_<factor>` on dSprites, this their mean", "content-based retrieval", bounds=UNIT),
        Key("retrieval_map", True, "mean average precision of the same queries over the whole ranking of the training split (ties one threshold, as scikit-learn's `average_precision_score`)", "content-based retrieval", bounds=UNIT),
        Key("retrieval_p@10_<factor>", True, "precision@10 with relevance by one label column (factor) of a multi-label dataset", bounds=UNIT),
        Key("retrieval_map_<factor>", True, "mAP with relevance by one label column (factor) of a multi-label dataset", bounds=UNIT),
    )
    requires = frozenset({"labels"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        train_y, test_y = inputs.datamodule.train.labels, inputs.datamodule.test.labels
        precision, ap = retrieval_scores(
            inputs.posterior("test").mean.to(inputs.device), test_y.to(inputs.device),
            inputs.posterior("train").mean.to(inputs.device), train_y.to(inputs.device),
        )  # fmt: skip
        out = {"retrieval_p@10": float(precision.mean()), "retrieval_map": float(ap.mean())}
        if train_y.dim() > 1:
            for name, p, a in zip(inputs.datamodule.label_names, precision, ap):
                out.update({f"retrieval_p@10_{name}": float(p), f"retrieval_map_{name}": float(a)})
        return out
