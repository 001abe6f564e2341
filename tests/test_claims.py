"""Claim verdicts on constructed per-seed values: separated, reversed, overlapping, missing, and β trends."""

from __future__ import annotations

from typing import Any

import pytest
from scipy import stats

from benchmarks.reporting.claims import (
    AE,
    CLAIMS,
    CONTRADICTED,
    NOT_APPLICABLE,
    NOT_SEPARATED,
    NOT_TESTED,
    SUPPORTED,
    BetaTrend,
    Claim,
    Compare,
    Rows,
    claims_markdown,
    evaluate_claim,
    evaluate_claims,
)

LOW, HIGH = [0.010, 0.011, 0.012], [0.020, 0.021, 0.022]  # clearly separated at 3 seeds
NOISY_A, NOISY_B = [1.0, 2.0, 3.0], [1.5, 2.5, 3.5]  # overlapping


def rows(
    model: str, per_seed: dict[str, list[float]], *, label: str | None = None, dataset: str = "digits", **hparams: Any
) -> list[dict]:
    """One row's records: seed i gets value ``per_seed[metric][i]`` for every metric."""
    n = len(next(iter(per_seed.values())))
    return [
        {
            "dataset": dataset,
            "model": model,
            "label": label or model,
            "seed": i,
            "hparams": hparams,
            "metrics": {k: v[i] for k, v in per_seed.items()},
        }
        for i in range(n)
    ]


def claim(claim_id: str) -> Claim:
    return next(c for c in CLAIMS if c.id == claim_id)


def verdict(claim_id: str, results: list[dict]) -> dict[str, str]:
    return evaluate_claim(claim(claim_id), results)


def test_separated_reversed_and_overlapping_comparisons() -> None:
    supported = verdict("1", rows("ae", {"recon_mse": LOW}) + rows("vae", {"recon_mse": HIGH}))
    assert supported["verdict"] == SUPPORTED and supported["values"].startswith("ae 0.0110 ± 0.0025 vs vae 0.0210")
    assert verdict("1", rows("ae", {"recon_mse": HIGH}) + rows("vae", {"recon_mse": LOW}))["verdict"] == CONTRADICTED
    noisy = verdict("1", rows("ae", {"recon_mse": NOISY_A}) + rows("vae", {"recon_mse": NOISY_B}))
    assert noisy["verdict"] == NOT_SEPARATED and "p = 0.57" in noisy["detail"]
    assert "seeds per row would separate it" in noisy["detail"]  # what it would take, at this spread


def test_verdict_agrees_with_the_welch_interval_near_the_threshold() -> None:
    a = [1.0, 1.1, 1.2]
    seen = set()
    for shift in (0.05, 0.15, 0.25, 0.35):
        b = [x + shift for x in a]
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        expected = SUPPORTED if ci.high < 0 else NOT_SEPARATED
        assert verdict("1", rows("ae", {"recon_mse": a}) + rows("vae", {"recon_mse": b}))["verdict"] == expected
        seen.add(expected)
    assert seen == {SUPPORTED, NOT_SEPARATED}  # the shifts straddle the threshold


def test_same_row_two_metrics() -> None:
    result = verdict("3", rows("ae", {"fid_gmm": [20.0, 21.0, 22.0], "fid_prior": [80.0, 85.0, 90.0]}))
    assert result["verdict"] == SUPPORTED and "ae fid_gmm" in result["values"] and "ae fid_prior" in result["values"]


def test_missing_metric_row_or_seeds_is_not_tested_with_the_reason() -> None:
    missing_metric = verdict("2", rows("ae", {"recon_mse": LOW}) + rows("vae", {"recon_mse": HIGH}))
    assert missing_metric["verdict"] == NOT_TESTED and "`fid_prior` of vae has 0 finite seed value(s)" in missing_metric["detail"]
    missing_row = verdict("1", rows("ae", {"recon_mse": LOW}))
    assert missing_row["verdict"] == NOT_TESTED and "no `vae` row" in missing_row["detail"]
    one_seed = verdict("1", rows("ae", {"recon_mse": LOW[:1]}) + rows("vae", {"recon_mse": HIGH}))
    assert one_seed["verdict"] == NOT_TESTED and "need ≥ 2" in one_seed["detail"]
    two_aes = rows("ae", {"recon_mse": LOW}) + rows("ae", {"recon_mse": LOW}, label="ae[latent_dim=2]")
    two_aes += rows("vae", {"recon_mse": HIGH})
    assert verdict("1", two_aes)["verdict"] == NOT_TESTED and "all match `ae`" in verdict("1", two_aes)["detail"]


