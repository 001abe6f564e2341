"""Figure data of a run: small arrays saved beside its results file, so the report redraws without models.

``results/<run-id>.npz`` holds (images as uint8 in [0, 255], (N, C, H, W)), for a model that can decode:

- ``originals``, ``reconstructions``: the first ``N_SHOWN`` test images and the model's reconstructions
  (the same images for every model of a dataset, because the test split is fixed by ``split_seed``);
- ``samples_<sampler>``: ``N_SAMPLES`` decoded samples per latent sampler (``prior``, ``gauss``, ``gmm``);
- ``interpolations``: (pairs, steps, C, H, W), decoded linear paths between test codes;
- ``traversals``: (dims, values, C, H, W), one latent dim swept at a time from test code 0;
  ``traversal_dims`` gives the dims in order of decreasing KL (decreasing code variance without a KL),
  ``traversal_values`` the sweep in prior units (without a KL: units of each code dim's training std), and
  ``traversal_unit`` which of the two;
- ``latent_means``: (N_test, D) test latent means (the report maps them to 2-D); ``labels``: their first label
  column, named ``label_name`` (dSprites: ``shape``);
- whatever arrays the metrics left in ``EvalInputs.figure_arrays``: on factor data, ``dci_importance`` (D, K), the
  DCI importance matrix, and ``factor_names`` (K,), which label the traversal rows by factor; for a model that
  decodes, ``memorisation_sample_distances`` and ``memorisation_test_distances``, the nearest-training-image
  distances of the prior samples and of the test images (``metrics/memorisation.py``); ``inpaint_originals``,
  ``inpaint_masked``, ``inpaint_iterate`` and ``inpaint_samples`` (images, chains, C, H, W), a few test images
  with their bottom half missing and their completions (``metrics/inpaint.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmarks.evaluation.inputs import EvalInputs

N_SHOWN = 8
N_SAMPLES = 16
FIGURE_PAIRS, FIGURE_STEPS = 4, 8  # the interpolation figure's rows and columns
TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 7)


def to_uint8(images: Tensor) -> np.ndarray:
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def interpolation_codes(start: Tensor, end: Tensor, steps: int) -> Tensor:
    """(P, D) endpoints → (P, steps, D) codes on the straight lines between them, endpoints included."""
    t = torch.linspace(0, 1, steps, device=start.device).view(1, steps, 1)
    return start[:, None] * (1 - t) + end[:, None] * t


def traversal_codes(code: Tensor, dims: Tensor, scale: Tensor) -> Tensor:
    """(D,) code → (len(dims), V, D): dim ``dims[i]`` set to ``TRAVERSAL_VALUES * scale[dims[i]]``."""
    values = torch.as_tensor(TRAVERSAL_VALUES, dtype=code.dtype, device=code.device)
    out = code.expand(len(dims), len(values), -1).clone()
    for i, d in enumerate(dims.tolist()):
        out[i, :, d] = values * scale[d]
    return out


def figure_data(inputs: EvalInputs, metrics: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of the module docstring for one run; empty for a model that cannot decode (``pixels``)."""
    if "decoder" not in inputs.capabilities:
        return {}
    codes, train_codes = inputs.posterior("test").mean, inputs.posterior("train").mean
    if "kl_per_dim" in metrics:
        order, scale = torch.tensor(metrics["kl_per_dim"]).argsort(descending=True), torch.ones(codes.shape[1])
        unit = "prior σ"
    else:  # no KL: order by code variance and sweep in units of each dim's training std
        scale = train_codes.std(0)
        order = scale.argsort(descending=True)
        unit = "code dim's training std"
    pairs = torch.arange(2 * FIGURE_PAIRS).view(-1, 2)
    interp = interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], FIGURE_STEPS)
    samples = {name: inputs.samples(name)[:N_SAMPLES] for name in inputs.config.samplers}
    return {
        "originals": to_uint8(inputs.images("test")[:N_SHOWN]),
        "reconstructions": to_uint8(inputs.reconstructions[:N_SHOWN]),
        **{f"samples_{name}": to_uint8(s) for name, s in samples.items()},
        "interpolations": to_uint8(inputs.decode(interp)),
        "traversals": to_uint8(inputs.decode(traversal_codes(codes[0], order, scale))),
        "traversal_dims": order.numpy(),
        "traversal_values": TRAVERSAL_VALUES,
        "traversal_unit": np.array(unit),
        "latent_means": codes.numpy(),
        "labels": inputs.datamodule.test.labels.reshape(len(codes), -1)[:, 0].numpy(),
        "label_name": np.array(inputs.datamodule.label_names[0]),
        **inputs.figure_arrays,
    }
