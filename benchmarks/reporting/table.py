"""Aggregate results over seeds and write the comparison table (Markdown, CSV, JSON, LaTeX).

Each cell is ``mean ± half-width of the 95% confidence interval`` over the seeds with a finite value (Student t
with n−1 degrees of freedom), the one place where error bars are decided (:func:`summarize`); which cell is the
best of its column is decided once (:func:`cell_grid`) and rendered by every format.

Nothing is hidden: a cell whose value is finite for only some of the row's seeds says so (``315.6 (1 of 2
seeds)``); a cell without any finite value reads ``non-finite`` or ``failed`` (its metric stopped on a
non-finite input), never ``n/a``, which means only "does not apply". Such cells, and rows whose training
diverged (:mod:`benchmarks.reporting.flags`), are never marked best.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats

from benchmarks.evaluation.metrics import METRICS, all_keys, describe
from benchmarks.files import write_text_atomic
from benchmarks.reporting.flags import run_flags


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for one seed
    ci95: float  # half-width of the 95% Student-t interval; nan for one seed
    n: int


def summarize(values: Sequence[float]) -> Stat:
    """Mean, sample std and the 95% t-interval half-width of per-seed values (finite ones)."""
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
    stats: dict[str, Stat]  # over the seeds with a finite value
    problems: dict[str, dict[str, int]] = field(default_factory=dict)  # key → {"non_finite": n, "failed": n}
    flags: dict[str, list[int]] = field(default_factory=dict)  # flag (e.g. "diverged") → the seeds it holds for


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def failed_keys(record: dict[str, Any]) -> set[str]:
    """The result keys a record lacks because their metric stopped on non-finite inputs."""
    names = [name for name in record.get("metric_failures") or {} if name in METRICS]
    return {key.name for name in names for key in METRICS.get(name).keys if "<" not in key.name}


def aggregate(results: Sequence[dict[str, Any]]) -> list[Row]:
    """One row per (dataset, label), in first-seen order; scalar metrics summarised over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    flags = run_flags(results)
    rows = []
    for (dataset, label), runs in groups.items():
        failed = [failed_keys(r) for r in runs]
        keys = {k for r in runs for k, v in r["metrics"].items() if _is_number(v)} | set().union(*failed)
        row_stats, problems = {}, {}
        for key in sorted(keys):  # a fixed order: table.json must not depend on hash seeds
            values = [float(r["metrics"][key]) for r in runs if _is_number(r["metrics"].get(key))]
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                row_stats[key] = summarize(finite)
            counts = {"non_finite": len(values) - len(finite), "failed": sum(key in f for f in failed)}
            if any(counts.values()):
                problems[key] = counts
        row_flags: dict[str, list[int]] = {}
        for r in runs:
            for flag in flags.get(r.get("run_id", ""), []):
                row_flags.setdefault(flag, []).append(r["seed"])
        seeds = sorted(r["seed"] for r in runs)
        rows.append(Row(dataset, label, runs[0]["model"], seeds, row_stats, problems, row_flags))
    return rows


def metric_columns(rows: Sequence[Row]) -> list[str]:
    """Scalar metrics present in any row, in the order the metrics declare their keys (then undeclared, sorted).

    A ``<placeholder>`` key family (``probe_acc_<factor>``) takes its members in sorted order at its place.
    """
    present = {k for row in rows for k in (*row.stats, *row.problems)}
    ordered: list[str] = []
    for declared in all_keys():
        ordered += sorted(k for k in present - set(ordered) if declared.matches(k))
    return ordered + sorted(present - set(ordered))


def arrow(key: str) -> str:
    """``↑``/``↓`` from the metric's declared direction; empty for keys without one (or undeclared)."""
    info = describe(key)
    return "" if info is None or info.higher_is_better is None else ("↑" if info.higher_is_better else "↓")


def header(key: str) -> str:
    return f"{key} {arrow(key)}".rstrip()


def cell_text(row: Row, key: str) -> str:
    """The cell of ``key`` in ``row``: :func:`format_cell` of its finite values, with how many seeds gave one when
    not all did; ``non-finite`` or ``failed`` when none did; ``n/a`` when the metric does not apply."""
    stat, problem, n = row.stats.get(key), row.problems.get(key), len(row.seeds)
    if stat is None:
        if problem is None:
            return "n/a"
        return "non-finite" if problem["non_finite"] else "failed"
    return format_cell(stat) + (f" ({stat.n} of {n} seeds)" if stat.n < n else "")


