"""The evaluation loop: constructed cases for the interpolation measure, consistency across metrics, baselines
through the same loop, and what the registry decides (n/a, undeclared keys, selection)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmarks.config import EvaluationConfig
from benchmarks.config.settings import DisentanglementConfig
from benchmarks.evaluation.baselines import BASELINES
from benchmarks.evaluation.evaluate import evaluate, evaluation_identity, is_current
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import METRICS, Key, Metric
from benchmarks.evaluation.metrics.denoise import CORRUPTIONS
from benchmarks.evaluation.metrics.inpaint import MASKS
from benchmarks.evaluation.metrics.interp_path_ratio import InterpPathRatio
from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior


@pytest.fixture(scope="module")
def context() -> EvalContext:
    dm = DATAMODULES.get("digits")()
    dm.setup()
    config = EvaluationConfig(iwae_k=200, samplers=["prior", "gauss", "gmm"], gmm_components=3)
    return EvalContext.build(dm, "digits", config)


class DecoderOnly:
    """A deterministic "model" whose decoder is any function of the code: what interp_path_ratio reads."""

    prior = None

    def __init__(self, decoder: nn.Module) -> None:
        self.decoder = decoder
        self.projection = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) / 2

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(x.flatten(1) @ self.projection)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).reshape(len(z), 1, 8, 8)


def test_interp_path_ratio_is_one_for_a_linear_decoder_and_larger_for_a_wiggly_one(context: EvalContext) -> None:
    linear = EvalInputs(DecoderOnly(nn.Linear(4, 64)), context, seed=0)
    assert InterpPathRatio().compute(linear)["interp_path_ratio"] == pytest.approx(1.0, abs=1e-5)

    class Wiggle(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sin(6 * z).repeat(1, 16)

    wiggly = EvalInputs(DecoderOnly(Wiggle()), context, seed=0)
    assert InterpPathRatio().compute(wiggly)["interp_path_ratio"] > 1.5


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
    result = evaluate(_train("vae", context.datamodule), context, seed=0)
    metrics, figure = result.metrics, result.figure
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
    unneeded = {"factors", "codebook", "held_out_class"}  # a VAE on all of digits: no factors, quantised codes, anomalies
    applicable = {name for name in METRICS.in_order() if not unneeded & METRICS.get(name).requires}
    assert set(result.seconds) == applicable  # every metric that needs neither applies to a VAE


def test_ae_gets_n_a_for_what_needs_a_posterior_and_shares_the_data_floor(context: EvalContext) -> None:
    ae = evaluate(_train("ae", context.datamodule), context, seed=0)
    assert not {"kl_total", "elbo", "nll_iwae", "mutual_info", "active_units"} & set(ae.metrics)
    assert {"fid_prior", "fid_gauss", "fid_gmm", "recon_mse", "probe_acc"} <= set(ae.metrics)
    assert {"samples_prior", "samples_gauss", "samples_gmm"} <= set(ae.figure)
    pixels = BASELINES["pixels"](context.datamodule.train.images, 0, seed=0)
    baseline = evaluate(pixels, context, seed=0)
    # no decoder, no prior: the data floors (FID, the classifier on test images), the identity's denoising, the mean
    # fill's inpainting, and what reads codes and labels only
    shared = {"fid_data", "confidence_data", "hole_rate_data", *(f"denoise_input_mse_{c}" for c in CORRUPTIONS),
              *(f"inpaint_mean_mse_{m}" for m in MASKS)}  # fmt: skip
    assert set(baseline.metrics) == {*shared, "probe_acc", "retrieval_p@10", "retrieval_map"} and baseline.figure == {}
    assert baseline.metrics["fid_data"] == ae.metrics["fid_data"]  # computed once per seed, shared by every row


def test_full_rank_pca_baseline_reconstructs_exactly_through_the_same_loop(context: EvalContext) -> None:
    pca = BASELINES["pca"](context.datamodule.train.images, 64, seed=0)
    metrics = evaluate(pca, context, seed=0).metrics
    assert metrics["recon_mse"] < 1e-10
    assert metrics["fid_recon"] == pytest.approx(0.0, abs=1e-3)
    assert "fid_prior" in metrics and "elbo" not in metrics  # a prior to sample (PPCA), no likelihood bound


def test_metric_values_do_not_depend_on_which_other_metrics_ran(context: EvalContext) -> None:
    model = _train("vae", context.datamodule, steps=40)
    full = evaluate(model, context, seed=3).metrics
    alone = EvalContext.build(context.datamodule, "digits", EvaluationConfig(iwae_k=200, metrics=["nll_iwae", "mutual_info"]))
    subset = evaluate(model, alone, seed=3).metrics
    assert set(subset) == {"nll_iwae", "nll_iwae_bpd", "mutual_info"}
    assert subset["nll_iwae"] == full["nll_iwae"] and subset["mutual_info"] == full["mutual_info"]


def test_a_metric_writing_an_undeclared_key_is_refused(context: EvalContext) -> None:
    class Sloppy(Metric):
        name = "sloppy"
        keys = (Key("sloppy", None, "declared"),)

        def compute(self, inputs: EvalInputs) -> dict[str, float]:
            return {"sloppy": 1.0, "surprise": 2.0}

    with METRICS.added("sloppy", Sloppy):
        only = EvalContext.build(context.datamodule, "digits", EvaluationConfig(metrics=["sloppy"]))
        with pytest.raises(ValueError, match=r"undeclared result keys \['surprise'\]"):
            evaluate(_train("ae", context.datamodule, steps=1), only, seed=0)


def test_evaluation_identity_tracks_only_the_settings_that_applied_metrics_read() -> None:
    from benchmarks.evaluation.evaluate import _would_apply

    base = EvaluationConfig()
    ae_caps = frozenset({"decoder", "likelihood", "labels"})
    vae_caps = ae_caps | {"prior", "prior_density", "standard_normal_prior", "gaussian_posterior"}
    ae_identity = evaluation_identity(base, _would_apply(base, set(ae_caps)), ae_caps)
    vae_identity = evaluation_identity(base, _would_apply(base, set(vae_caps)), vae_caps)
    other_k = EvaluationConfig(iwae_k=100)
    assert is_current({"eval_identity": ae_identity}, other_k)  # the AE reads no iwae_k
    assert not is_current({"eval_identity": vae_identity}, other_k)
    assert not is_current({"eval_identity": ae_identity}, EvaluationConfig(fid_samples=50))
    assert not is_current({"eval_identity": ae_identity}, EvaluationConfig(metrics=["recon_mse"]))  # another selection
    assert not is_current({}, base)  # a record without an identity is re-evaluated

    class NeedsFactors(Metric):
        name, keys, requires = "needs_factors", (Key("needs_factors", None, "x"),), frozenset({"factors"})

        def compute(self, inputs: EvalInputs) -> dict[str, float]:
            return {"needs_factors": 1.0}

    with METRICS.added("needs_factors", NeedsFactors):  # a new metric that does not apply to the AE leaves it current
        assert is_current({"eval_identity": ae_identity}, base)
        assert not is_current({"eval_identity": ae_identity}, EvaluationConfig(metrics=["recon_mse", "needs_factors"]))


@pytest.mark.slow
def test_multi_factor_dataset_gets_a_probe_per_factor_and_their_mean() -> None:
    """dSprites (conv networks, five label columns) through the whole evaluation, on a small subset."""
    dm = DATAMODULES.get("dsprites")(n_train=300, n_val=60, n_test=80)
    dm.setup()
    small = DisentanglementConfig(betavae_num_train=40, betavae_num_eval=20, betavae_batch_size=4,
                                  factorvae_num_train=40, factorvae_num_eval=20, factorvae_batch_size=4,
                                  factorvae_num_variance=100, num_train=100, num_test=50, dci_estimators=2)
    context = EvalContext.build(dm, "dsprites", EvaluationConfig(iwae_k=4, samplers=["prior"], disentanglement=small))
    torch.manual_seed(0)
    result = evaluate(MODELS.get("vae")(dm.image_shape, latent_dim=4), context, seed=0)
    metrics, figure = result.metrics, result.figure
    factors = {f"probe_acc_{name}": metrics[f"probe_acc_{name}"] for name in dm.label_names}
    assert len(factors) == 5 and all(0.0 <= v <= 1.0 for v in factors.values())
    assert metrics["probe_acc"] == pytest.approx(sum(factors.values()) / 5)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("betavae_score", "factorvae_score", "mig", "dci_disentanglement"))
    assert context.info["fid_n"] == 80  # FID over the whole (small) test split
    assert figure["reconstructions"].shape == (8, 1, 64, 64) and figure["traversals"].shape[:2] == (4, 7)


def test_contexts_are_shared_per_dataset_and_evaluation_config() -> None:
    from benchmarks.config import DatasetConfig
    from benchmarks.execution.runner import Contexts

    contexts, digits = Contexts(), DatasetConfig("digits")
    first = contexts.get(digits, EvaluationConfig())
    assert contexts.get(digits, EvaluationConfig()) is first  # every run of the benchmark shares it
    other = contexts.get(digits, EvaluationConfig(fid_samples=100))
    assert other is not first and other.n_fid == 100 and first.n_fid == len(first.datamodule.test)


def test_fid_from_fewer_samples_than_features_warns_that_it_is_ill_conditioned(context: EvalContext) -> None:
    small = EvalContext.build(context.datamodule, "digits", EvaluationConfig(fid_samples=30))
    with pytest.warns(UserWarning, match=r"N = 30 samples of 64-d features: the covariances are singular"):
        small.scorer


def test_an_input_several_metrics_read_is_computed_once_and_equals_a_fresh_computation(context: EvalContext) -> None:
    from benchmarks.evaluation.metrics.elbo import elbo, per_image_elbo
    from benchmarks.evaluation.metrics.nll_iwae import nll_iwae, per_image_nll_iwae

    model = _train("vae", context.datamodule)
    model.eval()
    inputs = EvalInputs(model, context, seed=0)
    calls = []
    assert inputs.shared("x", lambda: calls.append(1) or 7) == inputs.shared("x", lambda: calls.append(1) or 8) == 7
    assert calls == [1]
    first = per_image_nll_iwae(inputs)
    assert per_image_nll_iwae(inputs) is first  # the anomaly scores read the nll_iwae metric's bounds, not new ones
    images, batch = inputs.images("test"), inputs.config.batch_size
    fresh = nll_iwae(model, images, k=inputs.config.iwae_k, generator=inputs.generator("nll_iwae"), batch_size=max(1, batch // 8))
    assert torch.equal(first, fresh)  # the same draws as computing it anew
    assert torch.equal(per_image_elbo(inputs), elbo(model, images, generator=inputs.generator("elbo"), batch_size=batch))
