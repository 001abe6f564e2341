"""Flags on runs whose numbers should not be read as a model's: they are tagged in the table and never best.

``diverged``: a run whose training went wrong while staying finite, read off its training curve of the
reconstruction term ``train/recon`` (comparable across a model family, unlike a loss with a β or a schedule):

- it ended higher than after the first epoch (training made the model worse), or
- it ended more than :data:`FAMILY_FACTOR` times above the best final value of the runs of the same model on
  the same dataset (e.g. an AE at lr 10 beside AEs at lr 1e-3).

A run whose loss became NaN or infinite never gets here: training stops it and the run is reported failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

FAMILY_FACTOR = 10.0
CURVE = "train/recon"


def _curve(record: dict[str, Any]) -> list[float]:
    return [row[CURVE] for row in record.get("curves") or [] if CURVE in row]


def run_flags(results: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """run id → its flags (only runs with at least one)."""
    finals: dict[tuple[str, str], list[float]] = {}
    for r in results:
        curve = _curve(r)
        if curve and math.isfinite(curve[-1]):
            finals.setdefault((r["dataset"], r["model"]), []).append(curve[-1])
    flags: dict[str, list[str]] = {}
    for r in results:
        curve = _curve(r)
        if not curve:
            continue
        best = min(finals.get((r["dataset"], r["model"]), [math.inf]))
        last = curve[-1]
        worse_than_start = len(curve) > 1 and last > curve[0]
        if not math.isfinite(last) or worse_than_start or last > FAMILY_FACTOR * max(best, 1e-12):
            flags[r.get("run_id", "")] = ["diverged"]
    return flags
