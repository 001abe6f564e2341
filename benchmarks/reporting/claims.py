"""The folklore about AE vs VAE vs β-VAE as data, each claim's verdict computed from the per-seed results.

A claim is one :class:`Claim` entry in :data:`CLAIMS`: its parts say which metric of which rows is compared
and in which direction, so adding a claim is adding an entry. Rows are named by ``model`` (``ae``, ``vae``,
``beta_vae``) and, optionally, hyperparameters the row's ``hparams`` must contain.

Statistics (the seeds are the replicates; nothing is written by hand):

- :class:`Compare` (``a < b``, ``a > b``): Welch's two-sided t-test on the per-seed values of the two rows
  (unequal variances). ``p < 0.05`` — equivalently, the 95% Welch confidence interval of the difference of
  means excludes 0 — in the expected direction is ``supported``, in the other ``contradicted``; otherwise
  ``not separated at 95%``.
- :class:`Compare` (``a >= b``, "at least as"): the claim is refuted only by evidence that ``a`` is worse,
  so it is ``contradicted`` when ``a < b`` at ``p < 0.05`` and ``supported`` otherwise (a non-significant
  difference is what "at least as good" predicts at this number of seeds; the detail gives p and the CI).
- :class:`BetaTrend`: an ordinary least-squares line through the per-seed points (ln β, value) of the
  β-VAE rows (with the VAE as β = 1 when no β-VAE row has β = 1); the slope's two-sided t-test (n − 2
  degrees of freedom) decides as for ``a < b``, the expected sign of the slope playing the direction.

A claim of several parts is ``contradicted`` if any part is, ``not tested`` if any part could not be
tested, ``supported`` if every part is, and ``not separated at 95%`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from benchmarks.reporting.table import format_cell, summarize

SUPPORTED, CONTRADICTED, NOT_SEPARATED, NOT_TESTED = "supported", "contradicted", "not separated at 95%", "not tested"
ALPHA = 0.05


class NotTested(Exception):
    """Raised while evaluating a part whose rows or metric are missing; the message is the reason."""


@dataclass(frozen=True)
class Rows:
    """Every run of ``model`` whose ``hparams`` contain ``hparams`` (must match exactly one table row)."""

    model: str
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def runs(self, results: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """The matching row's label and runs."""
        match = [
            r for r in results if r["model"] == self.model and self.hparams.items() <= r.get("hparams", {}).items()
        ]
        labels = list(dict.fromkeys(r["label"] for r in match))
        if len(labels) != 1:
            raise NotTested(f"no `{self.model}` row" if not labels else f"rows {labels} all match `{self.model}`")
        return labels[0], match


@dataclass(frozen=True)
class Compare:
    """``metric`` of ``a`` stands in ``relation`` to ``metric_b`` (default: the same metric) of ``b``."""

    metric: str
    a: Rows
    relation: Literal["<", ">", ">="]
    b: Rows
    metric_b: str | None = None


@dataclass(frozen=True)
class BetaTrend:
    """``metric`` rises (``sign`` +1) or falls (−1) with ln β across the β-VAE rows."""

    metric: str
    sign: Literal[1, -1]


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    parts: tuple[Compare | BetaTrend, ...]


AE, VAE = Rows("ae"), Rows("vae")
CLAIMS: list[Claim] = [
    Claim("1", "The AE reconstructs better than the VAE", (Compare("recon_mse", AE, "<", VAE),)),
    Claim("2", "Decoding N(0, I) samples works for the VAE and not for the AE", (Compare("fid_prior", VAE, "<", AE),)),
    Claim(
        "3", "A post-hoc GMM sampler on the AE closes part of that gap", (Compare("fid_gmm", AE, "<", AE, "fid_prior"),)
    ),
    Claim(
        "4",
        "The KL term makes the VAE's latent space more regular (better prior samples, smoother interpolations)",
        (Compare("fid_prior", VAE, "<", AE), Compare("interp_path_ratio", VAE, "<", AE)),
    ),
    Claim(
        "5",
        "Raising β trades reconstruction for a stronger prior match and more collapsed dimensions",
        (BetaTrend("recon_mse", 1), BetaTrend("kl_total", -1), BetaTrend("active_units", -1)),
    ),
    Claim(
        "6",
        "The VAE's latent means are at least as linearly informative as the AE's codes",
        (Compare("probe_acc", VAE, ">=", AE),),
    ),
]


def beta_sweep(results: Sequence[dict[str, Any]]) -> dict[float, tuple[str, list[dict[str, Any]]]]:
    """One dataset's β-VAE rows as β → (label, runs), ascending, plus the VAE as β = 1 if no row has β = 1.

    Raises :class:`NotTested` when two β-VAE rows share a β (e.g. a latent-size sweep as well): one trend
    line through both would mix two experiments.
    """
    sweep: dict[float, tuple[str, list[dict[str, Any]]]] = {}
    for r in results:
        if r["model"] != "beta_vae":
            continue
        beta = float(r["hparams"]["beta"])
        label, runs = sweep.setdefault(beta, (r["label"], []))
        if label != r["label"]:
            raise NotTested(f"rows {label} and {r['label']} share β = {beta:g}")
        runs.append(r)
    if 1.0 not in sweep:
        try:
            sweep[1.0] = VAE.runs(results)
        except NotTested:
            pass
    return dict(sorted(sweep.items()))


def _values(runs: Sequence[dict[str, Any]], metric: str, label: str) -> list[float]:
    """The finite per-seed values of ``metric`` (a non-finite seed cannot take part in a test)."""
    values = [float(r["metrics"][metric]) for r in runs if isinstance(r["metrics"].get(metric), (int, float))]
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2:
        raise NotTested(f"`{metric}` of {label} has {len(values)} finite seed value(s); need ≥ 2")
    return values


