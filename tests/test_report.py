"""``build_report`` on a mock benchmark folder (records + figure data, no model): every output, offline HTML, determinism.

:func:`write_mock_benchmark` is also the fixture data of ``test_figures.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.execution.store import save_npz_atomic
from benchmarks.reporting.build import build_report, load_outputs
from benchmarks.execution.store import write_json_atomic

SEEDS = (0, 1, 2)
BETAS = (0.5, 4.0, 16.0)


def mock_record(
    model: str, label: str, seed: int, metrics: dict[str, Any], hparams: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A results record of the runner's schema (fewer fields than a real one where the report does not read them)."""
    return {
        "run_id": f"digits-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label).strip('_')}-seed{seed}-0123456789",
        "dataset": "digits",
        "model": model,
        "label": label,
        "seed": seed,
        "hparams": {"latent_dim": 4, **(hparams or {})},
        "config": {"trainer": {"max_epochs": 3, "max_steps": -1}, "evaluation": {"fid_backend": "domain", "iwae_k": 16}},
        "n_train": 1000,
        "n_test": 300,
        "eval_info": {"fid_backend": "domain", "fid_n": 300, "fid_features": 64, "iwae_k": 16, "mi_n": 300, "mi_log_n": 5.7},
        "wall_time_s": {"train": 1.0, "eval": 0.5},
        "versions": {"python": "3.11", "torch": "2.14.1"},
        "machine": {"cpu": "Mock CPU", "cpu_count": 2},
        "commit": "abc123",
        "metrics": metrics,
    }


def _figure_arrays(rng: np.random.Generator, latent_dim: int = 4) -> dict[str, np.ndarray]:
    def images(*shape: int) -> np.ndarray:
        """Gaussian blobs at random places: smooth like real images, so the PNGs have realistic sizes."""
        centres = rng.uniform(1, 7, (2, int(np.prod(shape)), 1, 1))
        yy, xx = np.mgrid[0:8, 0:8]
        blobs = np.exp(-((yy - centres[0]) ** 2 + (xx - centres[1]) ** 2) / 4)
        return (blobs * 255).astype(np.uint8).reshape(*shape, 1, 8, 8)

    return {
        "originals": images(8),
        "reconstructions": images(8),
        "samples_prior": images(16),
        "samples_gauss": images(16),
        "samples_gmm": images(16),
        "interpolations": images(4, 8),
        "traversals": images(latent_dim, 7),
        "traversal_dims": np.arange(latent_dim)[::-1].copy(),
        "traversal_values": np.linspace(-3, 3, 7),
        "latent_means": rng.normal(size=(300, 4)).astype(np.float32),
        "labels": rng.integers(0, 10, 300),
        "inpaint_originals": images(4),
        "inpaint_masked": images(4),
        "inpaint_iterate": images(4),
        "inpaint_samples": images(4, 8),
        "memorisation_sample_distances": rng.gamma(4.0, 1.0, 300).astype(np.float32),
        "memorisation_test_distances": rng.gamma(4.0, 1.0, 200).astype(np.float32),
    }


