"""Every p-value of the claims check comes from the inference behind the interval beside it, and the verdicts
are reproducible from the p-values alone: raw from raw, Holm-adjusted from the adjusted ones."""

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET

from upgrading.study import claims
from upgrading.study.coding import load_cases


@pytest.fixture(scope="module")
def table():
    return claims.evaluate(load_cases(SIMULATED_SHEET), n_resamples=99)


def _from_p(p_consistent, p_contradicted):
    return np.select([p_consistent < 0.05, p_contradicted < 0.05], ["consistent", "contradicted"], "inconclusive")


@pytest.mark.slow
def test_raw_verdicts_are_the_decision_p_values_at_five_percent(table):
    """The statistics decide the raw verdict; the p-values, computed from the same statistics, must agree."""
    assert (table["fit"] == "jeffreys").any() and (table["fit"] == "ml").any(), "both kinds of fit exercised"
    np.testing.assert_array_equal(_from_p(table["p_consistent"], table["p_contradicted"]), table["verdict"])


@pytest.mark.slow
def test_raw_verdicts_are_the_rule_on_the_printed_intervals(table):
    """The verdict beside each claim is the declared rule read off the intervals printed beside it."""
    from upgrading.study import verdicts

    for row in table.itertuples():
        decided = verdicts.decide(row.expected, (row.ci_low, row.ci_high), (row.ci90_low, row.ci90_high), row.margin)
        assert decided == row.verdict, row.id


def test_two_sided_p_matches_the_95_interval(table):
    outside = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    np.testing.assert_array_equal(table["p_value"] < 0.05, outside)
    assert set(table.loc[table["fit"] == "jeffreys", "test"]) == {"penalised likelihood ratio"}
    assert set(table.loc[table["fit"] == "ml", "test"]) == {"Wald"}


def test_holm_adjusts_one_family_of_two_tests_per_claim(table):
    family = np.r_[table["p_consistent"], table["p_contradicted"]]
    m = len(family)
    order = np.argsort(family, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):  # Holm (1979) step-down, by hand
        running = max(running, min(1.0, (m - rank) * family[index]))
        adjusted[index] = running
    np.testing.assert_allclose(table["p_consistent_holm"], adjusted[: len(table)])
    np.testing.assert_allclose(table["p_contradicted_holm"], adjusted[len(table) :])
    np.testing.assert_array_equal(
        _from_p(table["p_consistent_holm"], table["p_contradicted_holm"]), table["verdict_holm"]
    )


def test_penalised_decision_statistics_are_likelihood_ratio_roots():
    """For a penalised fit, r(v)^2 is twice the drop of the penalised log-likelihood when the slope is held at v
    (checked with scipy's optimiser over the other parameters), and the 95% profile interval ends where
    r = -+1.96."""
    from scipy import optimize

    from upgrading.ordinal import ordered_logit
    from upgrading.ordinal.engine import evaluate

    df = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1, 2, 2, 0, 2, 2], "x": np.r_[np.arange(9.0), 2.5, 1.0]})
    fit = ordered_logit("y ~ x", df, penalty="jeffreys")
    low, high = fit.profile_conf_int().loc["x"]
    roots = fit.signed_root("x", [0.0, 0.405, -0.405])
    assert roots[2] > roots[0] > roots[1]  # r(v) falls as v rises
    for value, root in zip([0.0, 0.405, -0.405], roots):

        def minus(free, value=value):
            theta = np.r_[free, value][None, :]
            return -evaluate(theta, fit.model.problem, "jeffreys")[0][0]

        best = optimize.minimize(minus, fit.theta[:2], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
        assert root**2 == pytest.approx(2 * (fit.objective + best.fun), abs=1e-7)
    np.testing.assert_allclose(fit.signed_root("x", [low, high]), [1.959963984540054, -1.959963984540054], atol=1e-6)


def test_a_signed_root_is_computed_once_per_column_and_values(monkeypatch):
    """`tidy` asks each slope's root at 0 every time a table shows the fit: the second time it is read back, the
    same numbers, and a caller that changes the array it got changes nothing kept."""
    from upgrading.ordinal import ordered_logit
    from upgrading.ordinal import results as results_module

    df = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1, 2, 2, 0, 2, 2], "x": np.r_[np.arange(9.0), 2.5, 1.0]})
    fit = ordered_logit("y ~ x", df, penalty="jeffreys")
    first, table = np.array(fit.signed_root("x", [0.0, 0.405])), fit.tidy()  # a copy of what it returned
    solved = []
    monkeypatch.setattr(results_module, "likelihood_ratios", lambda *a, **k: solved.append(a) or (None, None))
    again = fit.signed_root("x", [0.0, 0.405])
    np.testing.assert_array_equal(again, first)
    again[:] = 99.0
    np.testing.assert_array_equal(fit.signed_root("x", [0.0, 0.405]), first)
    pd.testing.assert_frame_equal(fit.tidy(), table)
    assert not solved
    with pytest.raises(TypeError):  # other values are solved (here by the stand-in, which returns nothing)
        fit.signed_root("x", [0.2])
    assert len(solved) == 1


def test_the_exhibit_says_what_each_p_value_column_is():
    """A reader of claims_verdicts finds what p_value, p_consistent and p_contradicted test in its own notes (a
    reviewer's trace: only notebook 05's code said so)."""
    from upgrading.paths import ROOT

    text = (ROOT / "figures" / "claims_verdicts.md").read_text()
    assert "p_value: the two-sided test of 0 (`test`: Wald for ML, the signed root of the penalised likelihood" in text
    assert "p_consistent, p_contradicted: the p-values of the tests whose rejection at 5% makes each verdict" in text
    assert "the _holm columns adjusted by Holm over the register's family of both tests of every claim" in text
