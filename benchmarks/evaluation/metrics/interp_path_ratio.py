"""``interp_path_ratio``: how evenly decoded images change along straight lines between test codes (this suite).

For random pairs of test codes: the pixel path length along the decoded line ÷ the distance of its endpoints.
1 when the images change at an even pace, larger when the path makes detours or jumps (regions of latent space
that decode to something unlike either endpoint). A linear decoder scores exactly 1, and so does a collapsed
model whose decoder barely changes: read it beside ``kl_total``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks.evaluation.figure_data import interpolation_codes
from benchmarks.evaluation.inputs import EvalInputs
from benchmarks.evaluation.metrics.base import Key, Metric

PAIRS, STEPS = 64, 16  # random test pairs, and points per decoded line (endpoints included)


def path_ratio(images: Tensor) -> float:
    """Mean over paths of (length along the path) / (endpoint distance) for decoded paths (P, T, ...).

    Paths whose endpoints decode to the same image (distance ≤ 1e-6) have no ratio and are left out.

    Example:
        >>> line = torch.linspace(0, 1, 5).view(1, 5, 1) * torch.ones(1, 1, 3)
        >>> path_ratio(line)
        1.0
    """
    flat = images.flatten(2)
    length = (flat[:, 1:] - flat[:, :-1]).norm(dim=-1).sum(1)
    chord = (flat[:, -1] - flat[:, 0]).norm(dim=-1)
    keep = chord > 1e-6
    return float((length[keep] / chord[keep]).mean())


class InterpPathRatio(Metric):
    name = "interp_path_ratio"
    group = "latent space"
    keys = (
        Key("interp_path_ratio", False, "pixel path length of decoded straight latent interpolations between 64 random test pairs ÷ the endpoints' distance: 1 when images change evenly along the line, larger for detours and jumps", "this suite", bounds=(1.0, None)),
    )
    requires = frozenset({"decoder"})

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        codes = inputs.posterior("test").mean
        pairs = torch.randint(len(codes), (PAIRS, 2), generator=inputs.generator(self.name))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        path = interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], STEPS)
        return {"interp_path_ratio": path_ratio(inputs.decode(path))}