def test_two_part_claim_needs_both_parts() -> None:
    both = rows("ae", {"fid_prior": HIGH, "interp_path_ratio": HIGH}) + rows("vae", {"fid_prior": LOW, "interp_path_ratio": LOW})
    assert verdict("4", both)["verdict"] == SUPPORTED
    assert verdict("4", both)["metric"] == "fid_prior; interp_path_ratio"
    one_noisy = rows("ae", {"fid_prior": HIGH, "interp_path_ratio": NOISY_A})
    one_noisy += rows("vae", {"fid_prior": LOW, "interp_path_ratio": NOISY_B})
    assert verdict("4", one_noisy)["verdict"] == NOT_SEPARATED
    one_reversed = rows("ae", {"fid_prior": HIGH, "interp_path_ratio": LOW})
    one_reversed += rows("vae", {"fid_prior": LOW, "interp_path_ratio": HIGH})
    assert verdict("4", one_reversed)["verdict"] == CONTRADICTED
    one_missing = rows("ae", {"fid_prior": HIGH}) + rows("vae", {"fid_prior": LOW})
    result = verdict("4", one_missing)
    assert result["verdict"] == NOT_TESTED and result["detail"].startswith("fid_prior supported:")


def test_at_least_as_claim_needs_evidence_of_non_inferiority() -> None:
    equal = [0.933, 0.933, 0.933]  # the old report: "t = 0.00, p = 1 → supported"
    tie = verdict("6", rows("vae", {"probe_acc": [0.93, 0.95, 0.92]}) + rows("ae", {"probe_acc": [0.94, 0.92, 0.95]}))
    assert tie["verdict"] == NOT_SEPARATED and "seeds per row would separate it" in tie["detail"]  # absence of evidence
    tight = verdict("6", rows("vae", {"probe_acc": equal}) + rows("ae", {"probe_acc": [0.932, 0.934, 0.933]}))
    assert tight["verdict"] == SUPPORTED  # within 0.02 with confidence
    lower = verdict("6", rows("vae", {"probe_acc": [0.22, 0.23, 0.21]}) + rows("ae", {"probe_acc": [0.31, 0.30, 0.32]}))
    assert lower["verdict"] == CONTRADICTED  # the dSprites case: the VAE's mean lower by 0.09, beyond the margin
    assert "margin 0.02" in lower["detail"] and "→" in lower["p"]


def test_relative_margin_scales_with_the_reference_rows_mean() -> None:
    """Claim 8's margin is 10% of the VAE's error: the same gap passes on a large error and fails on a small one."""
    vae = [1.00, 1.01, 0.99]
    within = verdict("8", rows("ae", {"denoise_mse_gauss0.3": [1.05, 1.051, 1.049]}) + rows("vae", {"denoise_mse_gauss0.3": vae}))
    assert within["verdict"] == SUPPORTED and "margin 0.1 (10% of vae's mean)" in within["detail"]
    small = [v / 100 for v in vae]  # the same 5% gap, at a hundredth of the scale: still within 10%
    scaled = verdict("8", rows("ae", {"denoise_mse_gauss0.3": [0.0105, 0.01051, 0.01049]}) + rows("vae", {"denoise_mse_gauss0.3": small}))
    assert scaled["verdict"] == SUPPORTED and "margin 0.001 (10%" in scaled["detail"]
    beyond = verdict("8", rows("ae", {"denoise_mse_gauss0.3": [1.30, 1.31, 1.29]}) + rows("vae", {"denoise_mse_gauss0.3": vae}))
    assert beyond["verdict"] == CONTRADICTED  # 30% worse
    with pytest.raises(ValueError, match="relative"):
        Compare("recon_mse", AE, "<", AE, relative=True)


def sweep(values_by_beta: dict[float, list[float]], metric: str = "recon_mse") -> list[dict]:
    return [
        r for beta, v in values_by_beta.items() for r in rows("beta_vae", {metric: v}, label=f"beta_vae[beta={beta:g}]", beta=beta)
    ]


TREND = Claim("t", "recon_mse rises with β", (BetaTrend("recon_mse", 1),))


