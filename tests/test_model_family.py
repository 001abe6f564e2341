"""IWAE, RAE, WAE and the VAE family's collapse remedies, each pinned against its formula or an independent oracle."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmarks.config.schema import ConfigError, check_kwargs
from lightning_modules import MODELS, StandardNormal
from lightning_modules.beta_vae import BetaVAE
from lightning_modules.kl_control import cyclical_warmup, free_bits_kl, linear_warmup, warmup_weight
from lightning_modules.mmd import IMQ_SCALES, mmd_imq
from lightning_modules.rae import decoder_weight_norm, jacobian_sq_norm
from lightning_modules.vae import VAE

SHAPE = (1, 8, 8)


def _images(n: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def _standard_error(values: torch.Tensor) -> float:
    return float(values.std() / math.sqrt(len(values)))


# -- IWAE ---------------------------------------------------------------------------------------------------------
def test_iwae_at_k1_is_the_one_sample_elbo_of_a_vae_with_the_same_weights_and_draws() -> None:
    torch.manual_seed(0)
    vae = MODELS.get("vae")(SHAPE, latent_dim=3, hidden=(32,))
    iwae = MODELS.get("iwae")(SHAPE, latent_dim=3, hidden=(32,), k=1)
    iwae.load_state_dict(vae.state_dict())
    x = _images()
    torch.manual_seed(1)
    terms = iwae.loss_terms(x)
    torch.manual_seed(1)  # the same draw, through the VAE's own interface
    q = vae.encode(x)
    z = q.rsample()
    elbo = vae.log_likelihood(x, z) + vae.prior.log_prob(z) - q.log_prob(z)
    torch.testing.assert_close(terms["loss"], -elbo.mean())
    torch.manual_seed(1)
    vae_terms = vae.loss_terms(x)
    torch.testing.assert_close(terms["recon"], vae_terms["recon"])  # the logged one-sample terms are the VAE's
    torch.testing.assert_close(terms["kl"], vae_terms["kl"])


def test_iwae_at_k1_equals_the_vae_loss_in_expectation() -> None:
    """The VAE's loss has the analytic KL, the K = 1 bound a Monte Carlo one: same draws, same mean."""
    torch.manual_seed(0)
    vae = MODELS.get("vae")(SHAPE, latent_dim=3, hidden=(32,))
    iwae = MODELS.get("iwae")(SHAPE, latent_dim=3, hidden=(32,), k=1)
    iwae.load_state_dict(vae.state_dict())
    x = _images()
    gaps = []
    with torch.no_grad():
        for seed in range(40):
            torch.manual_seed(seed)
            a = iwae.loss_terms(x)["loss"]
            torch.manual_seed(seed)
            gaps.append(float(a - vae.loss_terms(x)["loss"]))  # recon cancels: MC KL − analytic KL, mean 0
    gaps_t = torch.tensor(gaps)
    assert abs(float(gaps_t.mean())) < 4 * _standard_error(gaps_t)  # 4 standard errors: fails ~1 in 16,000 runs


def test_iwae_bound_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    model = MODELS.get("iwae")(SHAPE, latent_dim=2, hidden=(16,), k=3)
    x = _images(5)
    torch.manual_seed(3)
    loss = model.loss_terms(x)["loss"]
    torch.manual_seed(3)
    q = model.encode(x)
    z = q.rsample(3)  # (K, B, D)
    q_dist = torch.distributions.Normal(q.mean, (0.5 * q.logvar).exp())
    p_dist = torch.distributions.Normal(0.0, 1.0)
    log_w = torch.stack(
        [model.log_likelihood(x, z[k]) + p_dist.log_prob(z[k]).sum(1) - q_dist.log_prob(z[k]).sum(1) for k in range(3)]
    )
    expected = -(log_w.double().exp().mean(0).log()).mean().float()  # log of the mean weight, without logsumexp
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)


def test_iwae_bound_rises_with_k_in_expectation() -> None:
    torch.manual_seed(0)
    model = MODELS.get("iwae")(SHAPE, latent_dim=2, hidden=(32,))
    with torch.no_grad():
        model.decoder[0][0].weight.mul_(5)  # a decoder that reads z, so the untrained q(z|x) is far from p(z|x)
    x = _images(128)
    bounds = {}
    for k in (1, 5, 50):
        model.k = k
        with torch.no_grad():
            draws = []
            for seed in range(10):
                torch.manual_seed(seed)
                draws.append(-model.loss_terms(x)["loss"])
        bounds[k] = torch.stack(draws)
    # each step up must exceed 4 standard errors of the difference of the two means (measured: 15 to 30 over 3
    # model seeds), so the test checks the ordering, not the noise
    for small, large in ((1, 5), (5, 50)):
        gap = float(bounds[large].mean() - bounds[small].mean())
        se = math.hypot(_standard_error(bounds[small]), _standard_error(bounds[large]))
        assert gap > 4 * se, (small, large, gap, se)


