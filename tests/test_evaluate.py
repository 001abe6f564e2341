"""The evaluation pipeline: constructed cases for the interpolation measure, and consistency across metrics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmarks.config import EvaluationConfig
from benchmarks.evaluate import EvalContext, evaluate, evaluate_baseline, interp_path_ratio
from datamodules import DATAMODULES
from lightning_modules import MODELS


@pytest.fixture(scope="module")
def context() -> EvalContext:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    config = EvaluationConfig(iwae_k=200, samplers=["prior", "gauss", "gmm"], gmm_components=3)
    return EvalContext.build(dm, "digits", config)


def _gaussian_ae_with_decoder(decoder: nn.Module, latent_dim: int) -> nn.Module:
    model = MODELS.get("ae")((1, 8, 8), latent_dim=latent_dim, likelihood="gaussian")
    model.decoder = nn.Sequential(decoder, nn.Unflatten(1, (1, 8, 8)))
    return model


def test_interp_path_ratio_is_one_for_a_linear_decoder_and_larger_for_a_wiggly_one() -> None:
    torch.manual_seed(0)
    codes = torch.randn(50, 4)
    linear = _gaussian_ae_with_decoder(nn.Linear(4, 64), 4)
    gen = torch.Generator().manual_seed(0)
    assert interp_path_ratio(linear, codes, gen, 100) == pytest.approx(1.0, abs=1e-5)

    class Wiggle(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sin(6 * z).repeat(1, 16)

    ratio = interp_path_ratio(_gaussian_ae_with_decoder(Wiggle(), 4), codes, gen, 100)
    assert ratio > 1.5


def _train(name: str, dm, steps: int = 150) -> nn.Module:
    torch.manual_seed(0)
    model = MODELS.get(name)(dm.image_shape, latent_dim=4, hidden=[64])
    opt = model.configure_optimizers()
    x = dm.train.images
    for i in range(steps):
        batch = x[(i * 64) % len(x) :][:64]
        opt.zero_grad()
        model.loss_terms(batch)["loss"].backward()
        opt.step()
    return model


def test_vae_metrics_are_mutually_consistent(context: EvalContext) -> None:
    metrics, figure = evaluate(_train("vae", context.datamodule), context, seed=0)
    assert metrics["kl_total"] == pytest.approx(sum(metrics["kl_per_dim"]))
    assert 0 <= metrics["collapsed_dims"] <= 4 and 0 <= metrics["active_units"] <= 4
    assert -1e-6 <= metrics["mutual_info"] <= math.log(len(context.datamodule.test)) + 1e-9
    assert metrics["mutual_info"] <= metrics["kl_total"] + 1e-6  # I(x;z) ≤ E_x KL(q(z|x) ‖ p(z))
    assert metrics["nll_iwae"] <= -metrics["elbo"] + 0.05  # the IWAE bound is at least as tight as the ELBO
    assert metrics["fid_data"] < metrics["fid_prior"]  # real images are the floor
    assert 0.1 < metrics["probe_acc"] <= 1.0
    assert figure["reconstructions"].shape == figure["originals"].shape == (8, 1, 8, 8)
    assert sorted(figure["traversal_dims"].tolist()) == [0, 1, 2, 3]
    kl = torch.tensor(metrics["kl_per_dim"])
    assert torch.equal(torch.as_tensor(figure["traversal_dims"]), kl.argsort(descending=True))


def test_ae_has_no_posterior_metrics_and_shares_the_data_floor(context: EvalContext) -> None:
    metrics, figure = evaluate(_train("ae", context.datamodule), context, seed=0)
    assert not {"kl_total", "elbo", "nll_iwae", "mutual_info", "active_units"} & set(metrics)
    assert {"fid_prior", "fid_gauss", "fid_gmm", "recon_mse", "probe_acc"} <= set(metrics)
    assert {"samples_prior", "samples_gauss", "samples_gmm"} <= set(figure)
    baseline, _ = evaluate_baseline("pixels", context, n_components=4, seed=0)
    assert baseline["fid_data"] == metrics["fid_data"]  # computed once per seed, shared by every row


def test_full_rank_pca_baseline_reconstructs_exactly(context: EvalContext) -> None:
    metrics, _ = evaluate_baseline("pca", context, n_components=64, seed=0)
    assert metrics["recon_mse"] < 1e-10
    assert metrics["fid_recon"] == pytest.approx(0.0, abs=1e-3)


def test_multi_factor_dataset_gets_a_probe_per_factor_and_their_mean() -> None:
    """dSprites (conv networks, five label columns) through the whole evaluation, on a small subset."""
    dm = DATAMODULES.get("dsprites")(n_train=300, n_val=60, n_test=80)
    dm.setup()
    context = EvalContext.build(dm, "dsprites", EvaluationConfig(iwae_k=4, samplers=["prior"]))
    torch.manual_seed(0)
    metrics, figure = evaluate(MODELS.get("vae")(dm.image_shape, latent_dim=4), context, seed=0)
    factors = {f"probe_acc_{name}": metrics[f"probe_acc_{name}"] for name in dm.label_names}
    assert len(factors) == 5 and all(0.0 <= v <= 1.0 for v in factors.values())
    assert metrics["probe_acc"] == pytest.approx(sum(factors.values()) / 5)
    assert context.info["fid_n"] == 80  # FID over the whole (small) test split
    assert figure["reconstructions"].shape == (8, 1, 64, 64) and figure["traversals"].shape[:2] == (4, 7)
