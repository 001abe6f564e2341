"""``inpaint_*``: completion (inpainting) of test images with missing pixels, the benchmark's completion task;
``inpaint_mean_mse_*``: what filling them with the training-mean image scores.

Masks (:data:`MASKS`, whole pixels: every channel of a missing pixel is missing): ``bottom``, the bottom half of
the rows (⌊H/2⌋ rows); ``random50``, exactly half of the pixels of each image at random, drawn from the
generator ``inpaint/random50`` of the run's seed (the same masks for every model of a seed). Every method
starts from the test image with its missing pixels at the training-mean image and forms each new completion
with :func:`restore` (observed pixels from the test image, the method's values at the missing ones), so
no method can change an observed pixel; no method reads the test image's missing values either.

Methods:

- **iterate**, every model that decodes (AE, VAE, the PCA baseline, …): :data:`ITERATIONS` times
  x ← restore(decode(encode(x).mean)), on every test image. On a linear-Gaussian model (probabilistic PCA with
  its exact posterior) the fixed point is the exact conditional mean E[x_m | x_o] (the Schur complement
  C_mo C_oo⁻¹ (x_o − μ_o) + μ_m); for non-linear models it is a heuristic.
- **pseudo-Gibbs** (Rezende et al. 2014), models with a Gaussian posterior, a likelihood and a prior density:
  :data:`STEPS` times z ~ q(z | x), x ← restore(E[x | z]). The missing pixels take the *mean* image of p(x | z),
  not a sample: a sample of a Bernoulli likelihood on grey digits is salt-and-pepper noise, which the encoder
  never saw. The chain is not exact (q is not the model's posterior, and the step ignores the observed pixels'
  likelihood), which is what Metropolis-within-Gibbs corrects.
- **Metropolis-within-Gibbs** (Mattei & Frellsen 2018), the same models: a Metropolis–Hastings chain on z whose
  target is the model's exact posterior of the observed pixels, p(z | x_o) ∝ p(x_o | z) p(z), with
  ``log_likelihood_pixels`` summed over the observed pixels only (the models' per-pixel terms of
  ``log_likelihood``; a model without them gets the iterate method only). The current completion is
  x(z) = restore(E[x | z]); the proposal is the paper's, z' ~ q(z | x(z)), and because it depends on the state
  the acceptance ratio is p(x_o | z') p(z') q(z | x(z')) / (p(x_o | z) p(z) q(z' | x(z))), the reverse
  proposal read from the posterior of the proposed completion. This chain leaves p(z | x_o) exactly invariant.
  It deviates from the paper's Algorithm 1, which keeps a *sampled* x_m in the state and scores the whole
  completed image: ours needs no sampling from p(x | z) (see pseudo-Gibbs) and reports E[x_m | z], so the
  mean over chains estimates E[x_m | x_o] with less variance (the tower rule). The ratio with q(· | x) at one
  and the same current completion in numerator and denominator is *not* valid with this state-dependent
  proposal: on the probabilistic PCA of the tests its chains keep the right mean but only 55–80% of the exact
  conditional variance per pixel, where this chain's match it (``tests/test_inpaint.py``).

Scores, on the missing pixels only (per pixel value, against the clean test image):

- ``inpaint_mse_<mask>``: MSE of the iterate completion; ``inpaint_mse_<mask>_pgibbs`` / ``_mwg``: MSE of the
  mean of the :data:`CHAINS` chains' final completions (the MSE-optimal estimate from the samples);
- ``inpaint_acc_<mask>`` (``_pgibbs``, ``_mwg``): accuracy of the FID feature classifier
  (``fid_backend: domain``) on the completed images against the test labels as it learned them, the mean over
  label columns; for the samplers the mean over the individual completions (each chain's is a completion in its
  own right; their mean image is blurred). Only on labelled data with ``fid_backend: domain``.
- ``inpaint_diversity_<mask>``: per missing pixel value, the standard deviation (S − 1 in the denominator) across
  the :data:`CHAINS` Metropolis-within-Gibbs completions of one image; its mean over pixels and images. 0 when the
  chains agree (or never move), larger for a model that proposes several plausible completions.

Cost: the samplers run on the first :data:`SAMPLED_IMAGES` test images only (all of them for iterate and the
baseline), each of the :data:`CHAINS` × images chains in one batch. Measured CPU time of one run on one thread:
0.1 s for a digits VAE (8×8, MLP), 4–5 s for an mnist5k conv VAE (28×28, 1,000 test images; 1.6 s of it iterate).

For the report's figure the metric leaves, for :data:`FIGURE_MASK` (``bottom``) and the first
:data:`FIGURE_IMAGES` test images (uint8), ``inpaint_originals``, ``inpaint_masked`` (missing pixels shown
mid-grey), ``inpaint_iterate`` and, with the samplers, ``inpaint_samples`` (images, chains, C, H, W): the
Metropolis-within-Gibbs completions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from benchmarks.evaluation.figure_data import to_uint8
from benchmarks.evaluation.finite import check_finite
from benchmarks.evaluation.metrics.base import POSITIVE, UNIT, Key, Metric
from lightning_modules import LatentModel, Posterior

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

# Measured on briefly trained VAEs (digits, mnist5k): iterate's missing-pixel MSE on random50 settles by T = 5; on
# the bottom half it is lowest at T = 1-3 and grows slowly after (digits: 0.062 at T = 3, 0.066 at 5, 0.070 at 20),
# the iteration drifting. Metropolis-within-Gibbs' MSE stops falling after about 10 steps (20 on the probabilistic
# PCA of the tests, whose proposals are narrower). A step of both samplers together costs two encoder and three
# decoder passes, ~0.35 ms per image and chain with the 28×28 conv nets on one CPU thread: hence 50 images.
ITERATIONS = 5  # T of the iterate method
SAMPLED_IMAGES = 50  # test images the samplers complete (the first ones)
CHAINS = 8  # S independent chains per image, for the samplers' mean, accuracy and diversity
STEPS = 10  # pseudo-Gibbs and Metropolis-within-Gibbs steps per chain
FIGURE_IMAGES = 4  # test images in the figure data
#: what the samplers need of the run, besides ``log_likelihood_pixels``
SAMPLER_CAPABILITIES = frozenset({"gaussian_posterior", "likelihood", "prior_density"})

MaskFn = Callable[[int, int, int, torch.Generator], Tensor]


def _bottom_half(n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
    rows = torch.arange(height) >= height - height // 2
    return rows[:, None].expand(height, width).expand(n, 1, height, width)


def _random_half(n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
    rank = torch.rand(n, height * width, generator=generator).argsort(1).argsort(1)  # a random permutation per image
    return (rank < height * width // 2).view(n, 1, height, width)


#: mask name → (missing pixels (N, 1, H, W) of N images, given a generator; its meaning)
MASKS: dict[str, tuple[MaskFn, str]] = {
    "bottom": (_bottom_half, "the bottom half of the rows missing"),
    "random50": (_random_half, "a random 50% of the pixels missing"),
}
FIGURE_MASK = "bottom"  # the mask of the figure data


def missing_pixels(inputs: EvalInputs, mask: str) -> Tensor:
    """The missing pixels (N, 1, H, W), True where missing, of the run's test images under ``mask`` (:data:`MASKS`)."""
    images = inputs.images("test")
    return MASKS[mask][0](len(images), *images.shape[-2:], inputs.generator(f"inpaint/{mask}"))


