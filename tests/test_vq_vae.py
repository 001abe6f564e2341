"""The VQ-VAE: straight-through gradients, the EMA codebook, its learned prior and codebook metrics, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from benchmarks.cli import main
from benchmarks.config.schema import ConfigError, check_kwargs
from benchmarks.evaluation.inputs import capabilities
from benchmarks.evaluation.metrics import METRICS
from benchmarks.evaluation.metrics.codebook_perplexity import _perplexity
from benchmarks.evaluation.metrics.codebook_usage import CodeCounts, _codebook_usage
from benchmarks.execution.reevaluate import evaluate_checkpoint
from benchmarks.execution.train import read_checkpoint, refit_prior
from datamodules import DATAMODULES
from lightning_modules import MODELS
from lightning_modules.vq_vae import CodeMADE, ema_codebook_update

SHAPE = (1, 8, 8)
CODEBOOK_METRICS = ("codebook_usage", "codebook_perplexity", "fid_prior_uniform")


def _model(**options):
    torch.manual_seed(0)
    return MODELS.get("vq_vae")(
        SHAPE, **{"latent_dim": 4, "code_dim": 2, "hidden": (16,), "prior_hidden": (32,), **options}
    )


def _images(n: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def digits():
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


# -- the quantiser and the straight-through estimator ------------------------------------------------------------
def test_codes_are_the_nearest_entries_and_the_mean_their_vectors() -> None:
    model = _model()
    x = _images()
    q = model.encode(x)
    z_e = model.encoder(x).view(len(x), 2, 2)
    distances = torch.cdist(z_e.reshape(-1, 2), model.codebook).view(len(x), 2, -1)  # a second implementation
    assert torch.equal(q.codes, distances.argmin(-1))
    torch.testing.assert_close(q.mean, model.codebook[q.codes].flatten(1))
    assert not q.is_stochastic and q.mean.shape == (len(x), 4)


def test_straight_through_gradient_reaches_the_encoder_unchanged() -> None:
    """d recon / d z_e equals d recon / d z at z = z_q: the decoder's gradient is copied to the encoder output."""
    model = _model()
    x = _images()
    outputs: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        out.retain_grad()
        outputs.append(out)

    model.encoder.register_forward_hook(keep)
    model.loss_terms(x)["recon"].backward()
    z_q = model.encode(x).mean.detach().requires_grad_()
    (-model.log_likelihood(x, z_q).mean()).backward()
    torch.testing.assert_close(outputs[0].grad, z_q.grad)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_loss_is_recon_plus_codebook_and_weighted_commitment() -> None:
    model = _model(commitment=0.4)
    x = _images()
    terms = model.loss_terms(x)
    error = (model.encoder(x) - model.encode(x).mean).pow(2).sum(1).mean()  # ‖z_e − z_q‖², both terms' value
    torch.testing.assert_close(terms["commitment"], error)
    torch.testing.assert_close(terms["loss"], terms["recon"] + (1 + 0.4) * error)
    terms["loss"].backward()
    assert model.codebook.grad is not None and model.codebook.grad.abs().sum() > 0  # the codebook loss trains it


def test_ema_update_matches_a_hand_computation() -> None:
    # K = 2 entries of one dim; N = (1, 0), m = (2, 5); a batch z = 1, 3 (entry 0) and 4 (entry 1); γ = 0.9, ε = 0.1
    n, m, e = ema_codebook_update(torch.tensor([1.0, 0.0]), torch.tensor([[2.0], [5.0]]),
                                  torch.tensor([[1.0], [3.0], [4.0]]), torch.tensor([0, 0, 1]), decay=0.9, epsilon=0.1)  # fmt: skip
    # N = 0.9·(1, 0) + 0.1·(2, 1) = (1.1, 0.1); m = 0.9·(2, 5) + 0.1·(4, 4) = (2.2, 4.9); n = 1.2
    # Ñ = (N + 0.1) / (1.2 + 2·0.1) · 1.2 = (1.2, 0.2) · 6/7; e = m / Ñ = (2.2 · 7/7.2, 4.9 · 7/1.2)
    torch.testing.assert_close(n, torch.tensor([1.1, 0.1]))
    torch.testing.assert_close(m, torch.tensor([[2.2], [4.9]]))
    torch.testing.assert_close(e, torch.tensor([[2.2 * 7 / 7.2], [4.9 * 7 / 1.2]]))


def test_ema_model_updates_its_codebook_in_training_steps_only() -> None:
    model = _model(ema=True, ema_decay=0.8)
    assert "quantiser.codebook" not in dict(model.named_parameters())  # a buffer: no gradient, no optimiser
    x = _images()
    z_e = model.encoder(x).detach().view(len(x), 2, 2)
    before = {k: v.clone() for k, v in model.quantiser.state_dict().items()}
    expected = ema_codebook_update(before["cluster_size"], before["code_sum"], z_e.reshape(-1, 2),
                                   model.quantiser.nearest(z_e).reshape(-1), decay=0.8)  # fmt: skip
    model.eval()
    model.loss_terms(x)  # validation: nothing moves
    assert all(torch.equal(v, model.quantiser.state_dict()[k]) for k, v in before.items())
    model.train()
    model.loss_terms(x)
    for key, value in zip(("cluster_size", "code_sum", "codebook"), expected):
        torch.testing.assert_close(getattr(model.quantiser, key), value)


