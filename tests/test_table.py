"""Aggregation over seeds on mock results (no model): the error bars, the cells, and which cells are marked."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from benchmarks.reporting.stats import summarize
from benchmarks.reporting.table import aggregate, cell_grid, format_cell, marks
from benchmarks.reporting.writers import grouped_markdown, markdown_table


def _result(label: str, seed: int, **metrics: float) -> dict:
    return {"dataset": "digits", "label": label, "model": label, "seed": seed, "metrics": metrics}


def test_summary_matches_scipy_t_interval() -> None:
    values = [0.10, 0.13, 0.09, 0.12]
    st = summarize(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert math.isclose(st.mean, np.mean(values)) and math.isclose(st.std, np.std(values, ddof=1))
    assert math.isclose(st.ci95, (hi - lo) / 2) and math.isclose(st.low, lo) and math.isclose(st.high, hi)
    single = summarize([0.5])
    assert single.n == 1 and math.isnan(single.ci95) and format_cell(single) == "0.5"
    noise = summarize([0.8997214484679666, 0.8997214484679667, 0.8997214484679666])  # float noise only
    assert format_cell(noise) == "0.8997"


def test_a_bounded_interval_never_leaves_its_bounds() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        near_zero = rng.exponential(0.5, size=rng.integers(2, 6))  # FID-like values near 0
        near_one = 1 - rng.exponential(0.01, size=rng.integers(2, 6)).clip(max=1)  # accuracies near 1
        low0 = summarize(near_zero.tolist(), (0.0, None))
        unit = summarize(near_one.tolist(), (0.0, 1.0))
        assert low0.low >= 0.0 and low0.high == low0.mean + low0.ci95
        assert 0.0 <= unit.low and unit.high <= 1.0
    fid_data = summarize([0.3, 4.0, 9.9], (0.0, None))  # the case of the old report: "4.7 ± 5.2"
    assert fid_data.truncated and format_cell(fid_data) == "5 [0, 17]"  # not "4.7 ± 12": below 0 is impossible


def test_best_is_marked_only_when_separated_and_a_tie_marks_the_group() -> None:
    separated = [_result("a", s, recon_mse=0.010 + 0.0001 * s) for s in range(3)]
    separated += [_result("b", s, recon_mse=0.020 + 0.0001 * s) for s in range(3)]
    assert marks(aggregate(separated), "recon_mse") == {"a": "best"}
    overlapping = [_result("a", s, fid_prior=v) for s, v in enumerate([10.0, 20.0, 30.0])]
    overlapping += [_result("b", s, fid_prior=v) for s, v in enumerate([15.0, 25.0, 35.0])]
    overlapping += [_result("c", s, fid_prior=v) for s, v in enumerate([300.0, 301.0, 302.0])]
    assert marks(aggregate(overlapping), "fid_prior") == {"a": "tied", "b": "tied"}  # c is separated, not tied
    md = markdown_table(aggregate(overlapping))
    assert "**20 [0, 45]** ≈" in md and "**25 ± 25** ≈" in md and "| 301.0 ± 2.5 |" in md
    assert marks(aggregate(overlapping), "kl_total") == {}  # no better direction: nothing to mark


def test_cells_rows_and_na_and_groups() -> None:
    results = [_result("ae", s, recon_mse=0.01 + 0.001 * s) for s in range(3)]
    results += [_result("vae", s, recon_mse=0.02 + 0.001 * s, kl_total=5.0 + s, elbo=-30.0 + s) for s in range(3)]
    rows = aggregate(results)
    assert [r.label for r in rows] == ["ae", "vae"] and rows[0].seeds == [0, 1, 2]
    columns, cells = cell_grid(rows)
    assert columns == ["recon_mse", "elbo", "kl_total"]
    assert cells[0][0] == ("0.0110 ± 0.0025", "best") and cells[0][1] == ("n/a", None)  # no ELBO for the AE
    assert cells[1][1] == ("-29.0 ± 2.5", None)  # one row with a value: nothing to compare, so no mark
    grouped = grouped_markdown(rows)
    assert grouped.index("**reconstruction**") < grouped.index("**likelihood and posterior**")
    assert grouped.count("| model | seeds |") == 2  # one table per group with columns
