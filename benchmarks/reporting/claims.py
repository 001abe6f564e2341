"""The folklore about AE vs VAE vs β-VAE as data, each claim's verdict computed from the per-seed results.

A claim is one :class:`Claim` entry in :data:`CLAIMS`: its parts say which metric of which rows is compared
and how, so adding a claim is adding an entry. Rows are named by ``model`` (``ae``, ``vae``, ``beta_vae``)
and, optionally, hyperparameters the row's ``hparams`` must contain.

Statistics (the seeds are the replicates; :mod:`benchmarks.reporting.stats`):

- :class:`Compare` with ``<`` / ``>``, a directional claim: Welch's two-sided t-test of the difference of
  means. Separated in the expected direction is *supported*, in the other *contradicted*.
- :class:`Compare` with ``>=``, "at least as good": a non-inferiority test with the claim's ``margin`` (one of
  the two one-sided tests of TOST). *Supported* when ``a`` is shown to be worse than ``b`` by less than the
  margin; *contradicted* when it is shown to be worse by more than the margin; otherwise *not separated*:
  equal means at two or three seeds no longer count as evidence.
- :class:`BetaTrend`: the OLS slope of the per-seed values against ln β, with a permutation p-value over the
  points (valid with no residual variance, never below what the number of seeds and β values allows).

Every part is one test; Holm's step-down correction runs over all the tests of a dataset's claims, and a
part decides at its adjusted p-value (both are shown). A claim of several parts is *contradicted* if any
part is, *not tested* if any part could not be tested, *supported* if every part is, and *not separated*
otherwise. A not-separated part says about how many seeds per row would separate it at the measured spread.

A part whose metric applies to no run of the dataset (a disentanglement score on data without factors: no run
recorded the capabilities its metric ``requires``) is *not applicable*, and takes no part in Holm's correction;
a claim all of whose parts are is *not applicable* too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from benchmarks.evaluation.metrics import describe, metric_of
from benchmarks.reporting.flags import DEGENERATE, run_flags
from benchmarks.reporting.stats import ALPHA, holm, non_inferiority, seeds_to_separate, slope_test, summarize, welch
from benchmarks.reporting.table import bounds_of, format_cell

SUPPORTED, CONTRADICTED, NOT_SEPARATED, NOT_TESTED = "supported", "contradicted", "not separated", "not tested"
NOT_APPLICABLE = "not applicable"


class NotTested(Exception):
    """Raised while evaluating a part whose rows or metric are missing; the message is the reason."""


class NotApplicable(NotTested):
    """Raised for a part whose metric applies to no run of the dataset; the message is the reason."""


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
    """``metric`` of ``a`` stands in ``relation`` to ``metric_b`` (default: the same metric) of ``b``.

    ``<`` / ``>`` compare means; ``>=`` ("at least as good", in the metric's better direction) needs a
    ``margin`` in the metric's units: how much worse still counts as "as good" — or, with ``relative``, as a
    fraction of ``b``'s mean (for errors whose scale differs between datasets: "within 10% of b's error").
    """

    metric: str
    a: Rows
    relation: Literal["<", ">", ">="]
    b: Rows
    metric_b: str | None = None
    margin: float | None = None
    relative: bool = False

    def __post_init__(self) -> None:
        if (self.relation == ">=") != (self.margin is not None):
            raise ValueError(f"Compare({self.metric}): a margin goes with '>=' and only with it")
        if self.relative and self.margin is None:
            raise ValueError(f"Compare({self.metric}): `relative` scales a margin; give one")

    def margin_for(self, b: Sequence[float]) -> float:
        """The margin in the metric's units, given ``b``'s per-seed values."""
        assert self.margin is not None
        return self.margin * abs(float(np.mean(b))) if self.relative else self.margin


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
        "The VAE's latent means are at least as linearly informative as the AE's codes (within 2 points of accuracy)",
        (Compare("probe_acc", VAE, ">=", AE, margin=0.02),),
    ),
    Claim(
        "7",
        "Raising β increases disentanglement (MIG, DCI)",
        (BetaTrend("mig", 1), BetaTrend("dci_disentanglement", 1)),
    ),
    # the uses people choose an AE or a VAE for (the applications group's metrics)
    Claim(
        "8",
        "The AE denoises at least as well as the VAE (Gaussian noise σ = 0.3; within 10% of the VAE's error)",
        (Compare("denoise_mse_gauss0.3", AE, ">=", VAE, margin=0.1, relative=True),),
    ),
    Claim(
        "9",
        "The VAE completes missing pixels better than the AE (bottom half missing: the VAE by Metropolis-within-Gibbs, "
        "the AE by iterated reconstruction)",
        (Compare("inpaint_mse_bottom_mwg", VAE, "<", AE, "inpaint_mse_bottom"),
         Compare("inpaint_acc_bottom_mwg", VAE, ">", AE, "inpaint_acc_bottom")),
    ),  # fmt: skip
    Claim(
        "10",
        "The VAE's interpolations are more realistic than the AE's (midpoints of test pairs)",
        (Compare("fid_interp", VAE, "<", AE), Compare("interp_confidence", VAE, ">", AE)),
    ),
    Claim(
        "11",
        "The VAE overfits less than the AE (a smaller train-to-test gap of reconstruction error)",
        (Compare("recon_mse_gap", VAE, "<", AE),),
    ),
    Claim(
        "12",
        "AE codes retrieve as well as VAE means (precision@10, within 2 points)",
        (Compare("retrieval_p@10", AE, ">=", VAE, margin=0.02),),
    ),
    Claim(
        "13",
        "The VAE's likelihood detects anomalies better than the AE's reconstruction error (held-out class AUROC)",
        (Compare("anomaly_auroc_iwae", VAE, ">", AE, "anomaly_auroc_recon"),),
    ),
]


def sweep_of(
    runs: Sequence[dict[str, Any]], value_of: Callable[[dict[str, Any]], float], name: str
) -> dict[float, tuple[str, list[dict[str, Any]]]]:
    """``runs`` as a sweep of the hyperparameter ``name``: its value (``value_of`` a run) → (label, runs), ascending.

    Raises :class:`NotTested` when two rows share a value: one trend line through both would mix two experiments.
    """
    sweep: dict[float, tuple[str, list[dict[str, Any]]]] = {}
    for r in runs:
        value = float(value_of(r))
        label, same = sweep.setdefault(value, (r["label"], []))
        if label != r["label"]:
            raise NotTested(f"rows {label} and {r['label']} share {name} = {value:g}")
        same.append(r)
    return dict(sorted(sweep.items()))


def beta_sweep(results: Sequence[dict[str, Any]]) -> dict[float, tuple[str, list[dict[str, Any]]]]:
    """One dataset's β-VAE rows as β → (label, runs), ascending, plus the VAE as β = 1 if no row has β = 1.

    Raises :class:`NotTested` when two β-VAE rows share a β (e.g. a latent-size sweep as well): one trend
    line through both would mix two experiments.
    """
    sweep = sweep_of([r for r in results if r["model"] == "beta_vae"], lambda r: r["hparams"]["beta"], "β")
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


def _cell(values: Sequence[float], metric: str) -> str:
    return format_cell(summarize(values, bounds_of(metric)))


def _pooled_std(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)


@dataclass
class Test:
    """One part's test: its values, p-value, the verdict its p-value gives once adjusted, and how to say it."""

    metric: str
    values: str
    p: float
    direction_ok: bool  # the estimate lies on the side the verdict would take
    on_success: str  # the verdict when the adjusted p-value separates
    explain: str  # what the numbers say, for a reader
    spread: float = math.nan  # pooled std of the two rows, for the seeds a separation would take
    gap: float = math.nan  # the distance the test's interval has to clear
    one_sided: bool = False
    more: str = ""  # for a test where more seeds cannot be estimated (trends): what would separate it
    adjusted: float = math.nan
    flagged: list[str] = field(default_factory=list)

    def more_seeds(self, m: int) -> str:
        """What would separate a not-separated test: seeds per row at the measured spread, at the Holm level."""
        if self.more:
            return self.more
        need = seeds_to_separate(self.spread, self.gap, one_sided=self.one_sided, alpha=ALPHA / m)
        if need is None:
            return "the means are equal: no number of seeds separates them"
        return f"about {need} seeds per row would separate it at this spread and the corrected level (α/{m})"

    def verdict(self) -> str:
        return self.on_success if self.adjusted < ALPHA else NOT_SEPARATED


def _compare(part: Compare, results: Sequence[dict[str, Any]]) -> Test:
    metric_b = part.metric_b or part.metric
    (label_a, runs_a), (label_b, runs_b) = part.a.runs(results), part.b.runs(results)
    a, b = _values(runs_a, part.metric, label_a), _values(runs_b, metric_b, label_b)
    side_a = label_a if metric_b == part.metric else f"{label_a} {part.metric}"
    side_b = label_b if metric_b == part.metric else f"{label_b} {metric_b}"
    values = f"{side_a} {_cell(a, part.metric)} vs {side_b} {_cell(b, metric_b)}"
    spread = _pooled_std(a, b)
    if part.relation == ">=":
        info = describe(part.metric)
        better_high = bool(info is not None and info.higher_is_better)
        margin = part.margin_for(b)
        d = non_inferiority(a, b, margin, better_high)
        worse = "lower" if better_high else "higher"
        stated = f"{margin:.3g} ({part.margin:.0%} of {side_b}'s mean)" if part.relative else f"{margin:g}"
        explain = (f"{side_a} minus {side_b}, counted positive when {side_a} is better: {d.estimate:+.3g} "
                   f"(90% CI {d.low:+.3g} to {d.high:+.3g}); non-inferiority margin {stated}")  # fmt: skip
        if d.estimate > -margin:
            return Test(part.metric, values, d.p, True, SUPPORTED,
                        explain + f": supported once the CI's lower end clears −{margin:.3g} ({side_a} at most "
                        f"{margin:.3g} {worse} than {side_b})", spread, d.estimate + margin, True)  # fmt: skip
        contra = non_inferiority(b, a, -margin, better_high)
        return Test(part.metric, values, contra.p, True, CONTRADICTED,
                    explain + f": {side_a}'s mean is worse than the margin allows", spread,
                    -margin - d.estimate, True)  # fmt: skip
    d = welch(a, b)
    expected = -1 if part.relation == "<" else 1
    direction_ok = d.estimate * expected > 0
    explain = (f"difference {side_a} − {side_b} = {d.estimate:+.3g} (95% CI {d.low:+.3g} to {d.high:+.3g}), "
               f"Welch t = {d.statistic:.2f}")  # fmt: skip
    return Test(part.metric, values, d.p, direction_ok, SUPPORTED if direction_ok else CONTRADICTED, explain, spread,
                abs(d.estimate), False)


def _trend(part: BetaTrend, results: Sequence[dict[str, Any]]) -> Test:
    sweep = beta_sweep(results)
    points = {beta: _values(runs, part.metric, label) for beta, (label, runs) in sweep.items() if _has(runs, part.metric)}
    if len(points) < 2:
        raise NotTested(f"`{part.metric}` at {len(points)} distinct β; need ≥ 2")
    values = ", ".join(f"β={beta:g} {_cell(v, part.metric)}" for beta, v in points.items())
    x = np.concatenate([np.full(len(v), math.log(beta)) for beta, v in points.items()])
    y = np.concatenate([np.asarray(v) for v in points.values()])
    fit = slope_test(x, y)
    direction_ok = fit.slope * part.sign > 0
    exact = "exact" if fit.exact else f"{fit.arrangements:.3g} arrangements, sampled"
    explain = (f"OLS slope per ln β {fit.slope:+.3g} over {len(x)} per-seed points at {len(points)} β values; "
               f"permutation test ({exact}; the smallest p these points allow is {fit.smallest_p:.2g})")  # fmt: skip
    more = "more β values or seeds" + (" (with these points no p can fall below 0.05)" if fit.smallest_p >= ALPHA else "")
    return Test(part.metric, values, fit.p, direction_ok, SUPPORTED if direction_ok else CONTRADICTED, explain, more=more)


def _has(runs: Sequence[dict[str, Any]], metric: str) -> bool:
    return any(isinstance(r["metrics"].get(metric), (int, float)) for r in runs)


def _check_applies(metric: str, results: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`NotApplicable` when no run of the dataset offers what ``metric``'s metric ``requires``, or when
    the benchmark's config did not select it, judged from the capabilities and metrics the runs recorded (records
    without them are taken to allow it)."""
    owner = metric_of(metric)
    identities = [r.get("eval_identity") or {} for r in results]
    recorded = [set(identity["capabilities"]) for identity in identities if "capabilities" in identity]
    if owner is None or len(recorded) < len(results):
        return
    if not any(owner.requires <= caps for caps in recorded):
        raise NotApplicable(f"`{metric}` applies to no run of this dataset (it needs {', '.join(sorted(owner.requires))})")
    applied = [identity["applied"] for identity in identities if "applied" in identity]
    if len(applied) == len(results) and not any(owner.name in names for names in applied):
        raise NotApplicable(f"`{metric}` was not measured by this benchmark's runs (`evaluation.metrics` leaves out "
                            f"`{owner.name}`, its settings disable it, or it was added after they ran)")  # fmt: skip


def _flagged(part: Compare | BetaTrend, results: Sequence[dict[str, Any]]) -> list[str]:
    """The rows a part rests on that carry a flag (degenerate or not converged), as ``label (flag)``."""
    flags = run_flags(results)
    if isinstance(part, BetaTrend):
        labels = {label for label, _ in beta_sweep(results).values()}
    else:
        labels = {part.a.runs(results)[0], part.b.runs(results)[0]}
    found: dict[str, set[str]] = {}
    for r in results:
        if r["label"] in labels:
            found.setdefault(r["label"], set()).update(flags.get(r.get("run_id", ""), []))
    return [f"{label} ({', '.join(sorted(f))})" for label, f in sorted(found.items()) if f]


def _combine(verdicts: Sequence[str]) -> str:
    if all(v == NOT_APPLICABLE for v in verdicts):
        return NOT_APPLICABLE
    verdicts = [NOT_TESTED if v == NOT_APPLICABLE else v for v in verdicts]
    for decisive in (CONTRADICTED, NOT_TESTED):
        if decisive in verdicts:
            return decisive
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else NOT_SEPARATED


def _detail(test: Test, m: int) -> str:
    verdict = test.verdict()
    text = f"{test.explain}; p = {test.p:.2g}, Holm-adjusted over {m} tests {test.adjusted:.2g}"
    if verdict == NOT_SEPARATED:
        text += f"; not separated: {test.more_seeds(m)}"
    if test.flagged:
        kinds = "degenerate" if any(flag in f for f in test.flagged for flag in DEGENERATE) else "flagged"
        text += f"; rests on {kinds} rows: {'; '.join(test.flagged)}"
    return text


def evaluate_claims(
    results: Sequence[dict[str, Any]], claims: Sequence[Claim] = CLAIMS
) -> dict[str, list[dict[str, str]]]:
    """Every claim's verdict per dataset (datasets in first-seen order), Holm-corrected over each dataset's tests."""
    datasets = dict.fromkeys(r["dataset"] for r in results)
    return {d: _dataset_claims([r for r in results if r["dataset"] == d], claims) for d in datasets}


def _dataset_claims(results: Sequence[dict[str, Any]], claims: Sequence[Claim]) -> list[dict[str, str]]:
    tested: list[list[Test | tuple[str, str, str]]] = []
    for claim in claims:
        parts: list[Test | tuple[str, str, str]] = []
        for part in claim.parts:
            try:
                _check_applies(part.metric, results)
                test = (_trend if isinstance(part, BetaTrend) else _compare)(part, results)  # type: ignore[operator]
                parts.append(replace(test, flagged=_flagged(part, results)))
            except NotTested as reason:
                verdict = NOT_APPLICABLE if isinstance(reason, NotApplicable) else NOT_TESTED
                parts.append((part.metric, str(reason), verdict))
        tested.append(parts)
    tests = [t for parts in tested for t in parts if isinstance(t, Test)]
    for test, adjusted in zip(tests, holm([t.p for t in tests])):
        test.adjusted = adjusted
    return [_claim_row(claim, parts, len(tests)) for claim, parts in zip(claims, tested)]


def _claim_row(claim: Claim, parts: list[Test | tuple[str, str, str]], m: int) -> dict[str, str]:
    """id, claim, metric, values, verdict, p (raw → adjusted), detail; several parts joined by ``"; "``."""
    shown = []
    for part in parts:
        if isinstance(part, Test):
            shown.append((part.metric, part.values, part.verdict(), f"{part.p:.2g} → {part.adjusted:.2g}", _detail(part, m)))
        else:
            metric, reason, verdict = part
            shown.append((metric, "n/a", verdict, "n/a", reason))
    several = len(shown) > 1
    return {
        "id": claim.id,
        "claim": claim.text,
        "metric": "; ".join(s[0] for s in shown),
        "values": "; ".join(f"{s[0]}: {s[1]}" if several else s[1] for s in shown),
        "verdict": _combine([s[2] for s in shown]),
        "p": "; ".join(s[3] for s in shown),
        "detail": "; ".join(f"{s[0]} {s[2]}: {s[4]}" if several else s[4] for s in shown),
    }


def evaluate_claim(claim: Claim, results: Sequence[dict[str, Any]]) -> dict[str, str]:
    """One claim's verdict on one dataset's results, as the only claim of its report (Holm over its own tests)."""
    return _dataset_claims(results, [claim])[0]


METHOD = (
    "Verdicts are computed from the per-seed values. Directional claims: Welch's two-sided t-test. \"At least as\" "
    "claims: a one-sided non-inferiority test with the margin stated in the claim (supported only when the data "
    "show the difference is smaller than the margin). Trends in β: the OLS slope against ln β with an exact "
    "permutation p-value over the per-seed points. Holm's correction runs over all the tests of a dataset's claims "
    "(p shown raw → adjusted); a test decides at adjusted p < 0.05. A not-separated test says about how many seeds "
    "would separate it at the measured spread. A claim on a metric that applies to no run of the dataset (a "
    "disentanglement score without ground-truth factors) is not applicable."
)


def claims_markdown(verdicts: Mapping[str, Sequence[Mapping[str, str]]], heading: str = "##") -> str:
    """A section with the method and one table per dataset."""
    columns = ("id", "claim", "metric", "values", "verdict", "p", "detail")
    lines = [f"{heading} Claims", "", METHOD, ""]
    for dataset, rows in verdicts.items():
        lines += [f"{heading}# {dataset}", "", "| # | claim | metric | values | verdict | p (raw → Holm) | detail |",
                  "| --- " * len(columns) + "|"]  # fmt: skip
        for row in rows:
            lines.append("| " + " | ".join(row[k].replace("|", "\\|") for k in columns) + " |")
        lines.append("")
    return "\n".join(lines)
