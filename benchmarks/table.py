"""Aggregate results over seeds and write the comparison table (Markdown, CSV, JSON).

Each cell is ``mean ± half-width of the 95% confidence interval`` over seeds (Student t with n−1
degrees of freedom), the one place where error bars are decided (:func:`summarize`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scipy import stats

from benchmarks.metrics import METRICS


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for one seed
    ci95: float  # half-width of the 95% Student-t interval; nan for one seed
    n: int


def summarize(values: Sequence[float]) -> Stat:
    """Mean, sample std and the 95% t-interval half-width of per-seed values."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Stat(mean, 0.0, math.nan, n)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Stat(mean, std, float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n), n)


@dataclass(frozen=True)
class Row:
    dataset: str
    label: str
    model: str
    seeds: list[int]
    stats: dict[str, Stat]


def aggregate(results: Sequence[dict[str, Any]]) -> list[Row]:
    """One row per (dataset, label), in first-seen order; scalar metrics summarised over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    rows = []
    for (dataset, label), runs in groups.items():
        keys = {k for r in runs for k, v in r["metrics"].items() if isinstance(v, (int, float)) and v is not None}
        row_stats = {}
        for key in keys:
            values = [float(r["metrics"][key]) for r in runs if isinstance(r["metrics"].get(key), (int, float))]
            row_stats[key] = summarize(values)
        rows.append(Row(dataset, label, runs[0]["model"], sorted(r["seed"] for r in runs), row_stats))
    return rows


def metric_columns(rows: Sequence[Row]) -> list[str]:
    """Scalar metrics present in any row, in catalogue order (unknown keys last, sorted)."""
    present = {k for row in rows for k in row.stats}
    known = [k for k in METRICS.names() if k in present]
    order = {k: i for i, k in enumerate(_CATALOG_ORDER)}
    return sorted(known, key=lambda k: order.get(k, len(order))) + sorted(present - set(known))


_CATALOG_ORDER = list(METRICS._entries)  # declaration order in catalog.py is the column order


def header(key: str) -> str:
    info = METRICS.get(key) if key in METRICS else None
    arrow = "" if info is None or info.higher_is_better is None else (" ↑" if info.higher_is_better else " ↓")
    return f"{key}{arrow}"


def format_cell(stat: Stat | None) -> str:
    """``mean ± ci95`` with the error shown to two significant digits and the mean to the same decimals."""
    if stat is None:
        return "n/a"
    if stat.n < 2 or not math.isfinite(stat.ci95) or stat.ci95 == 0:
        return f"{stat.mean:.4g}"
    decimals = max(0, 1 - math.floor(math.log10(stat.ci95)))
    return f"{stat.mean:.{decimals}f} ± {stat.ci95:.{decimals}f}"


def best_labels(rows: Sequence[Row], key: str) -> set[str]:
    """Rows whose mean is the best of the column (none when the metric has no better direction)."""
    info = METRICS.get(key) if key in METRICS else None
    values = {r.label: r.stats[key].mean for r in rows if key in r.stats and math.isfinite(r.stats[key].mean)}
    if info is None or info.higher_is_better is None or len(values) < 2:
        return set()
    best = (max if info.higher_is_better else min)(values.values())
    return {label for label, v in values.items() if v == best}


def markdown_table(rows: Sequence[Row]) -> str:
    columns = metric_columns(rows)
    lines = [
        "| model | seeds | " + " | ".join(header(k) for k in columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    best = {k: best_labels(rows, k) for k in columns}
    for row in rows:
        cells = []
        for k in columns:
            cell = format_cell(row.stats.get(k))
            cells.append(f"**{cell}**" if row.label in best[k] else cell)
        lines.append(f"| {row.label} | {len(row.seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_tables(results: Sequence[dict[str, Any]], output_dir: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """Write ``table.md``, ``table.csv`` and ``table.json`` under ``output_dir``; returns their paths."""
    rows = aggregate(results)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: output_dir / f"table.{fmt}" for fmt in ("md", "csv", "json")}
    md = [f"# aebench: {meta['config']['name']}", "", _provenance_md(meta), ""]
    for dataset in dict.fromkeys(r.dataset for r in rows):
        md += [f"## {dataset}", "", markdown_table([r for r in rows if r.dataset == dataset]), ""]
    md.append("Cells: mean ± half-width of the 95% Student-t confidence interval over seeds; **bold**: best mean.")
    paths["md"].write_text("\n".join(md) + "\n")
    columns = metric_columns(rows)
    with paths["csv"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "model", "label", "n_seeds", *[f"{k}_{s}" for k in columns for s in ("mean", "std", "ci95")]])
        for r in rows:
            cells = []
            for k in columns:
                st = r.stats.get(k)
                cells += ["", "", ""] if st is None else [st.mean, st.std, st.ci95]
            writer.writerow([r.dataset, r.model, r.label, len(r.seeds), *cells])
    table = {"meta": meta, "rows": [{**asdict(r), "stats": {k: asdict(s) for k, s in r.stats.items()}} for r in rows]}
    paths["json"].write_text(json.dumps(table, indent=1, default=str) + "\n")
    return paths


def _provenance_md(meta: dict[str, Any]) -> str:
    cfg, machine, versions = meta["config"], meta["machine"], meta["versions"]
    device = machine.get("gpu", machine["cpu"])
    lines = [
        f"- command: `{meta['command']}` (config `{cfg.get('source', '')}`), commit `{meta['commit']}`",
        f"- machine: {device}, {machine['cpu_count']} CPU cores; seeds {cfg['seeds']}; "
        f"budget: {cfg['trainer']['max_epochs']} epochs; wall time {meta['wall_time_s']} s",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    if meta.get("failures"):
        lines.append(f"- **{len(meta['failures'])} run(s) failed** and are missing: " + ", ".join(f["run_id"] for f in meta["failures"]))
    return "\n".join(lines)
