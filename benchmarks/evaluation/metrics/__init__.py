"""The metrics: one registered :class:`Metric` per module, listed here in the order of the table's columns.

Adding a metric is its module (the class: keys, requirements, computation), its line below, its test against
an independent reference and its README row (``tests/test_docs.py`` checks the README against :func:`all_keys`).
"""

from __future__ import annotations

from aebench_registry import Registry
from benchmarks.evaluation.metrics.active_units import ActiveUnitsMetric
from benchmarks.evaluation.metrics.anomaly import Anomaly
from benchmarks.evaluation.metrics.base import GROUPS, Key, Metric
from benchmarks.evaluation.metrics.betavae_score import BetaVAEScore
from benchmarks.evaluation.metrics.classifier_confidence import ClassifierData
from benchmarks.evaluation.metrics.codebook_perplexity import CodebookPerplexity
from benchmarks.evaluation.metrics.codebook_usage import CodebookUsage
from benchmarks.evaluation.metrics.dci import DCI
from benchmarks.evaluation.metrics.denoise import Denoise, DenoiseInput
from benchmarks.evaluation.metrics.elbo import ELBO
from benchmarks.evaluation.metrics.elbo_gap import ELBOGap
from benchmarks.evaluation.metrics.factorvae_score import FactorVAEScore
from benchmarks.evaluation.metrics.fid_data import FIDData
from benchmarks.evaluation.metrics.fid_interp import FIDInterp
from benchmarks.evaluation.metrics.fid_prior_uniform import FIDPriorUniform
from benchmarks.evaluation.metrics.fid_recon import FIDRecon
from benchmarks.evaluation.metrics.fid_samples import FIDSamples
from benchmarks.evaluation.metrics.hole_rate import HoleRate
from benchmarks.evaluation.metrics.inpaint import Inpaint, InpaintMean
from benchmarks.evaluation.metrics.interp_confidence import InterpConfidence
from benchmarks.evaluation.metrics.interp_path_ratio import InterpPathRatio
from benchmarks.evaluation.metrics.kid_prior import KIDPrior
from benchmarks.evaluation.metrics.kl import KL
from benchmarks.evaluation.metrics.memorisation import Memorisation
from benchmarks.evaluation.metrics.mig import MIG
from benchmarks.evaluation.metrics.modularity import Modularity
from benchmarks.evaluation.metrics.mutual_info import MutualInfo
from benchmarks.evaluation.metrics.nll_iwae import NLLIWAE
from benchmarks.evaluation.metrics.probe import Probe
from benchmarks.evaluation.metrics.recon_mse import ReconMSE
from benchmarks.evaluation.metrics.recon_mse_gap import ReconMSEGap
from benchmarks.evaluation.metrics.retrieval import Retrieval
from benchmarks.evaluation.metrics.sap import SAP

METRICS: Registry[type[Metric]] = Registry("metric", base=Metric)
for _metric in (
    ReconMSE, FIDRecon,  # reconstruction
    ELBO, NLLIWAE, KL, ActiveUnitsMetric, MutualInfo,  # likelihood and posterior (collapse)
    CodebookUsage, CodebookPerplexity,  # codebook collapse (quantised models)
    FIDSamples, FIDPriorUniform, KIDPrior, FIDData,  # generation
    InterpPathRatio, FIDInterp, InterpConfidence, HoleRate, ClassifierData, Probe,  # latent space: regularity, representation
    BetaVAEScore, FactorVAEScore, MIG, DCI, SAP, Modularity,  # disentanglement (on factor-labelled data)
    Retrieval, Denoise, DenoiseInput, Inpaint, InpaintMean, Anomaly,  # applications: retrieval, denoising, inpainting, anomaly detection
    ReconMSEGap, ELBOGap, Memorisation,  # applications: overfitting and memorisation
):  # fmt: skip
    METRICS.add(_metric.name, _metric)


def all_keys() -> list[Key]:
    """Every result key any registered metric writes, in registry order (the table's column order)."""
    return [key for metric in METRICS.values() for key in metric.keys]


def metric_of(key: str) -> type[Metric] | None:
    """The registered metric that declares result key ``key``, or None."""
    return next((m for m in METRICS.values() if m.declares(key)), None)


def group_of(key: str) -> str:
    """The column group of result key ``key`` (``other`` for an undeclared one)."""
    metric = metric_of(key)
    return "other" if metric is None else metric.group


def describe(key: str) -> Key | None:
    """The declaration of result key ``key`` (a concrete key of a ``<placeholder>`` family too), or None."""
    exact = next((k for k in all_keys() if k.name == key), None)
    return exact or next((k for k in all_keys() if k.matches(key)), None)


__all__ = ["GROUPS", "METRICS", "Key", "Metric", "all_keys", "describe", "group_of", "metric_of"]
