"""The committed reference reports are what the current code writes from their committed results files.

Rebuilding ``reports/<name>/`` from its ``results/`` and ``meta.json`` must give the committed tables byte for
byte: a change to the table's columns, rows or formatting without regenerating the reports fails here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.reporting.build import build_report

REPORTS = Path(__file__).resolve().parent.parent / "reports"
COMMITTED = sorted(p.parent for p in REPORTS.glob("*/meta.json"))


def test_reference_reports_are_committed() -> None:
    assert {p.name for p in COMMITTED} >= {"default", "beta_sweep"}


# the default report in the default suite; the others (each rebuild draws every figure) with `make test-slow`
@pytest.mark.parametrize(
    "report", [pytest.param(p, id=p.name, marks=() if p.name == "default" else pytest.mark.slow) for p in COMMITTED]
)
def test_committed_tables_match_what_the_code_writes(report: Path, tmp_path: Path) -> None:
    shutil.copytree(report / "results", tmp_path / "results")
    shutil.copy(report / "meta.json", tmp_path / "meta.json")
    build_report(tmp_path)
    for name in ("table.md", "table.csv", "table.json", "table.tex"):
        assert (tmp_path / name).read_text() == (report / name).read_text(), f"{report.name}/{name} is stale"
    committed_figures = {p.relative_to(report) for p in (report / "figures").rglob("*.png")}
    rebuilt_figures = {p.relative_to(tmp_path) for p in (tmp_path / "figures").rglob("*.png")}
    assert committed_figures == rebuilt_figures
