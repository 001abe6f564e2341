"""Rank statistics of scores against binary labels: the AUROC of an anomaly score.

Kept apart from any metric so that every detector (reconstruction error, ELBO, a latent density) is scored by
the same function.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def auroc(scores: torch.Tensor | np.ndarray, is_anomaly: torch.Tensor | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,), higher = more anomalous, for the boolean ``is_anomaly`` (N,).

    Rank-based (the Mann–Whitney U statistic ÷ n_anomalies · n_normal): the probability that a random anomaly
    scores above a random normal item, a tie counting ½ (tied scores get their average rank). Raises if either
    class is empty.

    Example:
        >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
    """
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    y = np.asarray(is_anomaly.detach().cpu() if isinstance(is_anomaly, torch.Tensor) else is_anomaly).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and is_anomaly must be two (N,) arrays, got shapes {s.shape} and {y.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUROC needs both classes, got {n_pos} anomalies and {n_neg} normal items")
    ranks = rankdata(s)  # 1 … N, ties averaged
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