def format_cell(stat: Stat | None) -> str:
    """``mean ± ci95`` with the error shown to two significant digits and the mean to the same decimals."""
    if stat is None:
        return "n/a"
    # no spread, or only floating-point noise between seeds (a deterministic baseline): the value alone
    if stat.n < 2 or not math.isfinite(stat.ci95) or stat.ci95 <= 1e-9 * max(1.0, abs(stat.mean)):
        return f"{stat.mean:.4g}"
    decimals = max(0, 1 - math.floor(math.log10(stat.ci95)))
    return f"{stat.mean:.{decimals}f} ± {stat.ci95:.{decimals}f}"


def best_labels(rows: Sequence[Row], key: str) -> set[str]:
    """Rows whose mean is the best of the column (none when the metric has no better direction).

    Only complete cells compete (a finite value for every seed) of rows without flags (e.g. diverged training).
    """
    info = describe(key)
    values = {
        r.label: r.stats[key].mean
        for r in rows
        if key in r.stats and r.stats[key].n == len(r.seeds) and not r.flags
    }
    if info is None or info.higher_is_better is None or len(values) < 2:
        return set()
    best = (max if info.higher_is_better else min)(values.values())
    return {label for label, v in values.items() if v == best}


def cell_grid(rows: Sequence[Row]) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """The metric columns and, per row, each cell's text with whether it holds the column's best mean."""
    columns = metric_columns(rows)
    best = {k: best_labels(rows, k) for k in columns}
    return columns, [[(cell_text(r, k), r.label in best[k]) for k in columns] for r in rows]


def row_label(row: Row) -> str:
    """The row's label, tagged with its flags and the seeds they hold for (``ae [diverged: seed 1]``)."""
    tags = [f"{flag}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" for flag, seeds in row.flags.items()]
    return row.label + (f" [{'; '.join(tags)}]" if tags else "")


