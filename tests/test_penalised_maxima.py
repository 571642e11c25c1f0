"""A Jeffreys-penalised fit under a link other than the logit can have more than one maximum: the fit and its
profile intervals must report the highest (`ordinal.penalised`). The case of record: the simulated sheet's cloglog
by-group fit of functional upgrading, whose two maxima and profile interval ends R found independently
(tests/reference/jeffreys_cloglog_maxima.json, made by make_cloglog_maxima.R)."""

import warnings

import numpy as np
import pytest

from upgrading.ordinal import CumulativeLink, fit_designs
from upgrading.ordinal.engine import newton
from upgrading.ordinal.penalised import PENALISED_FLOOR_TOL, PENALISED_TOL, several_maxima
from upgrading.study.models import complete_rows, formula


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


def test_a_batch_of_designs_reaches_the_same_maximum_as_a_single_fit(cloglog_model, cloglog_fit):
    fits = fit_designs([cloglog_model.design], "cloglog")
    assert fits[0].penalised
    assert fits[0].results().objective == pytest.approx(cloglog_fit.objective, abs=1e-9)
    np.testing.assert_allclose(fits[0].results().theta, cloglog_fit.theta, atol=1e-8)


def test_only_a_penalised_fit_under_another_link_than_the_logit_is_started_twice(cloglog_model):
    problem = cloglog_model.problem
    assert several_maxima(problem, "jeffreys")
    assert not several_maxima(problem, None)
    assert not several_maxima(problem.under(CumulativeLink(cloglog_model.design).link), "jeffreys")
