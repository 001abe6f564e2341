"""β-TCVAE and FactorVAE: the total-correlation estimator against a closed form, the decomposition against the ELBO,
permute_dims, the discriminator's training and its separation from the VAE's, the config schema, and both models
through the CLI (fit, evaluate, resume)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytorch_lightning as pl
import pytest
import torch

from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.config.settings import ModelConfig
from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior
from lightning_modules.factor_vae import DISC_BETAS, permute_dims
from lightning_modules.total_correlation import kl_decomposition, log_importance_weights

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits():
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


def _standard_error(values: torch.Tensor) -> float:
    return float(values.std() / math.sqrt(len(values)))


# -- the total-correlation estimator ------------------------------------------------------------------------------
CORRELATION = torch.tensor([[1.0, 0.8, 0.3], [0.8, 1.0, -0.2], [0.3, -0.2, 1.0]], dtype=torch.float64)
M, S, N = 2000, 0.5, 10**6  # batch size, per-image posterior std, data set size


def _gaussian_mixture_batch(sigma: torch.Tensor, seed: int) -> tuple[torch.Tensor, Posterior]:
    """M posteriors N(μ_j, S² I), μ_j ~ N(0, Σ), and one code drawn from each: their aggregate q(z) is N(0, Σ + S² I)."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(M, len(sigma), generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(sigma).T
    z = mu + S * torch.randn(mu.shape, generator=gen, dtype=torch.float64)
    return z, Posterior(mu, torch.full_like(mu, 2 * math.log(S)))


def _gaussian_tc(cov: torch.Tensor) -> float:
    """TC of N(0, cov) = Σ_d H(z_d) − H(z) = ½ (Σ_d log cov_dd − log det cov); −½ log det Σ for unit variances."""
    return float(0.5 * (torch.diagonal(cov).log().sum() - torch.logdet(cov)))


@pytest.mark.parametrize("sigma", [CORRELATION, torch.eye(3, dtype=torch.float64)], ids=["correlated", "independent"])
def test_tc_estimate_matches_the_closed_form_of_gaussian_codes(sigma: torch.Tensor) -> None:
    """The codes' aggregate posterior is exactly N(0, Σ + S²I) (the posteriors' noise is part of q(z)), so the target
    is that Gaussian's TC, 0.33 nats here (−½ log det Σ = 0.72 is its S → 0 limit), and 0 for independent codes.
    The S = 0.5 posteriors overlap: a tiny S would leave each code's own posterior alone in its neighbourhood and the
    estimate would be dominated by it (measured: +0.4 nats at S = 0.05). Over 5 seeds at M = 2000 the MSS estimate
    was 0.331 ± 0.008 (sd) against 0.3325, and −0.009 ± 0.003 for independent codes (the log of an unbiased density
    estimate is biased low by its relative variance, ~1/M); 0.05 nats is 5 sd, and an error in the weights or the
    marginals moves the estimate by ≥ 0.3 nats (a (D − 1) log N offset for MWS' weights: 27.6)."""
    z, q = _gaussian_mixture_batch(sigma, seed=0)
    target = _gaussian_tc(sigma + S**2 * torch.eye(3, dtype=torch.float64))
    estimate = float(kl_decomposition(z, q, N, "mss").total_correlation.mean())
    assert estimate == pytest.approx(target, abs=0.05)


def test_mws_tc_is_the_mss_one_plus_d_minus_1_log_n() -> None:
    """MWS' weights sum to 1/N: with overlapping posteriors its TC is the consistent one + (D − 1) log N (a constant,
    so the gradients agree). Measured gap minus the offset: 0.007 (S = 0.5), so 0.05 leaves room for noise."""
    z, q = _gaussian_mixture_batch(CORRELATION, seed=1)
    mss, mws = (float(kl_decomposition(z, q, N, e).total_correlation.mean()) for e in ("mss", "mws"))
    assert mws - mss == pytest.approx(2 * math.log(N), abs=0.05)


