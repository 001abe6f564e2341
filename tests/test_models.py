"""Every registered model: the interface, gradients, a falling loss, the KL and the β-VAE special cases."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytorch_lightning as pl
import pytest
import torch

from datamodules import DATAMODULES
from lightning_modules import MODELS, Posterior, missing_interface
from lightning_modules.posterior import standard_normal_log_prob

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)]
# model-specific options for the short training of test_loss_drops_when_training; other models use their defaults
TRAINING_OPTIONS = {"beta_vae": {"beta": 1.0}}


@pytest.fixture(scope="module")
def digits():
    dm = DATAMODULES.get("digits")()
    dm.setup()
    return dm


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("shape", SHAPES)
def test_interface_shapes_and_gradients(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(shape, latent_dim=3)
    x = torch.rand(4, *shape)
    assert missing_interface(type(model)) == []
    q = model.encode(x)
    assert q.mean.shape == (4, 3)
    # a Gaussian q(z|x) comes with a prior (its KL needs one); a prior with deterministic codes is fine (the WAE)
    assert model.prior is not None or not q.is_stochastic
    assert q.is_stochastic == getattr(model, "variational", q.is_stochastic)
    recon = model.decode(q.mean)
    assert recon.shape == (4, *shape) and 0 <= recon.min() and recon.max() <= 1  # Bernoulli means
    assert model.log_likelihood(x, q.mean).shape == (4,)
    if model.prior is not None:
        z = model.prior.sample(5, torch.Generator().manual_seed(0))
        assert model.decode(z).shape == (5, *shape) and model.prior.log_prob(z).shape == (5,)
    terms = model.loss_terms(x)
    terms["loss"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    # frozen parameters are trained in a stage of their own, not by this loss (the VQ-VAE's prior, fitted after training)
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trained if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_loss_drops_when_training(name: str, likelihood: str, digits) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(digits.image_shape, latent_dim=4, likelihood=likelihood, **TRAINING_OPTIONS.get(name, {}))
    opt = model.configure_optimizers()
    x = digits.train.images[:256]
    with torch.no_grad():
        before = model.loss_terms(x)["loss"].item()
    for _ in range(60):
        opt.zero_grad()
        model.loss_terms(x)["loss"].backward()
        opt.step()
    with torch.no_grad():
        after = model.loss_terms(x)["loss"].item()
    assert after < before - 0.1 * abs(before), (before, after)


def test_analytic_kl_matches_monte_carlo() -> None:
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, generator=gen), torch.randn(3, 4, generator=gen) * 0.5
    q = Posterior(mean, logvar)
    z = q.rsample(200_000, generator=gen)
    mc = (q.log_prob(z) - standard_normal_log_prob(z)).mean(0)
    analytic = q.kl_per_dim().sum(1)
    torch.testing.assert_close(mc, analytic, rtol=0.02, atol=0.01)
    # and against torch.distributions, a second implementation
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    )
    torch.testing.assert_close(q.kl_per_dim(), ref)


def test_beta_one_equals_vae_and_beta_scales_kl(digits) -> None:
    torch.manual_seed(0)
    vae = MODELS.get("vae")(digits.image_shape, latent_dim=4)
    beta1 = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, beta=1.0)
    beta5 = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, beta=5.0)
    beta1.load_state_dict(vae.state_dict())
    beta5.load_state_dict(vae.state_dict())
    x = digits.train.images[:64]
    terms = {}
    for key, model in (("vae", vae), ("b1", beta1), ("b5", beta5)):
        torch.manual_seed(1)
        terms[key] = model.loss_terms(x)
    torch.testing.assert_close(terms["vae"]["loss"], terms["b1"]["loss"])
    t5 = terms["b5"]
    torch.testing.assert_close(t5["loss"], t5["recon"] + 5.0 * t5["kl"])


def test_capacity_variant_follows_burgess_formula(digits) -> None:
    model = MODELS.get("beta_vae")(digits.image_shape, latent_dim=4, capacity_max=10.0, capacity_gamma=100.0, capacity_steps=100)
    assert model.capacity() == 0.0
    kl = torch.tensor(3.0)
    torch.testing.assert_close(model.kl_weighted(kl), torch.tensor(300.0))  # γ·|KL − 0|


def test_ae_has_no_posterior_distribution_and_no_prior() -> None:
    model = MODELS.get("ae")((1, 8, 8), latent_dim=2)
    q = model.encode(torch.rand(2, 1, 8, 8))
    assert not q.is_stochastic and model.prior is None
    with pytest.raises(ValueError, match="no posterior"):
        q.kl_per_dim()


def test_the_interface_check_names_what_a_class_lacks() -> None:
    class Half(torch.nn.Module):
        def encode(self, x): ...

    assert missing_interface(Half) == ["decode", "log_likelihood", "prior"]


def _defined_classes(package: str, base: type) -> list[type]:
    """Concrete subclasses of ``base`` defined in the modules of ``package`` (abstract bases left out)."""
    found = []
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
        module = importlib.import_module(info.name)
        found += [
            obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if obj.__module__ == module.__name__ and issubclass(obj, base) and not inspect.isabstract(obj)
        ]  # fmt: skip
    return found


@pytest.mark.parametrize(
    ("package", "base", "registry"),
    [("lightning_modules", pl.LightningModule, MODELS), ("datamodules", pl.LightningDataModule, DATAMODULES)],
)
def test_every_model_and_dataset_class_is_registered(package: str, base: type, registry) -> None:
    classes = _defined_classes(package, base)
    assert classes, f"no {base.__name__} found under {package}/"
    unregistered = [cls.__name__ for cls in classes if cls not in registry.values()]
    assert not unregistered, f"defined under {package}/ but missing from its registry: {unregistered}"


def test_models_and_data_do_not_import_the_harness() -> None:
    root = Path(__file__).resolve().parent.parent
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("datamodules", "lightning_modules")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s*(from|import) benchmarks\b", line)
    ]
    assert not offenders


class _GradNorms(pl.Callback):
    """The total gradient norm at each optimiser step, after any clipping."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