# -- WAE and its MMD ----------------------------------------------------------------------------------------------
def _mmd_double_loop(x: torch.Tensor, y: torch.Tensor) -> float:
    """The U-statistic written out pair by pair: the definition, O(n²) Python loops."""
    n, m, d = len(x), len(y), x.shape[1]

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        return sum(2 * d * s / (2 * d * s + float(((a - b) ** 2).sum())) for s in IMQ_SCALES)

    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_equals_the_u_statistic_written_out() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(5, 3, generator=gen, dtype=torch.float64),
        1 + torch.randn(4, 3, generator=gen, dtype=torch.float64),
    )
    assert float(mmd_imq(x, y)) == pytest.approx(_mmd_double_loop(x, y), abs=1e-6)


def test_mmd_is_unbiased_where_the_plug_in_estimate_is_not() -> None:
    """Over many pairs of small samples of one distribution the U-statistic averages 0; the plug-in V-statistic,
    which keeps the diagonal k(x_i, x_i) = 1 of each kernel, is biased upwards: the bias the U-statistic removes."""
    gen = torch.Generator().manual_seed(1)
    u, v = [], []
    for _ in range(300):
        x, y = torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen)
        u.append(float(mmd_imq(x, y)))
        z = torch.cat([x, y])
        d2 = torch.cdist(z, z).pow(2)
        gram = sum(4 * s / (4 * s + d2) for s in IMQ_SCALES)
        v.append(float(gram[:8, :8].mean() + gram[8:, 8:].mean() - 2 * gram[:8, 8:].mean()))
    u_t, v_t = torch.tensor(u), torch.tensor(v)
    assert abs(float(u_t.mean())) < 4 * _standard_error(u_t)
    assert float(v_t.mean()) > 10 * _standard_error(v_t)


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift() -> None:
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(400, 4, generator=gen), torch.randn(400, 4, generator=gen)
    values = [float(mmd_imq(x, y + shift)) for shift in (0.0, 0.5, 1.0, 2.0)]
    # one distribution: the estimate's sd at n = 400, D = 4 is 0.006 (20 seeds, largest |value| 0.016): 0.03 is 5 sd;
    # a shift of 0.5 already gives 0.22
    assert abs(values[0]) < 0.03
    assert values == sorted(values) and values[1] > 0.1, values


def test_mmd_needs_two_points_per_sample() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        mmd_imq(torch.zeros(1, 2), torch.zeros(3, 2))


def test_wae_has_deterministic_codes_and_the_standard_normal_prior() -> None:
    torch.manual_seed(0)
    model = MODELS.get("wae")(SHAPE, latent_dim=3, hidden=(16,), mmd_weight=7.0)
    x = _images(16)
    assert not model.encode(x).is_stochastic and isinstance(model.prior, StandardNormal)
    torch.manual_seed(1)
    terms = model.loss_terms(x)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 7.0 * terms["mmd"])
    torch.manual_seed(1)  # the term is the MMD between the codes and as many prior draws
    expected = mmd_imq(model.encode(x).mean, model.prior.sample(16))
    torch.testing.assert_close(terms["mmd"], expected)
    single = model.loss_terms(x[:1])  # a batch of one has no pairs: no MMD term, nothing NaN
    assert float(single["mmd"]) == 0.0 and torch.isfinite(single["loss"])


# -- RAE ----------------------------------------------------------------------------------------------------------
def test_decoder_norm_is_the_sum_of_squared_decoder_parameters() -> None:
    torch.manual_seed(0)
    model = MODELS.get("rae")(SHAPE, latent_dim=3, hidden=(16,), reg="l2")
    expected = sum(float((p.detach().double() ** 2).sum()) for p in model.decoder.parameters())
    assert float(decoder_weight_norm(model.decoder)) == pytest.approx(expected, rel=1e-6)
    assert float(model.regulariser(torch.zeros(2, 3))) == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.mul_(3)  # the encoder is not regularised
    assert float(model.regulariser(torch.zeros(2, 3))) == pytest.approx(expected, rel=1e-6)


