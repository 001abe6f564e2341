"""The report as one self-contained HTML page: inline CSS, figures as base64 data URIs, no external resource,
so it opens offline and can be mailed as one file."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.reporting.anomaly import OWN_SCORE, anomaly_tasks, protocol
from benchmarks.reporting.claims import CONTRADICTED, METHOD, NOT_APPLICABLE, NOT_SEPARATED, NOT_TESTED, SUPPORTED
from benchmarks.reporting.figures import FIGURES
from benchmarks.reporting.sweeps import COMPRESSION_LEGEND, COMPRESSION_TITLE, compression_grid
from benchmarks.reporting.table import (
    CELLS_LEGEND,
    MARKS_LEGEND,
    Mark,
    Row,
    aggregate,
    cell_grid,
    column_groups,
    header,
    metric_columns,
    row_label,
)
from benchmarks.reporting.writers import evaluation_summary, provenance_items

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
       max-width: 1320px; padding: 24px 32px; }
h1 { font-size: 24px; margin: 0 0 12px; } h2 { font-size: 20px; border-bottom: 2px solid #ddd; padding-bottom: 4px;
       margin-top: 36px; } h3 { font-size: 16px; margin: 24px 0 8px; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 13px; }
dl.prov dt { font-weight: 600; color: #555; } dl.prov dd { margin: 0; }
code { font: 12px ui-monospace, monospace; background: #f3f3f5; padding: 1px 4px; border-radius: 3px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 8px; vertical-align: top; }
th { background: #f6f6f8; text-align: left; white-space: nowrap; }
table.results td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.results td.best { font-weight: 700; background: #eef6ee; }
table.results td.tied { font-weight: 700; background: #f4f8f0; }
table.results caption { text-align: left; font-weight: 600; color: #555; padding: 2px 0; }
.groups { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
table.results td.na { color: #aaa; }
table.claims { width: 100%; } table.claims td.claim { width: 22%; } table.claims td.values { width: 30%; }
table.claims td.detail { color: #555; font-size: 11.5px; width: 34%; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; white-space: nowrap; }
.v-supported { background: #d8f0d8; color: #1d5e1d; } .v-contradicted { background: #f8d7d7; color: #8a1f1f; }
.v-unseparated { background: #fcefc7; color: #7a5800; } .v-untested { background: #e8e8e8; color: #555; }
.note { color: #666; font-size: 12.5px; }
.figures { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 12.5px; color: #555; margin-top: 4px; max-width: 640px; }
"""


