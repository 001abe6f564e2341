"""Compression (rate–distortion): a PCA per latent size in the grid, the recon_mse-by-latent-size table and figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmarks.config import BaselineSpec, RunSpec, expand_grid, load_config
from benchmarks.execution.reevaluate import _spec
from benchmarks.reporting.build import build_report
from benchmarks.reporting.figures import FIGURES, FigureData
from benchmarks.reporting.stats import summarize
from benchmarks.reporting.sweeps import compression_grid, latent_sweeps
from benchmarks.reporting.table import bounds_of, format_cell
from benchmarks.execution.store import write_json_atomic
from tests.test_report import mock_record

REPORTS = Path(__file__).resolve().parent.parent / "reports"
SIZES = (2, 4, 8, 16, 32)


def _baselines(grid: list) -> list[BaselineSpec]:
    return [r for r in grid if isinstance(r, BaselineSpec)]


def test_a_latent_dim_sweep_gets_one_pca_per_size_labelled_like_its_rows() -> None:
    config = load_config("compression")
    grid = expand_grid(config)
    sizes = sorted({r.model.resolved()["latent_dim"] for r in grid if isinstance(r, RunSpec)})
    pca = _baselines(grid)
    assert sizes == list(SIZES) and {r.model.name for r in grid if isinstance(r, RunSpec)} == {"ae", "vae"}
    assert [(b.name, b.n_components, b.label, b.seed) for b in pca] == [
        ("pca", n, f"pca[latent_dim={n}]", seed) for n in sizes for seed in config.seeds
    ]
    assert len({b.run_id for b in pca}) == len(pca)
    assert all(b.run_id.startswith(f"digits-pca_latent_dim_{b.n_components}-seed{b.seed}-") for b in pca)


def test_one_latent_size_keeps_the_single_pca_row_and_its_committed_run_ids() -> None:
    """The committed reports' results are keyed by run id: their PCA rows must still be found by the grid."""
    for name in ("default", "beta_sweep", "mnist"):
        committed = [json.loads(p.read_text()) for p in (REPORTS / name / "results").glob("*-pca-*.json")]
        assert committed, name
        pca = [b for b in _baselines(expand_grid(load_config(name))) if b.name == "pca"]
        assert {b.label for b in pca} == {"pca"} and len(pca) == len(load_config(name).seeds)
        assert {b.run_id for b in pca} == {r["run_id"] for r in committed}, name


