"""A reproduction set beside its committed reference: each cell agreeing or not, and one verdict line.

Only the reference's cells are compared (a metric added since it was written is listed, not counted).
Two cells agree when the difference of their means lies within the 95% interval of that difference,
√(ci_new² + ci_ref²) (the two half-widths combined as for independent estimates); cells without a spread
(one seed, or a deterministic baseline) agree when equal to :data:`REL_TOL` relative. The seeds are the
same, so on the same machine and versions a reproduction is usually exact; elsewhere floating-point
differences move the numbers within their seed intervals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reporting.stats import Stat
from benchmarks.reporting.table import Row, format_cell, header, metric_columns

REL_TOL = 1e-4  # deterministic cells: agreement up to float round-off across machines


def load_rows(table_json: Path) -> list[Row]:
    """The rows of a report's ``table.json``."""
    rows = json.loads(table_json.read_text())["rows"]
    return [Row(**{**r, "stats": {k: Stat(**s) for k, s in r["stats"].items()}}) for r in rows]


def agrees(new: Stat, ref: Stat) -> bool:
    """Whether two cells agree (see the module docstring)."""
    spread = math.hypot(*(s.ci95 if math.isfinite(s.ci95) else 0.0 for s in (new, ref)))
    tolerance = max(spread, REL_TOL * max(abs(ref.mean), 1e-12))
    return abs(new.mean - ref.mean) <= tolerance


@dataclass(frozen=True)
class Comparison:
    """Per (dataset, row label, metric): the new and the reference cell and whether they agree."""

    cells: list[tuple[str, str, str, Stat | None, Stat | None, bool]]
    rows_missing: list[str]  # reference rows the reproduction lacks
    extra_cells: list[str]  # cells the reproduction has and the reference does not (a metric added since)

    @property
    def compared(self) -> list[tuple[str, str, str, Stat | None, Stat | None, bool]]:
        return [c for c in self.cells if c[3] is not None and c[4] is not None]

    @property
    def disagreeing(self) -> list[tuple[str, str, str, Stat | None, Stat | None, bool]]:
        return [c for c in self.cells if not c[5]]

    def verdict(self, trained: int, total: int) -> str:
        """One line: ``reproduced: 15/15 runs trained here, all 96 cells within their 95% intervals``."""
        runs = f"{trained}/{total} runs trained here"
        if trained == 0:
            runs += " (all replayed from existing results: nothing was reproduced)"
        bad, n = len(self.disagreeing), len(self.cells)
        if not bad and not self.rows_missing and trained == total:
            return f"reproduced: {runs}, all {n} cells within their 95% intervals"
        missing = f"; reference rows missing: {', '.join(self.rows_missing)}" if self.rows_missing else ""
        return f"not reproduced: {runs}, {n - bad} of {n} cells within their 95% intervals{missing}"

    def extra_note(self) -> str:
        """The reproduction's cells the reference has no value for (not compared)."""
        if not self.extra_cells:
            return ""
        return f"{len(self.extra_cells)} cell(s) not in the reference, not compared: {', '.join(self.extra_cells)}"


def compare(new_rows: list[Row], ref_rows: list[Row]) -> Comparison:
    """Every cell of the reference against the same cell of the reproduction (missing counts as disagreeing)."""
    new_by = {(r.dataset, r.label): r for r in new_rows}
    cells, missing, extra = [], [], []
    for ref in ref_rows:
        new = new_by.get((ref.dataset, ref.label))
        if new is None:
            missing.append(f"{ref.dataset}/{ref.label}")
            continue
        for key in metric_columns([ref]):
            a, b = new.stats.get(key), ref.stats[key]
            cells.append((ref.dataset, ref.label, key, a, b, a is not None and agrees(a, b)))
        extra += [f"{ref.label} {key}" for key in metric_columns([new]) if key not in ref.stats]
    return Comparison(cells, missing, extra)


def comparison_markdown(comparison: Comparison, ref_rows: list[Row], reference: Path) -> str:
    """Per dataset, the table of reproduced cells with the reference beside each: ``new (ref) ✓`` or ``✗``."""
    by_cell = {(d, label, key): (a, b, ok) for d, label, key, a, b, ok in comparison.cells}
    lines = [f"Reproduction against the committed reference {reference}: each cell `new (reference)`, "
             "✓ within the 95% interval of the difference, ✗ not.", ""]  # fmt: skip
    for dataset in dict.fromkeys(r.dataset for r in ref_rows):
        rows = [r for r in ref_rows if r.dataset == dataset]
        columns = metric_columns(rows)
        lines += [f"### {dataset}", "", "| model | " + " | ".join(header(k) for k in columns) + " |"]
        lines.append("| --- | " + " | ".join("---:" for _ in columns) + " |")
        for row in rows:
            shown = []
            for key in columns:
                if (dataset, row.label, key) not in by_cell:
                    shown.append("n/a")
                    continue
                a, b, ok = by_cell[(dataset, row.label, key)]
                shown.append(f"{format_cell(a)} ({format_cell(b)}) {'✓' if ok else '✗'}")
            lines.append(f"| {row.label} | " + " | ".join(shown) + " |")
        lines.append("")
    return "\n".join(lines)


def reproduction_report(output_dir: Path, reference: Path, *, trained: int, total: int) -> tuple[str, str] | None:
    """(markdown, verdict) of ``output_dir``'s table against ``reference``'s, or None without a reference."""
    if not (reference / "table.json").is_file() or not (output_dir / "table.json").is_file():
        return None
    ref_rows = load_rows(reference / "table.json")
    comparison = compare(load_rows(output_dir / "table.json"), ref_rows)
    verdict = comparison.verdict(trained, total)
    note = comparison.extra_note()
    return comparison_markdown(comparison, ref_rows, reference) + (f"\n{note}\n" if note else "") + f"\n{verdict}\n", verdict


