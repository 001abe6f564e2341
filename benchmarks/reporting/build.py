"""The benchmark report, rebuilt from a results folder: tables, claim verdicts, figures and one HTML page.

Reads only what a benchmark wrote — ``meta.json`` (the run's provenance), ``results/*.json`` and their
``.npz`` figure data — and retrains nothing, so a report can be redrawn at any time (``aebench report DIR``)
and two builds from the same folder write the same tables. ``report.html`` is self-contained: inline CSS,
figures as base64 data URIs, no external resource, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.execution.store import figure_path, load_meta, load_npz, load_results_dir
from benchmarks.reporting.claims import claims_markdown, evaluate_claims
from benchmarks.reporting.figures import Arrays, FigureData, draw_figures
from benchmarks.reporting.html import render_html
from benchmarks.reporting.table import write_tables


def load_outputs(output_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Arrays]]:
    """``meta`` (``meta.json``, else rebuilt from the records), the results in table order, figure data by run id.

    With a ``meta.json`` that lists ``run_ids`` (the runner writes it), only those runs are reported.
    """
    results = load_results_dir(output_dir)
    meta = load_meta(output_dir)
    if meta is None:
        if not results:
            raise FileNotFoundError(f"no results files under {output_dir / 'results'} and no {output_dir / 'meta.json'}")
        meta = minimal_meta(results, output_dir)
    if "run_ids" in meta:  # only this benchmark's runs: a folder may keep results of an earlier config
        wanted = set(meta["run_ids"])
        results = [r for r in results if r["run_id"] in wanted]
    npz = {r["run_id"]: load_npz(figure_path(output_dir, r["run_id"])) for r in results}
    arrays = {run_id: a for run_id, a in npz.items() if a is not None}
    return meta, table_order(results, meta), arrays


def minimal_meta(results: Sequence[dict[str, Any]], output_dir: Path) -> dict[str, Any]:
    """Provenance from the records themselves, for a folder without ``meta.json`` (the command is unknown)."""
    first = results[0]
    trainer = next((r["config"]["trainer"] for r in results if "trainer" in r.get("config", {})), {})
    return {
        "config": {"name": output_dir.name, "seeds": sorted({r["seed"] for r in results}), "trainer": trainer},
        "command": "unknown (no meta.json)",
        "commit": first.get("commit", "unknown"),
        "machine": first.get("machine", {}),
        "versions": first.get("versions", {}),
        "wall_time_s": "n/a",
        "failures": [],
    }


def table_order(results: Sequence[dict[str, Any]], meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Datasets and models in config order (baselines after the models), a sweep by its values, then seed.

    Results files are listed by name, so without this the rows would come out alphabetically.
    """
    cfg = meta.get("config", {})
    datasets = [d["name"] for d in cfg.get("datasets", [])] + [r["dataset"] for r in results]
    labels = [m.get("label", m["name"]) for m in cfg.get("models", [])]
    labels += list(cfg.get("evaluation", {}).get("baselines", [])) + [r["label"].partition("[")[0] for r in results]
    rank_dataset, rank_label = _first_index(datasets), _first_index(labels)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        tokens = re.split(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", r["label"])
        natural = tuple(float(t) if i % 2 else t for i, t in enumerate(tokens))
        return rank_dataset[r["dataset"]], rank_label[r["label"].partition("[")[0]], natural, r["seed"]

    return sorted(results, key=key)


def _first_index(names: Sequence[str]) -> dict[str, int]:
    """Each name's position of first appearance."""
    return {name: i for i, name in reversed(list(enumerate(names)))}


def build_report(output_dir: str | Path, *, projection: str = "pca") -> dict[str, Path]:
    """Write table.{md,csv,json,tex} (claims at the end of table.md), claims.md, figures/ and report.html.

    ``projection`` (``pca`` or ``tsne``) is how the latent-space figure maps latent means to 2-D.
    """
    out = Path(output_dir)
    meta, results, arrays = load_outputs(out)
    verdicts = evaluate_claims(results)
    paths = write_tables(results, out, meta, appendix=claims_markdown(verdicts))
    paths["claims"] = out / "claims.md"
    paths["claims"].write_text(f"# aebench claims: {meta['config']['name']}\n\n" + claims_markdown(verdicts) + "\n")
    figures: dict[str, dict[str, Path]] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        runs = [r for r in results if r["dataset"] == dataset]
        figures[dataset] = draw_figures(FigureData(dataset, runs, arrays, projection), out)
        paths.update({f"figures/{dataset}/{name}": p for name, p in figures[dataset].items()})
    paths["html"] = out / "report.html"
    paths["html"].write_text(render_html(meta, results, verdicts, figures))
    return paths
