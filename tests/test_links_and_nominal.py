"""Cumulative link models beyond the logit: R clm's five links and nominal (partial proportional odds) effects,
against R 4.2.2 `ordinal::clm` (reference/interpretation_ref.json), with analytic derivatives checked by finite
differences for every link."""

import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import interpretation_case, r_parameter_name
from scipy import optimize

from upgrading.errors import UpgradingError
from upgrading.ordinal import Batch, CumulativeLink, ModelWarning, OrderedLogit, build_design
from upgrading.ordinal.engine import evaluate
from upgrading.ordinal.likelihood import loglik
from upgrading.ordinal.links import LINKS, get_link

CASES = ["wine", "sim_product", "sim_functional"]
EXACT_LINKS = ["logit", "probit", "cloglog", "loglog"]


def _in_r_names(series: pd.Series, nominal: bool = False) -> dict:
    return {r_parameter_name(name, nominal): value for name, value in series.items()}


def _fit(name, link="logit", nominal=None):
    case, data = interpretation_case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, data, CumulativeLink.from_formula(case["formula"], data, link=link, nominal=nominal).fit()


@pytest.mark.parametrize("link", EXACT_LINKS)
@pytest.mark.parametrize("name", CASES)
def test_every_link_matches_r_clm(name, link):
    case, _, fit = _fit(name, link)
    ref = case["links"][link]
    ours, ours_se = _in_r_names(fit.params), _in_r_names(fit.bse)
    assert set(ours) == set(ref["coef"])
    for term, value in ref["coef"].items():
        assert ours[term] == pytest.approx(value, abs=1e-6), term
        assert ours_se[term] == pytest.approx(ref["se"][term], abs=1e-5), term
    assert fit.llf == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.converged and ref["converged"]


def _cauchit_loglik(theta, design, end):
    """The cauchit log-likelihood with the outer thresholds at -end and +end instead of -inf and +inf."""
    T = design.n_levels - 1
    cuts = np.r_[-end, theta[:T], end]
    eta = design.X @ theta[T:]
    upper, lower = cuts[design.y + 1] - eta, cuts[design.y] - eta
    return np.sum(design.weights * np.log(np.arctan(upper) / np.pi - np.arctan(lower) / np.pi))


