"""Brant test, leave-one-out, exact permutation tests, and the analysis tables of notebook 04."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from upgrading.study import models as analysis
from upgrading.study.coding import load_cases
from upgrading.ordinal.diagnostics import brant_test, leave_one_out, permutation_association
from upgrading.ordinal.models import ordered_logit
from upgrading.compendium.paths import DATA_RAW


def _ordinal(latent, cuts):
    return np.searchsorted(np.asarray(cuts), latent)


def test_brant_accepts_proportional_odds_and_rejects_its_violation():
    rng = np.random.default_rng(11)
    n = 1500
    x = rng.normal(size=n)
    po = pd.DataFrame({"x": x, "y": _ordinal(x + rng.logistic(size=n), [-1, 0, 1])})
    assert brant_test(ordered_logit("y ~ x", po)).set_index("term").loc["omnibus", "p_value"] > 0.01
    # cut points that move with x: the effect of x differs from one cut point to the next
    latent = x + rng.logistic(size=n)
    y = np.where(x > 0, _ordinal(latent, [-1, 0, 1]), _ordinal(latent, [-2, 1.5, 1.6]))
    row = brant_test(ordered_logit("y ~ x", pd.DataFrame({"x": x, "y": y}))).set_index("term").loc["omnibus"]
    assert row["p_value"] < 1e-6 and row["df"] == 2


def test_brant_is_undefined_not_invented_when_a_split_is_separated():
    df = pd.DataFrame({"y": [0, 0, 1, 1, 2, 2, 1, 2], "x": [0.0, 0, 1, 1, 1, 1, 0.5, 0.2]})
    table = brant_test(ordered_logit("y ~ x", df))
    assert table["p_value"].isna().all() and table["note"].str.startswith("undefined").all()


def test_leave_one_out_brackets_the_estimate():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=40)})
    df["y"] = _ordinal(df["x"] + rng.logistic(size=40), [-1, 0.5])
    fit = ordered_logit("y ~ x", df)
    table = leave_one_out(fit).set_index("term")
    assert table.loc["x", "loo_min"] <= fit.params["x"] <= table.loc["x", "loo_max"]
    assert table.loc["x", "refits"] + table.loc["x", "refits_failed"] == 40


def test_permutation_tau_b_matches_scipy_and_is_exact_for_small_groups():
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 4, 7), rng.integers(0, 4, 7)
    result = permutation_association(x, y)
    assert result["tau_b"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert result["method"] == "exact" and result["resamples"] == 5040
    big = permutation_association(rng.integers(0, 4, 14), rng.integers(0, 4, 14), n_resamples=999, seed=3)
    assert big["method"] == "Monte Carlo" and big["resamples"] == 999


def test_permutation_p_values_are_reproducible_and_sensible():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, 15)
    again = [permutation_association(x, x[::-1].copy(), n_resamples=999, seed=9) for _ in range(2)]
    assert again[0] == again[1]
    strong = permutation_association(x, x, n_resamples=999, seed=1)
    assert strong["p_value"] < 0.01 and strong["tau_b"] == pytest.approx(1.0)
    flat = permutation_association(x, np.zeros(15), n_resamples=999)
    assert np.isnan(flat["p_value"]) and "no variance" in flat["method"]


@pytest.mark.parametrize("term, expected", [
    ("C(sectoral_group)[traditional_manufacturing]:collective_efficiency",
     ("traditional_manufacturing", "collective_efficiency")),
    ("C(sectoral_group)[specialised_suppliers]:leader_driven", ("specialised_suppliers", "leader_driven")),
    ("C(governance)[T.network]", ("all", "governance:network")),
    ("collective_efficiency", ("all", "collective_efficiency")),
])
def test_parse_term(term, expected):
    assert analysis.parse_term(term) == expected


def test_reported_fit_is_firth_exactly_where_ml_is_separated():
    cases = load_cases(DATA_RAW / "coding_sheet_simulated.csv")
    fits = analysis.fit_models(cases, forms=["functional_upgrading"])
    table = analysis.diagnostics_table(fits)
    for fit, row in zip(fits, table.itertuples()):
        assert row.reported == ("firth" if fit.ml.separation.separated else "ml")
        assert fit.reported.penalty == ("firth" if row.ml_separated else None)
