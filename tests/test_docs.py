"""The README documents every metric of the catalogue, and its quick start names the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.evaluation.metrics import all_keys

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_metric_table_matches_the_catalogue() -> None:
    section = README.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_<>]+)` \|", section, flags=re.MULTILINE))
    assert documented == {key.name for key in all_keys()}


def test_quick_start_has_the_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make bench" in quick and "make test" in quick


def test_readme_shows_the_committed_main_table() -> None:
    """The README's table is the committed report's, row for row (regenerate both together)."""
    committed = (Path(__file__).resolve().parent.parent / "reports" / "default" / "table.md").read_text()
    section = README.split("## The reference result", 1)[1].split("\n## ", 1)[0]
    table_rows = [line for line in committed.split("### ", 1)[0].splitlines() if line.startswith("| ")]
    assert table_rows and all(row in section for row in table_rows)
