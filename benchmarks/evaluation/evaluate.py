"""Evaluation of one trained run: a loop over the registered metrics that apply, then its figure data.

Every model, built-in or a user's, and every baseline goes through :func:`evaluate`; what a metric needs it
reads from the run's shared :class:`~benchmarks.evaluation.inputs.EvalInputs`, so nothing is computed twice.
A results file records which metrics were selected and which evaluation settings its values read
(:func:`evaluation_identity`); :func:`is_current` tells the runner whether a results file still matches the
config or has to be re-evaluated from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.figure_data import figure_data
from benchmarks.evaluation.finite import NonFiniteInputError
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import METRICS
from lightning_modules import LatentModel


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: values by result key, figure data, seconds per metric, its identity, and
    the metrics that failed on non-finite inputs (name → reason)."""

    metrics: dict[str, Any]
    figure: dict[str, np.ndarray]
    seconds: dict[str, float]
    identity: dict[str, Any]
    failures: dict[str, str]


def evaluation_identity(config: EvaluationConfig, applied: list[str], capabilities: frozenset[str]) -> dict[str, Any]:
    """The ``applied`` metrics, the run's capabilities, and the value of every evaluation setting they read."""
    settings = sorted({s for name in applied for s in METRICS.get(name).settings})
    return {
        "applied": list(applied),
        "capabilities": sorted(capabilities),
        "settings": {s: _plain(getattr(config, s)) for s in settings},
    }


def _would_apply(config: EvaluationConfig, capabilities: set[str]) -> list[str]:
    """The metrics ``config`` selects whose requirements a run with ``capabilities`` meets, in registry order."""
    return [
        name for name in config.selected_metrics()
        if METRICS.get(name).requires <= capabilities and METRICS.get(name).enabled_by(config)
    ]  # fmt: skip


def is_current(record: dict[str, Any], config: EvaluationConfig) -> bool:
    """Whether a results record's metrics are what ``config`` would measure: the same metrics would apply to the
    run, and every setting they read has the same value. A metric added to the registry that does not apply to a
    run (a disentanglement score for a dataset without factors) leaves its results current."""
    identity = record.get("eval_identity")
    if not isinstance(identity, dict) or "capabilities" not in identity:
        return False
    if _would_apply(config, set(identity["capabilities"])) != identity.get("applied"):
        return False
    settings = identity.get("settings", {})
    return all(hasattr(config, k) and _same(getattr(config, k), v) for k, v in settings.items())


def _plain(value: Any) -> Any:
    """A config value as JSON keeps it: a nested config (``disentanglement``) as its mapping of fields."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _same(value: Any, recorded: Any) -> bool:
    """Config values against their JSON round trip (tuples come back as lists, nested configs as mappings)."""
    value = _plain(value)
    return (list(value) if isinstance(value, tuple) else value) == recorded


def evaluate(
    model: LatentModel, context: EvalContext, *, seed: int, on_metric: Callable[[str, float], None] | None = None
) -> Evaluation:
    """Every selected metric that applies to ``model``, on the test split of ``context``; and its figure data.

    ``on_metric(status, fraction)`` is called before each metric (for a progress line). A metric whose inputs
    are not finite (a diverged model) is recorded in ``failures`` with the reason, and the
    others go on; no figure data is drawn from non-finite images.
    """
    if callable(getattr(model, "eval", None)):
        model.eval()  # type: ignore[attr-defined]
    inputs = EvalInputs(model, context, seed)
    values: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    selected = context.config.selected_metrics()
    for i, name in enumerate(selected):
        metric = METRICS.get(name)()
        if not metric.applies(inputs):
            continue
        if on_metric is not None:
            on_metric(f"{name} ({i + 1}/{len(selected)})", i / len(selected))
        start = time.perf_counter()
        try:
            out = metric.compute(inputs)
        except NonFiniteInputError as err:
            failures[name] = str(err)
            continue
        finally:
            seconds[name] = round(time.perf_counter() - start, 3)
        undeclared = [key for key in out if not metric.declares(key)]
        if undeclared:
            raise ValueError(f"metric '{name}' wrote undeclared result keys {undeclared}; declare them in its `keys`")
        values.update(out)
    try:
        figure = figure_data(inputs, values)
    except NonFiniteInputError:
        figure = {}
    identity = evaluation_identity(context.config, list(seconds), inputs.capabilities)
    return Evaluation(values, figure, seconds, identity, failures)


__all__ = ["EvalContext", "Evaluation", "evaluate", "evaluation_identity", "is_current"]
