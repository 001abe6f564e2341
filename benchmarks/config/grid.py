"""The run grid: dataset × model (sweeps expanded) × seed, each run with a stable id from what it trains.

A run's identity is split in two. Its :attr:`~RunSpec.run_id` hashes what determines the *trained* model
(dataset, model, seed, trainer): it names the results file and the checkpoint folder. What determines its
*metrics* (the evaluation settings) is not in the id; a results file records the settings its metrics read,
and the runner re-evaluates from the checkpoint when one of those changed, without retraining.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.config.settings import BenchmarkConfig, ConfigError, DatasetConfig, EvaluationConfig, ModelConfig, TrainerConfig

# bump when a results file's meaning changes: old files then no longer match any run id
# (2: the run id hashes the training identity only; evaluation settings are checked separately)
RESULTS_SCHEMA = 2
#: settings that do not change the trained model: how often a resume checkpoint is written (a resumed run equals
#: an uninterrupted one), and where a dataset's files are found (the same files anywhere)
TRAINING_INVARIANT = ("checkpoint_every_n_epochs",)
DATA_INVARIANT = ("root", "download")
#: dataset options added after reports were committed, left out of the identity at their neutral default (None),
#: so that the runs which do not use them keep their run ids (and their committed results and checkpoints)
NEUTRAL_WHEN_NONE = ("held_out_class", "train_size")


def _dataset_identity(dataset: DatasetConfig) -> dict[str, Any]:
    return {
        k: v
        for k, v in dataset.resolved().items()
        if k not in DATA_INVARIANT and not (k in NEUTRAL_WHEN_NONE and v is None)
    }


@dataclass(frozen=True)
class RunSpec:
    """One training run and its evaluation; its results file is named by :attr:`run_id`."""

    dataset: DatasetConfig
    model: ModelConfig
    seed: int
    trainer: TrainerConfig
    evaluation: EvaluationConfig

    def identity(self) -> dict[str, Any]:
        """What determines the trained model, defaults filled in (hashed into the run id)."""
        return {
            "schema": RESULTS_SCHEMA,
            "dataset": _dataset_identity(self.dataset),
            "model": self.model.resolved(),
            "seed": self.seed,
            "trainer": {k: v for k, v in asdict(self.trainer).items() if k not in TRAINING_INVARIANT},
        }

    def resolved(self) -> dict[str, Any]:
        """Everything the run was given, defaults filled in: the ``config`` stored in its results file."""
        return {
            **self.identity(),
            "dataset": self.dataset.resolved(),
            "trainer": asdict(self.trainer),
            "evaluation": asdict(self.evaluation),
        }

    @property
    def label(self) -> str:
        return self.model.label or self.model.name

    @property
    def run_id(self) -> str:
        return _run_id(self.dataset.name, self.label, self.seed, self.identity())


@dataclass(frozen=True)
class BaselineSpec:
    """A linear baseline row (``pca`` or ``pixels``): fitted, not trained, and scored like a model.

    ``row_label`` names the row when it is one of several sizes of the same baseline (``pca[latent_dim=4]``);
    it is not part of the identity, so a single ``pca`` row keeps the run id it always had.
    """

    dataset: DatasetConfig
    name: str
    n_components: int
    seed: int
    evaluation: EvaluationConfig
    row_label: str | None = None

    def identity(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA,
            "dataset": _dataset_identity(self.dataset),
            "baseline": self.name,
            "n_components": self.n_components,
            "seed": self.seed,
        }

    def resolved(self) -> dict[str, Any]:
        """The identity plus the row label (read back by ``aebench evaluate``), the dataset and evaluation settings."""
        return {
            **self.identity(),
            "label": self.label,
            "dataset": self.dataset.resolved(),
            "evaluation": asdict(self.evaluation),
        }

    @property
    def label(self) -> str:
        return self.row_label or self.name

    @property
    def run_id(self) -> str:
        return _run_id(self.dataset.name, self.label, self.seed, self.identity())


Spec = RunSpec | BaselineSpec


def _run_id(dataset: str, label: str, seed: int, identity: dict[str, Any]) -> str:
    """``<dataset>-<label>-seed<seed>-<hash of the identity>``: readable and unique."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")
    return f"{dataset}-{slug}-seed{seed}-{digest[:10]}"


def pca_components(models: list[ModelConfig]) -> list[int]:
    """The PCA baseline's sizes: every distinct ``latent_dim`` of the models, ascending (models without one do not
    count), so each model is compared with a PCA of its own latent size."""
    sizes = sorted({s for s in (m.resolved().get("latent_dim") for m in models) if isinstance(s, int)})
    if not sizes:
        raise ConfigError("evaluation.baselines: no model has a `latent_dim` to size the PCA baseline; drop `pca`")
    return sizes


def baseline_rows(baselines: list[str], models: list[ModelConfig]) -> list[tuple[str, int, str | None]]:
    """``(name, n_components, row_label)`` of each baseline row: ``pixels`` once, ``pca`` once per latent size of the
    models, labelled like a sweep's rows (``pca[latent_dim=4]``) when there are several and plain ``pca`` when not."""
    sizes = pca_components(models) if "pca" in baselines else []
    rows: list[tuple[str, int, str | None]] = []
    for name in baselines:
        if name == "pca":
            rows += [(name, n, f"pca[latent_dim={n}]" if len(sizes) > 1 else None) for n in sizes]
        else:
            rows.append((name, 0, None))
    return rows


def expand_grid(config: BenchmarkConfig) -> list[Spec]:
    """All runs of a benchmark, dataset-major (sweeps expanded), then model (baselines last), then seed."""
    models = [model for spec in config.models for model in spec.expand()]
    baselines = baseline_rows(config.evaluation.baselines, models)
    runs: list[Spec] = []
    for dataset in (point for spec in config.datasets for point in spec.expand()):
        runs += [RunSpec(dataset, m, seed, config.trainer, config.evaluation) for m in models for seed in config.seeds]
        runs += [
            BaselineSpec(dataset, name, n_components, seed, config.evaluation, row_label)
            for name, n_components, row_label in baselines
            for seed in config.seeds
        ]
    return runs