def test_beta_trend_slope_sign_and_significance() -> None:
    rising = {0.5: [0.010, 0.011, 0.012], 4.0: [0.020, 0.021, 0.022], 16.0: [0.030, 0.031, 0.029]}
    assert evaluate_claim(TREND, sweep(rising))["verdict"] == SUPPORTED
    falling = {b: v for b, v in zip(rising, reversed(rising.values()))}
    assert evaluate_claim(TREND, sweep(falling))["verdict"] == CONTRADICTED
    flat = {0.5: NOISY_A, 4.0: NOISY_B, 16.0: NOISY_A}
    assert evaluate_claim(TREND, sweep(flat))["verdict"] == NOT_SEPARATED
    constant = evaluate_claim(TREND, sweep({0.5: [4.0] * 3, 4.0: [4.0] * 3}))
    assert constant["verdict"] == NOT_SEPARATED and "nan" not in constant["detail"]


def test_a_zero_variance_slope_at_two_betas_cannot_claim_more_than_the_seeds_allow() -> None:
    """The old report: "slope −2.89 (95% CI −2.89 to −2.89), p = 1.8e-32" from active units 4 and 0 at two β."""
    result = evaluate_claim(TREND, sweep({1.0: [4.0] * 3, 4.0: [0.0] * 3}, metric="recon_mse"))
    assert result["verdict"] == NOT_SEPARATED  # 20 arrangements: p ≥ 0.1 two-sided, whatever the data
    assert "p = 0.1" in result["detail"] and "no p can fall below 0.05" in result["detail"]


def test_beta_trend_counts_the_vae_as_beta_one_and_needs_two_betas() -> None:
    single = sweep({4.0: HIGH})
    result = evaluate_claim(TREND, single)
    assert result["verdict"] == NOT_TESTED and "1 distinct β" in result["detail"]
    higher = [0.030, 0.031, 0.032]
    with_vae = evaluate_claim(TREND, sweep({4.0: HIGH, 16.0: higher}) + rows("vae", {"recon_mse": LOW}))
    assert with_vae["verdict"] == SUPPORTED and with_vae["values"].startswith("β=1 ") and "β=4 " in with_vae["values"]
    two_betas = evaluate_claim(TREND, single + rows("vae", {"recon_mse": LOW}))
    assert two_betas["verdict"] == NOT_SEPARATED  # 3 seeds at 2 β: 20 arrangements, p ≥ 0.1
    with_beta_one = evaluate_claim(TREND, sweep({1.0: LOW, 4.0: HIGH, 16.0: higher}) + rows("vae", {"recon_mse": HIGH}))
    assert with_beta_one["verdict"] == SUPPORTED  # the β = 1 row, not the (contrary) VAE
    duplicate = sweep({4.0: HIGH}) + rows("beta_vae", {"recon_mse": LOW}, label="beta_vae[latent_dim=2]", beta=4.0)
    assert evaluate_claim(TREND, duplicate)["verdict"] == NOT_TESTED


def test_a_new_claim_is_one_entry_and_rows_can_be_named_by_hparams() -> None:
    results = rows("ae", {"fid_prior": HIGH}) + sweep({0.5: [1.0, 1.0, 1.1], 4.0: LOW}, metric="fid_prior")
    new = Claim("new", "β = 4 samples beat the AE's", (Compare("fid_prior", Rows("beta_vae", {"beta": 4.0}), "<", AE),))
    by_dataset = evaluate_claims(results, [*CLAIMS, new])
    assert [c["id"] for c in by_dataset["digits"]] == [c.id for c in CLAIMS] + ["new"]
    assert by_dataset["digits"][-1]["verdict"] == SUPPORTED


def test_claims_are_per_dataset_and_render_as_markdown() -> None:
    results = rows("ae", {"recon_mse": LOW}) + rows("vae", {"recon_mse": HIGH}) + rows("ae", {"recon_mse": HIGH}, dataset="mnist")
    by_dataset = evaluate_claims(results)
    assert list(by_dataset) == ["digits", "mnist"]
    assert by_dataset["digits"][0]["verdict"] == SUPPORTED and by_dataset["mnist"][0]["verdict"] == NOT_TESTED
    md = claims_markdown(by_dataset)
    assert "### digits" in md and "### mnist" in md
    table_lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 2 * (2 + len(CLAIMS)) and all(line.count(" | ") == 6 for line in table_lines)


def test_holm_runs_over_every_test_of_a_dataset() -> None:
    # each claim alone would pass at p ≈ 0.03; among the six claims' tests Holm lifts it above 0.05
    a, b = [1.0, 1.1, 1.2], [1.25, 1.35, 1.45]
    results = rows("ae", {"recon_mse": a, "fid_prior": b, "interp_path_ratio": b, "probe_acc": LOW})
    results += rows("vae", {"recon_mse": b, "fid_prior": a, "interp_path_ratio": a, "probe_acc": HIGH})
    alone = evaluate_claim(claim("1"), results)
    together = evaluate_claims(results)["digits"][0]
    raw, adjusted = (float(x) for x in together["p"].split(" → "))
    assert alone["verdict"] == SUPPORTED and together["verdict"] == NOT_SEPARATED
    assert raw < 0.05 < adjusted and adjusted == pytest.approx(min(1.0, 4 * raw), rel=0.02)  # 4 tests tested