def write_mock_benchmark(out: Path, *, betas: tuple[float, ...] = BETAS, npz: bool = True) -> list[dict[str, Any]]:
    """ae, vae, one beta_vae row per β, pca and pixels over 3 seeds: results files, figure data, meta.json."""
    rng = np.random.default_rng(0)
    records = []
    for seed in SEEDS:
        noise = lambda scale: float(rng.normal(0, scale))  # noqa: E731
        curves = [{"epoch": e, "step": 10 * (e + 1), "train/recon": 20 - e + noise(0.3)} for e in range(3)]
        ae = {
            "recon_mse": 0.010 + noise(0.0005),
            "fid_prior": 80 + noise(2),
            "fid_gmm": 20 + noise(1),
            "interp_path_ratio": 2.0 + noise(0.05),
            "probe_acc": 0.90 + noise(0.01),
        }
        records.append({**mock_record("ae", "ae", seed, ae), "curves": curves})
        for beta in (1.0, *betas):
            kl = [4.0 / beta * 2.0**-d + noise(0.01) for d in range(4)]
            metrics = {
                "recon_mse": 0.02 + 0.004 * np.log(beta) + noise(0.0005),
                "kl_total": float(sum(kl)),
                "kl_per_dim": kl,
                "active_units": float(max(1, 4 - int(np.log2(beta)) // 2)),
                "fid_prior": 15 + noise(1),
                "fid_gmm": 14 + noise(1),
                "interp_path_ratio": 1.2 + noise(0.05),
                "probe_acc": 0.90 + noise(0.01),
                "elbo": -30 - beta + noise(0.2),
            }
            is_vae = beta == 1.0
            model, label = ("vae", "vae") if is_vae else ("beta_vae", f"beta_vae[beta={beta:g}]")
            hparams = {} if is_vae else {"beta": beta}
            vae_curves = [
                {**row, "train/recon": row["train/recon"] + 3 * np.log2(2 * beta), "train/kl": 5 / beta + row["epoch"] / 10}
                for row in curves
            ]
            records.append({**mock_record(model, label, seed, metrics, hparams), "curves": vae_curves})
        pca = {"recon_mse": 0.03 + noise(0.0005), "fid_prior": 40 + noise(1), "probe_acc": 0.85}
        records.append(mock_record("pca", "pca", seed, pca))
        records.append(mock_record("pixels", "pixels", seed, {"probe_acc": 0.95 + noise(0.005)}))
    for r in records:
        write_json_atomic(out / "results" / f"{r['run_id']}.json", r)
        if npz and r["model"] != "pixels":
            save_npz_atomic(out / "results" / f"{r['run_id']}.npz", _figure_arrays(rng))
    meta = {
        "config": {
            "name": "mock",
            "source": "mock.yaml",
            "seeds": list(SEEDS),
            "datasets": [{"name": "digits"}],
            "models": [
                {"name": "ae", "label": "ae"},
                {"name": "vae", "label": "vae"},
                {"name": "beta_vae", "label": "beta_vae", "sweep": {"beta": list(betas)}},
            ],
            "evaluation": {"baselines": ["pca", "pixels"]},
            "trainer": {"max_epochs": 3, "max_steps": -1},
        },
        "command": "aebench run --config mock.yaml",
        "commit": "abc123",
        "machine": {"cpu": "Mock CPU", "cpu_count": 2},
        "versions": {"python": "3.11", "torch": "2.14.1"},
        "wall_time_s": 12.5,
        "failures": [],
    }
    write_json_atomic(out / "meta.json", meta)
    return records


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("bench")
    write_mock_benchmark(out)
    return out, build_report(out).paths


EXPECTED_ROWS = ["ae", "vae", "beta_vae[beta=0.5]", "beta_vae[beta=4]", "beta_vae[beta=16]", "pca", "pixels"]


def test_rows_follow_the_config_order_with_the_sweep_by_value(report: tuple[Path, dict[str, Path]]) -> None:
    out, paths = report
    rows = json.loads(paths["json"].read_text())["rows"]
    assert [r["label"] for r in rows] == EXPECTED_ROWS  # not the files' alphabetical order
    csv_labels = [line.split(",")[2] for line in paths["csv"].read_text().splitlines()[1:]]
    assert csv_labels == EXPECTED_ROWS


def test_markdown_has_provenance_table_and_claims(report: tuple[Path, dict[str, Path]]) -> None:
    md = report[1]["md"].read_text()
    provenance = ("aebench run --config mock.yaml", "`abc123`", "Mock CPU", "[0, 1, 2]", "max_epochs 3", "12.5 s", "torch 2.14.1")
    for needle in provenance:
        assert needle in md, needle
    assert "FID with `domain` features" in md and "N = 300" in md and "IWAE K = 16" in md
    assert md.index("| beta_vae[beta=16] |") < md.index("## Claims")
    claims = md[md.index("## Claims") :]
    assert "| 1 | The AE reconstructs better than the VAE | recon_mse |" in claims and "| supported |" in claims
    assert report[1]["claims"].read_text().count("| 5 |") == 1


def test_latex_is_booktabs_with_escaped_labels_and_bold_best(report: tuple[Path, dict[str, Path]]) -> None:
    tex = report[1]["tex"].read_text()
    assert all(cmd in tex for cmd in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}"))
    assert r"beta\_vae[beta=16] & 3 &" in tex and r"recon\_mse $\downarrow$" in tex
    ae_line = next(line for line in tex.splitlines() if line.startswith("ae &"))
    assert r"\textbf{" in ae_line and r"$\pm$" in ae_line  # the AE has the best recon_mse
    assert "beta_vae[" not in tex  # every underscore escaped


def test_html_is_self_contained_with_embedded_figures(report: tuple[Path, dict[str, Path]]) -> None:
    page = report[1]["html"].read_text()
    assert page.count('src="data:image/png;base64,') == len([k for k in report[1] if k.startswith("figures/")]) >= 8
    assert "http" not in page and "<link" not in page and "<script" not in page
    for label in EXPECTED_ROWS:
        assert f"<th>{label}</th>" in page
    assert 'class="verdict v-supported"' in page


@pytest.mark.slow
def test_build_twice_gives_identical_tables(report: tuple[Path, dict[str, Path]]) -> None:
    out, first = report
    before = {k: first[k].read_bytes() for k in ("md", "csv", "json", "tex", "claims")}
    again = build_report(out).paths
    assert {k: again[k].read_bytes() for k in before} == before


def test_without_meta_json_provenance_comes_from_the_records(tmp_path: Path) -> None:
    write_mock_benchmark(tmp_path, npz=False)
    (tmp_path / "meta.json").unlink()
    found = load_outputs(tmp_path)
    assert found.meta["commit"] == "abc123" and found.meta["config"]["seeds"] == [0, 1, 2] and not found.arrays
    paths = build_report(tmp_path).paths
    assert "unknown (no meta.json)" in paths["md"].read_text()
    drawn = {k.rpartition("/")[2] for k in paths if k.startswith("figures/")}
    assert drawn == {"kl_per_dim", "training_curves", "rate_distortion", "metrics_vs_beta"}  # no image figures


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no results files"):
        build_report(tmp_path)


def test_the_evaluation_line_states_every_cut_of_a_factor_dataset() -> None:
    """Data size, the classifier's accuracy against chance with its label folding, and the disentanglement sample
    sizes, each cut named with the protocol's size."""
    from dataclasses import asdict

    from benchmarks.config.settings import DisentanglementConfig
    from benchmarks.reporting.writers import evaluation_summary

    record = mock_record("vae", "vae", 0, {"recon_mse": 0.01, "mig": 0.1})
    sizes = asdict(DisentanglementConfig(betavae_num_train=300, num_test=1000))
    record["config"]["evaluation"]["disentanglement"] = sizes
    record["eval_info"].update(
        feature_test_acc={"shape": 0.8, "scale": 0.99}, feature_chance={"shape": 0.35, "scale": 0.17},
        feature_labels="its orientation classes are folded",
    )
    line = evaluation_summary([record])
    assert "Data: 1000 training and 300 test images." in line
    assert "shape 0.800 (chance 0.350), scale 0.990 (chance 0.170); its orientation classes are folded" in line
    assert "300 (protocol 10000) to fit" in line and "scored on 1000 (protocol 5000) codes" in line
    assert "MIG and modularity on 10000 codes (20 bins)" in line  # a protocol size stands alone
    assert "Disentanglement" not in evaluation_summary([mock_record("vae", "vae", 0, {"recon_mse": 0.01})])
