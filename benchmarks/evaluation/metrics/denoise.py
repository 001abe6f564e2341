"""``denoise_mse_<corruption>``: how well a model cleans corrupted test images it was not trained to clean;
``denoise_input_mse_<corruption>``: the corrupted images themselves, what no denoising scores.

Protocol: the test images are corrupted (:mod:`lightning_modules.corruption`, a generator seeded by the run's
seed and the corruption, so every model of a seed sees the same corrupted images), encoded to posterior means
and decoded; the score is the per-pixel MSE against the *clean* test images. The corruptions of :data:`CORRUPTIONS`:
Gaussian noise σ ∈ {0.1, 0.3, 0.5} clipped to [0, 1], salt-and-pepper on 10% of the values, dropout (set to 0)
of 25%. PCA's row is the linear projection's denoising; the ``pixels`` baseline has no decoder, and its row is
read in ``denoise_input_mse_*`` (the identity), shown in every row like ``fid_data``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric
from lightning_modules.corruption import Corruption, corrupt

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

#: the key suffix of each corruption → (kind, level)
CORRUPTIONS: dict[str, tuple[Corruption, float]] = {
    "gauss0.1": ("gauss", 0.1),
    "gauss0.3": ("gauss", 0.3),
    "gauss0.5": ("gauss", 0.5),
    "saltpepper": ("saltpepper", 0.1),
    "dropout": ("dropout", 0.25),
}
_DESCRIPTION = {  # what each kind of corruption does at ``level``, for the keys' meaning
    "gauss": "Gaussian noise σ = {level:g}, clipped to [0, 1]",
    "saltpepper": "salt-and-pepper noise ({level:.0%} of the pixel values set to 0 or 1)",
    "dropout": "pixel dropout ({level:.0%} of the pixel values set to 0)",
}
_MEANING = {name: _DESCRIPTION[kind].format(level=level) for name, (kind, level) in CORRUPTIONS.items()}


def corrupted_test_images(inputs: EvalInputs, name: str) -> Tensor:
    """The run's test images under corruption ``name`` of :data:`CORRUPTIONS`, the same for every model of a seed."""
    kind, level = CORRUPTIONS[name]
    return corrupt(inputs.images("test"), kind, level, inputs.generator(f"denoise/{name}"))


def per_pixel_mse(images: Tensor, clean: Tensor) -> float:
    """Mean over every pixel value of (images − clean)², in float64."""
    return float((images.double() - clean.double()).pow(2).mean())


class Denoise(Metric):
    name = "denoise"
    group = "applications: denoising"
    keys = tuple(
        Key(f"denoise_mse_{name}", False, f"per-pixel MSE against the clean test images of the decoded posterior means of test images under {meaning}", "Vincent et al. 2008", bounds=POSITIVE)
        for name, meaning in _MEANING.items()
    )
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        clean = inputs.images("test")
        return {
            f"denoise_mse_{name}": per_pixel_mse(inputs.decode(inputs.encode_means(corrupted_test_images(inputs, name))), clean)
            for name in CORRUPTIONS
        }


class DenoiseInput(Metric):
    """The identity's ``denoise_mse``: the model does not change it (``per_model=False``), so it applies to every run."""

    name = "denoise_input"
    group = "applications: denoising"
    keys = tuple(
        Key(f"denoise_input_mse_{name}", None, f"per-pixel MSE of the test images under {meaning} against the clean ones: what no denoising scores", bounds=POSITIVE, per_model=False)
        for name, meaning in _MEANING.items()
    )

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        clean = inputs.images("test")
        return {f"denoise_input_mse_{name}": per_pixel_mse(corrupted_test_images(inputs, name), clean) for name in CORRUPTIONS}
