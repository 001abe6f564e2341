"""Rows along a swept hyperparameter, and the compression (rate–distortion) table: recon_mse against latent size.

A sweep is ``value → (label, runs)``, ascending (:func:`benchmarks.reporting.claims.sweep_of` builds one and
refuses two rows at one value). The β sweep is one (:func:`benchmarks.reporting.claims.beta_sweep`); a latent-size
sweep is one per row family (:func:`latent_sweeps`): the rows of a config entry (``ae[latent_dim=4]``,
``ae[latent_dim=8]``, … share the family ``ae``), and the PCA baseline, which the grid fits at every latent size of
the models (``pca[latent_dim=4]``, …; its code is its ``n_components`` coordinates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.reporting.claims import NotTested, sweep_of
from benchmarks.reporting.table import Mark, Row, aggregate, cell_text, marks

Sweep = Mapping[float, tuple[str, list[dict[str, Any]]]]
COMPRESSION_METRIC = "recon_mse"
COMPRESSION_TITLE = f"Compression: {COMPRESSION_METRIC} against latent size"
COMPRESSION_LEGEND = (
    f"cells: `{COMPRESSION_METRIC}` of the family's row at that latent size (PCA: that many principal components) "
    "as in the tables above; bold: the best of its column, by the same rule"
)


def sweep_rows(sweep: Sweep) -> list[tuple[float, Row]]:
    """A sweep's rows aggregated over seeds, by ascending value."""
    rows = aggregate([r for _, runs in sweep.values() for r in runs])
    value_of = {label: value for value, (label, _) in sweep.items()}
    return sorted(((value_of[row.label], row) for row in rows), key=lambda p: p[0])


def family_of(label: str) -> str:
    """The config entry a row comes from: its label without the sweep's ``[key=value]`` tag."""
    return label.partition("[")[0]


def latent_size(record: Mapping[str, Any]) -> int | None:
    """The size of a run's code: a model's ``latent_dim``, the PCA baseline's ``n_components``; None without one
    (the ``pixels`` baseline, a model without a ``latent_dim``)."""
    hparams = record.get("hparams", {})
    size = hparams.get("latent_dim", hparams.get("n_components"))
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def latent_sweeps(results: Sequence[dict[str, Any]]) -> dict[str, Sweep]:
    """One dataset's rows by family and latent size, in row order; empty unless the rows span ≥ 2 latent sizes.

    A family with two rows at one latent size (a β sweep at a fixed ``latent_dim``) is left out: one line through
    its rows would mix two experiments.

    Example:
        >>> runs = [{"label": f"ae[latent_dim={d}]", "hparams": {"latent_dim": d}} for d in (8, 2)]
        >>> {family: list(sweep) for family, sweep in latent_sweeps(runs).items()}
        {'ae': [2.0, 8.0]}
    """
    families: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if latent_size(r) is not None:
            families.setdefault(family_of(r["label"]), []).append(r)
    sweeps: dict[str, Sweep] = {}
    for family, runs in families.items():
        try:
            sweeps[family] = sweep_of(runs, latent_size, "latent size")
        except NotTested:
            continue
    return sweeps if len({size for sweep in sweeps.values() for size in sweep}) >= 2 else {}


def compression_grid(results: Sequence[dict[str, Any]]) -> tuple[list[int], list[tuple[str, list[tuple[str, Mark]]]]]:
    """The latent sizes (columns) and, per family, each column's :data:`COMPRESSION_METRIC` cell text and mark; empty
    without a latent sweep.

    A cell is :func:`~benchmarks.reporting.table.cell_text` of the family's row at that size (tagged with the row's
    flags); the marks are the main table's (:func:`~benchmarks.reporting.table.marks`) among the rows of one column.
    A family not run at a size reads ``not run``.
    """
    rows = {family: dict(sweep_rows(sweep)) for family, sweep in latent_sweeps(results).items()}
    sizes = sorted({size for by_size in rows.values() for size in by_size})
    column = {size: [by_size[size] for by_size in rows.values() if size in by_size] for size in sizes}
    column_marks = {size: marks(column[size], COMPRESSION_METRIC) for size in sizes}
    grid = []
    for family, by_size in rows.items():
        cells = []
        for size in sizes:
            row = by_size.get(size)
            if row is None:
                cells.append(("not run", None))
                continue
            tags = f" [{'; '.join(row.flags)}]" if row.flags else ""
            cells.append((cell_text(row, COMPRESSION_METRIC) + tags, column_marks[size].get(row.label)))
        grid.append((family, cells))
    return [int(size) for size in sizes], grid

