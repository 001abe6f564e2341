"""The comparison table in every format: Markdown (with the provenance header), CSV, JSON and LaTeX.

Wide tables are split along the metrics' column groups (reconstruction, likelihood and posterior,
generation, latent space): one table per group and dataset, with the model rows repeated, in Markdown, LaTeX
and HTML alike. CSV and JSON hold every column of every row, with the interval's ends.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.files import write_text_atomic
from benchmarks.reporting.anomaly import OWN_SCORE, anomaly_tasks, protocol
from benchmarks.reporting.flags import convergence
from benchmarks.reporting.literature import literature_markdown
from benchmarks.reporting.sweeps import COMPRESSION_LEGEND, COMPRESSION_TITLE, compression_grid
from benchmarks.reporting.table import (
    CELLS_LEGEND,
    MARKS_LEGEND,
    Row,
    aggregate,
    cell_grid,
    column_groups,
    header,
    metric_columns,
    row_label,
)


def _shown(text: str, mark: str | None, bold: str) -> str:
    """A cell's text with its mark: ``bold`` is the format's bold wrapper, e.g. ``**{}**``."""
    if mark is None:
        return text
    return bold.format(text) + (" ≈" if mark == "tied" else "")


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    columns, cells = cell_grid(rows, columns)
    lines = [
        "| model | seeds | " + " | ".join(header(k) for k in columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for row, row_cells in zip(rows, cells):
        shown = [_shown(text, mark, "**{}**") for text, mark in row_cells]
        label = row_label(row).replace("|", "\\|")  # a label is free text: a bare | would split the row
        lines.append(f"| {label} | {len(row.seeds)} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def compression_markdown(results: Sequence[dict[str, Any]]) -> str:
    """One dataset's compression table: recon_mse by row family (rows) and latent size (columns), best per column
    marked (:func:`benchmarks.reporting.sweeps.compression_grid`); empty without rows at ≥ 2 latent sizes."""
    sizes, grid = compression_grid(results)
    if not sizes:
        return ""
    lines = [
        "| model | " + " | ".join(f"latent_dim={size}" for size in sizes) + " |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " |",
    ]
    for family, cells in grid:
        shown = [_shown(text, mark, "**{}**") for text, mark in cells]
        label = family.replace("|", "\\|")  # free text, as in markdown_table
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    return "\n".join([*lines, "", COMPRESSION_LEGEND + "."])


def anomaly_markdown(results: Sequence[dict[str, Any]]) -> str:
    """The anomaly-detection section (:mod:`benchmarks.reporting.anomaly`): per task its protocol, the AUROC per model
    and score (mean over the held-out classes, then over seeds), and the own score per held-out class; empty
    without runs that hold a class out."""
    parts = []
    for task in anomaly_tasks(results):
        head = "| model | " + " | ".join(f"held out {c}" for c in task.classes) + " |"
        lines = [head, "| --- | " + " | ".join("---:" for _ in task.classes) + " |"]
        for row, cells in zip(task.rows, task.per_class_grid()):
            label = row_label(row).replace("|", "\\|")  # free text, as in markdown_table
            lines.append(f"| {label} | " + " | ".join(_shown(text, mark, "**{}**") for text, mark in cells) + " |")
        parts += [
            f"### {task.dataset}", "", protocol(task, results), "",
            markdown_table(task.rows, task.columns), "",
            f"Per held-out class: `{header(OWN_SCORE)}` (the model's own score), mean over seeds:", "",
            "\n".join(lines), "",
        ]  # fmt: skip
    return "\n".join(parts).rstrip()


def grouped_markdown(rows: Sequence[Row]) -> str:
    """One Markdown table per column group, each under its group's name."""
    parts = []
    for group, columns in column_groups(metric_columns(rows)):
        parts += [f"**{group}**", "", markdown_table(rows, columns), ""]
    return "\n".join(parts).rstrip()


