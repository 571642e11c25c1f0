"""Notebook 04's reading in probabilities: predicted probabilities, marginal effects by group, the nominal test of
each key predictor (against R's `nominal_test` where the model is R's), and the links' robustness table; on the
simulated sheet and on sheets of other shapes."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from helpers import interpretation_case

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from upgrading.study import models, plots_probabilities, pooling, probabilities  # noqa: E402
from upgrading.study.settings import HIGH_UPGRADING, KEY_PREDICTORS


@pytest.fixture(scope="module")
def fits(_simulated_cases):
    return models.fit_models(_simulated_cases)


def test_predicted_probabilities_sum_to_one_and_are_the_fits_own(simulated_cases, fits):
    table = probabilities.predicted_probabilities_table(fits, simulated_cases)
    sums = table.groupby(["form", "sectoral_group", "collective_efficiency"])["probability"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    assert ((table["conf_low"] <= table["probability"]) & (table["probability"] <= table["conf_high"])).all()
    fit = next(f for f in fits if f.form == "process_upgrading" and f.model == "by_group")
    row = table[(table["form"] == "process_upgrading") & (table["sectoral_group"] == "specialised_suppliers")
                & (table["collective_efficiency"] == 3) & (table["level"] == 1)].iloc[0]  # fmt: skip
    grid = simulated_cases.head(1).assign(collective_efficiency=3, leader_driven=0)
    grid["sectoral_group"] = pd.Categorical(["specialised_suppliers"], dtype=simulated_cases["sectoral_group"].dtype)
    assert row["probability"] == pytest.approx(fit.reported.predict(grid).loc[0, 1], abs=1e-14)
    assert row["method"] == fit.reported_label


def test_marginal_effects_on_high_upgrading_add_up_the_levels(simulated_cases, fits):
    table = probabilities.marginal_effects_table(fits, simulated_cases)
    assert list(table.columns) == probabilities.EFFECT_COLUMNS
    keys = ["form", "sectoral_group", "predictor"]
    high = table[table["level"] == f">={HIGH_UPGRADING}"].set_index(keys)["estimate"]
    levels = table[table["level"].isin([str(k) for k in range(HIGH_UPGRADING, 4)])].groupby(keys)["estimate"].sum()
    np.testing.assert_allclose(high.sort_index(), levels.sort_index(), atol=1e-14)
    per_level = table[~table["level"].str.startswith(">=")].groupby(keys)["estimate"].sum()
    np.testing.assert_allclose(per_level, 0.0, atol=1e-12)
    assert set(table["predictor"]) == set(KEY_PREDICTORS) and (table["note"] == "").all()
    sizes = simulated_cases["sectoral_group"].astype(str).value_counts()
    assert table.groupby("sectoral_group")["cases"].first().to_dict() == sizes.to_dict()


def test_a_missing_group_or_constant_predictor_gets_reasons_not_numbers(simulated_cases):
    shaped = simulated_cases[simulated_cases["sectoral_group"] != "specialised_suppliers"].copy()
    shaped.loc[shaped["sectoral_group"] == "natural_resource_based", "leader_driven"] = 0
    fits = models.fit_models(shaped.reset_index(drop=True), forms=["product_upgrading"])
    effects = probabilities.marginal_effects_table(fits, shaped)
    missing = effects[effects["sectoral_group"] == "specialised_suppliers"]
    assert set(missing["note"]) == {"no cases in this group"} and missing["estimate"].isna().all()
    constant = effects[(effects["sectoral_group"] == "natural_resource_based")]
    notes = set(constant.loc[constant["predictor"] == "leader_driven", "note"])
    assert notes == {"leader_driven constant in the group"}
    assert constant.loc[constant["predictor"] == "collective_efficiency", "estimate"].notna().all()
    predicted = probabilities.predicted_probabilities_table(fits, shaped)
    assert set(predicted.loc[predicted["sectoral_group"] == "specialised_suppliers", "note"]) == {
        "no cases in this group"
    }
    curves = plots_probabilities.predicted_probability_curves(predicted)
    assert any("no cases in this group" in t.get_text() for ax in curves.axes for t in ax.texts)
    plt.close(curves)
    plt.close(plots_probabilities.marginal_effects_forest(effects))


def test_nominal_tests_of_the_complete_pooling_model_match_r(simulated_cases):
    """The complete-pooling model is R's `y ~ collective_efficiency + leader_driven + sectoral_group`: its nominal
    tests are `ordinal::nominal_test`'s (reference/interpretation_ref.json)."""
    fits = pooling.complete_pooling_fits(simulated_cases, forms=["product_upgrading", "functional_upgrading"])
    table = models.diagnostics_table(fits).set_index("form")
    for name, form in (("sim_product", "product_upgrading"), ("sim_functional", "functional_upgrading")):
        reference = {row["term"]: row for row in interpretation_case(name)[0]["nominal_test"]}
        for predictor in KEY_PREDICTORS:
            ref = reference[predictor]
            if ref["df"] == "NA":
                assert pd.isna(table.loc[form, f"nominal_{predictor}_p"])
                assert table.loc[form, f"nominal_{predictor}_note"].startswith("nominal fit invalid")
                continue
            assert table.loc[form, f"nominal_{predictor}_lr"] == pytest.approx(ref["LRT"], abs=1e-6)
            assert table.loc[form, f"nominal_{predictor}_df"] == ref["df"]
            assert table.loc[form, f"nominal_{predictor}_p"] == pytest.approx(ref["p"], abs=1e-6)


