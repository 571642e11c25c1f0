"""Jeffreys-penalised and mean bias-reduced fits against R references (tests/reference/jeffreys_ref.json,
br_ref.json: R 4.2.2's own analytic code, cross-checked independently; see tests/reference/README.md), at the
tolerances that README states, and the numerics that once failed far in the logistic tails."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from upgrading.errors import UpgradingError
from upgrading.ordinal import OrderedLogit, ordered_logit

REFERENCE = Path(__file__).parent / "reference"
JEFFREYS = json.loads((REFERENCE / "jeffreys_ref.json").read_text())["fits"]
BR = json.loads((REFERENCE / "br_ref.json").read_text())["fits"]


def _r_name(term: str) -> str:
    return re.sub(r"\[T\.([^\]]+)\]", r"\1", term)  # patsy 'f[T.02_q]' -> R 'f02_q'


def _model(entry: dict) -> OrderedLogit:
    df = pd.read_csv(REFERENCE / entry["data"])
    for column, levels in (entry.get("factor_levels") or {}).items():
        df[column] = pd.Categorical(df[column].astype(str), categories=levels)
    outcome = entry["outcome"]
    df[outcome] = pd.Categorical(df[outcome].astype(str), categories=entry["outcome_levels"], ordered=True)
    return OrderedLogit.from_formula(entry["formula"], df)


@pytest.fixture(scope="module")
def jeffreys_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # three of the data sets are separated on purpose
        return {name: _model(entry).fit("jeffreys") for name, entry in JEFFREYS.items()}


@pytest.mark.parametrize("name", sorted(JEFFREYS))
def test_jeffreys_estimates_ses_and_objective_match_r(name, jeffreys_fits):
    ref, fit = JEFFREYS[name], jeffreys_fits[name]
    slopes = {_r_name(t): v for t, v in fit.slopes.items()}
    assert set(slopes) == set(ref["beta"])
    for term, value in ref["beta"].items():
        assert slopes[term] == pytest.approx(value, abs=1e-6), term
    np.testing.assert_allclose(fit.thresholds.to_numpy(), list(ref["alpha"].values()), atol=1e-6)
    bse = {_r_name(t): v for t, v in fit.bse.items()}
    for term, value in {**ref["se_beta"], **ref["se_alpha"]}.items():  # inverse expected information
        assert bse[term] == pytest.approx(value, abs=1e-6), term
    assert fit.penalised_llf == pytest.approx(ref["penalised_loglik"], abs=1e-8)
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-8)
    assert fit.converged


@pytest.mark.parametrize("name", sorted(JEFFREYS))
def test_jeffreys_profile_intervals_match_r(name, jeffreys_fits):
    ref, fit = JEFFREYS[name], jeffreys_fits[name]
    intervals = fit.profile_conf_int(0.05).rename(index=_r_name)
    for term, (low, high) in ref["profile_ci_95"].items():
        assert intervals.loc[term, 0] == pytest.approx(low, abs=1e-5), term
        assert intervals.loc[term, 1] == pytest.approx(high, abs=1e-5), term


@pytest.mark.parametrize("name", sorted(BR))
def test_mean_bias_reduction_matches_r(name):
    ref = BR[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = _model(ref).fit("br")
    slopes = {_r_name(t): v for t, v in fit.slopes.items()}
    for term, value in ref["beta"].items():
        assert slopes[term] == pytest.approx(value, abs=1e-6), term
    np.testing.assert_allclose(fit.thresholds.to_numpy(), list(ref["alpha"].values()), atol=1e-6)
    bse = {_r_name(t): v for t, v in fit.bse.items()}
    for term, value in {**ref["se_beta"], **ref["se_alpha"]}.items():
        assert bse[term] == pytest.approx(value, abs=1e-6), term
    assert fit.converged
    # not the Jeffreys estimate: for the cumulative logit the two differ
    jeffreys_theta = _model(ref).fit("jeffreys", warn=False).theta
    assert np.max(np.abs(jeffreys_theta - fit.theta)) == pytest.approx(ref["max_abs_diff_from_jeffreys"], abs=1e-6)
    with pytest.raises(UpgradingError, match="no objective function"):
        fit.profile_conf_int()


COMPLETE = pd.DataFrame({"y": [0] * 4 + [1] * 4 + [2] * 4, "x": np.arange(1.0, 13.0)})


def test_profile_interval_ends_where_the_profile_crosses_its_cutoff_under_complete_separation():
    """Plain subtraction of cumulative logistics made this interval stop at 5.238 (arithmetic failure);
    the profile crosses chi2_1(0.95) at 5.928."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ordered_logit("y ~ x", COMPLETE, penalty="jeffreys")
    low, high = fit.profile_conf_int().loc["x"]
    assert high == pytest.approx(5.928, abs=1e-3)
    cutoff = stats.chi2.ppf(0.95, 1)
    for end in (low, high):
        assert fit.signed_root("x", end)[0] ** 2 == pytest.approx(cutoff, abs=1e-6)


