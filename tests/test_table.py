"""Aggregation over seeds on mock results (no model): the error bars, the cells and the best marks."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from benchmarks.reporting.table import aggregate, format_cell, markdown_table, summarize


def _result(label: str, seed: int, **metrics: float) -> dict:
    return {"dataset": "digits", "label": label, "model": label, "seed": seed, "metrics": metrics}


def test_summary_matches_scipy_t_interval() -> None:
    values = [0.10, 0.13, 0.09, 0.12]
    st = summarize(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert math.isclose(st.mean, np.mean(values)) and math.isclose(st.std, np.std(values, ddof=1))
    assert math.isclose(st.ci95, (hi - lo) / 2)
    single = summarize([0.5])
    assert single.n == 1 and math.isnan(single.ci95) and format_cell(single) == "0.5"
    noise = summarize([0.8997214484679666, 0.8997214484679667, 0.8997214484679666])  # float noise only
    assert format_cell(noise) == "0.8997"


def test_cells_rows_best_marks_and_na() -> None:
    results = [_result("ae", s, recon_mse=0.01 + 0.001 * s) for s in range(3)]
    results += [_result("vae", s, recon_mse=0.02 + 0.001 * s, kl_total=5.0 + s, elbo=-30.0 + s) for s in range(3)]
    rows = aggregate(results)
    assert [r.label for r in rows] == ["ae", "vae"] and rows[0].seeds == [0, 1, 2]
    md = markdown_table(rows)
    lines = md.splitlines()
    assert lines[0].startswith("| model | seeds | recon_mse ↓ | elbo ↑ | kl_total |")
    ae_row, vae_row = lines[2], lines[3]
    assert "**0.0110 ± 0.0025**" in ae_row and "n/a" in ae_row  # best recon, no KL for the AE
    assert "| -29.0 ± 2.5 |" in vae_row  # one row with a value: nothing to compare, so no mark
    assert "**" not in vae_row
