"""Figure data of a run: small arrays saved beside its results file, so the report redraws without models.

``results/<run-id>.npz`` holds (images as uint8 in [0, 255], (N, C, H, W)):

- ``originals``, ``reconstructions``: the first ``N_SHOWN`` test images and the model's reconstructions
  (the same images for every model of a dataset, because the test split is fixed by ``split_seed``);
- ``samples_<sampler>``: ``N_SAMPLES`` decoded samples per latent sampler (``prior``, ``gauss``, ``gmm``);
- ``interpolations``: (pairs, steps, C, H, W), decoded linear paths between test codes;
- ``traversals``: (dims, values, C, H, W), one latent dim swept at a time from test code 0;
  ``traversal_dims`` gives the dims in order of decreasing KL (decreasing code variance for the AE),
  ``traversal_values`` the sweep in prior units (for the AE: units of each code dim's training std);
- ``latent_means``: (N_test, D) test latent means (the report maps them to 2-D); ``labels``: their first label column.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

N_SHOWN = 8
N_SAMPLES = 16
INTERP_PAIRS, INTERP_STEPS = 4, 8
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


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buffer.getvalue())
    os.replace(tmp, path)


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
