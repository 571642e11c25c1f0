"""A Jeffreys-penalised fit under a link other than the logit can have more than one maximum: the fit and its
profile intervals must report the highest their starts reach (`ordinal.penalised`). The case of record: the
simulated sheet's cloglog by-group fit of functional upgrading, whose two maxima and profile interval ends R found
independently (tests/reference/jeffreys_cloglog_maxima.json, made by make_cloglog_maxima.R)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from upgrading.ordinal import CumulativeLink, fit_designs, leave_one_out
from upgrading.ordinal.engine import newton
from upgrading.ordinal.links import LOGIT
from upgrading.ordinal.penalised import PENALISED_FLOOR_TOL, PENALISED_TOL, several_maxima
from upgrading.ordinal.profile import constrained_fit
from upgrading.study.models import complete_rows, formula

R = json.loads((Path(__file__).parent / "reference" / "jeffreys_cloglog_maxima.json").read_text())


@pytest.fixture(scope="module")
def cloglog_model(_simulated_cases):
    text = formula("by_group", "functional_upgrading")
    data = _simulated_cases[complete_rows(text, _simulated_cases)]
    return CumulativeLink.from_formula(text, data, aliased="drop", link="cloglog")


@pytest.fixture(scope="module")
def cloglog_fit(cloglog_model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cloglog_model.fit("jeffreys")


def test_the_default_start_alone_reaches_a_lower_maximum_than_the_fit(cloglog_model, cloglog_fit):
    lower = newton(cloglog_model.problem, "jeffreys", tol=PENALISED_TOL, floor_tol=PENALISED_FLOOR_TOL)
    assert lower.converged[0] and cloglog_fit.converged
    assert cloglog_fit.objective > lower.objective[0] + 0.1


def test_the_fit_is_the_highest_maximum_r_finds_from_24_starts(cloglog_model, cloglog_fit):
    highest, lower = R["local_maxima"]
    assert cloglog_fit.objective == pytest.approx(R["global_maximum"]["objective"], abs=1e-8)
    names = cloglog_model.engine_names
    estimates = R["global_maximum"]["estimates"]
    np.testing.assert_allclose(cloglog_fit.theta, [estimates[n] for n in names], atol=1e-6)
    default_only = newton(cloglog_model.problem, "jeffreys", tol=PENALISED_TOL, floor_tol=PENALISED_FLOOR_TOL)
    assert default_only.objective[0] == pytest.approx(lower["objective"], abs=1e-8)  # the maximum once reported
    assert highest["objective"] == R["global_maximum"]["objective"]


def test_profile_interval_ends_are_the_best_branch_ends_r_finds(cloglog_fit):
    ends = R["profile"]["ends"]
    assert R["profile"]["level"] == 0.95 and len(ends) == 11
    table = cloglog_fit.profile_conf_int(cols=list(ends))
    for term, end in ends.items():
        assert table.loc[term].tolist() == pytest.approx([end["conf_low"], end["conf_high"]], abs=1e-5), term
    at_zero = R["natural_resource_based_leader_driven_at_0"]
    root = cloglog_fit.signed_root(at_zero["term"], [0.0])[0]
    assert root == pytest.approx(at_zero["signed_root"], abs=1e-6)  # above 1.96: the interval excludes zero


def test_a_batch_of_designs_reaches_the_same_maximum_as_a_single_fit(cloglog_model, cloglog_fit):
    fits = fit_designs([cloglog_model.design], "cloglog")
    assert fits[0].penalised
    assert fits[0].results().objective == pytest.approx(cloglog_fit.objective, abs=1e-9)
    np.testing.assert_allclose(fits[0].results().theta, cloglog_fit.theta, atol=1e-8)


def test_only_a_penalised_fit_under_another_link_than_the_logit_is_started_twice(cloglog_model):
    problem = cloglog_model.problem
    assert several_maxima(problem, "jeffreys")
    assert not several_maxima(problem, None)
    assert not several_maxima(problem.under(LOGIT), "jeffreys")


def _without(model, i):
    data = model.data.drop(index=model.data.index[i])
    return CumulativeLink.from_formula(model.formula, data, aliased="drop", link="cloglog")


def test_a_warm_started_fit_keeps_the_highest_maximum_of_its_start_and_the_default_ones(cloglog_model, cloglog_fit):
    """Without case 33 the fit's estimates as a start reach a lower maximum than the default and logit starts do,
    without case 7 a higher one: a warm-started fit keeps the highest of the three."""
    for i in (7, 33):
        model = _without(cloglog_model, i)
        warm = newton(model.problem, "jeffreys", start=cloglog_fit.theta[None], tol=PENALISED_TOL)
        default = model.fit("jeffreys", warn=False)
        assert abs(warm.objective[0] - default.objective) > 0.1  # two maxima, and each start misses one
        fit = model.fit("jeffreys", start=cloglog_fit.theta, warn=False)
        assert fit.converged and fit.objective == pytest.approx(max(warm.objective[0], default.objective), abs=1e-9)


def test_leave_one_out_refits_keep_the_highest_maximum(cloglog_model, cloglog_fit, monkeypatch):
    """The refits without cases 7 and 33 (as above) are the higher of the maxima that the fit's estimates and the
    default starts reach (the batch of refits is seen through `diagnostics.newton`, which it fills in place)."""
    from upgrading.ordinal import diagnostics

    seen, original = [], diagnostics.newton
    monkeypatch.setattr(
        diagnostics, "newton", lambda *args, **kwargs: seen.append(original(*args, **kwargs)) or seen[-1]
    )
    left_out = list(leave_one_out(cloglog_fit).attrs["left_out"])
    refits = seen[0]
    assert len(left_out) == refits.objective.size  # every refit converged: row r of the batch leaves out left_out[r]
    for i in (7, 33):
        model = _without(cloglog_model, i)
        warm = newton(model.problem, "jeffreys", start=cloglog_fit.theta[None], tol=PENALISED_TOL)
        default = model.fit("jeffreys", warn=False)
        assert refits.objective[left_out.index(i)] == pytest.approx(max(warm.objective[0], default.objective), abs=1e-8)


def test_a_profile_end_is_where_the_best_of_many_constrained_starts_crosses_the_cutoff(_simulated_cases):
    # On this resample of the simulated sheet the constrained fits of complex-product systems' shift are bimodal:
    # continuing from the neighbouring value alone, the search followed the lower branch and stopped at -3.296,
    # where the best of many starts gives a penalised likelihood ratio of 3.33, inside the interval; starting every
    # constrained fit also from the fit finds the higher branch and the end at -3.484.
    resample = _simulated_cases.sample(len(_simulated_cases), replace=True, random_state=9)
    text = formula("by_group", "functional_upgrading")
    data = resample[complete_rows(text, resample)].reset_index(drop=True)
    model = CumulativeLink.from_formula(text, data, aliased="drop", link="cloglog")
    fit = model.fit("jeffreys", warn=False)
    column = "C(sectoral_group)[T.complex_product_systems]"
    low = fit.profile_conf_int(cols=[column]).iloc[0, 0]
    k, T, starts = model.engine_names.index(column), model.problem.n_thresholds, 40
    start = fit.theta + np.random.default_rng(0).normal(0, 1.5, (starts, len(fit.theta)))
    start[0] = fit.theta
    start[:, :T] = np.sort(start[:, :T], axis=1)
    constrained = constrained_fit(
        model.problem.take(np.zeros(starts, int)), start, np.full(starts, k), np.full(starts, low), "jeffreys"
    )
    best = np.max(constrained.objective[constrained.converged])
    assert 2 * (fit.objective - best) == pytest.approx(stats.chi2.ppf(0.95, 1), abs=1e-5)
    assert low == pytest.approx(-3.48395, abs=1e-4)


def test_the_likelihood_ratio_test_and_the_profile_interval_agree_where_the_constrained_fits_are_bimodal(
    _simulated_cases,
):
    # On this resample, a constrained fit started from the fit alone lands on the lower branch at the interval's
    # upper end (signed root -2.258: "outside"); started also from the quadratic warm start it finds the higher one,
    # and the test says what the interval says: the end is where the signed root is -z(0.975).
    resample = _simulated_cases.sample(len(_simulated_cases), replace=True, random_state=6)
    text = formula("by_group", "functional_upgrading")
    data = resample[complete_rows(text, resample)].reset_index(drop=True)
    fit = CumulativeLink.from_formula(text, data, aliased="drop", link="cloglog").fit("jeffreys", warn=False)
    column = "C(sectoral_group)[T.specialised_suppliers]"
    high = fit.profile_conf_int(cols=[column]).iloc[0, 1]
    assert high == pytest.approx(9.03096, abs=1e-4)
    assert fit.signed_root(column, [high])[0] == pytest.approx(-stats.norm.ppf(0.975), abs=1e-6)