def restore(images: Tensor, missing: Tensor, fill: Tensor) -> Tensor:
    """``images`` at the observed pixels, ``fill`` (broadcast) at the missing ones: every completion is made here."""
    return torch.where(missing, fill, images)


def _missing_mean(values: Tensor, missing: Tensor) -> float:
    """The mean of per-value ``values`` (N, C, H, W) over the values of the missing pixels, in float64."""
    return float((values.double() * missing).sum() / (missing.sum() * values.shape[1]))


def missing_mse(completed: Tensor, clean: Tensor, missing: Tensor) -> float:
    """Mean of (completed − clean)² over the values of the missing pixels, in float64."""
    return _missing_mean((completed.double() - clean.double()).pow(2), missing)


@torch.no_grad()
def iterate_completion(model: LatentModel, images: Tensor, missing: Tensor, start: Tensor, iterations: int) -> Tensor:
    """``iterations`` times x ← restore(decode(encode(x).mean)) from the completion at ``start`` (N, C, H, W)."""
    x = restore(images, missing, start)
    for _ in range(iterations):
        x = restore(images, missing, model.decode(model.encode(x).mean))
    return x


def _chains(images: Tensor, missing: Tensor, chains: int) -> tuple[Tensor, Tensor]:
    """The images and masks repeated for ``chains`` chains each: (chains · N, ...), chain-major."""
    return images.repeat(chains, 1, 1, 1), missing.repeat(chains, 1, 1, 1)