@pytest.mark.parametrize("relation", ["<", ">"])
def test_relation_direction(relation: str) -> None:
    part = Compare("recon_mse", AE, relation, Rows("vae"))  # type: ignore[arg-type]
    result = evaluate_claim(Claim("x", "x", (part,)), rows("ae", {"recon_mse": LOW}) + rows("vae", {"recon_mse": HIGH}))
    assert result["verdict"] == (SUPPORTED if relation == "<" else CONTRADICTED)


def with_capabilities(records: list[dict], *capabilities: str) -> list[dict]:
    """The records as a real run writes them: with the capabilities their evaluation recorded."""
    return [{**r, "eval_identity": {"capabilities": sorted(capabilities)}} for r in records]


def disentanglement_sweep(values_by_beta: dict[float, list[float]]) -> list[dict]:
    """The VAE as β = 1 and β-VAE rows at the other β, with the same per-seed values for MIG and DCI."""
    records = rows("vae", {"mig": values_by_beta[1.0], "dci_disentanglement": values_by_beta[1.0]})
    for beta, values in values_by_beta.items():
        if beta != 1.0:
            scores = {"mig": values, "dci_disentanglement": values}
            records += rows("beta_vae", scores, label=f"beta_vae[beta={beta:g}]", beta=beta)
    return with_capabilities(records, "decoder", "labels", "factors")


def test_raising_beta_increases_disentanglement_claim() -> None:
    rising = disentanglement_sweep({1.0: [0.05, 0.06, 0.07], 4.0: [0.15, 0.16, 0.17], 16.0: [0.30, 0.31, 0.29]})
    result = verdict("7", rising)
    assert claim("7").text == "Raising β increases disentanglement (MIG, DCI)"
    assert result["verdict"] == SUPPORTED and result["metric"] == "mig; dci_disentanglement"
    assert result["values"].startswith("mig: β=1 ") and "β=16 " in result["values"]
    flat = verdict("7", disentanglement_sweep({1.0: NOISY_A, 4.0: NOISY_B, 16.0: NOISY_A}))
    assert flat["verdict"] == NOT_SEPARATED
    falling = verdict("7", disentanglement_sweep({1.0: [0.30, 0.31, 0.29], 4.0: [0.15, 0.16, 0.17], 16.0: [0.05, 0.06]}))
    assert falling["verdict"] == CONTRADICTED


def test_disentanglement_claim_is_not_applicable_without_factors() -> None:
    capabilities = ("decoder", "labels", "likelihood", "prior", "gaussian_posterior", "standard_normal_prior")
    digits = with_capabilities(sweep({4.0: HIGH, 16.0: LOW}) + rows("vae", {"recon_mse": LOW}), *capabilities)
    result = evaluate_claims(digits)["digits"]
    row = next(c for c in result if c["id"] == "7")
    assert row["verdict"] == NOT_APPLICABLE and row["values"] == "mig: n/a; dci_disentanglement: n/a"
    assert "applies to no run of this dataset (it needs factors)" in row["detail"]
    trend = next(c for c in result if c["id"] == "5")  # the claims that apply are still tested, and alone in Holm
    assert trend["verdict"] != NOT_APPLICABLE and "Holm-adjusted over 1 tests" in trend["detail"]
    unrecorded = verdict("7", sweep({4.0: HIGH, 16.0: LOW}))  # records that do not say: missing, not inapplicable
    assert unrecorded["verdict"] == NOT_TESTED


def test_a_claim_on_a_metric_the_config_did_not_select_is_not_applicable() -> None:
    records = rows("ae", {"recon_mse": LOW}) + rows("vae", {"recon_mse": HIGH})
    measured = [{**r, "eval_identity": {"capabilities": ["decoder", "labels"], "applied": ["recon_mse"]}} for r in records]
    assert verdict("1", measured)["verdict"] == SUPPORTED
    skipped = verdict("12", measured)  # retrieval applies to labelled data, but this config measured recon_mse only
    assert skipped["verdict"] == NOT_APPLICABLE and "`evaluation.metrics` leaves out `retrieval`" in skipped["detail"]
