"""Ordered logit: accuracy against R (clm, polr), analytic derivatives, separation, Firth, bad input."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upgrading.errors import UpgradingError
from upgrading.ordinal.models import (ModelWarning, SeparationWarning, build_design, detect_separation,
                              expected_information, loglik_parts, ordered_logit, penalised_loglik, _newton)

REFERENCE = Path(__file__).parent / "reference"
FITS = {"wine": ("rating ~ temp + contact", None), "housing": ("Sat ~ Infl + Type + Cont", "Freq")}


def _r_name(term: str) -> str:
    return re.sub(r"\[T\.([^\]]+)\]", r"\1", term)  # patsy 'Infl[T.Medium]' -> R 'InflMedium'


def _reference(name):
    ref = json.loads((REFERENCE / f"{name}_ref.json").read_text())
    df = pd.read_csv(REFERENCE / f"{name}.csv")
    for column, levels in ref["factor_levels"].items():
        df[column] = pd.Categorical(df[column], categories=levels)
    outcome = ref["formula"].split("~")[0].strip()
    df[outcome] = pd.Categorical(df[outcome].astype(str), categories=ref["outcome_levels"], ordered=True)
    formula, weights = FITS[name]
    fit = ordered_logit(formula, df, freq_weights=df[weights] if weights else None)
    return ref, df, fit


@pytest.mark.parametrize("name", sorted(FITS))
def test_matches_r_clm(name):
    ref, _, fit = _reference(name)
    clm = ref["clm"]
    ours = {_r_name(t): v for t, v in fit.params.items()}
    ours_se = {_r_name(t): v for t, v in fit.bse.items()}
    assert set(ours) == set(clm["beta"])
    for term, value in clm["beta"].items():
        assert ours[term] == pytest.approx(value, abs=1e-6)
        assert ours_se[term] == pytest.approx(clm["se_beta"][term], abs=1e-5)
    np.testing.assert_allclose(fit.thresholds.to_numpy(), list(clm["alpha"].values()), atol=1e-6)
    np.testing.assert_allclose(fit.bse_thresholds.to_numpy(), list(clm["se_alpha"].values()), atol=1e-5)
    assert fit.llf == pytest.approx(clm["logLik"], abs=1e-6)
    assert fit.aic == pytest.approx(clm["AIC"], abs=1e-6)
    assert fit.hessian_condition == pytest.approx(clm["condHess"], rel=1e-6)
    assert fit.converged and not fit.separation.separated


@pytest.mark.parametrize("name", sorted(FITS))
def test_matches_r_polr(name):
    ref, _, fit = _reference(name)
    tight, default = ref["polr_tight"], ref["polr"]
    ours = {_r_name(t): v for t, v in fit.params.items()}
    for term, value in tight["coefficients"].items():
        assert ours[term] == pytest.approx(value, abs=1e-5)
        assert ours[term] == pytest.approx(default["coefficients"][term], abs=5e-4)
    np.testing.assert_allclose(fit.thresholds.to_numpy(), list(tight["zeta"].values()), atol=1e-5)


def test_predicted_probabilities_match_r_for_every_housing_pattern():
    ref, df, fit = _reference("housing")
    patterns = ref["collapsed_patterns"]
    frame = pd.DataFrame({c: pd.Categorical(patterns[c], categories=ref["factor_levels"][c])
                          for c in ("Infl", "Type", "Cont")})
    predicted = fit.predict(frame)
    assert list(predicted.columns) == patterns["probs_colnames"]
    np.testing.assert_allclose(predicted.to_numpy(), np.array(patterns["probs"], dtype=float), atol=1e-7)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0)


def test_frequency_weights_equal_expanded_rows():
    _, df, weighted = _reference("housing")
    expanded = df.loc[df.index.repeat(df["Freq"])].reset_index(drop=True)
    plain = ordered_logit("Sat ~ Infl + Type + Cont", expanded)
    np.testing.assert_allclose(plain.params, weighted.params, atol=1e-8)
    np.testing.assert_allclose(plain.bse, weighted.bse, atol=1e-8)
    assert plain.nobs == weighted.nobs == 1681


def test_agrees_with_statsmodels_ordered_model():
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    _, df, fit = _reference("wine")
    X = pd.get_dummies(df[["temp", "contact"]], drop_first=True, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = OrderedModel(df["rating"], X, distr="logit").fit(method="bfgs", disp=False, maxiter=2000, gtol=1e-10)
    np.testing.assert_allclose(sm.params.to_numpy()[:2], fit.params.to_numpy(), atol=1e-4)
    assert sm.llf == pytest.approx(fit.llf, abs=1e-6)
    cuts = np.cumsum(np.r_[sm.params.iloc[2], np.exp(sm.params.iloc[3:])])
    np.testing.assert_allclose(cuts, fit.thresholds.to_numpy(), atol=1e-4)


def _toy(seed=0, n=60):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    latent = 0.8 * df["x"] + (df["g"] == "b") + rng.logistic(size=n)
    df["y"] = np.searchsorted([-1.0, 0.5, 1.5], latent)
    return df


def test_analytic_score_and_hessian_match_finite_differences():
    d = build_design("y ~ x + g", _toy())
    theta = np.array([-0.9, 0.4, 1.6, 0.5, 0.3, -0.2])
    ll, grad, H = loglik_parts(theta, d)
    h = 1e-6
    num_grad = np.array([(loglik_parts(theta + e, d)[0] - loglik_parts(theta - e, d)[0]) / (2 * h)
                         for e in np.eye(len(theta)) * h])
    num_H = np.array([(loglik_parts(theta + e, d)[1] - loglik_parts(theta - e, d)[1]) / (2 * h)
                      for e in np.eye(len(theta)) * h])
    np.testing.assert_allclose(grad, num_grad, atol=1e-6)
    np.testing.assert_allclose(H, num_H, atol=1e-5)


def test_firth_modified_score_matches_finite_differences():
    d = build_design("y ~ x + g", _toy(1, 30))
    theta = np.array([-0.7, 0.6, 1.8, 0.9, 0.2, -0.4])
    _, grad, _ = loglik_parts(theta, d, hessian=False)
    _, penalty_grad = expected_information(theta, d, with_penalty_gradient=True)
    h = 1e-6
    numeric = np.array([(penalised_loglik(theta + e, d) - penalised_loglik(theta - e, d)) / (2 * h)
                        for e in np.eye(len(theta)) * h])
    np.testing.assert_allclose(grad + penalty_grad, numeric, atol=1e-6)


SEPARATED = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1, 2, 2, 2], "x": [1, 2, 3, 4, 5, 6, 7, 8, 9.0]})


def test_complete_separation_is_detected_reported_and_warned():
    with pytest.warns(SeparationWarning, match="separated"):
        fit = ordered_logit("y ~ x", SEPARATED)
    assert fit.separation.separated and "x" in fit.separation.terms
    assert fit.params["x"] == np.inf and np.isnan(fit.bse["x"]), "never a finite slope with a small SE"
    assert "WARNING: the data are separated" in fit.summary()
    assert fit.tidy()["separated"].all()


def test_quasi_complete_separation_with_a_factor():
    df = pd.DataFrame({"y": [0, 1, 2, 0, 1, 2, 2, 2, 2, 2], "g": list("aaaaaabbbb"), "x": np.arange(10.0) % 3})
    with pytest.warns(SeparationWarning):
        fit = ordered_logit("y ~ g + x", df)
    # every case of group b sits in the top category: b's shift and the top threshold run off to +inf
    assert {"g[T.b]", "threshold 1|2"} <= set(fit.separation.terms)
    assert fit.params["g[T.b]"] == np.inf and np.isnan(fit.bse["g[T.b]"])


def test_certificate_and_linear_program_agree():
    rng = np.random.default_rng(7)
    checked = separated = 0
    for _ in range(150):
        n = int(rng.integers(8, 30))
        df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 2, n)})
        df["y"] = np.clip(np.round(df["x"] * rng.uniform(0, 5) + rng.normal(size=n)), -1, 1).astype(int) + 1
        try:
            d = build_design("y ~ x + g", df)
        except UpgradingError:
            continue
        fit = _newton(d, None)
        by_lp = detect_separation(d).separated
        assert detect_separation(d, theta=fit.theta).separated == by_lp
        checked += 1
        separated += by_lp
    assert checked > 100 and 10 < separated < checked


def test_firth_gives_finite_estimates_and_profile_intervals_under_separation():
    with pytest.warns(SeparationWarning):
        fit = ordered_logit("y ~ x", SEPARATED, penalty="firth")
    assert np.isfinite(fit.params["x"]) and fit.params["x"] > 0 and fit.converged
    low, high = fit.conf_int().loc["x"]
    assert 0 < low < fit.params["x"] < high < np.inf
    assert "Firth-penalised" in fit.summary()


def test_firth_is_close_to_ml_in_large_samples():
    df = _toy(3, 3000)
    ml, firth = ordered_logit("y ~ x + g", df), ordered_logit("y ~ x + g", df, penalty="firth")
    np.testing.assert_allclose(firth.params, ml.params, atol=0.02)
    assert np.all(np.abs(firth.params) <= np.abs(ml.params) + 1e-9), "Firth shrinks towards zero"


def test_profile_and_wald_intervals_agree_for_well_behaved_ml():
    fit = ordered_logit("y ~ x + g", _toy(4, 400))
    wald, profile = fit.conf_int(), fit.conf_int(method="profile")
    np.testing.assert_allclose(wald.to_numpy(), profile.to_numpy(), atol=0.05)


def test_tidy_has_odds_ratios():
    fit = ordered_logit("y ~ x + g", _toy())
    table = fit.tidy()
    np.testing.assert_allclose(table["odds_ratio"], np.exp(table["estimate"]))
    assert list(table["term"]) == list(fit.params.index)
    assert ((table["conf_low"] < table["estimate"]) & (table["estimate"] < table["conf_high"])).all()


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.assign(y=1), "single observed level"),
    (lambda df: df.assign(x=2.0), "x: no variance"),
    (lambda df: df.assign(g=pd.Categorical(df["g"], categories=["a", "b", "c", "d"])), "level 'd' has no cases"),
    (lambda df: df.assign(x=df["x"].where(df.index != 3)), "missing values in 'x' (1 rows)"),
    (lambda df: df.assign(y=df["y"].map({0: "low", 1: "mid", 2: "high", 3: "top"})), "not ordered"),
    (lambda df: df.assign(y=pd.Categorical(df["y"])), "unordered categorical"),
])
def test_bad_input_is_refused_naming_the_variable(mutate, message):
    with pytest.raises(UpgradingError, match=re.escape(message)):
        ordered_logit("y ~ x + g", mutate(_toy()))


def test_empty_outcome_level_is_warned_about():
    df = _toy()
    df["y"] = pd.Categorical(df["y"], categories=[0, 1, 2, 3, 4], ordered=True)
    with pytest.warns(ModelWarning, match=r"level\(s\) \[4\] have no cases"):
        fit = ordered_logit("y ~ x + g", df)
    assert len(fit.thresholds) == 3


def test_formula_errors():
    with pytest.raises(UpgradingError, match="thresholds play the intercept"):
        ordered_logit("y ~ 0 + x", _toy())
    with pytest.raises(UpgradingError, match="outcome 'z' is not a column"):
        ordered_logit("z ~ x", _toy())


def test_profile_bounds_sit_at_the_chi_square_drop():
    from scipy import stats

    with pytest.warns(SeparationWarning):
        fit = ordered_logit("y ~ x", SEPARATED, penalty="firth")
    k = len(fit.thresholds) + list(fit.params.index).index("x")
    cutoff = stats.chi2.ppf(0.95, 1) / 2
    for bound in fit.conf_int().loc["x"]:
        constrained = fit._profile_fit(k, bound, fit._theta)
        # completely separated toy data: at the upper bound a threshold runs to ~40, where the logistic
        # saturates and the penalised likelihood is flat to 1e-6 over a range of thresholds
        assert fit.penalised_llf - constrained.objective == pytest.approx(cutoff, abs=1e-5)


def test_profile_bounds_on_the_simulated_sheet_sit_at_the_chi_square_drop():
    """The batched root-finding (all ends at once) checked with single constrained fits, term by term."""
    from scipy import stats

    from upgrading.study.coding import load_cases
    from upgrading.compendium.paths import DATA_RAW

    cases = load_cases(DATA_RAW / "coding_sheet_simulated.csv")
    formula = ("functional_upgrading ~ C(sectoral_group) + C(sectoral_group):collective_efficiency"
               " + C(sectoral_group):leader_driven")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ordered_logit(formula, cases, penalty="firth")
    cutoff = stats.chi2.ppf(0.90, 1) / 2
    intervals = fit.conf_int(0.10)
    for term in fit.params.index[-4:]:
        k = len(fit.thresholds) + list(fit.params.index).index(term)
        for bound in intervals.loc[term]:
            constrained = fit._profile_fit(k, bound, fit._theta)
            assert fit.penalised_llf - constrained.objective == pytest.approx(cutoff, abs=1e-6), term
