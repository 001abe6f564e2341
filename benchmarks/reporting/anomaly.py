"""The anomaly-detection section of a report: the AUROC of each model's anomaly scores, over the held-out classes.

A benchmark with ``held_out_class`` datasets (``benchmarks/configs/anomaly.yaml`` sweeps it over every class) has
one run per held-out class, model and seed. The summary of a model and a score is computed in this order:

1. within each seed, the mean of the AUROC over the held-out classes (a seed counts only with a finite value for
   every class: a mean over fewer classes would be another quantity);
2. over those per-seed means, the mean and its 95% Student-t interval (:func:`benchmarks.reporting.stats.summarize`,
   as every cell of the main table), marked best as there (:func:`benchmarks.reporting.table.marks`).

The seeds are the replicates; the classes are the task's items, so their spread is not an error bar. The per-class
table gives, per held-out class, the mean and interval over the seeds of the model's own score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.config.grid import DATA_INVARIANT
from benchmarks.reporting.flags import run_flags
from benchmarks.reporting.stats import summarize
from benchmarks.reporting.table import Mark, Row, bounds_of, cell_text, marks

#: the section's columns: the model's own score, then each score by name
ANOMALY_KEYS = ("anomaly_auroc", "anomaly_auroc_recon", "anomaly_auroc_elbo", "anomaly_auroc_iwae")
OWN_SCORE = "anomaly_auroc"


def held_out_class(record: dict[str, Any]) -> int | None:
    """The class a run was trained without (its dataset's ``held_out_class``), or None."""
    return record.get("config", {}).get("dataset", {}).get("held_out_class")


@dataclass(frozen=True)
class AnomalyTask:
    """One anomaly-detection task: a dataset whose held-out class varies over ``classes``, everything else fixed.

    ``rows``: per model, each of :data:`ANOMALY_KEYS` summarised over the seeds of its mean over the classes;
    ``per_class``: per held-out class, per model, the own score (:data:`OWN_SCORE`) summarised over the seeds.
    """

    dataset: str
    classes: list[int]
    rows: list[Row]
    per_class: dict[int, list[Row]]

    @property
    def columns(self) -> list[str]:
        """The keys of :data:`ANOMALY_KEYS` that some row has, in that order."""
        return [k for k in ANOMALY_KEYS if any(k in row.stats for row in self.rows)]

    def per_class_grid(self) -> list[list[tuple[str, Mark]]]:
        """Per row, per held-out class: the own score's cell text and its mark among the rows (as in the main table)."""
        marked = {c: marks(rows, OWN_SCORE) for c, rows in self.per_class.items()}
        return [
            [(cell_text(self.per_class[c][i], OWN_SCORE), marked[c].get(row.label)) for c in self.classes]
            for i, row in enumerate(self.rows)
        ]


def _task_key(record: dict[str, Any]) -> str:
    """What makes runs one task: their dataset config except the held-out class, its label and where files are."""
    dataset = record.get("config", {}).get("dataset", {})
    dropped = ("held_out_class", "label", *DATA_INVARIANT)
    return json.dumps({k: v for k, v in dataset.items() if k not in dropped}, sort_keys=True, default=str)


def _finite(record: dict[str, Any], key: str) -> float | None:
    value = record["metrics"].get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _values(runs: Sequence[dict[str, Any]], key: str, cls: int) -> list[float]:
    """The finite values of ``key`` of the runs (one per seed) trained without class ``cls``."""
    found = (_finite(r, key) for r in runs if held_out_class(r) == cls)
    return [v for v in found if v is not None]


def mean_over_classes(runs: Sequence[dict[str, Any]], key: str, classes: Sequence[int]) -> dict[int, float]:
    """seed → the mean over ``classes`` of ``key`` in ``runs`` (one model's), for each seed with a finite value for
    every class."""
    by_seed: dict[int, dict[int, float]] = {}
    for r in runs:
        value = _finite(r, key)
        if value is not None:
            by_seed.setdefault(r["seed"], {})[held_out_class(r)] = value  # type: ignore[index]
    return {
        seed: math.fsum(values[c] for c in classes) / len(classes)
        for seed, values in sorted(by_seed.items())
        if set(values) == set(classes)
    }


def _row(dataset: str, label: str, runs: Sequence[dict[str, Any]], stats: dict[str, list[float]],
         flags: dict[str, list[str]]) -> Row:  # fmt: skip
    """A table row of ``label``: the seeds of its runs, ``stats`` summarised (per-seed values), its runs' flags."""
    row_flags: dict[str, list[int]] = {}
    for r in runs:  # a flag holds for a seed when it holds for any of its runs (one per class)
        for flag in flags.get(r.get("run_id", ""), []):
            seeds = row_flags.setdefault(flag, [])
            if r["seed"] not in seeds:
                seeds.append(r["seed"])
    summarized = {k: summarize(v, bounds_of(k)) for k, v in stats.items() if v}
    return Row(dataset, label, runs[0]["model"], sorted({r["seed"] for r in runs}), summarized, flags=row_flags)


def anomaly_tasks(results: Sequence[dict[str, Any]]) -> list[AnomalyTask]:
    """The anomaly-detection tasks of ``results`` (runs with a held-out class and anomaly keys), in results order;
    empty when there are none."""
    runs = [r for r in results if held_out_class(r) is not None and any(k in r["metrics"] for k in ANOMALY_KEYS)]
    flags = run_flags(results)
    tasks: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        tasks.setdefault(_task_key(r), []).append(r)
    out = []
    for task_runs in tasks.values():
        dataset = task_runs[0]["config"]["dataset"]["name"]
        classes = sorted({held_out_class(r) for r in task_runs})  # type: ignore[type-var]
        by_label: dict[str, list[dict[str, Any]]] = {}
        for r in task_runs:
            by_label.setdefault(r["label"], []).append(r)
        rows = [
            _row(dataset, label, lr, {k: list(mean_over_classes(lr, k, classes).values()) for k in ANOMALY_KEYS}, flags)
            for label, lr in by_label.items()
        ]
        per_class = {
            c: [_row(dataset, label, lr, {OWN_SCORE: _values(lr, OWN_SCORE, c)}, flags) for label, lr in by_label.items()]
            for c in classes
        }  # fmt: skip
        out.append(AnomalyTask(dataset, classes, rows, per_class))
    return out


def protocol(task: AnomalyTask, results: Sequence[dict[str, Any]]) -> str:
    """The protocol of ``task`` as the report states it, with its numbers (classes, seeds, IWAE K, test size)."""
    ks = sorted({(r.get("eval_info") or {}).get("iwae_k") for r in results if held_out_class(r) is not None} - {None})
    tests = sorted({r["n_test"] for r in results if held_out_class(r) is not None and "n_test" in r})
    seeds = sorted({s for row in task.rows for s in row.seeds})
    return (
        f"Protocol: one class of {task.dataset} held out of training (removed from the train and val splits; the "
        f"{' / '.join(map(str, tests)) or 'n/a'} test images keep every class), one trained model per held-out "
        f"class ({len(task.classes)} classes: {', '.join(map(str, task.classes))}) and seed "
        f"({', '.join(map(str, seeds))}). Every test image is scored by the model's anomaly scores (higher = more "
        "anomalous): `anomaly_auroc_recon`, the per-pixel squared error of its reconstruction from the posterior mean "
        "(every model with a decoder, PCA included); `anomaly_auroc_elbo`, −ELBO; `anomaly_auroc_iwae`, −log p̂(x) "
        f"from the IWAE bound with K = {' / '.join(map(str, ks)) or 'n/a'}; `anomaly_auroc`, the model's own score "
        "(−IWAE where it has a likelihood, else the reconstruction error). "
        "AUROC: the held-out class (positives) against the other test images. Cells: the AUROC's mean over the "
        "held-out classes within each seed, then mean ± 95% Student-t interval over the seeds; 0.5 is chance."
    )


def claim_records(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``results`` as the claims check reads them: each anomaly task's runs (one per held-out class, model and seed)
    replaced by one record per model and seed holding the mean over the classes of every metric all of them have
    (step 1 of the module docstring), so a claim tests the task once, over its seeds, and not once per class."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if held_out_class(r) is not None:
            tasks.setdefault(_task_key(r), []).append(r)
    pooled_ids = {id(r) for runs in tasks.values() for r in runs}
    out = [r for r in results if id(r) not in pooled_ids]
    for runs in tasks.values():
        classes = sorted({held_out_class(r) for r in runs})  # type: ignore[type-var]
        name = f"{runs[0]['config']['dataset']['name']}, mean over held-out classes {', '.join(map(str, classes))}"
        by_label: dict[str, list[dict[str, Any]]] = {}
        for r in runs:
            by_label.setdefault(r["label"], []).append(r)
        for label, label_runs in by_label.items():
            keys = dict.fromkeys(k for r in label_runs for k in r["metrics"])
            means = {k: mean_over_classes(label_runs, k, classes) for k in keys}
            first = label_runs[0]
            for seed in sorted({r["seed"] for r in label_runs}):
                metrics = {k: by_seed[seed] for k, by_seed in means.items() if seed in by_seed}
                out.append({"dataset": name, "model": first["model"], "label": label, "seed": seed,
                            "hparams": first.get("hparams", {}), "eval_identity": first.get("eval_identity", {}),
                            "metrics": metrics})  # fmt: skip
    return out
