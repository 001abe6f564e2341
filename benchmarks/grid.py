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
        digest = hashlib.sha256(json.dumps(self.resolved(), sort_keys=True, default=str).encode()).hexdigest()
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label).strip("_")
        return f"{self.dataset.name}-{slug}-seed{self.seed}-{digest[:10]}"


def expand_grid(config: BenchmarkConfig) -> list[RunSpec]:
    """All runs of a benchmark, dataset-major, then model, then seed."""
    return [
        RunSpec(dataset, model, seed, config.trainer, config.evaluation)
        for dataset in config.datasets
        for spec in config.models
        for model in spec.expand()
        for seed in config.seeds
    ]
