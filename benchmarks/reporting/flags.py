"""Flags on runs whose numbers should not be read as a model's, and whether training converged.

Degenerate runs (:data:`DEGENERATE`) are tagged in the table and never marked best:

- ``diverged``: training went wrong while staying finite, read off the curve of the reconstruction term
  ``train/recon`` (comparable across a model family, unlike a loss with a β or a schedule): it ended higher
  than after the first epoch, or more than :data:`FAMILY_FACTOR` times above the best final value of the runs
  of the same model on the same dataset (an AE at lr 10 beside AEs at lr 1e-3). A run whose loss became NaN or
  infinite never gets here: training stops it and the run is reported failed.
- ``collapsed``: every latent dim's KL is below the collapse threshold (``collapsed_dims`` = latent size):
  the posterior is the prior, the code carries nothing.
- ``constant reconstructions``: the reconstructions keep less than :data:`CONSTANT_SPREAD` of the test
  images' variance (``recon_var_ratio``): every image decodes to about the same picture.

``not converged`` is a tag, not a disqualification: the run hit its epoch cap while its objective was still
falling by more than :data:`IMPROVING` of its value per epoch (:func:`convergence`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FAMILY_FACTOR = 10.0
CONSTANT_SPREAD = 0.01
IMPROVING = 1e-4  # relative fall per epoch over the last quarter of the curve: 1% per 100 epochs
DEGENERATE = frozenset({"diverged", "collapsed", "constant reconstructions"})
CURVE = "train/recon"


def _curve(record: dict[str, Any], key: str) -> list[tuple[float, float]]:
    """(epoch, value) of a logged curve, in order."""
    return [(row["epoch"], row[key]) for row in record.get("curves") or [] if key in row and "epoch" in row]


@dataclass(frozen=True)
class Convergence:
    """How a run's training ended: epochs, the cap, whether early stopping ended it, the end slope of its curve."""

    epochs: int
    cap: int | None
    early_stopped: bool
    curve: str  # the curve read: val/loss when validation ran, else train/loss
    slope: float  # per epoch, relative to the curve's last value (negative: still falling)

    @property
    def still_improving(self) -> bool:
        hit_cap = self.cap is not None and self.epochs >= self.cap
        return hit_cap and not self.early_stopped and self.slope < -IMPROVING


def convergence(record: dict[str, Any]) -> Convergence | None:
    """The end of a trained run's curve (None for a baseline, or a curve of fewer than 3 points).

    The slope is the least-squares slope over the last quarter of the points (at least 3), divided by the
    magnitude of the last value.
    """
    key = "val/loss" if _curve(record, "val/loss") else "train/loss"
    points = _curve(record, key)
    if len(points) < 3 or "epochs" not in record:
        return None
    tail = np.asarray(points[-max(3, len(points) // 4) :], dtype=float)
    if not np.isfinite(tail).all():
        return None
    slope = float(np.polyfit(tail[:, 0], tail[:, 1], 1)[0]) / max(abs(tail[-1, 1]), 1e-12)
    trainer = record.get("config", {}).get("trainer", {})
    cap = trainer.get("max_epochs")
    early = trainer.get("early_stopping_patience") is not None and cap is not None and record["epochs"] < cap
    return Convergence(int(record["epochs"]), cap, early, key, slope)


def run_flags(results: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """run id → its flags (only runs with at least one)."""
    finals: dict[tuple[str, str], list[float]] = {}
    for r in results:
        curve = _curve(r, CURVE)
        if curve and math.isfinite(curve[-1][1]):
            finals.setdefault((r["dataset"], r["model"]), []).append(curve[-1][1])
    flags: dict[str, list[str]] = {}
    for r in results:
        found = []
        curve = [v for _, v in _curve(r, CURVE)]
        if curve:
            best = min(finals.get((r["dataset"], r["model"]), [math.inf]))
            last = curve[-1]
            if not math.isfinite(last) or (len(curve) > 1 and last > curve[0]) or last > FAMILY_FACTOR * max(best, 1e-12):
                found.append("diverged")
        metrics = r.get("metrics", {})
        kl_dims = metrics.get("kl_per_dim")
        if isinstance(kl_dims, list) and kl_dims and metrics.get("collapsed_dims") == len(kl_dims):
            found.append("collapsed")
        spread = metrics.get("recon_var_ratio")
        if isinstance(spread, (int, float)) and spread < CONSTANT_SPREAD:
            found.append("constant reconstructions")
        ended = convergence(r)
        if ended is not None and ended.still_improving:
            found.append("not converged")
        if found:
            flags[r.get("run_id", "")] = found
    return flags
