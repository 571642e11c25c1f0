"""Brant test, leave-one-out, exact permutation tests, and the analysis tables of notebook 04."""

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET
from scipy import stats

from upgrading.ordinal import (
    OrderedLogit,
    brant_test,
    leave_one_out,
    ordered_logit,
    permutation_association,
)
from upgrading.study import models as analysis
from upgrading.study.coding import load_cases


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


@pytest.mark.parametrize("penalty", [None, "jeffreys"])
def test_leave_one_out_batch_equals_explicit_refits(penalty):
    """The weight-0 batch against refits on the data with the case deleted, one by one."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=25), "g": rng.choice(["a", "b"], 25)})
    df["y"] = _ordinal(df["x"] + (df["g"] == "b") + rng.logistic(size=25), [-1, 0.5, 1.5])
    fit = ordered_logit("y ~ x + g", df, penalty=penalty)
    table = leave_one_out(fit).set_index("term")
    refits = []
    for i in range(len(df)):
        try:
            refits.append(OrderedLogit.from_formula("y ~ x + g", df.drop(index=i)).fit(penalty, warn=False).slopes)
        except Exception:
            continue
    refits = pd.DataFrame(refits)
    assert table["refits"].iloc[0] == len(refits) and table["refits"].iloc[0] + table["refits_failed"].iloc[0] == 25
    np.testing.assert_allclose(table["loo_min"], refits.min()[table.index], atol=1e-6)
    np.testing.assert_allclose(table["loo_max"], refits.max()[table.index], atol=1e-6)


def test_leave_one_out_names_a_refit_that_separates():
    """Leaving out the one case that overlaps makes ML infinite: the range says +inf, not a large number."""
    df = pd.DataFrame({"y": [0, 0, 0, 1, 0, 1, 1, 1], "x": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    fit = ordered_logit("y ~ x", df)
    assert not fit.separation.separated
    row = leave_one_out(fit).set_index("term").loc["x"]
    assert row["loo_max"] == np.inf and np.isfinite(row["loo_min"])


def test_leave_one_out_skips_a_refit_in_which_a_group_slope_is_no_longer_identified():
    """In group b only one case has x = 0: without it x is 1 throughout b, its column that of b's shift, so b's
    slope is not identified (no column is constant) and that refit is skipped and named, not fitted to an
    arbitrary value."""
    rng = np.random.default_rng(4)
    x_a = rng.integers(0, 2, 30).astype(float)
    df = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 12, "x": np.concatenate([x_a, [0.0] + [1.0] * 11])})
    df["y"] = _ordinal(df["x"] + rng.logistic(size=len(df)), [-0.5, 0.8])
    df.loc[30, "y"] = 0  # the one case of b with x = 0
    fit = ordered_logit("y ~ C(g) + C(g):x", df, penalty="jeffreys", warn=False)  # (separated: Jeffreys)
    row = leave_one_out(fit).set_index("term").loc["C(g)[b]:x"]
    assert "1: predictors left collinear (a slope no longer identified)" in row["skipped"]
    assert row["refits"] + row["refits_failed"] == len(df)


def test_permutation_tau_b_matches_scipy_and_is_exact_for_study_sized_groups():
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 4, 7), rng.integers(0, 4, 7)
    result = permutation_association(x, y, 9999, seed=2005)
    assert result["tau_b"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert result["method"].startswith("exact (") and result["draws"] == 0
    big = permutation_association(rng.integers(0, 4, 18), rng.integers(0, 4, 18), n_resamples=999, seed=3)
    assert big["method"] == f"exact ({big['arrangements']:,} distinct arrangements)"
    forced = permutation_association(
        rng.integers(0, 4, 14), rng.integers(0, 4, 14), n_resamples=999, seed=3, max_cells=0
    )
    assert forced["method"].startswith("Monte Carlo (999 draws, MC SE ") and forced["draws"] == 999


def test_permutation_p_values_are_reproducible_and_sensible():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, 15)
    again = [permutation_association(x, x[::-1].copy(), n_resamples=999, seed=9, max_cells=0) for _ in range(2)]
    assert again[0] == again[1]
    strong = permutation_association(x, x, 9999, seed=2005)
    assert strong["p_value"] < 0.01 and strong["tau_b"] == pytest.approx(1.0)
    flat = permutation_association(x, np.zeros(15), n_resamples=999, seed=1)
    assert np.isnan(flat["p_value"]) and "no variance" in flat["reason"]


@pytest.mark.parametrize(
    "term, expected",
    [
        (
            "C(sectoral_group)[traditional_manufacturing]:collective_efficiency",
            ("traditional_manufacturing", "collective_efficiency"),
        ),
        ("C(sectoral_group)[specialised_suppliers]:leader_driven", ("specialised_suppliers", "leader_driven")),
        ("C(governance)[T.network]", ("all", "governance:network")),
        ("collective_efficiency", ("all", "collective_efficiency")),
    ],
)
def test_parse_term(term, expected):
    assert analysis.parse_term(term) == expected


def test_reported_fit_is_jeffreys_exactly_where_ml_is_separated():
    cases = load_cases(SIMULATED_SHEET)
    fits = analysis.fit_models(cases, forms=["functional_upgrading"])
    table = analysis.diagnostics_table(fits)
    for fit, row in zip(fits, table.itertuples()):
        assert row.reported == ("jeffreys" if fit.ml.separation.separated else "ml")
        assert fit.reported.penalty == ("jeffreys" if row.ml_separated else None)


def test_leave_one_out_records_which_cases_its_range_left_out():
    """The refit without the one case of b with x = 0 is skipped: the range of b's slope never left it out, and
    its refit is named in `attrs` by what it left out."""
    rng = np.random.default_rng(4)
    x_a = rng.integers(0, 2, 30).astype(float)
    df = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 12, "x": np.concatenate([x_a, [0.0] + [1.0] * 11])})
    df["y"] = _ordinal(df["x"] + rng.logistic(size=len(df)), [-0.5, 0.8])
    df.loc[30, "y"] = 0
    fit = ordered_logit("y ~ C(g) + C(g):x", df, penalty="jeffreys", warn=False)
    table = leave_one_out(fit)
    assert 30 not in table.attrs["left_out"] and len(table.attrs["left_out"]) == len(df) - 1


def test_a_refit_that_does_not_converge_is_not_counted_as_leaving_out_its_case(monkeypatch):
    """The rows in `attrs["left_out"]` are those whose refit entered the range: a refit that did not converge is
    skipped, and its case is not among them."""
    from upgrading.ordinal import diagnostics

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x": rng.normal(size=40)})
    df["y"] = _ordinal(df["x"] + rng.logistic(size=40), [-0.5, 0.8])
    fit = ordered_logit("y ~ x", df, warn=False)
    original = diagnostics.newton

    def third_fails(*args, **kwargs):
        fits = original(*args, **kwargs)
        fits.converged[2] = False  # the refit without case 2
        return fits

    monkeypatch.setattr(diagnostics, "newton", third_fails)
    table = leave_one_out(fit)
    assert list(table.attrs["left_out"]) == [k for k in range(40) if k != 2]
    assert table.set_index("term").loc["x", "refits"] == 39
