"""``fid_interp``: FID of the decoded midpoints between random pairs of test codes vs the test split.

A test of the claim that a VAE's latent space is "continuous and complete": if the space between the codes of
real images decodes to real-looking images, the midpoints score a FID near the model's ``fid_recon``; where the
codes of different images are separated by regions the decoder never learned (the AE), the midpoints decode to
blends or to garbage and the FID rises. Read it against ``fid_data`` (the floor at the same N) and ``fid_prior``.

Protocol: ``n_fid`` pairs (the sample size of every FID, so the values compare), each of two distinct test images
drawn uniformly with the run's generator of purpose :data:`MIDPOINTS`; their posterior means; the decoded point
t = 0.5 of the straight line between them (:func:`interpolation_codes`). ``interp_confidence`` reads the same images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from benchmarks.evaluation.figure_data import interpolation_codes
from benchmarks.evaluation.metrics.base import POSITIVE, Key, Metric

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

MIDPOINTS = "interp_midpoints"  # the purpose of the pairs' generator, and the name of the midpoints' FID features


def random_pairs(n_items: int, n_pairs: int, generator: torch.Generator) -> Tensor:
    """(n_pairs, 2) indices of two distinct items out of ``n_items``, uniform over the ordered pairs.

    Example:
        >>> pairs = random_pairs(3, 1000, torch.Generator().manual_seed(0))
        >>> bool((pairs[:, 0] != pairs[:, 1]).all()), pairs.min().item(), pairs.max().item()
        (True, 0, 2)
    """
    first = torch.randint(n_items, (n_pairs,), generator=generator)
    offset = torch.randint(1, n_items, (n_pairs,), generator=generator)  # never 0: the second is another item
    return torch.stack([first, (first + offset) % n_items], 1)


def decoded_midpoints(inputs: EvalInputs) -> Tensor:
    """The decoded midpoints (``n_fid``, C, H, W) of the module docstring's random pairs of test codes, decoded once
    per run (``interp_confidence`` reads them too)."""

    def decode() -> Tensor:
        codes = inputs.posterior("test").mean
        pairs = random_pairs(len(codes), inputs.context.n_fid, inputs.generator(MIDPOINTS))
        return inputs.decode(interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], 3)[:, 1])  # t = 0, 0.5, 1

    return inputs.shared(MIDPOINTS, decode)


class FIDInterp(Metric):
    name = "fid_interp"
    group = "latent space"
    keys = (
        Key("fid_interp", False, "FID vs the test split of the decoded midpoints (t = 0.5) of straight latent lines between as many random pairs of test posterior means as the other FIDs use: whether the space between real images' codes decodes to real-looking images", "this suite", bounds=POSITIVE),
    )  # fmt: skip
    requires = frozenset({"decoder"})
    settings = ("fid_backend", "fid_samples")

    def compute(self, inputs: EvalInputs) -> dict[str, Any]:
        features = inputs.fid_features(MIDPOINTS, decoded_midpoints(inputs))
        return {"fid_interp": inputs.context.scorer.fid_of_features(features)}