@pytest.mark.parametrize("name", CASES)
def test_cauchit_matches_r_once_r_outer_thresholds_are_used(name):
    """R's clm puts the outer thresholds of the cauchit link at -1e5 and 1e5, not at infinity: with heavy tails this
    moves the estimates by about 1e-4. Maximising that likelihood from our exact estimates gives R's; ours maximise
    the exact one (their score is zero) and stay within 3e-4 of R's."""
    case, _, fit = _fit(name, "cauchit")
    ref = case["links"]["cauchit"]
    r_theta = np.array([ref["coef"][n] for n in map(r_parameter_name, fit.model.engine_names)])
    design = fit.design
    objective = lambda theta, end: -_cauchit_loglik(theta, design, end)  # noqa: E731
    r_convention = optimize.minimize(objective, fit.theta, args=(1e5,), method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose(r_convention.x, r_theta, atol=1e-5)
    assert -r_convention.fun == pytest.approx(ref["logLik"], abs=1e-6)
    assert _cauchit_loglik(fit.theta, design, np.inf) == pytest.approx(fit.llf, abs=1e-10)
    assert np.abs(loglik(fit.theta[None], fit.model.problem, hessian=False)[1]).max() < 1e-6
    np.testing.assert_allclose(fit.theta, r_theta, atol=3e-4)


@pytest.mark.parametrize("name", ["wine", "sim_functional"])
def test_nominal_effects_match_r_clm(name):
    case, data = interpretation_case(name)
    ref = case["nominal_fit"]
    fit = CumulativeLink.from_formula(case["formula"], data, nominal=ref["nominal"]).fit(warn=False)
    ours, ours_se = _in_r_names(fit.params, True), _in_r_names(fit.bse, True)
    assert set(ours) == set(ref["coef"])
    for term, value in ref["coef"].items():
        assert ours[term] == pytest.approx(value, abs=1e-6), term
        assert ours_se[term] == pytest.approx(ref["se"][term], abs=1e-5), term
    assert fit.llf == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.invalid == ""


def test_a_nominal_fit_whose_thresholds_cross_is_invalid_as_in_r():
    case, data = interpretation_case("sim_product")
    assert not case["nominal_fit"]["converged"]  # R: "not all thresholds are increasing: fit is invalid"
    model = CumulativeLink.from_formula(case["formula"], data, nominal=case["nominal_fit"]["nominal"])
    with pytest.warns(ModelWarning, match="thresholds are increasing"):
        fit = model.fit()
    assert "invalid" in fit.invalid
    assert fit.params.isna().all() and fit.bse.isna().all()
    with pytest.raises(UpgradingError, match="invalid"):
        fit.get_prediction()
    with pytest.raises(UpgradingError, match="invalid"):
        fit.predict()


def test_separation_with_nominal_effects_names_the_empty_cells():
    """No warm wine is rated 1 and no cold one 5: with temp nominal, warm's first threshold and cold's last diverge."""
    _, data = interpretation_case("wine")
    model = CumulativeLink.from_formula("rating ~ temp + contact", data, nominal="~ temp")
    diverging = {name: sign for name, sign in model.separation.direction.items() if sign}
    assert diverging == {"threshold 4|5": 1, "threshold 1|2.temp[T.warm]": -1, "threshold 4|5.temp[T.warm]": -1}
    assert not CumulativeLink.from_formula("rating ~ temp + contact", data, nominal="~ contact").separation.separated


def _toy(seed=0, n=60):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    latent = 0.8 * data["x"] + (data["g"] == "b") + rng.logistic(size=n)
    data["y"] = np.searchsorted([-1.0, 0.5, 1.5], latent)
    return data


def _numeric_derivatives(theta, batch, penalty=None):
    h = 1e-6
    steps = np.eye(len(theta)) * h
    objective = lambda t: evaluate(t[None, :], batch, penalty)[0][0]  # noqa: E731
    score = lambda t: loglik(t[None, :], batch)[1][0]  # noqa: E731
    gradient = np.array([(objective(theta + e) - objective(theta - e)) / (2 * h) for e in steps])
    hessian = np.array([(score(theta + e) - score(theta - e)) / (2 * h) for e in steps])
    return gradient, hessian


@pytest.mark.parametrize("link", sorted(LINKS))
@pytest.mark.parametrize("nominal", [None, "~ z"])
def test_score_and_hessian_match_finite_differences_for_every_link(link, nominal):
    design = build_design("y ~ x + z + g", _toy(), nominal=nominal)
    batch = Batch.of(design, link=get_link(link))
    T = design.n_levels - 1
    theta = np.r_[[-0.9, 0.4, 1.6], [0.1, -0.2, 0.15] if nominal else [], [0.5, 0.3, -0.2] + ([] if nominal else [0.3])]
    assert len(theta) == batch.n_params and T == 3
    _, score, hessian = (v[0] for v in loglik(theta[None, :], batch))
    numeric_score, numeric_hessian = _numeric_derivatives(theta, batch)
    np.testing.assert_allclose(score, numeric_score, atol=1e-6)
    np.testing.assert_allclose(hessian, numeric_hessian, atol=2e-5)


@pytest.mark.parametrize("link", sorted(LINKS))
def test_jeffreys_penalised_score_matches_finite_differences_for_every_link(link):
    batch = Batch.of(build_design("y ~ x + g", _toy(1, 30)), link=get_link(link))
    theta = np.array([-0.7, 0.6, 1.8, 0.9, 0.2, -0.4])
    gradient = evaluate(theta[None, :], batch, "jeffreys")[2][0]
    np.testing.assert_allclose(gradient, _numeric_derivatives(theta, batch, "jeffreys")[0], atol=1e-6)


def test_bad_links_and_nominal_terms_are_refused():
    _, data = interpretation_case("wine")
    with pytest.raises(UpgradingError, match="link.*'logistic'"):
        CumulativeLink.from_formula("rating ~ temp", data, link="logistic")
    with pytest.raises(UpgradingError, match=r"nominal term\(s\) \['judge'\] are not terms of the formula"):
        CumulativeLink.from_formula("rating ~ temp + contact", data, nominal="~ judge")
    with pytest.raises(UpgradingError, match="logit case"):
        OrderedLogit.from_formula("rating ~ temp", data, link="probit")
    with pytest.raises(UpgradingError, match="nominal"):
        CumulativeLink.from_formula("rating ~ temp + contact", data, nominal="~ contact").fit(penalty="jeffreys")


def test_a_nominal_term_leaves_out_the_columns_the_model_leaves_out():
    """A factor level with no cases: its interaction column stays out of the nominal effects with the
    proportional-odds design's reason, so the nominal design is the one built without that level; a term with no
    estimable column at all is refused, naming why."""
    data = _toy(n=120).assign(k=1.0)
    data["g"] = pd.Categorical(data["g"], categories=["a", "b", "c", "unused"])
    with_empty = build_design("y ~ g + g:z", data, aliased="drop", nominal="~ g:z")
    without = build_design("y ~ g + g:z", data.assign(g=data["g"].cat.remove_unused_categories()), nominal="~ g:z")
    assert with_empty.nominal_names == without.nominal_names == ["g[a]:z", "g[b]:z", "g[c]:z"]
    assert with_empty.names == without.names
    np.testing.assert_array_equal(with_empty.Z, without.Z)
    np.testing.assert_array_equal(with_empty.X, without.X)
    assert with_empty.aliased == build_design("y ~ g + g:z", data, aliased="drop").aliased
    assert with_empty.aliased["g[unused]:z"] == "every case has 0 (no case of level 'unused' has a nonzero z)"
    with pytest.raises(UpgradingError, match=r"cannot be estimated: k: no variance \(every case has 1\)"):
        build_design("y ~ x + k", data, aliased="drop", nominal="~ k")


def _independent_jeffreys_objective(theta, design):
    """log L + 0.5 log det I for the probit, from scipy's normal distribution and the expected information
    sum_i sum_k (d pi_ik)(d pi_ik)' / pi_ik, written out here independently of the engine."""
    from scipy import stats

    T = design.n_levels - 1
    if np.any(np.diff(theta[:T]) <= 0):
        return -np.inf
    n, p = design.X.shape
    eta = design.X @ theta[T:]
    bounds = np.column_stack([np.full(n, -np.inf), theta[:T][None, :] - eta[:, None], np.full(n, np.inf)])
    F, f = stats.norm.cdf(bounds), np.nan_to_num(stats.norm.pdf(bounds))
    pi = np.diff(F, axis=1)  # (n, K)
    du = np.zeros((n, T + 2, T + p))  # d bound / d theta
    for k in range(T):
        du[:, k + 1, k] = 1.0
        du[:, k + 1, T:] = -design.X
    dF = f[..., None] * du
    dpi = dF[:, 1:] - dF[:, :-1]  # (n, K, q)
    info = np.einsum("n,nkq,nks->qs", design.weights, dpi / pi[..., None], dpi)
    loglik = np.sum(design.weights * np.log(pi[np.arange(n), design.y]))
    return loglik + 0.5 * np.linalg.slogdet(info)[1]


def test_jeffreys_probit_maximises_the_penalised_likelihood_written_independently():
    case, data = interpretation_case("sim_product")
    fit = CumulativeLink.from_formula(case["formula"], data, link="probit").fit(penalty="jeffreys")
    assert fit.objective == pytest.approx(_independent_jeffreys_objective(fit.theta, fit.design), abs=1e-9)
    direct = optimize.minimize(
        lambda t: -_independent_jeffreys_objective(t, fit.design), fit.theta + 0.05, method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 40000, "maxfev": 40000},
    )  # fmt: skip
    np.testing.assert_allclose(direct.x, fit.theta, atol=1e-4)
    assert -direct.fun <= fit.objective + 1e-9