@torch.no_grad()
def pseudo_gibbs(
    model: LatentModel, images: Tensor, missing: Tensor, start: Tensor, *,
    chains: int, steps: int, generator: torch.Generator,
) -> Tensor:  # fmt: skip
    """``chains`` pseudo-Gibbs completions (chains, N, C, H, W) after ``steps`` of z ~ q(z|x), x ← restore(E[x|z])."""
    x_o, miss = _chains(images, missing, chains)
    x = restore(x_o, miss, start)
    for _ in range(steps):
        x = restore(x_o, miss, model.decode(model.encode(x).rsample(generator=generator)))
    return x.view(chains, *images.shape)


@torch.no_grad()
def metropolis_within_gibbs(
    model: LatentModel, images: Tensor, missing: Tensor, start: Tensor, *,
    chains: int, steps: int, generator: torch.Generator,
) -> Tensor:  # fmt: skip
    """``chains`` completions x(z) (chains, N, C, H, W) of a Metropolis–Hastings chain on p(z | x_o) after ``steps``
    (the proposal and ratio of the module docstring), started from z ~ q(z | the completion at ``start``)."""
    x_o, miss = _chains(images, missing, chains)
    observed = ~miss

    def state(z: Tensor) -> tuple[Tensor, Posterior, Tensor]:
        """The completion x(z), its posterior q(· | x(z)), and log p(x_o | z) + log p(z)."""
        x = restore(x_o, miss, model.decode(z))
        per_pixel = model.log_likelihood_pixels(x, z)  # type: ignore[attr-defined]
        log_px = torch.where(observed, per_pixel, 0.0).flatten(1).sum(1)
        return x, model.encode(x), log_px + model.prior.log_prob(z)  # type: ignore[union-attr]

    z = model.encode(restore(x_o, miss, start)).rsample(generator=generator)
    x, q, log_target = state(z)
    for _ in range(steps):
        z_new = q.rsample(generator=generator)
        x_new, q_new, log_target_new = state(z_new)
        log_ratio = log_target_new - log_target + q_new.log_prob(z) - q.log_prob(z_new)
        u = torch.rand(len(z), generator=generator, dtype=torch.float64).to(log_ratio.device)
        accept = u.log() < log_ratio
        row, image = accept[:, None], accept[:, None, None, None]
        z, x = torch.where(row, z_new, z), torch.where(image, x_new, x)
        log_target = torch.where(accept, log_target_new, log_target)
        logvar = torch.where(row, q_new.logvar, q.logvar)  # type: ignore[arg-type]
        q = Posterior(torch.where(row, q_new.mean, q.mean), logvar)
    return x.view(chains, *images.shape)


#: key suffix → (sampler, its name, its reference)
SAMPLERS = {
    "pgibbs": (pseudo_gibbs, "pseudo-Gibbs", "Rezende et al. 2014"),
    "mwg": (metropolis_within_gibbs, "Metropolis-within-Gibbs", "Mattei & Frellsen 2018"),
}


def _scores(
    inputs: EvalInputs, suffix: str, completions: Tensor, clean: Tensor, missing: Tensor, targets: Tensor | None
) -> dict[str, float]:
    """``inpaint_mse_<suffix>`` of the mean of ``completions`` (S, n, C, H, W) of the first n test images, and with
    ``targets`` (N, F) ``inpaint_acc_<suffix>``: the classifier's accuracy over the S · n completions, the mean
    over label columns."""
    n = completions.shape[1]
    out = {f"inpaint_mse_{suffix}": missing_mse(completions.mean(0), clean[:n], missing[:n])}
    if targets is not None:
        probabilities = inputs.class_probabilities(completions.flatten(0, 1))
        y = targets[:n].repeat(len(completions), 1)
        hits = [(p.argmax(1) == y[:, j]).double().mean() for j, p in enumerate(probabilities)]
        out[f"inpaint_acc_{suffix}"] = float(torch.stack(hits).mean())
    return out


def _keys() -> tuple[Key, ...]:
    keys = []
    for mask, (_, meaning) in MASKS.items():
        keys += [
            Key(f"inpaint_mse_{mask}", False, f"per-pixel MSE on the missing pixels (test images, {meaning}) of the completion by {ITERATIONS} iterations of x ← decode(encode(x).mean) with the observed pixels restored, from the training-mean image", "this suite", bounds=POSITIVE),
            Key(f"inpaint_acc_{mask}", True, f"accuracy of the FID feature classifier on those completions ({meaning}) against the test labels, mean over label columns (fid_backend domain)", "this suite", bounds=UNIT),
        ]
        for method, (_, name, reference) in SAMPLERS.items():
            keys += [
                Key(f"inpaint_mse_{mask}_{method}", False, f"per-pixel MSE on the missing pixels ({meaning}) of the mean of {CHAINS} {name} completions of the first {SAMPLED_IMAGES} test images", reference, bounds=POSITIVE),
                Key(f"inpaint_acc_{mask}_{method}", True, f"the classifier's accuracy on the individual {name} completions ({meaning})", reference, bounds=UNIT),
            ]
        keys.append(Key(f"inpaint_diversity_{mask}", None, f"std across {CHAINS} Metropolis-within-Gibbs completions of one image ({meaning}) per missing pixel value, mean over pixels and images: 0 when the chains agree", "Mattei & Frellsen 2018", bounds=POSITIVE))
    return tuple(keys)