def test_models_of_different_latent_sizes_without_a_sweep_each_get_their_pca(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text("extends: default\nmodels:\n  - {name: ae, latent_dim: 16}\n  - {name: vae, latent_dim: 4}\n")
    pca = [b for b in _baselines(expand_grid(load_config(path))) if b.name == "pca"]
    assert sorted({(b.n_components, b.label) for b in pca}) == [(4, "pca[latent_dim=4]"), (16, "pca[latent_dim=16]")]


@pytest.mark.parametrize("config", ["compression", "default"])
def test_a_baseline_is_rebuilt_from_its_results_record_with_the_same_run_id(config: str) -> None:
    """``aebench evaluate DIR`` refits baselines from their records: the rebuilt spec must name the same file."""
    for spec in _baselines(expand_grid(load_config(config))):
        rebuilt = _spec({"run_id": spec.run_id, "config": spec.resolved()}, None)
        assert isinstance(rebuilt, BaselineSpec)
        assert (rebuilt.run_id, rebuilt.label, rebuilt.n_components) == (spec.run_id, spec.label, spec.n_components)


def _record(model: str, size: int, seed: int, mse: float) -> dict[str, Any]:
    """A results record of row ``model[latent_dim=size]``; PCA's hparams hold only ``n_components``, as the runner's."""
    record = mock_record(model, f"{model}[latent_dim={size}]", seed, {"recon_mse": mse})
    return {**record, "hparams": {"n_components": size} if model == "pca" else {"latent_dim": size}}


# per family and size, the per-seed recon_mse: at 2 the AE and PCA overlap (tied), at 4 and 8 the AE is separated
# (best), at 16 only the AE and PCA ran; the VAE stops improving beyond 4
SWEEP: dict[str, dict[int, list[float]]] = {
    "ae": {2: [0.030, 0.032, 0.031], 4: [0.02, 0.0201, 0.0199], 8: [0.01, 0.0101, 0.0099], 16: [0.005, 0.0051, 0.0049]},
    "vae": {2: [0.040, 0.041, 0.042], 4: [0.030, 0.031, 0.029], 8: [0.030, 0.030, 0.031]},
    "pca": {2: [0.031, 0.031, 0.031], 4: [0.025, 0.025, 0.025], 8: [0.015, 0.015, 0.015], 16: [0.004, 0.004, 0.004]},
}


def sweep_records() -> list[dict[str, Any]]:
    records = [
        _record(model, size, seed, mse)
        for model, by_size in SWEEP.items()
        for size, values in by_size.items()
        for seed, mse in enumerate(values)
    ]
    # a β sweep at one latent size is no latent sweep: left out of the table, not mixed into a line
    for beta in (2.0, 4.0):
        hparams = {"latent_dim": 8, "beta": beta}
        records += [{**mock_record("beta_vae", f"beta_vae[beta={beta:g}]", s, {"recon_mse": 0.05}), "hparams": hparams}
                    for s in range(3)]  # fmt: skip
    return records


def test_the_table_has_a_row_per_family_a_column_per_size_and_marks_each_columns_best() -> None:
    sizes, grid = compression_grid(sweep_records())
    assert sizes == [2, 4, 8, 16]
    assert [family for family, _ in grid] == ["ae", "vae", "pca"]
    cells = dict(grid)
    for family, by_size in SWEEP.items():
        for size, values in by_size.items():
            text, _ = cells[family][sizes.index(size)]
            assert text == format_cell(summarize(values, bounds_of("recon_mse")))
    assert cells["vae"][sizes.index(16)] == ("not run", None)
    marks = {size: {f: cells[f][i][1] for f in cells if cells[f][i][1]} for i, size in enumerate(sizes)}
    assert marks[2] == {"ae": "tied", "pca": "tied"}  # the AE's interval covers PCA's value
    assert marks[4] == {"ae": "best"} and marks[8] == {"ae": "best"}
    assert marks[16] == {"pca": "best"}  # the smaller mean wins whichever family it is
    means = {size: {f: sum(by_size[size]) / 3 for f, by_size in SWEEP.items() if size in by_size} for size in sizes}
    assert all(min(means[size], key=means[size].get) in marks[size] for size in sizes)  # the best mean is always marked


def test_without_two_latent_sizes_there_is_no_table_and_no_figure(tmp_path: Path) -> None:
    one_size = [r for r in sweep_records() if r["hparams"].get("latent_dim", r["hparams"].get("n_components")) == 8]
    assert latent_sweeps(one_size) == {} and compression_grid(one_size) == ([], [])
    assert FIGURES["recon_vs_latent"](FigureData("digits", one_size, {}), tmp_path) is None


def test_the_figure_is_drawn_from_constructed_results(tmp_path: Path) -> None:
    path = FIGURES["recon_vs_latent"](FigureData("digits", sweep_records(), {}), tmp_path)
    assert path == tmp_path / "recon_vs_latent.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and 400 <= image.width <= 1200 and 300 <= image.height <= 900, image.size


def test_the_report_writes_the_section_and_the_figure(tmp_path: Path) -> None:
    records = sweep_records()
    for r in records:
        write_json_atomic(tmp_path / "results" / f"{r['run_id']}.json", r)
    models = [{"name": m, "label": m, "sweep": {"latent_dim": list(SIZES)}} for m in ("ae", "vae")]
    models.append({"name": "beta_vae", "label": "beta_vae"})
    meta = {"config": {"name": "mock", "models": models, "evaluation": {"baselines": ["pca"]}}, "failures": []}
    write_json_atomic(tmp_path / "meta.json", {**meta, "command": "aebench run --config mock.yaml"})
    report = build_report(tmp_path)
    assert "figures/digits/recon_vs_latent" in report.paths
    md = (tmp_path / "table.md").read_text()
    section = md.split("### Compression: recon_mse against latent size", 1)[1].split("\n\n")[1]
    lines = section.splitlines()
    assert lines[0] == "| model | latent_dim=2 | latent_dim=4 | latent_dim=8 | latent_dim=16 |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| ae", "| vae", "| pca"]
    assert lines[2].count("**") == 6 and lines[2].count("≈") == 1  # the AE: bold at 2 (tied), 4 and 8
    page = (tmp_path / "report.html").read_text()
    assert "<h3>Compression: recon_mse against latent size</h3>" in page and page.count("<th>latent_dim=") == 4
