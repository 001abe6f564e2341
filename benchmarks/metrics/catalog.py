"""The catalogue of metrics: every key that can appear in a results file or a table, with its direction.

One place for names, directions (↑/↓ in table headers) and meanings; the README's metric table mirrors it
(a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    key: str
    higher_is_better: bool | None  # None: no better direction (e.g. a count to read, not to rank)
    description: str
    reference: str = ""


METRICS: Registry[MetricInfo] = Registry("metric")


def _add(key: str, higher_is_better: bool | None, description: str, reference: str = "") -> None:
    METRICS.register(key)(MetricInfo(key, higher_is_better, description, reference))


_add("recon_mse", False, "per-pixel MSE of reconstructions (decoded posterior means) of the test split")
_add("elbo", True, "test ELBO, nats per image (variational models; one posterior sample per image)")
_add("kl_total", None, "KL(q(z|x) ‖ N(0, I)) in nats, summed over dims, mean over the test split")
_add("kl_per_dim", None, "the same KL per latent dim (a list in results files)")
_add("collapsed_dims", None, "latent dims whose mean KL is below 0.01 nats (posterior collapse)")
_add("active_units", None, "latent dims with Cov_x(E_q[z_u]) > 0.01", "Burda et al. 2016")
_add("mutual_info", None, "I(x; z) under q, Monte Carlo over the test split (≤ log N)", "He et al. 2019")
_add("nll_iwae", False, "importance-weighted estimate of −log p(x), nats per image", "Burda et al. 2016")
_add("fid_prior", False, "FID of decoded N(0, I) samples vs the test split", "Heusel et al. 2017")
_add("fid_gauss", False, "FID of samples from a full-covariance Gaussian fitted to training codes", "Ghosh et al. 2020")
_add("fid_gmm", False, "FID of samples from a GMM fitted to training codes", "Ghosh et al. 2020")
_add("fid_recon", False, "FID of reconstructions vs the test split")
_add("fid_data", None, "FID of a train subset vs the test split: the floor at this sample size")
_add("kid_prior", False, "KID of decoded N(0, I) samples vs the test split", "Bińkowski et al. 2018")
_add(
    "interp_path_ratio",
    False,
    "decoded path length along straight latent interpolations between test codes ÷ the endpoints' pixel distance"
    " (1 = the images change evenly along the path; larger = detours and jumps)",
)
_add("probe_acc", True, "logistic-regression accuracy on standardised latent means (fit on train, scored on test)")