def test_penalised_fit_with_a_wide_predictor_range_converges_to_the_rescaled_fit():
    """Two cases far out on x: at the optimum some category probabilities are below 1e-200, which plain
    subtraction of cumulative logistics turns into 0 (and the penalty's score into 0/0). The Jeffreys prior is
    invariant under reparametrisation, so the fit on x / 100 is an independent check: its slope is exactly 100
    times larger and its penalised log-likelihood log(100) smaller."""
    from scipy.special import expit

    x = np.r_[np.arange(1.0, 41.0) * 10, -2000, 6000]
    y = np.r_[np.where(x[:40] < 140, 0, np.where(x[:40] < 280, 1, 2)), 0, 2]
    y[[12, 13, 26, 27]] = [1, 0, 2, 1]  # overlap at both boundaries: not separated
    wide = pd.DataFrame({"y": y, "x": x})
    fit_wide = ordered_logit("y ~ x", wide, penalty="jeffreys")
    fit_narrow = ordered_logit("y ~ x", wide.assign(x=x / 100), penalty="jeffreys")
    assert fit_wide.converged and fit_narrow.converged and not fit_wide.separation.separated
    assert fit_wide.slopes["x"] * 100 == pytest.approx(fit_narrow.slopes["x"], rel=1e-9)
    assert fit_wide.penalised_llf == pytest.approx(fit_narrow.penalised_llf + np.log(100), abs=1e-8)
    u = fit_wide.thresholds.to_numpy()[None, :] - (fit_wide.slopes["x"] * x)[:, None]
    plain = np.diff(np.c_[np.zeros(len(x)), expit(u), np.ones(len(x))], axis=1)
    assert (plain == 0).sum() > 0, "the data must reach where plain subtraction fails"


def test_a_fit_that_cannot_converge_is_flagged_not_passed_off():
    from upgrading.ordinal import ModelWarning

    df = pd.DataFrame({"y": [0, 1, 2, 1, 2, 0, 2, 1], "x": [0.1, 0.5, 0.9, 0.3, 0.2, 0.8, 0.7, 0.4]})
    with pytest.warns(ModelWarning, match="did not converge"):
        fit = OrderedLogit.from_formula("y ~ x", df).fit("jeffreys", max_iter=2)
    assert not fit.converged
    assert "False" in fit.summary().as_text()


@pytest.mark.parametrize("name", sorted(JEFFREYS))
def test_penalised_hessian_ses_match_r(name, jeffreys_fits):
    """The curvature of the penalised log-likelihood (a central difference of the engine's analytic penalised
    score) gives R's penalised-Hessian SEs. The package reports the expected-information SEs instead (`bse`),
    as logistf and brglm2 do; this checks the objective's second derivatives against the reference too."""
    from upgrading.ordinal.engine import evaluate

    ref, fit = JEFFREYS[name], jeffreys_fits[name]
    theta, problem = fit.theta, fit.model.problem
    h = 1e-5
    columns = []
    for step in np.eye(len(theta)) * h:
        up = evaluate((theta + step)[None, :], problem, "jeffreys")[2][0]
        down = evaluate((theta - step)[None, :], problem, "jeffreys")[2][0]
        columns.append((up - down) / (2 * h))
    hessian = np.array(columns)
    se = np.sqrt(np.diag(np.linalg.inv(-(hessian + hessian.T) / 2)))
    names = [_r_name(t) for t in fit.design.threshold_names + fit.design.names]
    expected = {**ref["se_alpha_penalised_hessian"], **ref["se_beta_penalised_hessian"]}
    for term, value in expected.items():
        assert se[names.index(term)] == pytest.approx(value, rel=1e-5), term
