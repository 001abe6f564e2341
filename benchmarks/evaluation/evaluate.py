"""Evaluation of one trained run: a loop over the registered metrics that apply, then its figure data.

Every model, built-in or a user's, and every baseline goes through :func:`evaluate`; what a metric needs it
reads from the run's shared :class:`~benchmarks.evaluation.inputs.EvalInputs`, so nothing is computed twice.
A results file records which metrics were selected and which evaluation settings its values read
(:func:`evaluation_identity`); :func:`is_current` tells the runner whether a results file still matches the
config or has to be re-evaluated from its checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.figure_data import figure_data
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import METRICS
from lightning_modules import LatentModel


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: values by result key, figure data, seconds per metric, and its identity."""

    metrics: dict[str, Any]
    figure: dict[str, np.ndarray]
    seconds: dict[str, float]
    identity: dict[str, Any]


def evaluation_identity(config: EvaluationConfig, applied: list[str]) -> dict[str, Any]:
    """The selected metrics and the value of every evaluation setting that the ``applied`` metrics read."""
    settings = sorted({s for name in applied for s in METRICS.get(name).settings})
    return {"metrics": config.selected_metrics(), "settings": {s: getattr(config, s) for s in settings}}


def is_current(record: dict[str, Any], config: EvaluationConfig) -> bool:
    """Whether a results record's metrics are what ``config`` would measure: same selection, same settings read."""
    identity = record.get("eval_identity")
    if not isinstance(identity, dict) or identity.get("metrics") != config.selected_metrics():
        return False
    settings = identity.get("settings", {})
    return all(hasattr(config, k) and _same(getattr(config, k), v) for k, v in settings.items())


def _same(value: Any, recorded: Any) -> bool:
    """Config values against their JSON round trip (tuples come back as lists)."""
    return (list(value) if isinstance(value, tuple) else value) == recorded


def evaluate(model: LatentModel, context: EvalContext, *, seed: int) -> Evaluation:
    """Every selected metric that applies to ``model``, on the test split of ``context``; and its figure data."""
    if callable(getattr(model, "eval", None)):
        model.eval()  # type: ignore[attr-defined]
    inputs = EvalInputs(model, context, seed)
    values: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in context.config.selected_metrics():
        metric = METRICS.get(name)()
        if not metric.applies(inputs):
            continue
        start = time.perf_counter()
        out = metric.compute(inputs)
        seconds[name] = round(time.perf_counter() - start, 3)
        undeclared = [key for key in out if not metric.declares(key)]
        if undeclared:
            raise ValueError(f"metric '{name}' wrote undeclared result keys {undeclared}; declare them in its `keys`")
        values.update(out)
    return Evaluation(values, figure_data(inputs, values), seconds, evaluation_identity(context.config, list(seconds)))


__all__ = ["EvalContext", "Evaluation", "evaluate", "evaluation_identity", "is_current"]
