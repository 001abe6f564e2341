"""What a metric is: the result keys it writes, what it needs from a run, and a function of the run's inputs.

A metric is a subclass of :class:`Metric` in its own module under ``benchmarks/evaluation/metrics/``, listed
in ``METRICS`` (``metrics/__init__.py``). The evaluation loops over the registry; whether a metric applies is
its own decision (:meth:`Metric.applies`, by default: the run offers every capability in ``requires``), so
"n/a" in a table is decided here and not by branches in the harness.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from benchmarks.config import EvaluationConfig
    from benchmarks.evaluation.inputs import EvalInputs


#: the column groups of the comparison table, in order (wide tables are split along them)
GROUPS = (
    "reconstruction", "likelihood and posterior", "generation", "latent space", "disentanglement",
    # the applications table: one group per use, so each table stays readable
    "applications: retrieval", "applications: denoising", "applications: completion", "applications: anomaly detection",
    "applications: overfitting",
)  # fmt: skip

POSITIVE: tuple[float | None, float | None] = (0.0, None)  # ≥ 0: errors, distances, divergences, counts
UNIT: tuple[float | None, float | None] = (0.0, 1.0)  # accuracies, rates, shares


@dataclass(frozen=True)
class Key:
    """One result key: its name as in results files and tables, its better direction and its meaning.

    ``name`` may hold one ``<placeholder>`` for a family of keys (``probe_acc_<factor>``), which
    :meth:`matches` resolves against concrete keys.
    """

    name: str
    higher_is_better: bool | None  # None: no better direction (a count or a diagnostic to read, not to rank)
    description: str
    reference: str = ""
    bounds: tuple[float | None, float | None] = (None, None)  # the values it can take: intervals stay inside
    per_model: bool = True  # False for a reference value the model does not change (the ``fid_data`` floor)

    def matches(self, key: str) -> bool:
        if "<" not in self.name:
            return key == self.name
        pattern = "[A-Za-z0-9_.]+".join(map(re.escape, re.split(r"<[^>]+>", self.name)))
        return re.fullmatch(pattern, key) is not None


class Metric(ABC):
    """A registered measurement of a trained run.

    Class attributes:
        name: the registry name (what ``evaluation.metrics`` selects).
        group: the table's column group (one of :data:`GROUPS`, else ``other``, shown last); a group's metrics
            are listed together.
        keys: every result key :meth:`compute` may write, in the order of the table's columns.
        requires: capabilities of the run it needs (see ``benchmarks.evaluation.inputs.capabilities``).
        settings: the ``evaluation`` config fields it reads: a change of one of them re-evaluates the run.
    """

    name: ClassVar[str]
    group: ClassVar[str] = "other"
    keys: ClassVar[tuple[Key, ...]]
    requires: ClassVar[frozenset[str]] = frozenset()
    settings: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def enabled_by(cls, config: EvaluationConfig) -> bool:
        """Whether the evaluation config lets this metric run at all (default: yes). Decided from the config alone,
        like ``requires`` from the recorded capabilities, so that the runner can tell from a results record whether
        it is still current (:func:`benchmarks.evaluation.evaluate.is_current`)."""
        return True

    def applies(self, inputs: EvalInputs) -> bool:
        """Whether this metric is defined for the run: the config enables it and the run offers everything in
        ``requires``."""
        return self.enabled_by(inputs.config) and self.requires <= inputs.capabilities

    @abstractmethod
    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        """The metric's values for one run, keyed by its declared keys."""

    @classmethod
    def declares(cls, key: str) -> bool:
        return any(k.matches(key) for k in cls.keys)