# -- the prior ---------------------------------------------------------------------------------------------------
def test_made_is_autoregressive_and_normalised() -> None:
    torch.manual_seed(0)
    made = CodeMADE(3, 4, (16, 16))
    codes = torch.tensor([[1, 2, 3]])
    logits = made.logits(codes)
    for p in range(3):  # changing position p changes no logits at positions ≤ p
        changed = codes.clone()
        changed[0, p] = 0
        torch.testing.assert_close(made.logits(changed)[:, : p + 1], logits[:, : p + 1])
    every = torch.cartesian_prod(*[torch.arange(4)] * 3)  # all 64 sequences: the probabilities sum to 1
    assert float(made.log_prob(every).detach().exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_prior_samples_codebook_vectors_and_fitting_it_raises_their_likelihood() -> None:
    model = _model(prior_steps=150)
    images = _images(200)
    z = model.encode(images).mean
    before = float(model.prior.log_prob(z).mean())
    model.fit_prior(images)
    after = float(model.prior.log_prob(z).mean())
    assert after > before + 1.0, (before, after)
    assert all(not p.requires_grad and p.grad is None for p in model.prior_net.parameters())  # frozen again
    samples = model.prior.sample(50, torch.Generator().manual_seed(0))
    assert samples.shape == (50, 4)
    torch.testing.assert_close(model.codebook[model.quantiser.nearest(samples.view(50, 2, 2))].flatten(1), samples)
    again = model.prior.sample(50, torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)  # randomness only from the generator


def test_refit_prior_saves_the_prior_into_the_evaluated_checkpoint(tmp_path: Path, digits) -> None:
    """The best checkpoint is written during training, before the prior is fitted: the harness refits and saves it."""
    model = _model(prior_steps=20)
    checkpoint = tmp_path / "best.ckpt"
    torch.save({"state_dict": model.state_dict(), "epoch": 0}, checkpoint)
    untrained = {k: v.clone() for k, v in model.prior_net.state_dict().items()}
    torch.manual_seed(1)
    refit_prior(model, digits, checkpoint)
    saved = read_checkpoint(checkpoint)
    assert saved["epoch"] == 0
    assert any(not torch.equal(v, model.prior_net.state_dict()[k]) for k, v in untrained.items())
    for key, value in model.prior_net.state_dict().items():
        assert torch.equal(saved["state_dict"][f"prior_net.{key}"], value)


# -- the codebook metrics ----------------------------------------------------------------------------------------
def test_usage_is_one_over_k_for_a_code_that_always_picks_one_entry() -> None:
    counts = CodeCounts(16)
    counts.update(torch.full((100, 4), 7))
    assert _codebook_usage(counts.compute()) == pytest.approx(1 / 16)
    assert _perplexity(counts.compute()) == pytest.approx(1.0)


def test_counts_accumulate_over_batches_like_one_pass() -> None:
    codes = torch.randint(8, (60, 3), generator=torch.Generator().manual_seed(0))
    batched = CodeCounts(8)
    for part in codes.split(7):
        batched.update(part)
    assert torch.equal(batched.compute(), torch.bincount(codes.flatten(), minlength=8).double())


def test_perplexity_matches_a_hand_computation() -> None:
    counts = CodeCounts(4)
    counts.update(torch.tensor([[0, 0], [1, 2]]))  # p = (1/2, 1/4, 1/4, 0): H = ½ ln 2 + ½ ln 4 = 1.5 ln 2
    assert _perplexity(counts.compute()) == pytest.approx(2**1.5)
    assert _codebook_usage(counts.compute()) == pytest.approx(3 / 4)
    assert _perplexity(torch.full((5,), 3.0)) == pytest.approx(5.0)  # uniform use of K entries: K


def test_only_quantised_models_offer_the_codebook(digits) -> None:
    x = digits.test.images[:2]
    for name in ("ae", "vae", "wae"):
        model = MODELS.get(name)(digits.image_shape, latent_dim=4)
        assert "codebook" not in capabilities(model, model.encode(x), digits)
    model = MODELS.get("vq_vae")(digits.image_shape, latent_dim=4)
    caps = capabilities(model, model.encode(x), digits)
    assert {"codebook", "prior", "prior_density", "decoder"} <= caps
    assert not caps & {"gaussian_posterior", "standard_normal_prior"}  # KL, active units, MI, ELBO, IWAE: n/a
    assert all(METRICS.get(name).requires <= caps for name in CODEBOOK_METRICS)


@pytest.mark.parametrize(
    "options", [{"code_dim": 3}, {"codebook_size": 0}, {"ema_decay": 1.0}, {"commitment": -0.1}, {"prior_steps": -1}]
)
def test_impossible_options_fail_at_construction(options: dict) -> None:
    with pytest.raises(ValueError):
        MODELS.get("vq_vae")(SHAPE, latent_dim=8, **options)


def test_options_are_the_config_schema() -> None:
    with pytest.raises(ConfigError, match="ema"):
        check_kwargs(MODELS.get("vq_vae").__init__, {"ema": "yes"}, "models[0]")


# -- end to end --------------------------------------------------------------------------------------------------
def _benchmark(folder: Path, trainer: dict, metrics: list[str], *, batch_size: int = 128, ema: bool = False) -> Path:
    """The output folder of a VQ-VAE trained on digits for 2 epochs and evaluated by the benchmark's metric loop."""
    config = {
        "name": "vq", "output_dir": str(folder / "out"), "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": batch_size}],
        "models": [{"name": "vq_vae", "latent_dim": 4, "code_dim": 2, "codebook_size": 16, "hidden": [32],
                    "ema": ema, "prior_steps": 200}],
        "trainer": {"max_epochs": 2, "accelerator": "cpu", **trainer},
        "evaluation": {"samplers": ["prior"], "fid_samples": 200, "baselines": [], "metrics": metrics},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vq.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path)]) == 0
    return folder / "out"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    metrics = ["recon_mse", "elbo", "kl", "active_units", "mutual_info", *CODEBOOK_METRICS, "fid_samples", "kid_prior"]
    return _benchmark(tmp_path_factory.mktemp("vq-benchmark"), {}, metrics)