@pytest.mark.parametrize("clip", [None, 0.05])
def test_the_hand_written_step_clips_gradients_as_trainer_gradient_clip_val_says(clip, tmp_path: Path) -> None:
    from benchmarks.config import DatasetConfig, EvaluationConfig, ModelConfig, RunSpec, TrainerConfig
    from benchmarks.execution.train import fit

    norms = _GradNorms()
    trainer = TrainerConfig(max_epochs=-1, max_steps=5, accelerator="cpu", gradient_clip_val=clip)
    run = RunSpec(DatasetConfig("digits", {}), ModelConfig("vae", "vae", {"latent_dim": 4, "hidden": [16]}), 0,
                  trainer, EvaluationConfig())  # fmt: skip
    fitted = fit(run, tmp_path, extra_callbacks=(norms,))
    assert fitted.model.global_step == len(norms.norms) == 5  # one optimiser step a batch
    if clip is None:
        assert min(norms.norms) > 1.0  # an untrained VAE's gradients are large: the clip below is binding
    else:
        assert max(norms.norms) <= clip * (1 + 1e-4)


class _Recorder(pl.Callback):
    """Whether each step took the plain path (``plain_steps``)."""

    def __init__(self) -> None:
        self.plain: list[bool] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        self.plain.append(pl_module.plain_steps)


class _ReadsGradients(_Recorder):
    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A no-op, but overridden: the harness keeps Lightning's own backward and step calls."""


def _automatic(cls: type) -> type:
    """``cls`` under Lightning's automatic optimisation (its closure, zero_grad, clipping), epoch means as ``cls``."""

    class Automatic(cls):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.automatic_optimization = True

        def training_step(self, batch, batch_idx):
            terms = self.loss_terms(batch[0])
            for key, value in terms.items():
                self._sums[key] = self._sums.get(key, 0.0) + value.detach()
            self._count += 1
            return terms["loss"]

    return Automatic


@pytest.mark.parametrize("clip", [None, 0.05])
def test_the_training_step_paths_train_bit_identical_weights(clip, tmp_path: Path, monkeypatch) -> None:
    """The plain step (the harness's default: ``loss.backward()`` and the optimiser's ``step()`` directly), the step
    through Lightning's ``manual_backward``/``LightningOptimizer.step`` and Lightning's automatic optimisation give
    the same weights, bit for bit, the same step count and the same logged epoch means."""
    import benchmarks.execution.train as train
    from benchmarks.config import DatasetConfig, EvaluationConfig, ModelConfig, RunSpec, TrainerConfig

    trainer = TrainerConfig(max_epochs=-1, max_steps=45, accelerator="cpu", gradient_clip_val=clip)  # 2¼ epochs
    run = RunSpec(DatasetConfig("digits", {}), ModelConfig("vae", "vae", {"latent_dim": 4, "hidden": [16]}), 0,
                  trainer, EvaluationConfig())  # fmt: skip
    fitted, recorders = {}, {"plain": _Recorder(), "lightning": _ReadsGradients(), "automatic": _Recorder()}
    build = train.build_model
    for path, recorder in recorders.items():
        if path == "automatic":
            automatic = _automatic(MODELS.get("vae"))
            monkeypatch.setattr(train, "build_model", lambda r, shape: automatic(shape, **r.model.hparams))
        fitted[path] = train.fit(run, tmp_path / path, extra_callbacks=(recorder,))
        monkeypatch.setattr(train, "build_model", build)
    assert recorders["plain"].plain == [True] * 45
    assert recorders["lightning"].plain == recorders["automatic"].plain == [False] * 45
    assert not fitted["plain"].model.plain_steps  # the flag is for one fit only
    weights = {path: f.model.state_dict() for path, f in fitted.items()}
    for path in ("lightning", "automatic"):
        assert fitted[path].model.global_step == fitted["plain"].model.global_step == 45
        assert weights[path].keys() == weights["plain"].keys()
        for key, value in weights["plain"].items():
            assert torch.equal(weights[path][key], value), (path, key)
        assert fitted[path].curves == fitted["plain"].curves
    assert len(fitted["plain"].curves) == 3 and all("train/loss" in row for row in fitted["plain"].curves)