def markdown_table(rows: Sequence[Row]) -> str:
    columns, cells = cell_grid(rows)
    lines = [
        "| model | seeds | " + " | ".join(header(k) for k in columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for row, row_cells in zip(rows, cells):
        shown = [f"**{text}**" if best else text for text, best in row_cells]
        label = row_label(row).replace("|", "\\|")  # a label is free text: a bare | would split the row
        lines.append(f"| {label} | {len(row.seeds)} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


_LATEX_SPECIAL = {c: "\\" + c for c in "_&%#${}"} | {
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def latex_table(rows: Sequence[Row], caption: str) -> str:
    """A booktabs ``table`` environment (needs ``booktabs`` and ``graphicx``); the best cell in ``\\textbf``."""
    columns, cells = cell_grid(rows)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\resizebox{\linewidth}{!}{%",
        r"\begin{tabular}{lr" + "r" * len(columns) + "}",
        r"\toprule",
        "model & seeds & " + " & ".join(latex_escape(header(k)) for k in columns) + r" \\",
        r"\midrule",
    ]
    for row, row_cells in zip(rows, cells):
        shown = [rf"\textbf{{{latex_escape(t)}}}" if best else latex_escape(t) for t, best in row_cells]
        lines.append(f"{latex_escape(row_label(row))} & {len(row.seeds)} & " + " & ".join(shown) + r" \\")
    label = re.sub(r"[^A-Za-z0-9]+", "-", caption)
    lines += [r"\bottomrule", r"\end{tabular}}", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{tab:{label}}}"]
    lines.append(r"\end{table}")
    return "\n".join(lines)


def write_tables(
    results: Sequence[dict[str, Any]], output_dir: Path, meta: dict[str, Any], *, appendix: str = ""
) -> dict[str, Path]:
    """Write ``table.md`` (provenance, one table per dataset, then ``appendix``), ``.csv``, ``.json``, ``.tex``."""
    rows = aggregate(results)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: output_dir / f"table.{fmt}" for fmt in ("md", "csv", "json", "tex")}
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    md = [f"# aebench: {meta['config']['name']}", ""]
    md += [f"- {k}: {v}" for k, v in provenance_items(meta, results)] + [""]
    for dataset in datasets:
        evaluation = evaluation_summary([r for r in results if r["dataset"] == dataset])
        md += [f"## {dataset}", "", evaluation, "", markdown_table([r for r in rows if r.dataset == dataset]), ""]
    md.append(f"{CELLS_LEGEND}; **bold**: best mean.")
    write_text_atomic(paths["md"], "\n".join(md) + "\n" + (f"\n{appendix.rstrip()}\n" if appendix else ""))
    tex = [f"% aebench: {meta['config']['name']}; {CELLS_LEGEND}; bold: best mean."]
    tex += [latex_table([r for r in rows if r.dataset == d], d) for d in datasets]
    write_text_atomic(paths["tex"], "\n\n".join(tex) + "\n")
    columns = metric_columns(rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    stat_columns = [f"{k}_{s}" for k in columns for s in ("mean", "std", "ci95")]
    writer.writerow(["dataset", "model", "label", "n_seeds", *stat_columns])
    for r in rows:
        cells = []
        for k in columns:
            st = r.stats.get(k)
            cells += ["", "", ""] if st is None else [st.mean, st.std, st.ci95]
        writer.writerow([r.dataset, r.model, r.label, len(r.seeds), *cells])
    write_text_atomic(paths["csv"], buffer.getvalue())
    table = {"meta": meta, "rows": [_row_json(r) for r in rows]}
    write_text_atomic(paths["json"], json.dumps(table, indent=1, default=str) + "\n")
    return paths


def _row_json(row: Row) -> dict[str, Any]:
    """A row of ``table.json``; ``problems`` and ``flags`` appear only where there are some."""
    out = {**asdict(row), "stats": {k: asdict(s) for k, s in row.stats.items()}}
    return {k: v for k, v in out.items() if k not in ("problems", "flags") or v}


CELLS_LEGEND = "cells: mean ± half-width of the 95% Student-t confidence interval over seeds"


def provenance_items(meta: dict[str, Any], results: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """What produced the table, as (name, text) pairs for the report headers (missing entries read ``n/a``)."""
    cfg, machine = meta.get("config", {}), meta.get("machine", {})
    trainer = cfg.get("trainer", {})
    device = f"{machine['gpu']} × {machine.get('gpu_count', 1)}, " if "gpu" in machine else ""
    budget = f"max_epochs {trainer.get('max_epochs', 'n/a')}"
    if trainer.get("max_steps", -1) > 0:
        budget += f", max_steps {trainer['max_steps']}"
    trained = {(r["epochs"], r["steps"]) for r in results if "epochs" in r and "steps" in r}
    if trained:
        budget += "; runs stopped at " + ", ".join(f"{e} epochs / {s} steps" for e, s in sorted(trained))
    spent = {k: math.fsum(r.get("wall_time_s", {}).get(k, 0.0) for r in results) for k in ("train", "eval")}
    items = [
        ("command", f"`{meta.get('command', 'n/a')}`"),
        ("config", f"{cfg.get('name', 'n/a')} (`{cfg.get('source') or 'n/a'}`)"),
        ("commit", f"`{meta.get('commit', 'n/a')}`"),
        ("machine", f"{device}{machine.get('cpu', 'n/a')}, {machine.get('cpu_count', 'n/a')} CPU cores"),
        ("seeds", str(cfg.get("seeds", sorted({r["seed"] for r in results})))),
        ("training budget", budget),
        (
            "wall time",
            f"{meta.get('wall_time_s', 'n/a')} s for the invocation that wrote this; "
            f"{spent['train']:.0f} s training + {spent['eval']:.0f} s evaluation summed over the {len(results)} runs",
        ),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()) or "n/a"),
    ]
    if meta.get("failures"):
        failed = "; ".join(f"{f['run_id']} ({f['error']})" for f in meta["failures"])
        items.append(("failed runs", f"**{len(meta['failures'])} run(s) failed** and are missing: {failed}"))
    if meta.get("unreadable"):
        items.append(("unreadable files", f"**{len(meta['unreadable'])} file(s) could not be read** and are left out: "
                      + "; ".join(meta["unreadable"])))  # fmt: skip
    return items


def evaluation_summary(results: Sequence[dict[str, Any]]) -> str:
    """How one dataset's metrics were measured: FID backend and N, IWAE K, MI's N (from ``eval_info``).

    Falls back to the runs' evaluation config where a record has no ``eval_info``; several distinct values
    (runs evaluated differently) are all listed, separated by ``/``, so the inconsistency shows.
    """

    def values(key: str, config_key: str | None = None) -> str:
        found = []
        for r in results:
            info, cfg = r.get("eval_info") or {}, r.get("config", {}).get("evaluation", {})
            value = info.get(key, cfg.get(config_key) if config_key else None)
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:.3f}" for k, v in value.items())
            elif isinstance(value, float):
                value = f"{value:.3g}"
            found.append("n/a" if value is None else str(value))
        return " / ".join(dict.fromkeys(found)) or "n/a"

    likelihoods = " / ".join(dict.fromkeys(str(r["hparams"]["likelihood"]) for r in results if "likelihood" in r.get("hparams", {})))
    return (
        f"Evaluation: FID with `{values('fid_backend', 'fid_backend')}` features ({values('fid_features')}-d; "
        f"feature classifier test accuracy: {values('feature_test_acc')}) on N = {values('fid_n', 'fid_samples')} "
        f"samples per row (`fid_data` is the floor at that N); IWAE K = {values('iwae_k', 'iwae_k')}; "
        f"MI over N = {values('mi_n')} codes (≤ log N = {values('mi_log_n')} nats); "
        f"`elbo`, `nll_iwae` in nats per image under the {likelihoods} likelihood."
    )
