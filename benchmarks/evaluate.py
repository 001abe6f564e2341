"""Evaluation on the test split: every metric of a results file, and the figure data, come from here.

The per-dataset parts that do not depend on the model — the feature extractor, the test split's FID
statistics, the ``fid_data`` floor — live in an :class:`EvalContext`, built once per dataset and shared
by every run of the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import MeanSquaredError

from benchmarks import artifacts
from benchmarks.baselines import pca_baseline, pixel_codes
from benchmarks.config import EvaluationConfig
from benchmarks.features import get_feature_extractor
from benchmarks.metrics.collapse import ActiveUnits, KLPerDim, collapsed_dims
from benchmarks.metrics.fid import FIDScorer
from benchmarks.metrics.iwae import elbo, nll_iwae
from benchmarks.metrics.mutual_info import mi_upper_bound, mutual_info
from benchmarks.metrics.probe import linear_probe, probe_per_column
from benchmarks.samplers import SAMPLERS
from datamodules import InMemoryDataModule
from lightning_modules import AutoencoderModule, Posterior

INTERP_PAIRS, INTERP_STEPS = 64, 16  # for interp_path_ratio


@dataclass
class EvalContext:
    """What every run of one dataset shares: FID features and statistics of the test split."""

    datamodule: InMemoryDataModule
    config: EvaluationConfig
    scorer: FIDScorer
    n_fid: int
    info: dict[str, Any]
    _fid_data: dict[int, float] = field(default_factory=dict)

    @classmethod
    def build(cls, datamodule: InMemoryDataModule, dataset_name: str, config: EvaluationConfig) -> EvalContext:
        test = datamodule.test.images  # type: ignore[union-attr]
        n_fid = min(config.fid_samples or len(test), len(test), len(datamodule.train))  # type: ignore[arg-type]
        extractor = get_feature_extractor(config.fid_backend, datamodule, dataset_name=dataset_name)
        scorer = FIDScorer(extractor, test[:n_fid], batch_size=config.batch_size)
        info = {
            "fid_backend": config.fid_backend,
            "fid_n": n_fid,
            "fid_features": extractor.num_features,
            "feature_test_acc": extractor.info.get("test_acc"),
            "iwae_k": config.iwae_k,
            "mi_n": len(test),
            "mi_log_n": mi_upper_bound(len(test)),
        }
        return cls(datamodule, config, scorer, n_fid, info)

    def fid_data(self, seed: int) -> float:
        """FID of ``n_fid`` random training images vs the test split: the floor at this sample size."""
        if seed not in self._fid_data:
            train = self.datamodule.train.images  # type: ignore[union-attr]
            idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: self.n_fid]
            self._fid_data[seed] = self.scorer.fid(train[idx])
        return self._fid_data[seed]


@torch.no_grad()
def encode_all(model: AutoencoderModule, images: Tensor, batch_size: int) -> Posterior:
    """The posterior of every image, on the CPU (the AE's ``logvar`` stays None)."""
    parts = [model.encode(x.to(model.device)) for x in images.split(batch_size)]
    mean = torch.cat([p.mean for p in parts]).cpu()
    logvar = None if parts[0].logvar is None else torch.cat([p.logvar for p in parts]).cpu()  # type: ignore[misc]
    return Posterior(mean, logvar)


@torch.no_grad()
def decode_images(model: AutoencoderModule, z: Tensor, batch_size: int) -> Tensor:
    """Mean images of codes ``z`` (..., D), decoded in batches, on the CPU with the leading shape kept."""
    flat = z.reshape(-1, z.shape[-1])
    out = torch.cat([model.likelihood.mean(model.decode(c.to(model.device))).cpu() for c in flat.split(batch_size)])
    return out.reshape(*z.shape[:-1], *out.shape[1:])


def probe_metrics(train_codes: Tensor, test_codes: Tensor, datamodule: InMemoryDataModule, seed: int) -> dict[str, float]:
    """``probe_acc``; for several label columns (dSprites factors) one ``probe_acc_<name>`` each and their mean."""
    train_y, test_y = datamodule.train.labels, datamodule.test.labels  # type: ignore[union-attr]
    if train_y.dim() == 1:
        return {"probe_acc": linear_probe(train_codes, train_y, test_codes, test_y, seed=seed)}
    per = probe_per_column(train_codes, train_y, test_codes, test_y, names=datamodule.label_names, seed=seed)
    return {"probe_acc": float(np.mean(list(per.values()))), **{f"probe_acc_{k}": v for k, v in per.items()}}


def interp_path_ratio(model: AutoencoderModule, codes: Tensor, generator: torch.Generator, batch_size: int) -> float:
    """Mean over random pairs of test codes of (pixel path length along the decoded line) / (endpoint distance).

    1 when the decoded images change at an even pace along the latent line, larger when the path makes
    detours or jumps (regions of latent space that decode to something unlike either endpoint).
    """
    pairs = torch.randint(len(codes), (INTERP_PAIRS, 2), generator=generator)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    path = artifacts.interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], INTERP_STEPS)
    images = decode_images(model, path, batch_size).flatten(2)  # (P, T, pixels)
    length = (images[:, 1:] - images[:, :-1]).norm(dim=-1).sum(1)
    chord = (images[:, -1] - images[:, 0]).norm(dim=-1)
    keep = chord > 1e-6
    return float((length[keep] / chord[keep]).mean())