def _record(out: Path) -> dict:
    (path,) = (out / "results").glob("digits-vq_vae-*.json")
    return json.loads(path.read_text())


def test_tiny_benchmark_gives_the_vq_metrics_and_na_for_the_posterior_ones(tiny_run: Path) -> None:
    metrics = _record(tiny_run)["metrics"]
    for key in ("recon_mse", "fid_prior", "fid_prior_uniform", "kid_prior", "codebook_usage", "codebook_perplexity"):
        assert math.isfinite(metrics[key]), key
    assert 0 < metrics["codebook_usage"] <= 1 and 1 <= metrics["codebook_perplexity"] <= 16
    for key in ("kl_total", "kl_per_dim", "collapsed_dims", "active_units", "mutual_info", "elbo"):
        assert key not in metrics, key  # n/a: the codes are points, the prior is not N(0, I)


def test_checkpoint_holds_the_prior_and_reevaluates_to_the_same_fid_prior(tiny_run: Path, digits) -> None:
    record = _record(tiny_run)
    checkpoint = tiny_run / record["checkpoint"]
    metrics = evaluate_checkpoint(checkpoint)  # a fresh model: its prior is what the checkpoint holds
    for key in ("fid_prior", "fid_prior_uniform", "codebook_usage", "recon_mse"):
        assert metrics[key] == pytest.approx(record["metrics"][key], rel=1e-6), key
    _assert_prior_is_fitted(checkpoint, record["hparams"], digits)


def _assert_prior_is_fitted(checkpoint: Path, hparams: dict, digits) -> None:
    """The checkpoint's prior gives its training codes a higher likelihood than an untrained prior does."""
    model = MODELS.get("vq_vae")(digits.image_shape, **{k: v for k, v in hparams.items() if k not in ("name", "label")})
    untrained = {k: v.clone() for k, v in model.prior_net.state_dict().items()}
    model.load_state_dict(read_checkpoint(checkpoint)["state_dict"])
    with torch.no_grad():
        z = model.encode(digits.train.images).mean
        fitted = float(model.prior.log_prob(z).mean())
        model.prior_net.load_state_dict(untrained)
        assert fitted > float(model.prior.log_prob(z).mean()) + 1.0


def test_the_best_checkpoint_gets_a_prior_fitted_to_its_weights(tmp_path: Path, digits) -> None:
    """With validation the best weights are evaluated, written before training ended: the harness fits their prior."""
    out = _benchmark(tmp_path, {"check_val_every_n_epoch": 1}, ["fid_samples"])
    record = _record(out)
    assert record["checkpoint"].endswith("best.ckpt")
    _assert_prior_is_fitted(out / record["checkpoint"], record["hparams"], digits)
    metrics = evaluate_checkpoint(out / record["checkpoint"])
    assert metrics["fid_prior"] == pytest.approx(record["metrics"]["fid_prior"], rel=1e-6)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_the_ema_codebook(tmp_path: Path) -> None:
    """2 ranks at batch size B are 1 process at 2B (see test_ddp.py): the EMA sums the statistics of both ranks,
    and the prior, seeded with the run's seed in every rank, is fitted to the same codes."""
    metrics = ["recon_mse", *CODEBOOK_METRICS, "fid_samples"]
    single = _record(_benchmark(tmp_path / "single", {"devices": 1}, metrics, batch_size=64, ema=True))["metrics"]
    ddp = _record(
        _benchmark(tmp_path / "ddp", {"devices": 2, "strategy": "ddp_spawn"}, metrics, batch_size=32, ema=True)
    )
    for key, value in single.items():
        assert ddp["metrics"][key] == pytest.approx(value, rel=1e-3), key
