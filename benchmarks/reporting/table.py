"""The comparison table as data: rows aggregated over seeds, the text of each cell, and which cells are best.

Each cell is the mean over the seeds with a finite value and its 95% Student-t interval, kept inside the
metric's possible range (:func:`benchmarks.reporting.stats.summarize`, the one place where error bars are
decided): ``0.0121 ± 0.0001``, or ``4.7 [0, 9.9]`` where the range cuts the interval. Which cells are best is
decided once (:func:`cell_grid`) and rendered by every format:

- **best**: the best mean of a column whose interval does not overlap any other row's;
- **tied**: when the best one's interval overlaps others', every row whose interval overlaps it.

Only complete cells (a finite value for every seed of the row) of rows that are not degenerate
(:mod:`benchmarks.reporting.flags`) compete. Nothing is hidden: a cell whose value is finite for only some of
the row's seeds says so (``315.6 (1 of 2 seeds)``); a cell without any finite value reads ``non-finite`` or
``failed`` (its metric stopped on a non-finite input), never ``n/a``, which means only "does not apply".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.evaluation.metrics import GROUPS, METRICS, all_keys, describe, group_of
from benchmarks.reporting.flags import DEGENERATE, run_flags
from benchmarks.reporting.stats import Stat, summarize

Mark = Literal["best", "tied"] | None


@dataclass(frozen=True)
class Row:
    dataset: str
    label: str
    model: str
    seeds: list[int]
    stats: dict[str, Stat]  # over the seeds with a finite value
    problems: dict[str, dict[str, int]] = field(default_factory=dict)  # key → {"non_finite": n, "failed": n}
    flags: dict[str, list[int]] = field(default_factory=dict)  # flag (e.g. "diverged") → the seeds it holds for

    @property
    def degenerate(self) -> bool:
        """A row with a degenerate run: tagged, and never best."""
        return bool(DEGENERATE & set(self.flags))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bounds_of(key: str) -> tuple[float | None, float | None]:
    info = describe(key)
    return info.bounds if info is not None else (None, None)


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
                row_stats[key] = summarize(finite, bounds_of(key))
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


def column_groups(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The columns split into the metrics' groups (:data:`GROUPS` order, undeclared keys last), empty ones left out."""
    by_group: dict[str, list[str]] = {}
    for key in columns:
        by_group.setdefault(group_of(key), []).append(key)
    return [(g, by_group[g]) for g in (*GROUPS, "other") if g in by_group]


def arrow(key: str) -> str:
    """``↑``/``↓`` from the metric's declared direction; empty for keys without one (or undeclared)."""
    info = describe(key)
    return "" if info is None or info.higher_is_better is None else ("↑" if info.higher_is_better else "↓")


def header(key: str) -> str:
    return f"{key} {arrow(key)}".rstrip()


def _decimals(stat: Stat) -> int:
    return max(0, 1 - math.floor(math.log10(stat.ci95)))


def format_cell(stat: Stat | None) -> str:
    """``mean ± ci95`` (the error to two significant digits, the mean to the same decimals), ``mean [low, high]``
    where the metric's range cuts the interval, or the mean alone without a spread."""
    if stat is None:
        return "n/a"
    # no spread, or only floating-point noise between seeds (a deterministic baseline): the value alone
    if stat.n < 2 or not math.isfinite(stat.ci95) or stat.ci95 <= 1e-9 * max(1.0, abs(stat.mean)):
        return f"{stat.mean:.4g}"
    if stat.ci95 < 1e-4 and abs(stat.mean) < 1e-3:  # tiny values: two significant digits, not a row of zeros
        if stat.truncated:
            return f"{stat.mean:.2g} [{stat.low:.2g}, {stat.high:.2g}]"
        return f"{stat.mean:.2g} ± {stat.ci95:.2g}"
    d = _decimals(stat)
    if stat.truncated:
        return f"{stat.mean:.{d}f} [{stat.low:.{d}f}, {stat.high:.{d}f}]"
    return f"{stat.mean:.{d}f} ± {stat.ci95:.{d}f}"


def cell_text(row: Row, key: str) -> str:
    """The cell of ``key`` in ``row``: :func:`format_cell` of its finite values, with how many seeds gave one when
    not all did; ``non-finite`` or ``failed`` when none did; ``n/a`` when the metric does not apply."""
    stat, problem, n = row.stats.get(key), row.problems.get(key), len(row.seeds)
    if stat is None:
        if problem is None:
            return "n/a"
        return "non-finite" if problem["non_finite"] else "failed"
    return format_cell(stat) + (f" ({stat.n} of {n} seeds)" if stat.n < n else "")


def _overlap(a: Stat, b: Stat) -> bool:
    return a.low <= b.high and b.low <= a.high


def marks(rows: Sequence[Row], key: str) -> dict[str, Mark]:
    """label → ``best`` or ``tied`` for the cells that earn a mark in column ``key`` (see the module docstring)."""
    info = describe(key)
    if info is None or info.higher_is_better is None:
        return {}
    eligible = {r.label: r.stats[key] for r in rows if key in r.stats and r.stats[key].n == len(r.seeds) and not r.degenerate}
    eligible = {label: s for label, s in eligible.items() if math.isfinite(s.mean)}
    if len(eligible) < 2:
        return {}
    pick = max if info.higher_is_better else min
    best = pick(eligible, key=lambda label: eligible[label].mean)
    tied = [label for label, s in eligible.items() if label != best and _overlap(s, eligible[best])]
    if not tied:
        return {best: "best"}
    return {label: "tied" for label in (best, *tied)}


def cell_grid(rows: Sequence[Row], columns: Sequence[str] | None = None) -> tuple[list[str], list[list[tuple[str, Mark]]]]:
    """The metric columns (all, or ``columns``) and, per row, each cell's text and mark."""
    columns = list(columns) if columns is not None else metric_columns(rows)
    marked = {k: marks(rows, k) for k in columns}
    return columns, [[(cell_text(r, k), marked[k].get(r.label)) for k in columns] for r in rows]


def row_label(row: Row) -> str:
    """The row's label, tagged with its flags and, unless they hold for every seed, which (``ae [diverged: seed 1]``)."""
    tags = [
        flag if sorted(seeds) == row.seeds else f"{flag}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
        for flag, seeds in row.flags.items()
    ]
    return row.label + (f" [{'; '.join(tags)}]" if tags else "")


CELLS_LEGEND = (
    "cells: mean over seeds and its 95% Student-t interval (± half-width), kept inside the metric's possible range "
    "([low, high] where the range cuts it)"
)
MARKS_LEGEND = (
    "bold: the best mean, its interval separated from every other row's; bold with ≈: tied best, the rows whose "
    "intervals overlap the best one's; rows tagged diverged, collapsed or constant reconstructions are never marked"
)