def test_importance_weights_form_a_mixture_for_mss_and_sum_to_1_over_n_for_mws() -> None:
    like = torch.zeros((), dtype=torch.float64)
    mss = log_importance_weights(5, 100, "mss", like).exp()
    torch.testing.assert_close(mss.sum(1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(torch.diagonal(mss), torch.full((5,), 0.01, dtype=torch.float64))
    mws = log_importance_weights(5, 100, "mws", like).exp()
    torch.testing.assert_close(mws.sum(1), torch.full((5,), 0.01, dtype=torch.float64))
    with pytest.raises(ValueError, match="dataset_size"):
        log_importance_weights(5, 4, "mss", like)


# -- β-TCVAE ------------------------------------------------------------------------------------------------------
def _same_draw(model, x: torch.Tensor, seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return model.loss_terms(x)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_unit_weights_give_the_one_sample_elbo_exactly(estimator: str, digits) -> None:
    """α = β = γ = 1: the three terms telescope to log q(z|x) − log p(z) whatever the estimator, so the loss is the
    negative one-sample ELBO of the same draw (the VAE's loss with a Monte Carlo KL), to float precision."""
    torch.manual_seed(0)
    model = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=4, alpha=1.0, beta=1.0, gamma=1.0,
                                     dataset_size=1000, estimator=estimator)  # fmt: skip
    x = digits.train.images[:64]
    terms = _same_draw(model, x)
    torch.manual_seed(1)
    q = model.encode(x)
    z = q.rsample()
    mc_kl = q.log_prob(z) - model.prior.log_prob(z)
    torch.testing.assert_close(terms["mi"] + terms["tc"] + terms["dim_kl"], mc_kl.mean())
    torch.testing.assert_close(terms["loss"], -(model.log_likelihood(x, z) - mc_kl).mean())


def test_unit_weights_equal_the_vae_loss_in_expectation(digits) -> None:
    """The VAE's loss has the analytic KL: over draws the two losses agree in mean (the gap is MC KL − analytic KL)."""
    torch.manual_seed(0)
    vae = MODELS.get("vae")(digits.image_shape, latent_dim=4)
    tcvae = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=4, beta=1.0)
    tcvae.load_state_dict(vae.state_dict())
    x = digits.train.images[:64]
    with torch.no_grad():
        gaps = torch.tensor([float(_same_draw(tcvae, x, s)["loss"] - _same_draw(vae, x, s)["loss"]) for s in range(40)])
    assert abs(float(gaps.mean())) < 4 * _standard_error(gaps)  # 4 standard errors: fails ~1 in 16,000 runs


def test_beta_weighs_only_the_total_correlation(digits) -> None:
    torch.manual_seed(0)
    base = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=4, alpha=0.5, beta=1.0, gamma=2.0)
    heavy = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=4, alpha=0.5, beta=6.0, gamma=2.0)
    heavy.load_state_dict(base.state_dict())
    x = digits.train.images[:64]
    t1, t6 = _same_draw(base, x), _same_draw(heavy, x)
    torch.testing.assert_close(t6["loss"] - t1["loss"], 5.0 * t1["tc"])
    torch.testing.assert_close(t1["loss"], t1["recon"] + 0.5 * t1["mi"] + t1["tc"] + 2.0 * t1["dim_kl"])


def test_dataset_size_comes_from_the_training_split_unless_given(digits) -> None:
    torch.manual_seed(0)
    counted = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=2, hidden=(16,))
    given = MODELS.get("beta_tcvae")(digits.image_shape, latent_dim=2, hidden=(16,), dataset_size=5000)
    assert counted.estimator_size(64) == 64  # outside a Trainer the batch stands for the data set
    for model in (counted, given):
        trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, limit_val_batches=0, accelerator="cpu")  # fmt: skip
        trainer.fit(model, datamodule=digits)
    assert counted.estimator_size(64) == len(digits.train) and given.estimator_size(64) == 5000


# -- FactorVAE ----------------------------------------------------------------------------------------------------
def test_permute_dims_permutes_each_column_and_breaks_the_joint() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(1000, 1, generator=gen)
    z = torch.cat([a, a, -a], dim=1)  # perfectly dependent columns
    p = permute_dims(z, torch.Generator().manual_seed(1))
    for d in range(3):
        assert torch.equal(p[:, d].sort().values, z[:, d].sort().values)  # the same multiset in every column
    corr = torch.corrcoef(p.T)
    # independent permutations of 1000 values: each correlation has sd 1/√1000 ≈ 0.03, so |r| < 0.15 is 5 sd,
    # where the original columns have |r| = 1
    assert corr.sub(torch.eye(3)).abs().max() < 0.15
    assert (p[:, 0] == p[:, 1]).float().mean() < 0.01  # rows are no longer the joint's (by chance: ~1/1000 each)