def _finite_difference_sq_norm(fn, z: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Σ_d ‖(fn(z + h e_d) − fn(z − h e_d)) / 2h‖² per row: the Jacobian's Frobenius norm by central differences."""
    total = torch.zeros(len(z), dtype=z.dtype)
    for d in range(z.shape[1]):
        e = torch.zeros_like(z)
        e[:, d] = h
        total += ((fn(z + e) - fn(z - e)) / (2 * h)).flatten(1).pow(2).sum(1)
    return total


def test_gradient_penalty_of_a_linear_decoder_is_the_frobenius_norm_of_its_weight() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(3, 5, bias=False).double()
    z = torch.randn(4, 3, dtype=torch.float64)
    penalty = jacobian_sq_norm(linear, z)
    w_norm = float(linear.weight.pow(2).sum())
    torch.testing.assert_close(penalty, torch.full((4,), w_norm, dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(penalty, _finite_difference_sq_norm(linear, z), rtol=1e-6, atol=0)
    penalty.mean().backward()  # create_graph: the penalty trains the decoder, d‖W‖²/dW = 2W
    torch.testing.assert_close(linear.weight.grad, 2 * linear.weight.detach())


def test_gradient_penalty_matches_finite_differences_on_a_nonlinear_decoder() -> None:
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 6), nn.Unflatten(1, (1, 2, 3))).double()
    z = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        reference = _finite_difference_sq_norm(decoder, z)
    torch.testing.assert_close(jacobian_sq_norm(decoder, z), reference, rtol=1e-6, atol=0)


def test_gradient_penalty_is_the_same_under_inference_mode() -> None:
    """Lightning validates under ``inference_mode``: the penalty is still computed there (detached)."""
    torch.manual_seed(0)
    model = MODELS.get("rae")(SHAPE, latent_dim=3, hidden=(16,), reg="gp", reg_weight=0.1)
    x = _images(8)
    trained = model.loss_terms(x)
    with torch.inference_mode():
        validated = model.loss_terms(x)
    torch.testing.assert_close(validated["decoder_reg"], trained["decoder_reg"].detach())
    torch.testing.assert_close(validated["loss"], trained["loss"].detach())


def test_rae_loss_is_recon_plus_weighted_code_norm_and_regulariser() -> None:
    torch.manual_seed(0)
    model = MODELS.get("rae")(SHAPE, latent_dim=3, hidden=(16,), z_weight=0.3, reg_weight=0.01)
    x = _images(8)
    terms = model.loss_terms(x)
    z = model.encode(x).mean
    torch.testing.assert_close(terms["z_penalty"], 0.5 * z.pow(2).sum(1).mean())
    torch.testing.assert_close(terms["loss"], terms["recon"] + 0.3 * terms["z_penalty"] + 0.01 * terms["decoder_reg"])
    assert model.prior is None and not model.encode(x).is_stochastic


# -- KL warm-up and free bits -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "expected"), [(0, 0.0), (1, 0.001), (250, 0.25), (999, 0.999), (1000, 1.0), (10**6, 1.0)]
)
def test_linear_warmup_is_min_1_step_over_t(step: int, expected: float) -> None:
    assert linear_warmup(step, 1000) == pytest.approx(expected)
    assert warmup_weight("linear", step, 1000, 4) == pytest.approx(expected)


# T = 1000 steps in M = 4 cycles of 250: the weight rises as τ / 0.5 over the first 125 steps of a cycle, then 1
CYCLICAL = [(0, 0.0), (50, 0.4), (124, 0.992), (125, 1.0), (200, 1.0), (249, 1.0),  # first cycle
            (250, 0.0), (300, 0.4), (575, 0.6), (700, 1.0), (750, 0.0), (999, 1.0),  # later cycles
            (1000, 1.0), (5000, 1.0)]  # fmt: skip


@pytest.mark.parametrize(("step", "expected"), CYCLICAL)
def test_cyclical_warmup_follows_fu_et_al(step: int, expected: float) -> None:
    assert cyclical_warmup(step, 1000, 4) == pytest.approx(expected)
    assert warmup_weight("cyclical", step, 1000, 4) == pytest.approx(expected)


def test_no_warmup_is_one_and_an_unknown_schedule_fails() -> None:
    assert warmup_weight("none", 0, 1000, 4) == 1.0
    with pytest.raises(ValueError, match="kl_warmup"):
        warmup_weight("cosine", 0, 1000, 4)


def test_free_bits_floor_each_dimension() -> None:
    kl = torch.tensor([0.05, 0.3, 2.0])
    assert float(free_bits_kl(kl, 0.25)) == pytest.approx(0.25 + 0.3 + 2.0)
    assert float(free_bits_kl(kl, 0.0)) == pytest.approx(float(kl.sum()))
    assert float(free_bits_kl(kl, 5.0)) == pytest.approx(15.0)
    kl.requires_grad_()
    free_bits_kl(kl, 0.25).backward()  # a dim under the floor gets no gradient
    assert kl.grad.tolist() == [0.0, 1.0, 1.0]


