"""The benchmark report, rebuilt from a results folder: tables, claim verdicts, figures and one HTML page.

Reads only what a benchmark wrote — ``meta.json`` (the run's provenance), ``results/*.json`` and their
``.npz`` figure data — and retrains nothing, so a report can be redrawn at any time (``aebench report DIR``)
and two builds from the same folder write the same tables. ``report.html`` is self-contained: inline CSS,
figures as base64 data URIs, no external resource, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.execution.store import UnreadableFile, figure_path, load_meta, load_results_dir, read_npz
from benchmarks.files import write_text_atomic
from benchmarks.reporting.anomaly import claim_records
from benchmarks.reporting.claims import claims_markdown, evaluate_claims
from benchmarks.reporting.figures import Arrays, FigureData, draw_figures
from benchmarks.reporting.html import render_html
from benchmarks.reporting.writers import write_tables


@dataclass
class Outputs:
    """What a benchmark folder holds for its report; ``unreadable`` names each damaged file and why."""

    meta: dict[str, Any]
    results: list[dict[str, Any]]
    arrays: dict[str, Arrays]
    unreadable: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The files a report build wrote (name → path) and the damaged files it had to leave out."""

    paths: dict[str, Path]
    unreadable: list[str]


def load_outputs(output_dir: Path) -> Outputs:
    """``meta`` (``meta.json``, else rebuilt from the records), the results in table order, figure data by run id.

    With a ``meta.json`` that lists ``run_ids`` (the runner writes it), only those runs are reported. Damaged
    results or figure-data files are left out and listed in ``unreadable``.
    """
    loaded = load_results_dir(output_dir)
    results, unreadable = loaded.records, loaded.unreadable
    meta = load_meta(output_dir)
    if meta is None:
        if not results and not unreadable:
            raise FileNotFoundError(f"no results files under {output_dir / 'results'} and no {output_dir / 'meta.json'}")
        meta = minimal_meta(results, output_dir)
    if "run_ids" in meta:  # only this benchmark's runs: a folder may keep results of an earlier config
        wanted = set(meta["run_ids"])
        results = [r for r in results if r["run_id"] in wanted]
        unreadable = {path: why for path, why in unreadable.items() if path.stem in wanted}
    arrays: dict[str, Arrays] = {}
    for r in results:
        try:
            found = read_npz(figure_path(output_dir, r["run_id"]))
        except UnreadableFile as err:
            unreadable[figure_path(output_dir, r["run_id"])] = str(err)
            continue
        if found is not None:
            arrays[r["run_id"]] = found
    return Outputs(meta, table_order(results, meta), arrays, list(unreadable.values()))


def minimal_meta(results: Sequence[dict[str, Any]], output_dir: Path) -> dict[str, Any]:
    """Provenance from the records themselves, for a folder without ``meta.json`` (the command is unknown)."""
    first = results[0] if results else {}
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
    """Datasets and models in config order (baselines after the models), a sweep (of datasets, of models) by its
    values, then seed.

    Results files are listed by name, so without this the rows would come out alphabetically.
    """
    cfg = meta.get("config", {})
    datasets = [d.get("label", d["name"]) for d in cfg.get("datasets", [])]
    datasets += [r["dataset"].partition("[")[0] for r in results]
    labels = [m.get("label", m["name"]) for m in cfg.get("models", [])]
    labels += list(cfg.get("evaluation", {}).get("baselines", [])) + [r["label"].partition("[")[0] for r in results]
    rank_dataset, rank_label = _first_index(datasets), _first_index(labels)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        dataset, label = r["dataset"], r["label"]
        return (rank_dataset[dataset.partition("[")[0]], _natural(dataset), rank_label[label.partition("[")[0]],
                _natural(label), r["seed"])  # fmt: skip

    return sorted(results, key=key)


def _natural(label: str) -> tuple[str | float, ...]:
    """A sweep's label as a sort key in which its numbers compare as numbers (``beta=2`` before ``beta=10``)."""
    tokens = re.split(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", label)
    return tuple(float(t) if i % 2 else t for i, t in enumerate(tokens))


def _first_index(names: Sequence[str]) -> dict[str, int]:
    """Each name's position of first appearance."""
    return {name: i for i, name in reversed(list(enumerate(names)))}


def build_report(output_dir: str | Path, *, projection: str = "pca") -> Report:
    """Write table.{md,csv,json,tex} (claims at the end of table.md), claims.md, figures/ and report.html.

    ``projection`` (``pca`` or ``tsne``) is how the latent-space figure maps latent means to 2-D. Damaged files
    are left out, named in the report's header, and returned in ``Report.unreadable``.
    """
    out = Path(output_dir)
    found = load_outputs(out)
    meta = {**found.meta, **({"unreadable": found.unreadable} if found.unreadable else {})}
    results = found.results
    verdicts = evaluate_claims(claim_records(results))  # an anomaly task once, over its held-out classes
    paths = write_tables(results, out, meta, appendix=claims_markdown(verdicts))
    paths["claims"] = out / "claims.md"
    write_text_atomic(paths["claims"], f"# aebench claims: {meta['config']['name']}\n\n" + claims_markdown(verdicts) + "\n")
    figures: dict[str, dict[str, Path]] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        runs = [r for r in results if r["dataset"] == dataset]
        figures[dataset] = draw_figures(FigureData(dataset, runs, found.arrays, projection), out)
        paths.update({f"figures/{dataset}/{name}": p for name, p in figures[dataset].items()})
    paths["html"] = out / "report.html"
    write_text_atomic(paths["html"], render_html(meta, results, verdicts, figures))
    return Report(paths, found.unreadable)
