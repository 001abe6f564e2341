"""The README documents every metric of the catalogue, and its quick start names the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.evaluation.metrics import all_keys

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_metric_table_matches_the_catalogue() -> None:
    section = README.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9_.@<>]+)` \|", section, flags=re.MULTILINE))
    assert documented == {key.name for key in all_keys()}


def test_quick_start_has_the_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make bench" in quick and "make test" in quick


def _table_rows(report: str) -> list[str]:
    committed = (Path(__file__).resolve().parent.parent / "reports" / report / "table.md").read_text()
    return [line for line in committed.split("### ", 1)[0].splitlines() if line.startswith("| ")]


def test_readme_shows_the_committed_reference_tables_real_images_first() -> None:
    """The README's tables are the committed reports', row for row (regenerate both together): the bundled-MNIST
    table first, then the digits table of the default job."""
    section = README.split("## The reference result", 1)[1].split("\n## ", 1)[0]
    mnist, digits = _table_rows("mnist"), _table_rows("default")
    assert mnist and digits
    assert all(row in section for row in mnist + digits)
    assert section.index(mnist[2]) < section.index(digits[2])  # the first model row of each