def _factor_vae(**options):
    torch.manual_seed(0)
    return MODELS.get("factor_vae")(SHAPE, latent_dim=3, hidden=(32,), disc_hidden=(32, 32), **options)


def _grads(module: torch.nn.Module) -> list[torch.Tensor | None]:
    return [p.grad for p in module.parameters()]


def test_vae_and_discriminator_objectives_reach_only_their_own_parameters() -> None:
    model = _factor_vae()
    vae_params = [p for n, p in model.named_parameters() if not n.startswith("discriminator.")]
    x = torch.rand(32, *SHAPE)
    model.loss_terms(x)["vae_loss"].backward()
    assert all(g is None for g in _grads(model.discriminator))  # the TC term reads D's weights detached
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae_params)
    model.zero_grad(set_to_none=True)
    model.loss_terms(x)["disc_loss"].backward()
    assert all(p.grad is None for p in vae_params)  # the discriminator reads detached codes
    assert all(g is not None and g.abs().sum() > 0 for g in _grads(model.discriminator))


def test_one_optimiser_step_updates_each_side_only_from_its_own_objective() -> None:
    """Two parameter groups of one Adam: a step on the discriminator's objective alone leaves the VAE's weights as
    they were, and a step on the VAE's alone leaves D's; each group has the paper's settings."""
    model = _factor_vae(disc_lr=3e-4)
    opt = model.configure_optimizers()
    vae_group, disc_group = opt.param_groups
    assert {id(p) for p in disc_group["params"]} == {id(p) for p in model.discriminator.parameters()}
    assert len(vae_group["params"]) + len(disc_group["params"]) == len(list(model.parameters()))
    assert (vae_group["lr"], disc_group["lr"], disc_group["betas"]) == (1e-3, 3e-4, DISC_BETAS)
    x = torch.rand(32, *SHAPE)
    for objective, fixed, moved in (("disc_loss", "vae", "disc"), ("vae_loss", "disc", "vae")):
        before = {k: [p.detach().clone() for p in g["params"]] for k, g in (("vae", vae_group), ("disc", disc_group))}
        opt.zero_grad()
        model.loss_terms(x)[objective].backward()
        opt.step()
        after = {"vae": vae_group["params"], "disc": disc_group["params"]}
        assert all(torch.equal(a, b) for a, b in zip(before[fixed], after[fixed])), objective
        assert any(not torch.equal(a, b) for a, b in zip(before[moved], after[moved])), objective


def test_discriminator_loss_decreases_on_a_fixed_encoder(digits) -> None:
    """Trained alone (the VAE's weights get no gradient from its loss, so the encoder stays fixed), D learns to tell
    the codes of digits from their shuffled columns: its cross-entropy falls below chance, log 2."""
    torch.manual_seed(0)
    model = MODELS.get("factor_vae")(digits.image_shape, latent_dim=4, disc_lr=1e-3)
    opt = model.configure_optimizers()
    x = digits.train.images[:512]
    encoder = [p.detach().clone() for p in model.encoder.parameters()]
    with torch.no_grad():
        codes = model.encode(x).mean
        # an untrained encoder's codes spread by ~0.02; scaled per dimension (which keeps their dependence:
        # correlations up to 0.5 here) they are what a trained encoder gives D, spread by ~1
        codes = codes / codes.std(0)
        before = float(model.discriminator_loss(codes))
    for _ in range(150):
        opt.zero_grad()
        model.discriminator_loss(codes).backward()
        opt.step()
    with torch.no_grad():
        after = float(model.discriminator_loss(codes))
    assert all(torch.equal(a, b) for a, b in zip(encoder, model.encoder.parameters()))
    # measured over 3 model seeds: 0.694–0.702 before, 0.592–0.606 after; chance is log 2 = 0.693
    assert after < min(before, math.log(2)) - 0.05, (before, after)


