"""Inpainting: observed pixels are never changed, the masks, the exact conditional of a probabilistic PCA for the
iterate method and the Metropolis-within-Gibbs chain, the mean-fill baseline by hand, and a run through ``evaluate``.

The reference model is a probabilistic PCA x = W z + μ + ε, ε ~ N(0, σ² I), z ~ N(0, I), with orthogonal
columns of W so that its exact posterior N(M⁻¹Wᵀ(x − μ), σ² M⁻¹), M = WᵀW + σ² I, is a diagonal Gaussian; its
conditional of the missing pixels given the observed ones is N(C_mo C_oo⁻¹ (x_o − μ_o) + μ_m, ·), C = WWᵀ + σ² I.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import Tensor

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.inputs import EvalContext, EvalInputs
from benchmarks.evaluation.metrics import METRICS
from benchmarks.evaluation.metrics.inpaint import (
    MASKS,
    Inpaint,
    InpaintMean,
    iterate_completion,
    metropolis_within_gibbs,
    missing_pixels,
    pseudo_gibbs,
)
from benchmarks.reporting.build import load_outputs
from benchmarks.reporting.figures import FigureData, inpainting
from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior, StandardNormal
from lightning_modules.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian

H = W = 4  # the probabilistic PCA's images: 16 pixels
D, SIGMA = 3, 0.3


class ProbabilisticPCA:
    """x = W z + μ + ε behind the model interface, with its exact posterior and Gaussian likelihood (float64)."""

    def __init__(self, w: Tensor, mu: Tensor, sigma: float) -> None:
        self.w, self.mu, self.sigma = w, mu, sigma
        self.prior = StandardNormal(w.shape[1])
        self.likelihood = Gaussian(sigma)
        self.m_inv = torch.linalg.inv(w.T @ w + sigma**2 * torch.eye(w.shape[1], dtype=w.dtype))
        assert torch.allclose(self.m_inv, torch.diag(torch.diagonal(self.m_inv)))  # orthogonal columns: diagonal

    def encode(self, x: Tensor) -> Posterior:
        mean = (x.flatten(1) - self.mu) @ self.w @ self.m_inv
        return Posterior(mean, torch.log(self.sigma**2 * torch.diagonal(self.m_inv)).expand_as(mean))

    def decode(self, z: Tensor) -> Tensor:
        return (z @ self.w.T + self.mu).view(len(z), 1, H, W)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self.likelihood.log_prob(x, self.decode(z))

    def log_likelihood_pixels(self, x: Tensor, z: Tensor) -> Tensor:
        return self.likelihood.log_prob_pixels(x, self.decode(z))


def _ppca_and_image(seed: int) -> tuple[ProbabilisticPCA, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(H * W, D, generator=gen, dtype=torch.float64))
    scales = torch.tensor([1.5, 1.0, 0.7], dtype=torch.float64)
    mu = 0.25 + 0.5 * torch.rand(H * W, generator=gen, dtype=torch.float64)
    model = ProbabilisticPCA(basis * scales, mu, SIGMA)
    z = torch.randn(1, D, generator=gen, dtype=torch.float64)
    x = model.decode(z) + SIGMA * torch.randn(1, 1, H, W, generator=gen, dtype=torch.float64)
    return model, x


def _exact_conditional(model: ProbabilisticPCA, x: Tensor, missing: Tensor) -> tuple[Tensor, Tensor]:
    """The mean C_mo C_oo⁻¹ (x_o − μ_o) + μ_m of the missing pixels given the observed ones, and the variance of
    E[x_m | z] = W_m z + μ_m under p(z | x_o): diag W_m (I + W_oᵀ W_o / σ²)⁻¹ W_mᵀ."""
    m = missing.flatten()
    o = ~m
    c = model.w @ model.w.T + model.sigma**2 * torch.eye(H * W, dtype=torch.float64)
    mean = c[m][:, o] @ torch.linalg.solve(c[o][:, o], x.flatten()[o] - model.mu[o]) + model.mu[m]
    w_o, w_m = model.w[o], model.w[m]
    posterior_cov = torch.linalg.inv(torch.eye(D, dtype=torch.float64) + w_o.T @ w_o / model.sigma**2)
    return mean, torch.diagonal(w_m @ posterior_cov @ w_m.T)


def _mask(name: str, n: int, height: int, width: int, seed: int = 0) -> Tensor:
    return MASKS[name][0](n, height, width, torch.Generator().manual_seed(seed))


# -- observed pixels ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mask", list(MASKS))
def test_no_method_changes_an_observed_pixel_nor_reads_a_missing_one(mask: str) -> None:
    """Every method, on 3-channel images: the observed values come back bit for bit, the missing ones change, and
    NaN in the missing pixels of the input changes nothing (no method reads them)."""
    torch.manual_seed(0)
    model = MODELS.get("vae")((3, 8, 8), latent_dim=3, hidden=(16,)).eval()
    images = torch.rand(5, 3, 8, 8)
    missing = _mask(mask, 5, 8, 8)
    poisoned = torch.where(missing, torch.tensor(float("nan")), images)
    start = torch.full((3, 8, 8), 0.5)

    def sampled(sampler: Callable[..., Tensor]) -> Callable[[Tensor], Tensor]:
        def run(x: Tensor) -> Tensor:
            return sampler(model, x, missing, start, chains=2, steps=3, generator=torch.Generator().manual_seed(1))

        return run

    methods = {
        "iterate": lambda x: iterate_completion(model, x, missing, start, 3)[None],
        "pgibbs": sampled(pseudo_gibbs),
        "mwg": sampled(metropolis_within_gibbs),
    }
    observed = ~missing.expand_as(images)  # whole pixels: every channel
    for name, method in methods.items():
        completed = method(images)
        assert torch.equal(completed[:, observed], images[observed].expand(len(completed), -1)), name
        assert not torch.isclose(completed[:, ~observed], images[~observed]).all(), name
        assert torch.equal(method(poisoned), completed), name


def test_per_pixel_log_likelihoods_are_torch_distributions_and_sum_to_the_images() -> None:
    """What the Metropolis-within-Gibbs ratio reads: the per-value terms, against torch.distributions."""
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    x = torch.rand(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    binary = x.round()
    references = {
        Gaussian(0.2): (x, torch.distributions.Normal(out, 0.2).log_prob(x)),
        Bernoulli(): (binary, torch.distributions.Bernoulli(logits=out).log_prob(binary)),
        ContinuousBernoulli(): (x, torch.distributions.ContinuousBernoulli(logits=out).log_prob(x)),
    }
    for likelihood, (data, expected) in references.items():
        torch.testing.assert_close(likelihood.log_prob_pixels(data, out), expected)
        torch.testing.assert_close(likelihood.log_prob(data, out), expected.flatten(1).sum(1))


# -- the masks ------------------------------------------------------------------------------------------------
def test_the_masks_are_the_bottom_rows_and_a_seeded_half_of_each_images_pixels() -> None:
    bottom = _mask("bottom", 3, 7, 5)
    assert bottom.shape == (3, 1, 7, 5) and torch.equal(bottom[:, 0, :, 0], (torch.arange(7) >= 4).expand(3, 7))
    assert torch.equal(bottom.all(-1), bottom.any(-1))  # whole rows
    half = _mask("random50", 40, 6, 6)
    assert torch.equal(half.flatten(1).sum(1), torch.full((40,), 18))  # exactly half of each image
    assert torch.equal(half, _mask("random50", 40, 6, 6)) and not torch.equal(half, _mask("random50", 40, 6, 6, seed=1))
    assert len({tuple(m.flatten().tolist()) for m in half}) == 40  # a different mask per image


# -- the exact conditional of a probabilistic PCA -------------------------------------------------------------
@pytest.mark.parametrize("mask", list(MASKS))
def test_iterate_converges_to_the_exact_conditional_mean_of_probabilistic_pca(mask: str) -> None:
    """The fixed point of x_m ← [W M⁻¹ Wᵀ (x − μ) + μ]_m solves [C⁻¹ (x − μ)]_m = 0 (W M⁻¹ Wᵀ = I − σ² C⁻¹): the
    Schur complement formula; one iteration is not there yet."""
    model, x = _ppca_and_image(seed=2)
    missing = _mask(mask, 1, H, W, seed=3)
    exact, _ = _exact_conditional(model, x, missing)
    start = torch.full((1, H, W), 0.5, dtype=torch.float64)
    completed = iterate_completion(model, x, missing, start, 400).flatten()[missing.flatten()]
    torch.testing.assert_close(completed, exact, atol=1e-10, rtol=0)
    once = iterate_completion(model, x, missing, start, 1).flatten()[missing.flatten()]
    assert not torch.allclose(once, exact, atol=1e-3)


@pytest.mark.parametrize("mask", list(MASKS))
def test_metropolis_within_gibbs_samples_the_exact_conditional_of_probabilistic_pca(mask: str) -> None:
    """4000 independent chains: the mean of E[x_m | z] is the exact conditional mean within Monte-Carlo error, and
    its spread across chains the exact one, which a chain that stays at its start (or scores the proposal at one
    fixed completion, the state-independent ratio) misses."""
    model, x = _ppca_and_image(seed=4)
    missing = _mask(mask, 1, H, W, seed=5)
    exact, variance = _exact_conditional(model, x, missing)
    chains = 4000
    start = torch.full((1, H, W), 0.5, dtype=torch.float64)

    def chain_values(steps: int) -> Tensor:
        gen = torch.Generator().manual_seed(6)
        samples = metropolis_within_gibbs(model, x, missing, start, chains=chains, steps=steps, generator=gen)
        return samples.flatten(1)[:, missing.flatten()]

    values = chain_values(60)
    assert ((values.mean(0) - exact) / (variance / chains).sqrt()).abs().max() < 4.5
    ratio = values.var(0) / variance  # the sampling error of a variance from 4000 draws is ~2%
    assert ratio.min() > 0.9 and ratio.max() < 1.1
    stuck = chain_values(0)  # the chains' starts: far from the conditional, so the test can fail
    assert ((stuck.mean(0) - exact) / (variance / chains).sqrt()).abs().max() > 4.5


# -- the training-mean fill -----------------------------------------------------------------------------------
def test_the_mean_fill_baseline_by_hand(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.random((80, 1, 6, 6)).astype(np.float32), labels=rng.integers(0, 3, 80))
    dm = DATAMODULES.get("tensor_file")(path=str(tmp_path / "d.npz"))
    dm.setup()
    inputs = EvalInputs(object(), EvalContext.build(dm, "d", EvaluationConfig()), seed=0)  # type: ignore[arg-type]
    out = InpaintMean().compute(inputs)
    train, test = dm.evaluation_train.images.double().numpy()[:, 0], dm.test.images.double().numpy()[:, 0]
    mean_image = [[sum(image[r][c] for image in train) / len(train) for c in range(6)] for r in range(6)]
    for mask in MASKS:
        missing = missing_pixels(inputs, mask)[:, 0].numpy()
        errors = [
            (mean_image[r][c] - image[r][c]) ** 2
            for image, miss in zip(test, missing) for r in range(6) for c in range(6) if miss[r][c]
        ]  # fmt: skip
        assert out[f"inpaint_mean_mse_{mask}"] == pytest.approx(sum(errors) / len(errors), rel=1e-6)  # float32 mean
    assert missing_pixels(inputs, "random50").flatten(1).sum(1).eq(18).all()


# -- end to end -----------------------------------------------------------------------------------------------
def test_a_tiny_benchmark_writes_the_declared_keys_and_the_figure(tmp_path: Path) -> None:
    from benchmarks.cli import main

    config = {
        "name": "inpaint", "output_dir": str(tmp_path / "out"), "seeds": [0],
        "datasets": [{"name": "digits", "batch_size": 128}],
        "models": [{"name": name, "latent_dim": 4, "hidden": [32]} for name in ("ae", "vae")],
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "evaluation": {"metrics": ["inpaint", "inpaint_mean"], "baselines": ["pca", "pixels"]},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(tmp_path / "c.yaml")]) == 0
    files = (tmp_path / "out" / "results").glob("*.json")
    records = {r["label"]: r for r in map(json.loads, map(Path.read_text, files))}
    every = {key.name for key in Inpaint.keys}
    iterate = {f"inpaint_{kind}_{mask}" for kind in ("mse", "acc") for mask in MASKS}
    means = {key.name for key in InpaintMean.keys}
    expected = {"vae": every | means, "ae": iterate | means, "pca": iterate | means, "pixels": means}
    for label, keys in expected.items():
        values = records[label]["metrics"]
        assert {k for k in values if k.startswith("inpaint")} == keys, label
        for key in keys:
            low, high = next(k.bounds for m in (Inpaint, InpaintMean) for k in m.keys if k.name == key)
            assert low <= values[key] and (high is None or values[key] <= high), (label, key)
    assert all(METRICS.get("inpaint").declares(k) for k in every)
    assert all(records["ae"]["metrics"][k] == records["pixels"]["metrics"][k] for k in means)  # not the model's
    found = load_outputs(tmp_path / "out")
    vae = found.arrays[records["vae"]["run_id"]]
    assert vae["inpaint_samples"].shape == (4, 8, 1, 8, 8) and vae["inpaint_iterate"].dtype == np.uint8
    assert "inpaint_samples" not in found.arrays[records["ae"]["run_id"]]
    originals, masked = vae["inpaint_originals"], vae["inpaint_masked"]
    assert np.array_equal(originals[..., :4, :], masked[..., :4, :]) and (masked[..., 4:, :] == 128).all()
    path = inpainting(FigureData("digits", found.results, found.arrays), tmp_path / "figures")
    assert path is not None and path.stat().st_size > 0
