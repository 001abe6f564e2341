"""FID and KID of image sets against the test split, through torchmetrics with a custom feature extractor.

A :class:`FIDScorer` extracts the real (test split) features once and then scores as many fake sets as the
evaluation needs (``fid_prior``, ``fid_recon``, ``fid_data``, ``fid_gauss``, ``fid_gmm``) against the same real
statistics. Features are extracted once per image set, in batches, in float64, and fed to both torchmetrics
metrics through an identity "feature network", so FID and KID of one set cost one pass of the extractor.
FID is biased upward at small N: compare values only at equal N and feature extractor.

torchmetrics' own ``_compute_fid`` takes the eigenvalues of the non-symmetric Σ1·Σ2, which raises
``torch._C._LinAlgError`` when a covariance is rank-deficient with repeated feature columns (and oneMKL can
crash on NaN input). :class:`_StableFID` keeps torchmetrics' states and update and replaces only that
computation by :func:`_frechet_distance`, a symmetric form that is exact for singular covariances.

Example:
    >>> class Flatten(torch.nn.Flatten):
    ...     num_features = 4
    >>> gen = torch.Generator().manual_seed(0)
    >>> real = torch.rand(200, 1, 2, 2, generator=gen)
    >>> scorer = FIDScorer(Flatten(), real)
    >>> round(scorer.fid(real), 6)
    0.0
    >>> scorer.fid(real + 0.5) > 0.9  # ≈ ||Δμ||² = 4 · 0.5²
    True
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from benchmarks.evaluation.finite import check_finite
from benchmarks.evaluation.linalg import psd_factor


def _frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """||μ1 − μ2||² + Tr(Σ1) + Tr(Σ2) − 2 Tr((Σ1 Σ2)^½) in float64, the last term in a symmetric form.

    With Σ1 = F Fᵀ (:func:`psd_factor`, which exists for singular Σ1), Σ1 Σ2 = F (Fᵀ Σ2) has the non-zero
    eigenvalues of Fᵀ Σ2 F, a symmetric positive semi-definite matrix: ``eigvalsh`` of it is stable, and the
    trace of the square root is the sum of the square roots of those eigenvalues.
    """
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    for name, value in (("mean", mu1), ("covariance", sigma1), ("mean", mu2), ("covariance", sigma2)):
        check_finite(value, f"feature {name}")
    factor = psd_factor(sigma1)
    middle = factor.T @ sigma2 @ factor
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * cross)
    return max(distance, 0.0)  # a squared distance: a negative value is round-off of two equal sets


class _StableFID(FrechetInceptionDistance):
    """torchmetrics' FID with the symmetric trace term of :func:`_frechet_distance` (see the module docstring)."""

    def compute(self) -> Tensor:
        if self.real_features_num_samples < 2 or self.fake_features_num_samples < 2:
            raise RuntimeError("FID needs at least two real and two fake samples")
        stats = []
        for total, cross, n in (
            (self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples),
            (self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples),
        ):
            mean = (total / n).unsqueeze(0)
            stats += [mean.squeeze(0), (cross - n * mean.T @ mean) / (n - 1)]
        return torch.tensor(_frechet_distance(*stats), dtype=torch.float64)


class _Precomputed(nn.Module):
    """The torchmetrics "feature network" for features the scorer has already extracted: the identity."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads it instead of running a dummy 299×299 forward

    def forward(self, features: Tensor) -> Tensor:
        return features


class FIDScorer:
    """FID and KID of fake image sets against one fixed real set, whose statistics are computed once.

    Args:
        extractor: frozen ``nn.Module`` mapping images (N, C, H, W) in [0, 1] to features (N, d), with an
            integer ``num_features`` (see :func:`benchmarks.evaluation.features.get_feature_extractor`).
        real_images: the reference images (the test split).
        batch_size: images per extractor forward pass; bounds memory.
        kid_subsets: number of random subsets KID averages over.
        kid_subset_size: their size, capped at the smaller of the two sets (torchmetrics raises otherwise).
        seed: seeds the KID subset draws, so a score does not depend on the global RNG or on call order.
    """

    def __init__(
        self,
        extractor: nn.Module,
        real_images: Tensor,
        *,
        batch_size: int = 500,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        seed: int = 0,
    ) -> None:
        self.extractor = extractor
        self.batch_size = batch_size
        self.kid_subset_size = kid_subset_size
        self.seed = seed
        features = _Precomputed(int(extractor.num_features))
        # sync_on_compute=False: the scorer is used on one process; a sync under rank_zero_only would hang
        self._fid = _StableFID(feature=features, reset_real_features=False, sync_on_compute=False)
        with warnings.catch_warnings():  # KID warns that it keeps all features: known, N × d floats
            warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer")
            self._kid = KernelInceptionDistance(
                feature=features, subsets=kid_subsets, reset_real_features=False, sync_on_compute=False
            )
        real = self.features(real_images)
        self.n_real = len(real)
        self._fid.update(real, real=True)
        self._kid.update(real, real=True)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """(N, d) float64 features of images (N, C, H, W) in [0, 1]; non-finite images raise."""
        check_finite(images, "images")
        device = next((p.device for p in self.extractor.parameters()), torch.device("cpu"))
        batches = [
            self.extractor(images[i : i + self.batch_size].to(device)).double().cpu()
            for i in range(0, len(images), self.batch_size)
        ]
        return torch.cat(batches)

    def fid_of_features(self, fake: Tensor) -> float:
        """FID of features from :meth:`features` against the real set."""
        self._fid.reset()  # keeps the real statistics (reset_real_features=False)
        self._fid.update(fake, real=False)
        return float(self._fid.compute())

    def kid_of_features(self, fake: Tensor) -> tuple[float, float]:
        """KID (mean, std over subsets) of features from :meth:`features` against the real set."""
        check_finite(fake, "features")
        self._kid.reset()
        self._kid.update(fake, real=False)
        self._kid.subset_size = min(self.kid_subset_size, self.n_real, len(fake))
        with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global RNG
            torch.manual_seed(self.seed)
            mean, std = self._kid.compute()
        return float(mean), float(std)

    def fid(self, fake_images: Tensor) -> float:
        """FID between ``fake_images`` (N, C, H, W) in [0, 1] and the real set."""
        return self.fid_of_features(self.features(fake_images))

    def kid(self, fake_images: Tensor) -> tuple[float, float]:
        """KID (mean, std over subsets) between ``fake_images`` and the real set."""
        return self.kid_of_features(self.features(fake_images))