# -- the config schema --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "key", "bad"),
    [("beta_tcvae", "alpha", -1.0), ("beta_tcvae", "beta", -0.5), ("beta_tcvae", "gamma", -2.0),
     ("beta_tcvae", "dataset_size", 0), ("beta_tcvae", "estimator", "iwae"), ("factor_vae", "gamma", -1.0),
     ("factor_vae", "disc_lr", 0.0), ("factor_vae", "disc_hidden", [64, 0])],
)  # fmt: skip
def test_impossible_hyperparameters_are_config_errors_naming_the_key(name: str, key: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=rf"models\[0\]\.{key}"):
        ModelConfig.from_config({"name": name, key: bad}, "models[0]")


@pytest.mark.parametrize(
    ("name", "options"),
    [("beta_tcvae", {"gamma": -1.0}), ("beta_tcvae", {"dataset_size": 0}), ("beta_tcvae", {"estimator": "x"}),
     ("factor_vae", {"gamma": -1.0}), ("factor_vae", {"disc_hidden": ()})],
)  # fmt: skip
def test_impossible_hyperparameters_fail_at_construction(name: str, options: dict) -> None:
    with pytest.raises(ValueError):
        MODELS.get(name)(SHAPE, **options)


# -- end to end ---------------------------------------------------------------------------------------------------
def _config(tmp_path: Path, models: list[dict], **trainer) -> Path:
    config = {
        "name": "disentangling", "output_dir": str(tmp_path / "out"), "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 128}], "models": models,
        "trainer": {"max_epochs": 2, "accelerator": "cpu", **trainer},
        "evaluation": {"iwae_k": 8, "samplers": ["prior", "gauss"], "gmm_components": 2, "fid_samples": 200,
                       "baselines": []},
    }  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.json"  # JSON is YAML
    path.write_text(json.dumps(config))
    return path


TINY = [{"name": "beta_tcvae", "latent_dim": 4, "hidden": [32]},
        {"name": "factor_vae", "latent_dim": 4, "hidden": [32], "disc_hidden": [32, 32]}]  # fmt: skip


def _records(out: Path) -> dict[str, dict]:
    return {r["model"]: r for r in (json.loads(p.read_text()) for p in (out / "results").glob("*.json"))}


def _finite(value: object) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def test_both_models_run_end_to_end_with_finite_metrics(tmp_path: Path) -> None:
    assert main(["run", "--config", str(_config(tmp_path, TINY))]) == 0
    records = _records(tmp_path / "out")
    assert set(records) == {"beta_tcvae", "factor_vae"}
    for model, record in records.items():
        assert {"recon_mse", "elbo", "kl_total", "nll_iwae", "fid_prior"} <= set(record["metrics"]), model
        assert all(_finite(v) for v in record["metrics"].values()), (model, record["metrics"])
        assert record["steps"] == 2 * 10  # one optimiser step per batch (10 batches an epoch), two optimisers or not
        assert {"train/tc", "train/loss"} <= set(record["curves"][-1])
    assert "train/disc_loss" in records["factor_vae"]["curves"][-1]


def test_factor_vae_killed_mid_training_resumes_to_the_uninterrupted_metrics(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """The full checkpoint carries both parameter groups' Adam state and the RNG that permute_dims draws from."""
    from benchmarks.execution.callbacks import DivergenceGuard

    models = TINY[1:]
    whole = tmp_path / "whole"
    assert main(["run", "--config", str(_config(whole, models, max_epochs=4, checkpoint_every_n_epochs=1))]) == 0

    class Killed(BaseException):
        """The process dying: not an ``Exception``, so nothing in the runner catches it."""

    def killed_in_epoch_three(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise Killed

    killed = tmp_path / "killed"
    config = _config(killed, models, max_epochs=4, checkpoint_every_n_epochs=1)
    with monkeypatch.context() as patch:
        patch.setattr(DivergenceGuard, "on_train_epoch_end", killed_in_epoch_three)
        with pytest.raises(Killed):
            main(["run", "--config", str(config)])
    (resume,) = (killed / "out" / "checkpoints").glob("*/resume.ckpt")
    capsys.readouterr()
    assert main(["run", "--config", str(config)]) == 0
    assert "resuming from" in capsys.readouterr().out and not resume.exists()  # resumed, not retrained from scratch
    expected, resumed = _records(whole / "out")["factor_vae"], _records(killed / "out")["factor_vae"]
    assert resumed["steps"] == expected["steps"] == 40
    for key, value in expected["metrics"].items():
        assert resumed["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
