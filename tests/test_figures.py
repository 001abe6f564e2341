"""Every figure from mock figure data: a valid PNG of sensible size, and a clean skip when its data is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.reporting.figures import FIGURES, FigureData, _tile, draw_figures, kl_bars, tracked_factors
from benchmarks.reporting.build import load_outputs
from tests.test_report import mock_record, write_mock_benchmark

IMAGE_FIGURES = {"reconstructions", "samples", "interpolations", "traversals", "latent_2d", "inpainting", "memorisation"}
FACTOR_FIGURES = {"disentanglement_vs_beta"}  # the mock digits benchmark has no factors
SWEEP_FIGURES = {"rate_distortion", "metrics_vs_beta"} | FACTOR_FIGURES
LATENT_FIGURES = {"recon_vs_latent"}  # the mock rows share one latent size (tests/test_compression.py draws it)


def _data(out: Path) -> FigureData:
    found = load_outputs(out)
    return FigureData("digits", found.results, found.arrays)


@pytest.fixture(scope="module")
def mock_data(tmp_path_factory: pytest.TempPathFactory) -> FigureData:
    out = tmp_path_factory.mktemp("bench")
    write_mock_benchmark(out)
    return _data(out)


def test_every_figure_is_a_valid_small_png(mock_data: FigureData, tmp_path: Path) -> None:
    paths = draw_figures(mock_data, tmp_path)
    assert set(paths) == set(FIGURES) - FACTOR_FIGURES - LATENT_FIGURES
    for name, path in paths.items():
        assert path == tmp_path / "figures" / "digits" / f"{name}.png"
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
            assert 300 <= image.width <= 1600 and 200 <= image.height <= 2000, (name, image.size)
        assert path.stat().st_size < 200_000, name


def test_a_missing_npz_falls_back_to_the_next_seed_or_drops_the_row(tmp_path: Path) -> None:
    records = write_mock_benchmark(tmp_path)
    vae = [r for r in records if r["label"] == "vae"]
    (tmp_path / "results" / f"{vae[0]['run_id']}.npz").unlink()
    data = _data(tmp_path)
    firsts = dict(data.first_arrays("reconstructions"))
    assert np.array_equal(firsts["vae"]["reconstructions"], data.arrays[vae[1]["run_id"]]["reconstructions"])
    for r in vae[1:]:
        (tmp_path / "results" / f"{r['run_id']}.npz").unlink()
    data = _data(tmp_path)
    assert "vae" not in dict(data.first_arrays()) and "ae" in dict(data.first_arrays())
    assert all(FIGURES[name](data, tmp_path) is not None for name in IMAGE_FIGURES)


def test_without_figure_data_only_the_metric_figures_are_drawn(tmp_path: Path) -> None:
    write_mock_benchmark(tmp_path, npz=False)
    drawn = draw_figures(_data(tmp_path), tmp_path)
    assert set(drawn) == set(FIGURES) - IMAGE_FIGURES - FACTOR_FIGURES - LATENT_FIGURES
    assert not any((tmp_path / "figures" / "digits" / f"{name}.png").exists() for name in IMAGE_FIGURES)


def test_without_a_beta_sweep_or_curves_those_figures_are_skipped(tmp_path: Path) -> None:
    write_mock_benchmark(tmp_path, betas=())  # the VAE alone is a single β
    data = _data(tmp_path)
    assert set(draw_figures(data, tmp_path)) == set(FIGURES) - SWEEP_FIGURES - LATENT_FIGURES
    no_curves = FigureData("digits", [{k: v for k, v in r.items() if k != "curves"} for r in data.results], data.arrays)
    assert FIGURES["training_curves"](no_curves, tmp_path) is None
    assert FIGURES["kl_per_dim"](FigureData("digits", [r for r in data.results if r["model"] != "vae"], {}), tmp_path) is None


def test_tile_lays_images_out_with_white_gaps() -> None:
    images = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    tiled = _tile(images, ncols=2)
    assert tiled.shape == (5, 5)
    assert (tiled[2] == 255).all() and (tiled[:, 2] == 255).all()  # the gaps
    assert (tiled[3:, 3:] == 255).all() and (tiled[3:, :2] == 0).all()  # the empty fourth cell stays white
    assert _tile(np.zeros((2, 3, 4, 4), dtype=np.uint8), ncols=2).shape == (4, 9, 3)


def test_kl_bars_rank_dims_within_each_seed_before_averaging() -> None:
    means, errs = kl_bars([[0.0, 3.0, 1.0], [2.0, 0.0, 4.0]])  # the large dim differs between seeds
    assert means == [3.5, 1.5, 0.0]
    below, above = errs
    assert below[2] == above[2] == 0.0 and above[0] > 0  # identical smallest values: no spread
    assert below[1] == 1.5 and above[1] > below[1]  # 1.5 ± 12.7 cut at 0: a KL cannot be negative


def test_latent_projections_keep_separated_clusters_apart() -> None:
    """Both 2-D maps of the latent means keep three well-separated clusters separated (and are seeded)."""
    from benchmarks.reporting.figures import project_2d

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(3, 6))
    means = np.concatenate([c + rng.normal(size=(40, 6)) for c in centres])
    labels = np.repeat(np.arange(3), 40)
    for method in ("pca", "tsne"):
        points = project_2d(means, method)
        assert points.shape == (120, 2)
        centroids = np.stack([points[labels == k].mean(0) for k in range(3)])
        spread = max(points[labels == k].std(0).max() for k in range(3))
        gaps = [np.linalg.norm(centroids[i] - centroids[j]) for i in range(3) for j in range(i + 1, 3)]
        assert min(gaps) > 3 * spread, method
        assert np.array_equal(points, project_2d(means, method))  # seeded: the same report twice
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        project_2d(means, "umap")


def test_traversal_rows_are_labelled_by_the_factor_each_dim_matters_most_for() -> None:
    importance = np.array([[0.0, 0.9, 0.1], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.2, 0.1, 0.7]])  # (4 dims, 3 factors)
    labels = tracked_factors(importance, [3, 0, 1, 2], ["shape", "scale", "orientation"])
    assert labels == ["z3 orientation 70%", "z0 scale 90%", "z1 shape 100%", "z2 —"]


DISENTANGLEMENT = ("betavae_score", "factorvae_score", "mig", "dci_disentanglement", "dci_completeness",
                   "dci_informativeness", "sap", "modularity")  # fmt: skip


def factor_sweep() -> list[dict]:
    """Constructed records of a dSprites β sweep: the VAE (β = 1) and β-VAE at 4 and 16, every score rising with β,
    and an AE and a β-TCVAE that are no part of it."""
    records = []
    for seed in (0, 1, 2):
        for model, beta in (("vae", 1.0), ("beta_vae", 4.0), ("beta_vae", 16.0), ("ae", None), ("beta_tcvae", 6.0)):
            label = f"beta_vae[beta={beta:g}]" if model == "beta_vae" else model
            scores = {k: 0.1 + 0.05 * np.log(beta or 1.0) + 0.01 * seed for k in DISENTANGLEMENT}
            hparams = {"beta": beta} if beta is not None else {}
            record = mock_record(model, label, seed, {"recon_mse": 0.01, **scores}, hparams)
            records.append({**record, "dataset": "dsprites"})
    return records


def test_disentanglement_against_beta_from_constructed_results(tmp_path: Path) -> None:
    data = FigureData("dsprites", factor_sweep(), {})
    path = FIGURES["disentanglement_vs_beta"](data, tmp_path)
    assert path == tmp_path / "disentanglement_vs_beta.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and 600 <= image.width <= 1600 and 200 <= image.height <= 1000, image.size
    others = FIGURES["metrics_vs_beta"](data, tmp_path)  # recon_mse only: the scores have their own figure
    assert others is not None
    without = FigureData("dsprites", [r for r in factor_sweep() if r["model"] != "beta_vae"], {})
    assert FIGURES["disentanglement_vs_beta"](without, tmp_path / "none") is None  # the VAE alone is one β


def test_the_sweep_figure_plots_the_beta_family_with_its_confidence_intervals(tmp_path: Path) -> None:
    """The points of each panel: β = 1 (the VAE), 4, 16, at the mean over seeds with the 95% t-interval."""
    from benchmarks.reporting.figures import _sweep_rows

    points = _sweep_rows(FigureData("dsprites", factor_sweep(), {}))
    assert [beta for beta, _ in points] == [1.0, 4.0, 16.0]
    assert [row.label for _, row in points] == ["vae", "beta_vae[beta=4]", "beta_vae[beta=16]"]
    mig = points[2][1].stats["mig"]
    assert mig.mean == pytest.approx(0.1 + 0.05 * np.log(16) + 0.01) and mig.low < mig.mean < mig.high
