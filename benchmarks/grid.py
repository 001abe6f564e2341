"""The run grid: dataset × model (sweeps expanded) × seed, each run with a stable id from its resolved config."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.config import BenchmarkConfig, DatasetConfig, EvaluationConfig, ModelConfig, TrainerConfig

RESULTS_SCHEMA = 1  # bump when a results file's meaning changes: old files then no longer match any run id


@dataclass(frozen=True)
class RunSpec:
    """One training run and its evaluation; its results file is named by :attr:`run_id`."""

    dataset: DatasetConfig
    model: ModelConfig
    seed: int
    trainer: TrainerConfig
    evaluation: EvaluationConfig

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the run's numbers, defaults filled in (hashed into the run id)."""
        return {
            "schema": RESULTS_SCHEMA,
            "dataset": self.dataset.resolved(),
            "model": self.model.resolved(),
            "seed": self.seed,
            "trainer": asdict(self.trainer),
            "evaluation": asdict(self.evaluation),
        }

    @property
    def label(self) -> str:
        return self.model.label or self.model.name

    @property
    def run_id(self) -> str:
        return _run_id(self.dataset.name, self.label, self.seed, self.resolved())


@dataclass(frozen=True)
class BaselineSpec:
    """A linear baseline row (``pca`` or ``pixels``): fitted, not trained, and scored like a model."""

    dataset: DatasetConfig
    name: str
    n_components: int
    seed: int
    evaluation: EvaluationConfig

    def resolved(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA,
            "dataset": self.dataset.resolved(),
            "baseline": self.name,
            "n_components": self.n_components,
            "seed": self.seed,
            "evaluation": asdict(self.evaluation),
        }

    @property
    def label(self) -> str:
        return self.name

    @property
    def run_id(self) -> str:
        return _run_id(self.dataset.name, self.label, self.seed, self.resolved())


def _run_id(dataset: str, label: str, seed: int, resolved: dict[str, Any]) -> str:
    """``<dataset>-<label>-seed<seed>-<hash of the resolved config>``: readable and unique."""
    digest = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")
    return f"{dataset}-{slug}-seed{seed}-{digest[:10]}"


def expand_grid(config: BenchmarkConfig) -> list[RunSpec | BaselineSpec]:
    """All runs of a benchmark, dataset-major, then model (baselines last), then seed.

    The PCA baseline gets as many components as the models' most common latent size.
    """
    models = [model for spec in config.models for model in spec.expand()]
    sizes = [m.resolved()["latent_dim"] for m in models]
    n_components = max(set(sizes), key=sizes.count)
    runs: list[RunSpec | BaselineSpec] = []
    for dataset in config.datasets:
        runs += [RunSpec(dataset, m, seed, config.trainer, config.evaluation) for m in models for seed in config.seeds]
        runs += [
            BaselineSpec(dataset, name, n_components, seed, config.evaluation)
            for name in config.evaluation.baselines
            for seed in config.seeds
        ]
    return runs