class Inpaint(Metric):
    """The completion task: iterate for every model that decodes; the samplers where the model has a posterior,
    a prior density and per-pixel likelihoods; accuracies where the FID feature classifier knows the labels."""

    name = "inpaint"
    group = "applications: completion"
    keys = _keys()
    requires = frozenset({"decoder"})
    settings = ("fid_backend",)  # which classifier, if any, scores the completions

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        clean, start = inputs.images("test"), inputs.images("train").mean(0)
        model, device, n, batch = inputs.model, inputs.device, min(SAMPLED_IMAGES, len(clean)), inputs.config.batch_size
        pixels = callable(getattr(model, "log_likelihood_pixels", None))
        sampled = SAMPLER_CAPABILITIES <= inputs.capabilities and pixels
        scored = "labels" in inputs.capabilities and inputs.config.fid_backend == "domain"
        targets = inputs.classifier_targets("test") if scored else None
        out: dict[str, Any] = {}
        for mask in MASKS:
            missing = missing_pixels(inputs, mask)
            completed = torch.cat([
                iterate_completion(model, x.to(device), m.to(device), start.to(device), ITERATIONS).cpu()
                for x, m in zip(clean.split(batch), missing.split(batch))
            ])  # fmt: skip
            check_finite(completed, f"inpainted images ({mask})")
            out.update(_scores(inputs, mask, completed[None], clean, missing, targets))
            samples: dict[str, Tensor] = {}
            for method, (sampler, _, _) in SAMPLERS.items() if sampled else ():
                draws = sampler(
                    model, clean[:n].to(device), missing[:n].to(device), start.to(device),
                    chains=CHAINS, steps=STEPS, generator=inputs.generator(f"inpaint/{method}/{mask}"),
                ).cpu()  # fmt: skip
                samples[method] = check_finite(draws, f"{method} inpainted images ({mask})")
                out.update(_scores(inputs, f"{mask}_{method}", samples[method], clean, missing, targets))
            if sampled:
                out[f"inpaint_diversity_{mask}"] = _missing_mean(samples["mwg"].double().std(0), missing[:n])
            if mask == FIGURE_MASK:
                self._leave_figure(inputs, clean, missing, completed, samples.get("mwg"))
        return out

    @staticmethod
    def _leave_figure(
        inputs: EvalInputs, clean: Tensor, missing: Tensor, completed: Tensor, mwg: Tensor | None
    ) -> None:
        """The figure arrays of the module docstring, for the first :data:`FIGURE_IMAGES` test images."""
        k = FIGURE_IMAGES
        arrays = {
            "inpaint_originals": to_uint8(clean[:k]),
            "inpaint_masked": to_uint8(restore(clean[:k], missing[:k], torch.tensor(0.5))),
            "inpaint_iterate": to_uint8(completed[:k]),
        }
        if mwg is not None:
            arrays["inpaint_samples"] = to_uint8(mwg[:, :k].transpose(0, 1))
        inputs.figure_arrays.update(arrays)


class InpaintMean(Metric):
    """The training-mean fill's ``inpaint_mse``: the model does not change it (``per_model=False``), so it applies
    to every run, the ``pixels`` baseline's included."""

    name = "inpaint_mean"
    group = "applications: completion"
    keys = tuple(
        Key(f"inpaint_mean_mse_{mask}", None, f"per-pixel MSE on the missing pixels ({meaning}) of filling them with the training-mean image: what a completion that ignores the observed pixels scores", bounds=POSITIVE, per_model=False)
        for mask, (_, meaning) in MASKS.items()
    )

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        clean, start = inputs.images("test"), inputs.images("train").mean(0)
        out = {}
        for mask in MASKS:
            missing = missing_pixels(inputs, mask)
            out[f"inpaint_mean_mse_{mask}"] = missing_mse(restore(clean, missing, start), clean, missing)
        return out
