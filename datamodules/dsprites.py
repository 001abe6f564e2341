"""dSprites (Matthey et al. 2017) rendered in-project: 737,280 binary 64×64 images from five known factors.

No download and no image store: the 720 shape × scale × orientation sprites are rasterised once (24×24 binary
masks, from implicit shape functions on a rotated, scaled grid with 5×5 supersampling) and any factor combination is
an image by pasting its sprite at an integer offset. Rendering is one scatter for a whole batch; measured on 2 CPU
cores, 40k–80k images/s in batches of 5,000–20,000, bound by writing the 16 KiB float32 output of each image.

Factors and their values (:func:`factor_values`), in the original file order (shape slowest, pos_y fastest):

- ``shape``: 0 square, 1 ellipse (wider than tall at orientation 0: semi-axes 1 and 0.6), 2 heart;
- ``scale``: 6 values, linspace(0.5, 1); at scale 1 every sprite fits a circle of radius 11 px;
- ``orientation``: 40 values, linspace(0, 2π, 40, endpoint=False), counter-clockwise as displayed;
- ``pos_x``, ``pos_y``: 32 values each, linspace(0, 1). The sprite centre moves from pixel 12 to 52 of 64 (0.19 to
  0.81 of the frame), so no sprite is ever clipped. ``pos_x`` grows to the right, ``pos_y`` grows *downwards*
  (row index, the image convention).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from datamodules.base import InMemoryDataModule, Split, seeded_permutation

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = math.prod(FACTOR_SIZES)  # 737,280

IMAGE_SIZE = 64
_SPRITE = 24  # side of a sprite's canvas in pixels
_RADIUS = 11.0  # pixels per body unit at scale 1: a 1-px empty margin inside the canvas
_SUPERSAMPLE = 5  # odd: a pixel's coverage is never exactly one half
_STRIDES = tuple(math.prod(FACTOR_SIZES[i + 1 :]) for i in range(len(FACTOR_SIZES)))


def _check_classes(classes: Tensor) -> Tensor:
    """Reject anything but (N, 5) integer classes within the factor sizes: an out-of-range index would misrender."""
    if classes.ndim != 2 or classes.shape[1] != len(FACTOR_SIZES) or classes.is_floating_point():
        raise ValueError(f"classes must be integers of shape (N, 5), got {classes.dtype} {tuple(classes.shape)}")
    if len(classes) and ((classes < 0).any() or (classes >= torch.tensor(FACTOR_SIZES)).any()):
        raise ValueError(f"classes out of range: column j must lie in [0, size j), sizes {FACTOR_SIZES}")
    return classes.long()


def factor_values(classes: Tensor) -> Tensor:
    """(N, 5) factor classes → (N, 5) float values: shape id, scale, orientation (radians), pos_x, pos_y in [0, 1]."""
    classes = _check_classes(classes).double()
    values = torch.stack(
        [
            classes[:, 0],
            0.5 + 0.1 * classes[:, 1],
            2 * math.pi * classes[:, 2] / FACTOR_SIZES[2],
            classes[:, 3] / (FACTOR_SIZES[3] - 1),
            classes[:, 4] / (FACTOR_SIZES[4] - 1),
        ],
        dim=1,
    )
    return values.float()


def index_to_factors(idx: Tensor) -> Tensor:
    """Flat indices in [0, 737280) → (N, 5) factor classes, mixed radix with shape slowest and pos_y fastest."""
    idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
    if len(idx) and ((idx < 0).any() or (idx >= NUM_IMAGES).any()):
        raise ValueError(f"flat indices must lie in [0, {NUM_IMAGES})")
    return torch.stack([(idx // s) % n for s, n in zip(_STRIDES, FACTOR_SIZES)], dim=1)


def factors_to_index(classes: Tensor) -> Tensor:
    """(N, 5) factor classes → flat indices (N,): the inverse of :func:`index_to_factors`."""
    return (_check_classes(classes) * torch.tensor(_STRIDES)).sum(dim=1)


def sample_factors(n: int, generator: torch.Generator) -> Tensor:
    """``n`` factor combinations drawn independently and uniformly, as (n, 5) long classes."""
    return torch.stack([torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES], dim=1)


#: the orientation classes after which each shape repeats itself: a square every 90° (10 of the 40 classes), an
#: ellipse every 180° (20), the heart never (40)
SYMMETRY_PERIOD = (10, 20, 40)


def fold_orientation(classes: Tensor) -> Tensor:
    """(N, 5) factor classes with the orientation class taken modulo its shape's :data:`SYMMETRY_PERIOD`.

    Two orientations a period apart render the same image, so no classifier can separate them.

    Example:
        >>> fold_orientation(torch.tensor([[0, 0, 13, 0, 0], [1, 0, 33, 0, 0], [2, 0, 33, 0, 0]]))[:, 2].tolist()
        [3, 13, 33]
    """
    classes = _check_classes(classes).clone()
    period = torch.tensor(SYMMETRY_PERIOD)[classes[:, 0]]
    classes[:, 2] = classes[:, 2] % period
    return classes


def _inside(shape: int, x: Tensor, y: Tensor) -> Tensor:
    """Implicit shape in body units (y up), each inside the unit circle so any rotation stays on the canvas."""
    if shape == 0:  # square, corners on the unit circle
        return torch.maximum(x.abs(), y.abs()) <= 1 / math.sqrt(2)
    if shape == 1:  # ellipse, wider than tall
        return x**2 + (y / 0.6) ** 2 <= 1
    # heart (x² + y² − 1)³ ≤ x² y³, spanning x ∈ ±1.14, y ∈ [−1, 1.24]: centred on its box, shrunk into the circle
    x, y = 1.34 * x, 1.34 * y + 0.12
    return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0


@functools.lru_cache(maxsize=1)
def _sprites() -> Tensor:
    """All 3·6·40 sprites as (720, 24·24) float masks, in factor order; a pixel is on if more than half its area is."""
    n = _SPRITE * _SUPERSAMPLE
    coords = (torch.arange(n, dtype=torch.float64) + 0.5) / _SUPERSAMPLE - _SPRITE / 2  # pixels from the centre
    row, col = torch.meshgrid(coords, coords, indexing="ij")
    x, y = col / _RADIUS, -row / _RADIUS  # body units, y pointing up
    values = factor_values(index_to_factors(torch.arange(0, NUM_IMAGES, _STRIDES[2]))).double()
    scale, theta = values[:, 1, None, None], values[:, 2, None, None]
    bx = (torch.cos(theta) * x + torch.sin(theta) * y) / scale  # rotate the grid by −θ: the sprite turns by +θ
    by = (-torch.sin(theta) * x + torch.cos(theta) * y) / scale
    bx, by = bx.reshape(FACTOR_SIZES[0], -1, n, n), by.reshape(FACTOR_SIZES[0], -1, n, n)  # grouped by shape
    masks = torch.cat([_inside(s, bx[s], by[s]) for s in range(FACTOR_SIZES[0])])
    coverage = torch.nn.functional.avg_pool2d(masks[:, None].float(), _SUPERSAMPLE)
    return (coverage > 0.5).float().reshape(len(masks), -1)


def render(classes: Tensor) -> Tensor:
    """(N, 5) factor classes → (N, 1, 64, 64) float32 binary images, deterministic, one scatter for the batch."""
    classes = _check_classes(classes)
    sprites = _sprites()[factors_to_index(classes) // _STRIDES[2]]  # sprite id: shape, scale, orientation
    span = IMAGE_SIZE - _SPRITE  # offsets 0..40: integer rounding of pos · span, strictly increasing in the class
    left = (classes[:, 3] * span + (FACTOR_SIZES[3] - 1) // 2) // (FACTOR_SIZES[3] - 1)
    top = (classes[:, 4] * span + (FACTOR_SIZES[4] - 1) // 2) // (FACTOR_SIZES[4] - 1)
    local = (torch.arange(_SPRITE)[:, None] * IMAGE_SIZE + torch.arange(_SPRITE)).reshape(1, -1)
    images = torch.zeros(len(classes), IMAGE_SIZE * IMAGE_SIZE)
    images.scatter_(1, (top * IMAGE_SIZE + left)[:, None] + local, sprites)
    return images.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


class DSpritesDataModule(InMemoryDataModule):
    """Disjoint random subsets of dSprites (drawn without replacement by ``split_seed``); labels are the (N, 5) classes.

    Images are rendered into memory at setup: 16 KiB each, so the default 27,000 take ~440 MB.
    :meth:`render` and :meth:`sample_factors` give disentanglement metrics fresh images for chosen factors.
    """

    label_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    #: how :meth:`classifier_labels` folds the factors, for the report's line on the FID feature classifier
    classifier_labels_note = (
        "its orientation classes are taken modulo each shape's symmetry (square 90°, ellipse 180°, heart 360°: "
        "10, 20 and 40 classes), since orientations a symmetry period apart render the same image"
    )

    def __init__(
        self,
        *,
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 5000,
        held_out_class: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, split_seed=split_seed, seed=seed, held_out_class=held_out_class,
                         train_size=train_size)  # fmt: skip
        for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n_train + n_val + n_test > NUM_IMAGES:
            raise ValueError(f"n_train + n_val + n_test = {n_train + n_val + n_test} exceeds the {NUM_IMAGES} images")
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test

    def load_splits(self) -> tuple[Split, Split, Split]:
        order = seeded_permutation(NUM_IMAGES, self.split_seed)
        parts = order[: self.n_train + self.n_val + self.n_test].split([self.n_train, self.n_val, self.n_test])
        return tuple(Split(render(c), c) for c in map(index_to_factors, parts))  # type: ignore[return-value]

    def classifier_labels(self, labels: Tensor) -> Tensor:
        """Orientation folded by each shape's symmetry (:func:`fold_orientation`): the classes a pixel classifier
        can tell apart."""
        return fold_orientation(labels)

    def render(self, classes: Tensor) -> Tensor:
        """Images (N, 1, 64, 64) for given (N, 5) factor classes; see the module-level :func:`render`."""
        return render(classes)

    def sample_factors(self, n: int, generator: torch.Generator) -> Tensor:
        """Uniform random (n, 5) factor classes; see the module-level :func:`sample_factors`."""
        return sample_factors(n, generator)
