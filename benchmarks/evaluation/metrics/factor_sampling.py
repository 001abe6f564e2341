"""Factor-labelled codes for the disentanglement metrics: factor classes drawn from the DataModule, then encoded.

A DataModule with generative factors offers ``factor_sizes`` (K of them), ``sample_factors(n, generator)``
(uniform (n, K) long classes) and ``render(classes)`` (images). Each disentanglement metric has a public function
of such a ``datamodule``, a ``represent`` function and a generator, as disentanglement_lib's
``compute_*(ground_truth_data, representation_function, random_state)``: ``represent`` maps factor classes
(..., K) to codes (..., D), for a run :func:`representation`: render, then the model's posterior means (the
representation of the protocol of Locatello et al. 2019). The only randomness is the generator (a metric passes
``inputs.generator(<its name>)``), so a metric's samples do not depend on which others ran, and a test can pass a
constructed code of the classes instead of a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from benchmarks.evaluation.inputs import EvalInputs

#: factor classes (..., K) → codes (..., D) as float64
Representation = Callable[[Tensor], np.ndarray]

RENDER_CHUNK = 8192  # images rendered and encoded at a time: 128 MiB of 64×64 float32 images


def representation(inputs: EvalInputs) -> Representation:
    """The run's latent means of the images of factor classes (..., K), rendered and encoded in chunks."""

    def represent(classes: Tensor) -> np.ndarray:
        flat = classes.reshape(-1, classes.shape[-1])
        codes = [inputs.encode_means(inputs.datamodule.render(part)) for part in flat.split(RENDER_CHUNK)]
        return torch.cat(codes).double().numpy().reshape(*classes.shape[:-1], -1)

    return represent


def num_factors(datamodule: Any) -> int:
    return len(datamodule.factor_sizes)


def seed_from(generator: torch.Generator) -> int:
    """A seed for a scikit-learn estimator (its ``random_state``), drawn from ``generator``."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator))


def sample_codes(
    datamodule: Any, represent: Representation, n: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` independent uniform factor combinations and their codes: codes (n, D) float64, classes (n, K) int64."""
    classes = datamodule.sample_factors(n, generator)
    return represent(classes), classes.numpy().astype(np.int64)


def sample_with_one_factor_fixed(
    datamodule: Any, n: int, batch_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``n`` batches of ``batch_size`` factor combinations, in batch i factor ``k[i]`` held at one value.

    ``k`` (n,) is uniform over the K factors; every other factor is drawn independently and uniformly, and factor
    ``k[i]`` takes the value of the batch's first draw (FactorVAE score, Kim & Mnih 2018). Returns ``k`` and the
    classes (n, batch_size, K).

    Example:
        >>> class Toy:
        ...     factor_sizes = (3, 4)
        ...     def sample_factors(self, n, generator):
        ...         return torch.stack([torch.randint(s, (n,), generator=generator) for s in self.factor_sizes], 1)
        >>> k, classes = sample_with_one_factor_fixed(Toy(), 5, 8, torch.Generator().manual_seed(0))
        >>> classes.shape, all(len(classes[i, :, k[i]].unique()) == 1 for i in range(5))
        (torch.Size([5, 8, 2]), True)
    """
    k = torch.randint(num_factors(datamodule), (n,), generator=generator)
    classes = datamodule.sample_factors(n * batch_size, generator).reshape(n, batch_size, -1)
    rows = torch.arange(n)
    classes[rows, :, k] = classes[rows, :1, k]  # (n, 1) broadcast over the batch
    return k, classes


def sample_pairs_sharing_one_factor(
    datamodule: Any, n: int, batch_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` batches of ``batch_size`` pairs of factor combinations, the pairs of batch i sharing factor ``k[i]``.

    ``k`` (n,) is uniform over the K factors; both members of a pair are drawn independently and uniformly, then
    the second takes the first's value of factor ``k[i]`` (BetaVAE score, Higgins et al. 2017). Each pair shares
    only that value: different pairs of a batch have different ones. Returns ``k`` and the two members' classes,
    (n, batch_size, K) each.
    """
    k = torch.randint(num_factors(datamodule), (n,), generator=generator)
    first = datamodule.sample_factors(n * batch_size, generator).reshape(n, batch_size, -1)
    second = datamodule.sample_factors(n * batch_size, generator).reshape(n, batch_size, -1)
    rows = torch.arange(n)
    second[rows, :, k] = first[rows, :, k]
    return k, first, second
