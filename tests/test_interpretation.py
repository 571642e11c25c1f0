"""Predicted probabilities, average marginal effects and the nominal test, against R 4.2.2 (`predict.clm`,
delta-method AMEs with numDeriv, `ordinal::nominal_test`; reference/interpretation_ref.json)."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import interpretation_case

from upgrading.errors import UpgradingError
from upgrading.ordinal import CumulativeLink
from upgrading.ordinal.likelihood import probabilities

CASES = ["wine", "sim_product", "sim_functional"]


def _fit(name, **fit_options):
    case, data = interpretation_case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, data, CumulativeLink.from_formula(case["formula"], data).fit(**fit_options)


@pytest.mark.parametrize("name", CASES)
def test_predicted_probabilities_and_standard_errors_match_predict_clm(name):
    case, data, fit = _fit(name)
    rows = [k - 1 for k in case["predict"]["rows_1based"]]
    prediction = fit.get_prediction(data.iloc[rows])
    np.testing.assert_allclose(prediction.predicted.to_numpy(), case["predict"]["prob"], atol=1e-7)
    np.testing.assert_allclose(prediction.se.to_numpy(), case["predict"]["se"], atol=1e-6)
    assert list(prediction.predicted.index) == rows
    assert list(prediction.predicted.columns) == fit.design.levels
    pd.testing.assert_frame_equal(prediction.predicted, fit.predict(data.iloc[rows]).set_axis(rows), check_names=False)


def _ame_rows(frame, key):
    match = re.fullmatch(r"(.+)\[(.+)\]", key)
    term, contrast = (match.group(1), match.group(2)) if match else (key, None)
    rows = frame[frame["term"] == term]
    return rows if contrast is None else rows[rows["contrast"] == contrast]


@pytest.mark.parametrize("name", CASES)
def test_average_marginal_effects_match_the_delta_method_in_r(name):
    case, _, fit = _fit(name)
    effects = fit.get_margeff()
    frame = effects.summary_frame()
    assert list(frame.columns) == ["term", "contrast", "level", "estimate", "std_error", "conf_low", "conf_high"]
    assert len(frame) == len(case["ame"]) * len(fit.design.levels)
    for key, ref in case["ame"].items():
        rows = _ame_rows(frame, key)
        assert effects.kinds[rows["term"].iloc[0]] == ref["kind"]
        assert [str(level) for level in rows["level"]] == list(ref["estimate"])
        np.testing.assert_allclose(rows["estimate"], list(ref["estimate"].values()), atol=1e-6, err_msg=key)
        np.testing.assert_allclose(rows["std_error"], list(ref["se"].values()), atol=1e-5, err_msg=key)
        assert rows["estimate"].sum() == pytest.approx(0.0, abs=1e-12)  # probabilities still add up to one


def test_marginal_effects_table_names_contrasts():
    _, _, fit = _fit("sim_product")
    frame = fit.get_margeff().summary_frame()
    contrasts = frame.groupby("term", sort=False)["contrast"].unique().map(list).to_dict()
    assert contrasts == {
        "collective_efficiency": [""],
        "leader_driven": ["1"],
        "sectoral_group": ["natural_resource_based", "complex_product_systems", "specialised_suppliers"],
    }
    z = 1.959963984540054
    np.testing.assert_allclose(frame["conf_high"] - frame["estimate"], z * frame["std_error"], rtol=1e-12)


def _numeric_jacobian(function, theta, h=1e-6):
    return np.column_stack([(function(theta + e) - function(theta - e)) / (2 * h) for e in np.eye(len(theta)) * h])


def test_effects_on_high_upgrading_sum_the_levels_with_their_own_standard_errors():
    """P(Y >= 2): the estimate is a sum of level effects; its SE is the delta method on the summed gradient,
    checked here by differentiating the summed effect numerically."""
    _, data, fit = _fit("sim_product")
    table = fit.get_margeff().at_least(2)
    row = table[table["term"] == "leader_driven"].iloc[0]
    assert row["level"] == ">=2"

    def effect(theta):
        rows = {v: fit.design.exog(data.assign(leader_driven=v)) for v in (0, 1)}
        p = {v: probabilities(theta[None], X[None], fit.design.n_levels, fit.link)[0] for v, (X, _) in rows.items()}
        return np.array([(p[1] - p[0])[:, 2:].sum(axis=1).mean()])

    jacobian = _numeric_jacobian(effect, fit.theta)
    assert row["estimate"] == pytest.approx(effect(fit.theta)[0], abs=1e-12)
    assert row["std_error"] == pytest.approx(np.sqrt(jacobian @ fit.engine_cov @ jacobian.T)[0, 0], rel=1e-6)
    with pytest.raises(UpgradingError, match="not an outcome level and no level is above it"):
        fit.get_margeff().at_least(7)
    between = fit.get_margeff().at_least(1.5)  # numeric levels: those at or above it
    np.testing.assert_allclose(between["estimate"], fit.get_margeff().at_least(2)["estimate"], atol=0)


def test_penalised_fits_get_predictions_from_their_own_covariance():
    """The Jeffreys-penalised fit's intervals use its covariance (inverse expected information): checked against
    the delta method with a numerical jacobian of its probabilities."""
    _, data, fit = _fit("sim_product", penalty="jeffreys")
    rows = data.iloc[[0, 20]]
    X = fit.design.exog(rows)[0]
    jacobian = _numeric_jacobian(lambda t: probabilities(t[None], X[None], 4, fit.link)[0].ravel(), fit.theta)
    expected = np.sqrt(np.diag(jacobian @ fit.engine_cov @ jacobian.T)).reshape(2, 4)
    np.testing.assert_allclose(fit.get_prediction(rows).se.to_numpy(), expected, rtol=1e-6)
    assert len(fit.get_margeff().frame) == 5 * 4


def test_cumulative_and_linear_predictions_agree_with_the_probabilities():
    _, data, fit = _fit("wine")
    rows = data.iloc[[0, 30, 71]]
    prob, cumprob = fit.get_prediction(rows).predicted, fit.get_prediction(rows, "cumprob").predicted
    np.testing.assert_allclose(cumprob.to_numpy(), prob.cumsum(axis=1).to_numpy()[:, :-1], atol=1e-15)
    linpred = fit.get_prediction(rows, "linpred")
    np.testing.assert_allclose(linpred.predicted["linpred"], fit.design.exog(rows)[0] @ fit.slopes.to_numpy())
    ci = fit.get_prediction(rows).conf_int(0.1)
    assert ((ci["lower"] > 0) & (ci["lower"] < prob) & (ci["upper"] > prob) & (ci["upper"] < 1)).all().all()
    frame = fit.get_prediction(rows).summary_frame()
    assert list(frame.columns) == ["row", "level", "predicted", "se", "ci_low", "ci_high"] and len(frame) == 15


@pytest.mark.parametrize("name", CASES)
def test_nominal_test_matches_ordinal_nominal_test(name):
    case, _, fit = _fit(name)
    table = fit.nominal_test()
    assert list(table.columns) == ["term", "df", "llf", "lr_stat", "p_value", "note"]
    assert list(table["term"]) == [row["term"] for row in case["nominal_test"]]
    for ours, ref in zip(table.itertuples(), case["nominal_test"]):
        if ref["df"] == "NA":  # R: the nominal fit is invalid or fails
            assert pd.isna(ours.lr_stat) and pd.isna(ours.p_value) and ours.note, ours
            continue
        assert ours.df == ref["df"]
        assert ours.llf == pytest.approx(ref["logLik"], abs=1e-6)
        assert ours.lr_stat == pytest.approx(ref["LRT"], abs=1e-6)
        assert ours.p_value == pytest.approx(ref["p"], abs=1e-6)


def test_nominal_test_says_why_it_has_no_numbers():
    _, _, fit = _fit("sim_product")
    notes = fit.nominal_test().set_index("term")["note"]
    assert notes["collective_efficiency"].startswith("nominal fit invalid")
    assert notes["sectoral_group"].startswith("nominal fit separated")  # a supremum, as R reports it
    assert notes["leader_driven"] == ""


def test_a_nominal_fit_that_adds_no_parameter_says_so_rather_than_why_it_is_separated(monkeypatch):
    # df 0 (every threshold-specific effect aliased): no p-value; the note said "separated" (a new-user trial)
    from upgrading.ordinal import interpretation

    _, _, fit = _fit("wine")
    monkeypatch.setattr(interpretation, "nominal_refit", lambda base, terms: (base, ""))
    table = fit.nominal_test()
    assert (table["df"] == 0).all() and table["p_value"].isna().all()
    assert (table["note"] == interpretation.NO_PARAMETER_ADDED).all()


def test_bad_prediction_frames_are_refused():
    _, data, fit = _fit("wine")
    with pytest.raises(UpgradingError, match=r"lack the model's predictor\(s\) \['contact'\]"):
        fit.get_prediction(data[["temp"]])
    unseen = data.head(2).assign(temp=pd.Categorical(["tepid", "cold"], categories=["cold", "tepid"]))
    with pytest.raises(UpgradingError, match=r"level\(s\) \['tepid'\] of 'temp'"):
        fit.get_prediction(unseen)
    with pytest.raises(UpgradingError, match="which must be one of"):
        fit.get_prediction(which="odds")


def test_separated_maximum_likelihood_has_no_predictions_or_marginal_effects():
    _, data = interpretation_case("wine")
    model = CumulativeLink.from_formula("rating ~ temp + contact", data, nominal="~ temp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        separated = model.fit()
    with pytest.raises(UpgradingError, match="separated"):
        separated.get_prediction()
    with pytest.raises(UpgradingError, match="separated"):
        separated.get_margeff()


def test_marginal_effects_over_some_rows_average_only_those():
    """Over one group's cases: the same computation on a frame holding only them (by hand: P at 1 minus at 0)."""
    _, data, fit = _fit("sim_product")
    rows = data[data["sectoral_group"] == "natural_resource_based"]
    table = fit.get_margeff(rows).frame
    leader = table[table["term"] == "leader_driven"]["estimate"].to_numpy()
    p1, p0 = fit.predict(rows.assign(leader_driven=1)), fit.predict(rows.assign(leader_driven=0))
    np.testing.assert_allclose(leader, (p1 - p0).mean().to_numpy(), atol=1e-14)
    with pytest.raises(UpgradingError, match="at least one row"):
        fit.get_margeff(rows.iloc[:0])


def test_nominal_test_of_chosen_terms():
    _, _, fit = _fit("sim_functional")
    table = fit.nominal_test(["leader_driven"])
    assert list(table["term"]) == ["leader_driven"]
    with pytest.raises(UpgradingError, match=r"\['governance'\] are not proportional-odds terms"):
        fit.nominal_test(["governance"])