def test_nominal_fits_at_the_boundary_say_so(fits):
    """With a slope per group, an upgrading level no case of a group reaches puts the nominal fit's thresholds
    together: the row says so instead of giving a number."""
    table = models.diagnostics_table([f for f in fits if f.model == "by_group"][:1])
    assert table["nominal_collective_efficiency_note"].iloc[0].startswith("nominal fit at a boundary")
    assert pd.isna(table["nominal_collective_efficiency_p"].iloc[0])


def test_the_logit_rows_of_the_links_table_are_the_estimates_tables(simulated_cases, fits):
    links = probabilities.link_robustness_table(simulated_cases, forms=["product_upgrading", "process_upgrading"])
    assert set(links["link"]) == {"logit", "probit", "cloglog"}
    logit = links[links["link"] == "logit"].set_index(["form", "sectoral_group", "predictor"])
    estimates = models.estimates_table([f for f in fits if f.model == "by_group"])
    key = estimates[estimates["predictor"].isin(KEY_PREDICTORS)].set_index(["form", "sectoral_group", "predictor"])
    key = key.loc[logit.index]
    np.testing.assert_allclose(logit["estimate"], key["estimate"], atol=1e-12)
    np.testing.assert_allclose(logit[["conf_low", "conf_high"]], key[["conf_low", "conf_high"]], atol=1e-5)
    assert logit["agrees_with_logit"].all()
    other = links[links["link"] != "logit"]
    same = other.join(logit[["sign", "excludes_zero"]].add_suffix("_l"), on=["form", "sectoral_group", "predictor"])
    expected = (same["sign"] == same["sign_l"]) & (same["excludes_zero"] == same["excludes_zero_l"])
    assert (other["agrees_with_logit"] == expected).all()


def test_a_level_no_case_has_is_named_on_every_row_of_its_form(simulated_cases, fits):
    capped = simulated_cases.assign(product_upgrading=simulated_cases["product_upgrading"].clip(upper=2))
    capped_fits = models.fit_models(capped, ["product_upgrading", "process_upgrading"])
    for table in (
        probabilities.predicted_probabilities_table(capped_fits, capped),
        probabilities.marginal_effects_table(capped_fits, capped),
    ):
        product = table[table["form"] == "product_upgrading"]
        assert set(product["level"].astype(str)) <= {"0", "1", "2", ">=2"}
        assert product["note"].str.startswith("upgrading level 3 never coded on product_upgrading").all()
        assert not table[table["form"] == "process_upgrading"]["note"].str.contains("never coded").any()
    # the simulated sheet uses every level of every form: no such note
    assert not probabilities.predicted_probabilities_table(fits, simulated_cases)["note"].str.len().any()


def test_a_group_with_one_governance_is_predicted_only_where_its_slope_is_not_needed(simulated_cases):
    """Predictions are made at leader_driven = 0: a group with no leader-driven case is predicted there (its
    leader-driven slope, not estimable, has a term of 0); a group whose every case is leader-driven is not (the
    prediction would need that slope), and says why."""
    cases = simulated_cases.copy()
    nr = cases["sectoral_group"] == "natural_resource_based"
    cops = cases["sectoral_group"] == "complex_product_systems"
    cases.loc[nr, "leader_driven"], cases.loc[cops, "leader_driven"] = 0, 1
    fits = models.fit_models(cases, ["product_upgrading"])
    table = probabilities.predicted_probabilities_table(fits, cases)
    market_only = table[table["sectoral_group"] == "natural_resource_based"]
    assert market_only["probability"].notna().all() and len(market_only) == 4 * 4
    fit = next(f for f in fits if f.model == "by_group")
    grid = probabilities._grid(cases, "natural_resource_based", [0, 1, 2, 3])
    expected = fit.reported.get_prediction(grid).summary_frame(0.05)["predicted"].to_numpy()
    np.testing.assert_array_equal(market_only["probability"].to_numpy(), expected)
    leader_only = table[table["sectoral_group"] == "complex_product_systems"]
    assert len(leader_only) == 1 and leader_only["note"].iloc[0] == "leader_driven constant in the group"


def test_the_links_display_keeps_every_slope_in_the_codebooks_order(simulated_cases):
    cases = simulated_cases[simulated_cases["sectoral_group"] != "natural_resource_based"]
    links = probabilities.link_robustness_table(cases, forms=["product_upgrading"])
    table = probabilities.links_by_slope(links)
    groups = ["traditional_manufacturing", "natural_resource_based", "complex_product_systems", "specialised_suppliers"]
    assert list(table.index) == [(p, g) for p in KEY_PREDICTORS for g in groups]
    assert table.loc[("leader_driven", "natural_resource_based")].isna().all()  # no cases: kept, empty
    row = links[(links["link"] == "probit") & (links["predictor"] == "leader_driven")
                & (links["sectoral_group"] == "complex_product_systems")]  # fmt: skip
    assert (
        table.loc[("leader_driven", "complex_product_systems"), ("product_upgrading", "probit")]
        == row["estimate"].iloc[0]
    )
