"""What the metrics of a run read: computed once per run (or once per dataset) and shared by every metric.

- :class:`EvalContext` (one per dataset and evaluation config, shared by every run of a benchmark): the
  DataModule, the FID scorer with the test split's feature statistics, and the ``fid_data`` floor per seed.
- :class:`EvalInputs` (one per run): the model, its posteriors of the train and test splits, its
  reconstructions, its decoded samples per sampler and their FID features, each computed on first use and
  kept; and a random generator per purpose, so that a metric's value does not depend on which other metrics
  ran before it.

The capabilities of a run (:func:`capabilities`) are what metrics declare in ``requires``:

========================= =====================================================================
``decoder``               the model can decode codes to images (``decode``)
``likelihood``            it scores log p(x | z) (``log_likelihood``)
``prior``                 it has a prior to sample (``prior`` is not None)
``prior_density``         its prior has a log-density (``prior.log_prob``)
``standard_normal_prior`` its prior is N(0, I) (codes are in prior units: KL per dim, active units)
``gaussian_posterior``    ``encode`` gives a diagonal Gaussian (a log-variance), not a point
``codebook``              ``encode`` gives discrete ``codes`` into the model's ``codebook`` (the VQ-VAE)
``labels``                the dataset has class or factor labels
``factors``               the dataset declares generative factors (``factor_sizes``, e.g. dSprites)
``held_out_class``        one class was held out of training (``held_out_class``): the test split holds anomalies
========================= =====================================================================
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from benchmarks.config import EvaluationConfig
from benchmarks.evaluation.features import get_feature_extractor
from benchmarks.evaluation.fid_scorer import FIDScorer
from benchmarks.evaluation.finite import check_finite
from benchmarks.evaluation.samplers import SAMPLERS, LatentSampler
from datamodules import InMemoryDataModule, seeded_permutation
from lightning_modules import LatentModel, Posterior, StandardNormal


T = TypeVar("T")


def derived_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose of one run, stable across processes (unlike ``hash``)."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**63


def model_device(model: Any) -> torch.device:
    """Where the model's parameters live (the CPU for models without parameters, such as the baselines)."""
    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")


@dataclass
class EvalContext:
    """What every run of one dataset and evaluation config shares: FID features and statistics of the test split."""

    datamodule: InMemoryDataModule
    dataset_name: str
    config: EvaluationConfig
    n_fid: int
    _fid_data: dict[int, float] = field(default_factory=dict)

    @classmethod
    def build(cls, datamodule: InMemoryDataModule, dataset_name: str, config: EvaluationConfig) -> EvalContext:
        test, train = datamodule.test, datamodule.train
        n_fid = min(config.fid_samples or len(test), len(test), len(train))  # type: ignore[arg-type]
        return cls(datamodule, dataset_name, config, n_fid)

    @functools.cached_property
    def scorer(self) -> FIDScorer:
        """The FID scorer with the test split's statistics; its feature extractor is trained on first use."""
        extractor = get_feature_extractor(self.config.fid_backend, self.datamodule, dataset_name=self.dataset_name)
        if self.n_fid < extractor.num_features:
            warnings.warn(
                f"FID on {self.dataset_name} from N = {self.n_fid} samples of {extractor.num_features}-d features: the "
                "covariances are singular and FID is ill-conditioned (biased, noisy); compare values only at this N, "
                "or raise evaluation.fid_samples",
                stacklevel=2,
            )
        test = self.datamodule.test.images  # type: ignore[union-attr]
        return FIDScorer(extractor, test[: self.n_fid], batch_size=self.config.batch_size)

    @property
    def info(self) -> dict[str, Any]:
        """How the metrics of this context were measured, for the results file and the table's evaluation line."""
        n_test = len(self.datamodule.test)  # type: ignore[arg-type]
        info: dict[str, Any] = {"fid_backend": self.config.fid_backend, "fid_n": self.n_fid}
        if "scorer" in self.__dict__:  # FID was measured: say with which features
            extractor = self.scorer.extractor
            info.update(fid_features=extractor.num_features, feature_test_acc=extractor.info.get("test_acc"),
                        feature_chance=extractor.info.get("chance"), feature_unreliable=extractor.info.get("unreliable"))  # fmt: skip
            note = getattr(self.datamodule, "classifier_labels_note", None)  # how its labels were folded, if they were
            if note:
                info["feature_labels"] = note
        from benchmarks.evaluation.metrics.mutual_info import mi_upper_bound

        return {**info, "iwae_k": self.config.iwae_k, "mi_n": n_test, "mi_log_n": mi_upper_bound(n_test)}

    def fid_data(self, seed: int) -> float:
        """FID of ``n_fid`` random training images vs the test split: the floor at this sample size."""
        if seed not in self._fid_data:
            train = self.datamodule.evaluation_train.images
            self._fid_data[seed] = self.scorer.fid(train[seeded_permutation(len(train), seed)[: self.n_fid]])
        return self._fid_data[seed]