def _decide(estimate: float, p: float, sign: int, at_least: bool = False) -> str:
    separated = math.isfinite(p) and p < ALPHA
    if not separated:
        return SUPPORTED if at_least else NOT_SEPARATED
    if math.copysign(1, estimate) == sign:
        return SUPPORTED
    return CONTRADICTED


def _compare(part: Compare, results: Sequence[dict[str, Any]]) -> tuple[str, str, str]:
    """(values, verdict, detail) of a two-row comparison by Welch's t-test."""
    metric_b = part.metric_b or part.metric
    (label_a, runs_a), (label_b, runs_b) = part.a.runs(results), part.b.runs(results)
    a, b = _values(runs_a, part.metric, label_a), _values(runs_b, metric_b, label_b)
    side_a = label_a if metric_b == part.metric else f"{label_a} {part.metric}"
    side_b = label_b if metric_b == part.metric else f"{label_b} {metric_b}"
    values = f"{side_a} {format_cell(summarize(a))} vs {side_b} {format_cell(summarize(b))}"
    if np.ptp(a + b) == 0:
        verdict = SUPPORTED if part.relation == ">=" else NOT_SEPARATED
        return values, verdict, "identical values in every seed of both rows"
    test = stats.ttest_ind(a, b, equal_var=False)
    diff, p = float(np.mean(a) - np.mean(b)), float(test.pvalue)
    low, high = test.confidence_interval(1 - ALPHA)
    sign = -1 if part.relation == "<" else 1
    detail = f"Welch t = {test.statistic:.2f}, p = {p:.2g}, difference {diff:.3g} (95% CI {low:.3g} to {high:.3g})"
    return values, _decide(diff, p, sign, at_least=part.relation == ">="), detail


def _trend(part: BetaTrend, results: Sequence[dict[str, Any]]) -> tuple[str, str, str]:
    """(values, verdict, detail) of the slope of ``metric`` against ln β (OLS on per-seed points)."""
    sweep = beta_sweep(results)
    points = {
        beta: _values(runs, part.metric, label)
        for beta, (label, runs) in sweep.items()
        if _has(runs, part.metric)
    }
    if len(points) < 2:
        raise NotTested(f"`{part.metric}` at {len(points)} distinct β; need ≥ 2")
    values = ", ".join(f"β={beta:g} {format_cell(summarize(v))}" for beta, v in points.items())
    x = np.concatenate([np.full(len(v), math.log(beta)) for beta, v in points.items()])
    y = np.concatenate([np.asarray(v) for v in points.values()])
    if np.ptp(y) == 0:
        return values, NOT_SEPARATED, f"the same value at every β and seed: no slope to test ({len(x)} points)"
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(1 - ALPHA / 2, len(x) - 2)) * fit.stderr
    detail = (
        f"OLS slope per ln β {fit.slope:.3g} (95% CI {fit.slope - half:.3g} to {fit.slope + half:.3g}), "
        f"p = {fit.pvalue:.2g}, {len(x)} per-seed points"
    )
    return values, _decide(float(fit.slope), float(fit.pvalue), part.sign), detail


def _has(runs: Sequence[dict[str, Any]], metric: str) -> bool:
    return any(isinstance(r["metrics"].get(metric), (int, float)) for r in runs)


def _combine(verdicts: Sequence[str]) -> str:
    for decisive in (CONTRADICTED, NOT_TESTED):
        if decisive in verdicts:
            return decisive
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else NOT_SEPARATED


def evaluate_claim(claim: Claim, results: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The verdict of ``claim`` on one dataset's results: id, claim, metric, values, verdict, detail.

    In a claim of several parts, ``metric``, ``values`` and ``detail`` list the parts in order, joined by ``"; "``.
    """
    parts = []
    for part in claim.parts:
        try:
            parts.append((part.metric, *(_trend if isinstance(part, BetaTrend) else _compare)(part, results)))
        except NotTested as reason:
            parts.append((part.metric, "n/a", NOT_TESTED, str(reason)))
    several = len(parts) > 1
    return {
        "id": claim.id,
        "claim": claim.text,
        "metric": "; ".join(m for m, *_ in parts),
        "values": "; ".join(f"{m}: {v}" if several else v for m, v, _, _ in parts),
        "verdict": _combine([v for _, _, v, _ in parts]),
        "detail": "; ".join(f"{m} {v}: {d}" if several else d for m, _, v, d in parts),
    }


def evaluate_claims(
    results: Sequence[dict[str, Any]], claims: Sequence[Claim] = CLAIMS
) -> dict[str, list[dict[str, str]]]:
    """Every claim's verdict per dataset (datasets in first-seen order)."""
    datasets = dict.fromkeys(r["dataset"] for r in results)
    return {d: [evaluate_claim(c, [r for r in results if r["dataset"] == d]) for c in claims] for d in datasets}


METHOD = (
    "Verdicts are computed from the per-seed values: Welch's two-sided t-test for comparisons of two rows, the "
    "t-test of an OLS slope against ln β for trends; significance level 5%. \"At least as\" claims are "
    "contradicted only by a significant difference the other way."
)


def claims_markdown(verdicts: Mapping[str, Sequence[Mapping[str, str]]], heading: str = "##") -> str:
    """A section with the method and one table per dataset."""
    lines = [f"{heading} Claims", "", METHOD, ""]
    for dataset, rows in verdicts.items():
        lines += [f"{heading}# {dataset}", "", "| # | claim | metric | values | verdict | detail |", "| --- " * 6 + "|"]
        for row in rows:
            cells = [row[k] for k in ("id", "claim", "metric", "values", "verdict", "detail")]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