_LATEX_SPECIAL = {c: "\\" + c for c in "_&%#${}"} | {
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "≈": r"$\approx$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _latex_cell(text: str, mark: str | None) -> str:
    escaped = latex_escape(text)
    if mark is None:
        return escaped
    return rf"\textbf{{{escaped}}}" + (r" $\approx$" if mark == "tied" else "")


def latex_table(rows: Sequence[Row], caption: str) -> str:
    """A booktabs ``table`` environment (needs ``booktabs``): one ``tabular`` per column group; marks in bold."""
    label = re.sub(r"[^A-Za-z0-9]+", "-", caption)
    lines = [r"\begin{table}[t]", r"\centering", r"\small"]
    for group, group_columns in column_groups(metric_columns(rows)):
        columns, cells = cell_grid(rows, group_columns)
        lines += [
            r"\begin{tabular}{lr" + "r" * len(columns) + "}",
            r"\toprule",
            rf"\multicolumn{{{len(columns) + 2}}}{{l}}{{\textit{{{latex_escape(group)}}}}} \\",
            "model & seeds & " + " & ".join(latex_escape(header(k)) for k in columns) + r" \\",
            r"\midrule",
        ]
        for row, row_cells in zip(rows, cells):
            shown = [_latex_cell(t, m) for t, m in row_cells]
            lines.append(f"{latex_escape(row_label(row))} & {len(row.seeds)} & " + " & ".join(shown) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\medskip", ""]
    lines += [rf"\caption{{{latex_escape(caption)}}}", rf"\label{{tab:{label}}}", r"\end{table}"]
    return "\n".join(lines)


def convergence_markdown(results: Sequence[dict[str, Any]]) -> str:
    """Per row: the epochs its seeds trained, how training ended, and the end slope of its objective."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_row.setdefault(r["label"], []).append(r)
    lines = []
    for label, runs in by_row.items():
        ends = [c for c in map(convergence, runs) if c is not None]
        if not ends:
            continue
        epochs = ", ".join(str(c.epochs) for c in ends)
        how = "early stopping" if all(c.early_stopped for c in ends) else (
            "the epoch cap" if not any(c.early_stopped for c in ends) else "early stopping or the cap"
        )  # fmt: skip
        slope = ", ".join(f"{100 * c.slope:+.3f}" for c in ends)
        improving = [str(runs[i]["seed"]) for i, c in enumerate(ends) if c.still_improving]
        note = f" — **still improving at the cap** (seeds {', '.join(improving)})" if improving else ""
        lines.append(f"| {label} | {epochs} | {how} | {ends[0].curve} | {slope}{note} |")
    if not lines:
        return ""
    head = ["| model | epochs trained (per seed) | ended by | curve | end slope, % of its value per epoch |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    return "\n".join(head + lines)


def write_tables(
    results: Sequence[dict[str, Any]], output_dir: Path, meta: dict[str, Any], *, appendix: str = ""
) -> dict[str, Path]:
    """Write ``table.md`` (provenance, the grouped tables per dataset, convergence, then ``appendix``), ``.csv``,
    ``.json``, ``.tex``."""
    rows = aggregate(results)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: output_dir / f"table.{fmt}" for fmt in ("md", "csv", "json", "tex")}
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    md = [f"# aebench: {meta['config']['name']}", ""]
    md += [f"- {k}: {v}" for k, v in provenance_items(meta, results)] + [""]
    for dataset in datasets:
        runs = [r for r in results if r["dataset"] == dataset]
        md += [f"## {dataset}", "", evaluation_summary(runs), "", grouped_markdown([r for r in rows if r.dataset == dataset]), ""]
        converged = convergence_markdown(runs)
        if converged:
            md += ["Convergence of the trained rows:", "", converged, ""]
        compression = compression_markdown(runs)
        if compression:
            md += [f"### {COMPRESSION_TITLE}", "", compression, ""]
        published = literature_markdown(dataset, runs)
        if published:
            md += ["### Against the literature", "", published, ""]
    anomaly = anomaly_markdown(results)
    if anomaly:
        md += ["## Anomaly detection: a held-out class", "", anomaly, ""]
    md.append(f"{CELLS_LEGEND}; {MARKS_LEGEND}.")
    write_text_atomic(paths["md"], "\n".join(md) + "\n" + (f"\n{appendix.rstrip()}\n" if appendix else ""))
    tex = [f"% aebench: {meta['config']['name']}; {CELLS_LEGEND}; {MARKS_LEGEND}."]
    tex += [latex_table([r for r in rows if r.dataset == d], d) for d in datasets]
    write_text_atomic(paths["tex"], "\n\n".join(tex) + "\n")
    write_text_atomic(paths["csv"], _csv(rows))
    table = {"meta": meta, "rows": [_row_json(r) for r in rows]}
    write_text_atomic(paths["json"], json.dumps(table, indent=1, default=str) + "\n")
    return paths


def _csv(rows: Sequence[Row]) -> str:
    columns = metric_columns(rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    fields = ("mean", "std", "ci95", "low", "high", "n")
    writer.writerow(["dataset", "model", "label", "n_seeds", "flags", *(f"{k}_{s}" for k in columns for s in fields)])
    for r in rows:
        cells: list[Any] = []
        for k in columns:
            st = r.stats.get(k)
            cells += [""] * len(fields) if st is None else [getattr(st, s) for s in fields]
        writer.writerow([r.dataset, r.model, r.label, len(r.seeds), ";".join(r.flags), *cells])
    return buffer.getvalue()


def _row_json(row: Row) -> dict[str, Any]:
    """A row of ``table.json``; ``problems`` and ``flags`` appear only where there are some."""
    out = {**asdict(row), "stats": {k: asdict(s) for k, s in row.stats.items()}}
    return {k: v for k, v in out.items() if k not in ("problems", "flags") or v}


def provenance_items(meta: dict[str, Any], results: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """What produced the table, as (name, text) pairs for the report headers (missing entries read ``n/a``)."""
    cfg, machine = meta.get("config", {}), meta.get("machine", {})
    trainer = cfg.get("trainer", {})
    device = f"{machine['gpu']} × {machine.get('gpu_count', 1)}, " if "gpu" in machine else ""
    budget = f"max_epochs {trainer.get('max_epochs', 'n/a')}"
    if trainer.get("max_steps", -1) > 0:
        budget += f", max_steps {trainer['max_steps']}"
    if trainer.get("early_stopping_patience") is not None:
        budget += (f" (a cap: early stopping on val/loss, checked every {trainer.get('check_val_every_n_epoch')} epochs, "
                   f"patience {trainer['early_stopping_patience']} checks)")  # fmt: skip
    trained = sorted({r["epochs"] for r in results if "epochs" in r})
    if trained:
        budget += f"; runs trained {trained[0]}" + (f" to {trained[-1]}" if len(trained) > 1 else "") + " epochs"
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


def _feature_accuracy(results: Sequence[dict[str, Any]]) -> str:
    """The FID feature classifier's test accuracy per label with its chance (majority-class) rate, from
    ``eval_info``; distinct values (runs evaluated with different classifiers) joined by ``/``."""
    found = []
    for r in results:
        info = r.get("eval_info") or {}
        accuracy, chance = info.get("feature_test_acc"), info.get("feature_chance") or {}
        if isinstance(accuracy, dict):
            found.append(", ".join(f"{k} {v:.3f}" + (f" (chance {chance[k]:.3f})" if k in chance else "")
                                   for k, v in accuracy.items()))  # fmt: skip
    return " / ".join(dict.fromkeys(found)) or "n/a"


def disentanglement_summary(results: Sequence[dict[str, Any]]) -> str:
    """The sample sizes of the disentanglement metrics (``evaluation.disentanglement`` of the runs), each cut from
    the protocol's default named with that default; empty where no run has a disentanglement score."""
    from benchmarks.config.settings import DisentanglementConfig
    from benchmarks.evaluation.metrics import group_of

    if not any(group_of(k) == "disentanglement" for r in results for k in r.get("metrics", {})):
        return ""
    protocol = asdict(DisentanglementConfig())

    def size(key: str) -> str:
        found = {r.get("config", {}).get("evaluation", {}).get("disentanglement", {}).get(key) for r in results}
        shown = " / ".join(str(v) for v in sorted(found, key=str))
        return shown if found == {protocol[key]} else f"{shown} (protocol {protocol[key]})"

    return (
        "Disentanglement scores on freshly rendered factor combinations, latent means as the code: "
        f"BetaVAE score from batches of {size('betavae_batch_size')} pairs, {size('betavae_num_train')} to fit and "
        f"{size('betavae_num_eval')} to score; FactorVAE score from batches of {size('factorvae_batch_size')}, "
        f"{size('factorvae_num_train')} votes to fit and {size('factorvae_num_eval')} to score, the global std from "
        f"{size('factorvae_num_variance')} codes; MIG and modularity on {size('num_train')} codes "
        f"({size('mig_bins')} bins); DCI and SAP fit on {size('num_train')} and scored on {size('num_test')} codes "
        f"(DCI: {size('dci_estimators')} boosting stages). Protocol: Locatello et al. 2019 (disentanglement_lib); "
        "BetaVAE and FactorVAE scores have chance 1/K, the number of factors."
    )


def evaluation_summary(results: Sequence[dict[str, Any]]) -> str:
    """How one dataset's metrics were measured: the data's size, FID backend and N, IWAE K, MI's N (from
    ``eval_info``), the feature classifier's accuracy against chance, and the disentanglement sample sizes.

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
    binarize = {r.get("config", {}).get("dataset", {}).get("binarize", "none") for r in results}
    pixels = {"none": "grey pixels", "fixed": "pixels thresholded at 0.5", "dynamic": "dynamically binarised pixels "
              "(a fresh draw every epoch; the test split drawn once)"}  # fmt: skip
    data = " / ".join(pixels.get(b, str(b)) for b in sorted(binarize))
    unreliable = sorted({label for r in results for label in (r.get("eval_info") or {}).get("feature_unreliable") or []})
    warning = (f" **The FID columns are unreliable here: the feature classifier's held-out accuracy on "
               f"{', '.join(unreliable)} is below its bar (twice the chance rate, and at least 10 points above it), "
               f"so its features do not resolve {'that label' if len(unreliable) == 1 else 'those labels'}.**"
               if unreliable else "")  # fmt: skip
    sizes = " / ".join(dict.fromkeys(f"{r['n_train']} training and {r['n_test']} test images" for r in results
                                     if "n_train" in r and "n_test" in r)) or "n/a"  # fmt: skip
    folding = values("feature_labels")
    disentanglement = disentanglement_summary(results)
    return (
        f"Data: {sizes}. "
        f"Evaluation: FID with `{values('fid_backend', 'fid_backend')}` features"
        f"{', standardised on the training split' if values('fid_backend', 'fid_backend') == 'domain' else ''} "
        f"({values('fid_features')}-d; feature classifier test accuracy: {_feature_accuracy(results)}"
        f"{'' if folding == 'n/a' else f'; {folding}'}) on N = {values('fid_n', 'fid_samples')} "
        f"samples per row (`fid_data`, the FID of as many real training images, is the floor for independent samples "
        f"at that N; paired reconstructions, `fid_recon`, can go below it); IWAE K = {values('iwae_k', 'iwae_k')}; "
        f"MI over N = {values('mi_n')} codes (≤ log N = {values('mi_log_n')} nats); "
        f"`elbo`, `nll_iwae` in nats per image (`*_bpd`: bits per dimension) under the {likelihoods} likelihood "
        f"on {data}.{warning}" + (f" {disentanglement}" if disentanglement else "")
    )