def capabilities(model: Any, posterior: Posterior, datamodule: InMemoryDataModule) -> frozenset[str]:
    """What a run offers its metrics (see the module docstring), read off the model interface and the data.

    ``posterior`` is any posterior of the model (only its kind is read, not its values).
    """
    prior = getattr(model, "prior", None)
    caps = {
        "decoder": callable(getattr(model, "decode", None)),
        "likelihood": callable(getattr(model, "log_likelihood", None)),
        "prior": prior is not None,
        "prior_density": callable(getattr(prior, "log_prob", None)),
        "standard_normal_prior": isinstance(prior, StandardNormal),
        "gaussian_posterior": posterior.logvar is not None,
        "codebook": posterior.codes is not None and getattr(model, "codebook", None) is not None,
        "labels": datamodule.test.labels.numel() > 0,  # type: ignore[union-attr]
        "factors": getattr(datamodule, "factor_sizes", None) is not None,
        "held_out_class": datamodule.held_out_class is not None,
    }
    return frozenset(name for name, present in caps.items() if present)


class EvalInputs:
    """One run's shared evaluation inputs, each computed on first use (see the module docstring).

    Tensors come back on the CPU; the model is called on its own device in batches of ``config.batch_size``.
    """

    def __init__(self, model: LatentModel, context: EvalContext, seed: int) -> None:
        self.model = model
        self.context = context
        self.seed = seed
        self.config = context.config
        self.datamodule = context.datamodule
        self.device = model_device(model)
        self._posteriors: dict[str, Posterior] = {}
        self._samples: dict[str, Tensor] = {}
        self._samplers: dict[str, LatentSampler] = {}
        self._features: dict[str, Tensor] = {}
        self._shared: dict[str, Any] = {}
        # arrays a metric leaves for the report's figures (DCI's importance matrix); figure_data saves them
        self.figure_arrays: dict[str, np.ndarray] = {}

    def generator(self, purpose: str) -> torch.Generator:
        """A fresh CPU generator for ``purpose``, seeded from the run's seed and the purpose's name."""
        return torch.Generator().manual_seed(derived_seed(self.seed, purpose))

    @functools.cached_property
    def capabilities(self) -> frozenset[str]:
        with torch.no_grad():  # the kind of posterior, from two images: a diverged model still has one
            sample = self.model.encode(self.images("test")[:2].to(self.device))
        return capabilities(self.model, sample, self.datamodule)

    def images(self, split: str) -> Tensor:
        """The images of ``split`` ("train" or "test") as evaluated (binary where the data are binarised)."""
        return (self.datamodule.evaluation_train if split == "train" else getattr(self.datamodule, split)).images

    @torch.no_grad()
    def posterior(self, split: str) -> Posterior:
        """q(z|x) of every image of ``split`` ("train" or "test"); the AE's ``logvar`` stays None, as do the
        ``codes`` of a model that is not quantised."""
        if split not in self._posteriors:
            parts = [self.model.encode(x.to(self.device)) for x in self.images(split).split(self.config.batch_size)]
            mean = check_finite(torch.cat([p.mean for p in parts]).cpu(), f"posterior means of the {split} split")
            logvar = None if parts[0].logvar is None else torch.cat([p.logvar for p in parts]).cpu()  # type: ignore[misc]
            if logvar is not None:
                check_finite(logvar, f"posterior log-variances of the {split} split")
            codes = None if parts[0].codes is None else torch.cat([p.codes for p in parts]).cpu()  # type: ignore[misc]
            self._posteriors[split] = Posterior(mean, logvar, codes)
        return self._posteriors[split]

    @torch.no_grad()
    def encode_means(self, images: Tensor) -> Tensor:
        """Posterior means (N, D) of any images (e.g. freshly rendered ones), in batches, on the CPU."""
        means = [self.model.encode(x.to(self.device)).mean.cpu() for x in images.split(self.config.batch_size)]
        return check_finite(torch.cat(means), "posterior means")

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Mean images of codes ``z`` (..., D), decoded in batches, with the leading shape kept."""
        flat = z.reshape(-1, z.shape[-1])
        out = torch.cat([self.model.decode(c.to(self.device)).cpu() for c in flat.split(self.config.batch_size)])
        check_finite(out, "decoded images")
        return out.reshape(*z.shape[:-1], *out.shape[1:])

    @functools.cached_property
    def reconstructions(self) -> Tensor:
        """The test images decoded from their posterior means."""
        return self.decode(self.posterior("test").mean)

    def sampler(self, name: str) -> LatentSampler:
        """Latent sampler ``name``, fitted to the training codes and the model's prior."""
        if name not in self._samplers:
            sampler = SAMPLERS.get(name).from_config(self.config)
            self._samplers[name] = sampler.fit(self.posterior("train").mean, getattr(self.model, "prior", None), self.seed)
        return self._samplers[name]

    def samples(self, name: str) -> Tensor:
        """``n_fid`` images decoded from sampler ``name``."""
        if name not in self._samples:
            codes = self.sampler(name).sample(self.context.n_fid, self.generator(f"samples/{name}"))
            self._samples[name] = self.decode(check_finite(codes, f"codes of the {name} sampler"))
        return self._samples[name]

    def shared(self, name: str, compute: Callable[[], T]) -> T:
        """What ``compute()`` returns, computed on the first call for ``name`` and kept: an input that several
        metrics read (the test ELBOs, the IWAE bounds, the decoded interpolation midpoints) is computed once."""
        if name not in self._shared:
            self._shared[name] = compute()
        return self._shared[name]

    def class_probabilities(self, images: Tensor) -> list[Tensor]:
        """The FID feature classifier's softmax probabilities (N, K_j) for each label column j of ``images``, on the
        CPU; its labels are the dataset's ``classifier_labels`` (dSprites orientations folded by symmetry)."""
        classifier = self.context.scorer.extractor.classifier
        if classifier is None:
            raise ValueError(
                f"fid_backend '{self.config.fid_backend}' has no classifier of this dataset's labels; "
                "the metrics that read class probabilities need fid_backend 'domain'"
            )
        device = next(classifier.parameters()).device
        check_finite(images, "images to classify")
        with torch.no_grad():  # not around the lookup above: it trains the classifier on first use
            parts = [[p.softmax(1).cpu() for p in classifier(x.to(device))] for x in images.split(self.config.batch_size)]
        return [torch.cat(column) for column in zip(*parts)]

    def classifier_targets(self, split: str) -> Tensor:
        """The labels (N, F) of ``split`` as the FID feature classifier learned them (see :meth:`class_probabilities`)."""
        labels = getattr(self.datamodule, "test" if split == "test" else "train").labels
        return self.datamodule.classifier_labels(labels).reshape(len(labels), -1)

    def fid_features(self, name: str, images: Tensor) -> Tensor:
        """FID features of an image set of this run, extracted once per ``name`` (e.g. ``samples/prior``)."""
        if name not in self._features:
            self._features[name] = self.context.scorer.features(images)
        return self._features[name]