@pytest.fixture
def at_step(monkeypatch: pytest.MonkeyPatch):
    """Pretend the trainer is at optimiser step ``n`` (``global_step`` is 0 without a trainer)."""

    def set_step(n: int) -> None:
        monkeypatch.setattr(VAE, "global_step", property(lambda self: n))

    return set_step


def _same_draw_terms(model: VAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    torch.manual_seed(5)
    return model.loss_terms(x)


def test_vae_loss_uses_the_warmup_weight_and_the_floor(at_step) -> None:
    torch.manual_seed(0)
    model = MODELS.get("vae")(SHAPE, latent_dim=3, hidden=(16,), kl_warmup="linear", kl_warmup_steps=100, free_bits=0.5)
    x = _images(32)
    at_step(25)
    terms = _same_draw_terms(model, x)
    kl_dims = model.prior.kl_per_dim(model.encode(x)).mean(0)
    torch.testing.assert_close(terms["kl"], kl_dims.sum())  # the logged KL is the true one
    torch.testing.assert_close(terms["loss"], terms["recon"] + 0.25 * kl_dims.clamp(min=0.5).sum())
    model.eval()  # validation: the objective the schedule ends at
    terms = _same_draw_terms(model, x)
    torch.testing.assert_close(terms["loss"], terms["recon"] + kl_dims.clamp(min=0.5).sum())


def test_beta_vae_inherits_warmup_and_free_bits(at_step) -> None:
    torch.manual_seed(0)
    options = {"latent_dim": 3, "hidden": (16,), "kl_warmup": "cyclical", "kl_warmup_steps": 400, "kl_cycles": 4}
    model = MODELS.get("beta_vae")(SHAPE, beta=4.0, free_bits=0.2, **options)
    x = _images(32)
    at_step(125)  # second cycle, a quarter in: weight 0.5
    terms = _same_draw_terms(model, x)
    kl_dims = model.prior.kl_per_dim(model.encode(x)).mean(0)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 0.5 * 4.0 * free_bits_kl(kl_dims, 0.2))


def test_capacity_variant_with_warmup(at_step) -> None:
    torch.manual_seed(0)
    model = BetaVAE(SHAPE, latent_dim=3, hidden=(16,), capacity_max=10.0, capacity_gamma=100.0, capacity_steps=100,
                    kl_warmup="linear", kl_warmup_steps=200)  # fmt: skip
    x = _images(32)
    at_step(50)
    assert model.capacity() == 5.0
    terms = _same_draw_terms(model, x)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 0.25 * 100.0 * (terms["kl"] - 5.0).abs())


def test_defaults_leave_the_vae_loss_unchanged() -> None:
    torch.manual_seed(0)
    model = MODELS.get("vae")(SHAPE, latent_dim=3, hidden=(16,))
    terms = _same_draw_terms(model, _images(32))
    assert torch.equal(terms["loss"], terms["recon"] + terms["kl"])


# -- every option trains, and impossible values fail before training ----------------------------------------------
VARIANTS = [
    ("rae", {"reg": "gp", "reg_weight": 0.01}),
    ("vae", {"kl_warmup": "cyclical", "free_bits": 0.1}),
    ("beta_vae", {"capacity_max": 5.0, "kl_warmup": "linear", "free_bits": 0.1}),
    ("iwae", {"k": 1}),
]


@pytest.mark.parametrize(("name", "options"), VARIANTS)
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])  # the MLP and the conv nets (double backward)
def test_every_option_gives_every_parameter_a_finite_gradient(name: str, options: dict, shape: tuple) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(shape, latent_dim=3, **options)
    terms = model.loss_terms(torch.rand(4, *shape))
    terms["loss"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"


@pytest.mark.parametrize(
    ("name", "options"),
    [("iwae", {"k": 0}), ("vae", {"kl_warmup_steps": 0}), ("beta_vae", {"kl_cycles": 0}), ("vae", {"free_bits": -1.0}),
     ("vae", {"kl_warmup": "cosine"}), ("rae", {"reg": "l1"}), ("rae", {"z_weight": -1.0}), ("wae", {"mmd_weight": -1.0})],
)  # fmt: skip
def test_impossible_options_fail_at_construction(name: str, options: dict) -> None:
    with pytest.raises(ValueError):
        MODELS.get(name)(SHAPE, **options)


@pytest.mark.parametrize(
    ("name", "key", "bad"), [("vae", "kl_warmup", "cosine"), ("rae", "reg", "l1"), ("iwae", "k", 2.5)]
)
def test_choices_are_the_config_schema(name: str, key: str, bad: object) -> None:
    """The constructors' Literal and int hints are what a config is checked against."""
    with pytest.raises(ConfigError, match=key):
        check_kwargs(MODELS.get(name).__init__, {key: bad}, "models[0]")
