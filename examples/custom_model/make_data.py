"""Write scikit-learn's 8×8 digits (bundled, no download) as a tensor file the ``tensor_file`` dataset reads.

    python examples/custom_model/make_data.py                  # examples/custom_model/digits.npz
    python examples/custom_model/make_data.py my_digits.pt     # the same arrays as a dict of tensors

Your own data goes the same way: ``images`` (N, H, W) or (N, C, H, W) as uint8 0..255 or float in [0, 1],
optionally ``labels`` (N,) and ``factors`` (N, F) as non-negative integers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

DEFAULT = Path(__file__).with_name("digits.npz")


def write_digits(path: Path) -> Path:
    """The 1,797 digits as uint8 images (N, 8, 8) in 0..255 and int64 labels, to ``path`` (.npz or .pt)."""
    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)  # sklearn's grey levels are 0..16
    labels = bunch.target.astype(np.int64)
    if path.suffix == ".pt":
        torch.save({"images": torch.from_numpy(images), "labels": torch.from_numpy(labels)}, path)
    else:
        np.savez_compressed(path, images=images, labels=labels)
    return path


if __name__ == "__main__":
    print(write_digits(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