@pytest.mark.parametrize("penalty", [None, "jeffreys"])
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_the_line_searchs_objective_is_evaluates_bit_for_bit(penalty, link):
    """A line search rejects trial points by `objective` alone: it must be `evaluate`'s objective exactly (with a
    prior too), including -inf where the thresholds are out of order."""
    from upgrading.ordinal import Prior
    from upgrading.ordinal.engine import objective

    batch = Batch.of(build_design("y ~ x + g", _toy(3, 40)), 30, link=get_link(link))
    rng = np.random.default_rng(0)
    theta = np.column_stack([np.sort(rng.normal(0, 1.5, (30, 3)), axis=1), rng.normal(0, 2, (30, 3))])
    theta[0, :3] = [1.0, 0.5, 2.0]  # thresholds out of order
    prior = Prior(np.tile(np.eye(6) * 0.3, (30, 1, 1)), np.zeros((30, 6)))
    for with_prior in (None, prior):
        full = evaluate(theta, batch, penalty, with_prior)[0]
        alone = objective(theta, batch, penalty, with_prior)
        finite = np.isfinite(full)
        assert np.array_equal(full[finite], alone[finite]) and not finite[0]


@pytest.mark.parametrize("link", sorted(LINKS))
def test_a_links_log_probability_is_log_gap_of_its_logs_bit_for_bit(link):
    rng = np.random.default_rng(1)
    lower = np.concatenate([[-np.inf, -np.inf, 3.0], rng.normal(0, 20, 400)])
    upper = np.concatenate([[np.inf, -40.0, 3.0], lower[3:] + rng.exponential(2, 400)])
    chosen = get_link(link)
    expected = chosen.log_gap(chosen.logs(upper), chosen.logs(lower), upper, lower)
    np.testing.assert_array_equal(chosen.log_probability(upper, lower), expected)