def evaluate(model: AutoencoderModule, context: EvalContext, *, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """All metrics of a trained model on the test split, and its figure data (see ``artifacts``)."""
    model.eval()
    cfg, dm, n = context.config, context.datamodule, context.n_fid
    gen = torch.Generator().manual_seed(seed)
    test, train = dm.test.images, dm.train.images  # type: ignore[union-attr]
    q_test, q_train = encode_all(model, test, cfg.batch_size), encode_all(model, train, cfg.batch_size)

    recon = decode_images(model, q_test.mean, cfg.batch_size)
    mse = MeanSquaredError(sync_on_compute=False)  # see _posterior_metrics
    for r, x in zip(recon.split(cfg.batch_size), test.split(cfg.batch_size)):
        mse.update(r, x)
    metrics: dict[str, Any] = {"recon_mse": float(mse.compute()), "fid_recon": context.scorer.fid(recon[:n])}
    samples = {}
    for name in cfg.samplers:
        options = {"n_components": cfg.gmm_components} if name == "gmm" else {}
        sampler = SAMPLERS.get(name)(**options).fit(q_train.mean, seed)
        samples[name] = decode_images(model, sampler.sample(n, gen), cfg.batch_size)
        if name == "prior":  # KID beside FID for the prior samples, from one feature extraction
            metrics["fid_prior"], (metrics["kid_prior"], _) = context.scorer.fid_and_kid(samples[name])
        else:
            metrics[sampler.metric_key] = context.scorer.fid(samples[name])
    metrics["fid_data"] = context.fid_data(seed)
    metrics.update(probe_metrics(q_train.mean, q_test.mean, dm, seed))
    metrics["interp_path_ratio"] = interp_path_ratio(model, q_test.mean, gen, cfg.batch_size)
    if model.variational:
        metrics.update(_posterior_metrics(model, q_test, test, cfg, gen))
    return metrics, _figure_data(model, q_test, q_train, recon, samples, dm, metrics, cfg.batch_size)


def _posterior_metrics(
    model: AutoencoderModule, q: Posterior, test: Tensor, cfg: EvaluationConfig, gen: torch.Generator
) -> dict[str, Any]:
    """The indicators that need q(z|x): KL, collapse, active units, MI, ELBO and the IWAE bound."""
    # evaluation runs on one process over the whole test split (rank 0 after DDP training): no sync
    kl, active = KLPerDim(sync_on_compute=False), ActiveUnits(sync_on_compute=False)
    kl.update(q.mean, q.logvar)
    active.update(q.mean)
    kl_per_dim = kl.compute()
    return {
        "kl_total": float(kl_per_dim.sum()),
        "kl_per_dim": kl_per_dim.tolist(),
        "collapsed_dims": collapsed_dims(kl_per_dim),
        # the 0.01 threshold is in prior units: meaningless for an AE's unscaled codes, so n/a there
        "active_units": active.compute(),
        "mutual_info": mutual_info(q.mean, q.logvar, generator=gen),  # type: ignore[arg-type]
        "elbo": float(elbo(model, test, generator=gen, batch_size=cfg.batch_size).mean()),
        "nll_iwae": float(nll_iwae(model, test, k=cfg.iwae_k, generator=gen, batch_size=max(1, cfg.batch_size // 8)).mean()),
    }


def _figure_data(
    model: AutoencoderModule,
    q_test: Posterior,
    q_train: Posterior,
    recon: Tensor,
    samples: dict[str, Tensor],
    dm: InMemoryDataModule,
    metrics: dict[str, Any],
    batch_size: int,
) -> dict[str, np.ndarray]:
    codes = q_test.mean
    k = artifacts.N_SHOWN
    if "kl_per_dim" in metrics:
        order, scale = torch.tensor(metrics["kl_per_dim"]).argsort(descending=True), torch.ones(codes.shape[1])
    else:  # the AE: no KL; order by code variance and sweep in units of each dim's training std
        scale = q_train.mean.std(0)
        order = scale.argsort(descending=True)
    pairs = torch.arange(2 * artifacts.INTERP_PAIRS).view(-1, 2)
    interp = artifacts.interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], artifacts.INTERP_STEPS)
    traversal = artifacts.traversal_codes(codes[0], order, scale)
    return {
        "originals": artifacts.to_uint8(dm.test.images[:k]),  # type: ignore[union-attr]
        "reconstructions": artifacts.to_uint8(recon[:k]),
        **{f"samples_{name}": artifacts.to_uint8(s[: artifacts.N_SAMPLES]) for name, s in samples.items()},
        "interpolations": artifacts.to_uint8(decode_images(model, interp, batch_size)),
        "traversals": artifacts.to_uint8(decode_images(model, traversal, batch_size)),
        "traversal_dims": order.numpy(),
        "traversal_values": artifacts.TRAVERSAL_VALUES,
        "latent_means": codes.numpy(),
        "labels": dm.test.labels.reshape(len(codes), -1)[:, 0].numpy(),  # type: ignore[union-attr]
    }


def evaluate_baseline(
    name: str, context: EvalContext, *, n_components: int, seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The linear rows: ``pca`` (reconstruction, probabilistic-PCA samples, probe) and ``pixels`` (probe)."""
    dm, n = context.datamodule, context.n_fid
    test, train = dm.test.images, dm.train.images  # type: ignore[union-attr]
    metrics: dict[str, Any] = {"fid_data": context.fid_data(seed)}
    if name == "pixels":
        metrics.update(probe_metrics(pixel_codes(train), pixel_codes(test), dm, seed))
        return metrics, {}
    pca = pca_baseline(train, n_components, seed=seed)
    recon = pca.reconstruct(test)
    samples = pca.sample(n, torch.Generator().manual_seed(seed))
    metrics.update(
        recon_mse=float(torch.mean((recon - test) ** 2)),
        fid_recon=context.scorer.fid(recon[:n]),
        fid_prior=context.scorer.fid(samples),
        **probe_metrics(pca.encode(train), pca.encode(test), dm, seed),
    )
    figure = {
        "originals": artifacts.to_uint8(test[: artifacts.N_SHOWN]),
        "reconstructions": artifacts.to_uint8(recon[: artifacts.N_SHOWN]),
        "samples_prior": artifacts.to_uint8(samples[: artifacts.N_SAMPLES]),
        "latent_means": pca.encode(test).numpy(),
        "labels": dm.test.labels.reshape(len(test), -1)[:, 0].numpy(),  # type: ignore[union-attr]
    }
    return metrics, figure


__all__ = ["EvalContext", "evaluate", "evaluate_baseline"]