def _inline(text: str) -> str:
    """HTML of a line of the Markdown used in headers: `code` and **bold**."""
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", re.sub(r"`([^`]*)`", r"<code>\1</code>", escaped))


def _results_table(results: Sequence[dict[str, Any]]) -> str:
    """One table per column group (so the page needs no horizontal scrolling), side by side as space allows."""
    rows = aggregate(results)
    tables = []
    for group, group_columns in column_groups(metric_columns(rows)):
        columns, cells = cell_grid(rows, group_columns)
        tables.append(_cells_table(["seeds", *map(header, columns)], _with_seeds(rows, cells), caption=group))
    return f'<div class=groups>{"".join(tables)}</div>'


#: a table row for :func:`_cells_table`: its label and its cells' (text, mark)
_Body = list[tuple[str, list[tuple[str, Mark]]]]


def _with_seeds(rows: Sequence[Row], cells: Sequence[list[tuple[str, Mark]]]) -> _Body:
    """Each row's label and its cells after a first cell with its number of seeds."""
    return [(row_label(row), [(str(len(row.seeds)), None), *row_cells]) for row, row_cells in zip(rows, cells)]


def _cells_table(head: Sequence[str], body: _Body, caption: str = "") -> str:
    """A results table: ``head`` (after the model column), per row its label and (text, mark) cells."""
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = []
    for label, cells in body:
        tds = "".join(
            f'<td class="num{f" {mark}" if mark else ""}{" na" if text == "n/a" else ""}">'
            f'{html.escape(text)}{" ≈" if mark == "tied" else ""}</td>'
            for text, mark in cells
        )
        trs.append(f"<tr><th>{html.escape(label)}</th>{tds}</tr>")
    top = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class=results>{top}<tr><th>model</th>{ths}</tr>{"".join(trs)}</table>'


def _compression_section(results: Sequence[dict[str, Any]]) -> list[str]:
    """One dataset's compression table (as in table.md, :func:`benchmarks.reporting.writers.compression_markdown`);
    empty without rows at ≥ 2 latent sizes."""
    sizes, grid = compression_grid(results)
    if not sizes:
        return []
    table = _cells_table([f"latent_dim={size}" for size in sizes], grid)
    return [f"<h3>{html.escape(COMPRESSION_TITLE)}</h3>", table, f"<p class=note>{_inline(COMPRESSION_LEGEND)}.</p>"]


def _anomaly_section(results: Sequence[dict[str, Any]]) -> list[str]:
    """The anomaly-detection section (as in table.md, :func:`benchmarks.reporting.writers.anomaly_markdown`);
    empty without runs that hold a class out."""
    parts = []
    for task in anomaly_tasks(results):
        columns, cells = cell_grid(task.rows, task.columns)
        per_class = [(row_label(row), cells) for row, cells in zip(task.rows, task.per_class_grid())]
        parts += [
            f"<h3>{html.escape(task.dataset)}</h3>",
            f"<p class=note>{_inline(protocol(task, results))}</p>",
            _cells_table(["seeds", *map(header, columns)], _with_seeds(task.rows, cells)),
            f"<p class=note>Per held-out class: <code>{html.escape(header(OWN_SCORE))}</code> (the model's own score), "
            "mean over seeds:</p>",
            _cells_table([f"held out {c}" for c in task.classes], per_class),
        ]
    return ["<h2>Anomaly detection: a held-out class</h2>", *parts] if parts else []


_VERDICT_CLASS = {
    SUPPORTED: "supported",
    CONTRADICTED: "contradicted",
    NOT_SEPARATED: "unseparated",
    NOT_TESTED: "untested",
    NOT_APPLICABLE: "untested",
}


def _claims_table(rows: Sequence[Mapping[str, str]]) -> str:
    """One row per claim; a claim's parts (joined by ``"; "``) one per line."""

    def cell(text: str, cls: str) -> str:
        return f"<td class={cls}>" + "<br>".join(html.escape(part) for part in text.split("; ")) + "</td>"

    body = []
    for c in rows:
        verdict = f'<span class="verdict v-{_VERDICT_CLASS[c["verdict"]]}">{html.escape(c["verdict"])}</span>'
        cells = f"<td>{html.escape(c['id'])}</td><td class=claim>{html.escape(c['claim'])}</td>"
        cells += cell(c["metric"], "metric") + cell(c["values"], "values")
        cells += f"<td>{verdict}</td>" + cell(c["p"], "p") + cell(c["detail"], "detail")
        body.append(f"<tr>{cells}</tr>")
    head = "".join(f"<th>{k}</th>" for k in ("#", "claim", "metric", "values", "verdict", "p (raw → Holm)", "detail"))
    return f'<div class=scroll><table class=claims><tr>{head}</tr>{"".join(body)}</table></div>'


def _figure(name: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = html.escape((FIGURES[name].__doc__ or name).strip().splitlines()[0])
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def render_html(
    meta: Mapping[str, Any],
    results: Sequence[dict[str, Any]],
    verdicts: Mapping[str, Sequence[Mapping[str, str]]],
    figures: Mapping[str, Mapping[str, Path]],
) -> str:
    """The whole report as one self-contained HTML page."""
    title = f"aebench: {meta['config']['name']}"
    prov = "".join(f"<dt>{html.escape(k)}</dt><dd>{_inline(v)}</dd>" for k, v in provenance_items(meta, results))
    parts = [f"<h1>{html.escape(title)}</h1>", f"<dl class=prov>{prov}</dl>"]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        runs = [r for r in results if r["dataset"] == dataset]
        parts += [
            f"<h2>{html.escape(dataset)}</h2>",
            f"<p class=note>{_inline(evaluation_summary(runs))}</p>",
            _results_table(runs),
            f"<p class=note>{html.escape(CELLS_LEGEND)}; {html.escape(MARKS_LEGEND)}.</p>",
            *_compression_section(runs),
            "<h3>Claims</h3>",
            _claims_table(verdicts.get(dataset, [])),
            f"<p class=note>{html.escape(METHOD)}</p>",
            "<h3>Figures</h3>",
            '<div class=figures>' + "".join(_figure(n, p) for n, p in figures.get(dataset, {}).items()) + "</div>",
        ]
    body = "\n".join(parts + _anomaly_section(results))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
