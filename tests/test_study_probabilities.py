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
from upgrading.study.codebook import load_codebook  # noqa: E402
from upgrading.study.plots import group_labels  # noqa: E402
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


@pytest.mark.slow
def test_marginal_effects_on_high_upgrading_add_up_the_levels(simulated_cases, fits):
    table = probabilities.marginal_effects_table(fits, simulated_cases)
    assert list(table.columns) == probabilities.EFFECT_COLUMNS
    keys = ["form", "sectoral_group", "predictor"]
    high = table[table["level"] == f">={HIGH_UPGRADING}"].set_index(keys)["estimate"]
    levels = table[table["level"].isin([str(k) for k in range(HIGH_UPGRADING, 4)])].groupby(keys)["estimate"].sum()
    np.testing.assert_allclose(high.sort_index(), levels.sort_index(), atol=1e-14)
    per_level = table[~table["level"].str.startswith(">=")].groupby(keys)["estimate"].sum()
    np.testing.assert_allclose(per_level, 0.0, atol=1e-12)
    assert set(table["predictor"]) == set(KEY_PREDICTORS)
    # a note only where no case of the group is at the row's level (counted here from the sheet itself)
    for row in table.itertuples():
        codes = simulated_cases.loc[simulated_cases["sectoral_group"].astype(str) == row.sectoral_group, row.form]
        reached = (codes >= int(row.level[2:])).any() if row.level.startswith(">=") else (codes == int(row.level)).any()
        assert (row.note == "") == reached, row
        assert row.note == "" or row.note.startswith("no case of this group is at level")
    sizes = simulated_cases["sectoral_group"].astype(str).value_counts()
    assert table.groupby("sectoral_group")["cases"].first().to_dict() == sizes.to_dict()


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert not probabilities.predicted_probabilities_table(fits, simulated_cases)["note"].str.contains("never").any()


def _one_governance(cases: pd.DataFrame) -> pd.DataFrame:
    """The sheet with no leader-driven case in natural_resource_based and only leader-driven ones in
    complex_product_systems: each group's leader-driven slope is left out of the by-group fit."""
    cases = cases.copy()
    cases.loc[cases["sectoral_group"] == "natural_resource_based", "leader_driven"] = 0
    cases.loc[cases["sectoral_group"] == "complex_product_systems", "leader_driven"] = 1
    return cases


def test_a_group_with_one_governance_is_predicted_only_where_its_slope_is_not_needed(simulated_cases):
    """Predictions are made at leader_driven = 0: a group with no leader-driven case is predicted there (its
    leader-driven slope, not estimable, has a term of 0); a group whose every case is leader-driven is not (the
    prediction would need that slope), and says why; the figure draws the one and names the reason in the other."""
    cases = _one_governance(simulated_cases)
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
    curves = plots_probabilities.predicted_probability_curves(table)
    panels = dict(zip(group_labels(load_codebook().group_codes), curves.axes))  # one form: one row of panels
    drawn, withheld = (panels[label] for label in group_labels(["natural_resource_based", "complex_product_systems"]))
    assert len(drawn.lines) == market_only["level"].nunique() and not drawn.texts
    assert not withheld.lines and withheld.texts[0].get_text().split() == "leader_driven constant in the group".split()
    plt.close(curves)


def test_a_prediction_is_withheld_where_it_needs_a_slope_the_fit_left_out(simulated_cases):
    """`get_prediction` ignores a left-out column (it predicts as if its slope were 0), so the same numbers come
    out at leader_driven 0 and 1 in a group of one governance: only one of them is the group's. The check asks for
    the slope exactly where a row's value of the column is not what the kept columns make it on the cases."""
    cases = _one_governance(simulated_cases)
    fit = next(f for f in models.fit_models(cases, ["product_upgrading"]) if f.model == "by_group")
    for group, needs_at in (("natural_resource_based", 1), ("complex_product_systems", 0)):
        at = {v: probabilities._grid(cases, group, [0, 1, 2, 3]).assign(leader_driven=v) for v in (0, 1)}
        same = [fit.reported.get_prediction(at[v]).predicted.to_numpy() for v in (0, 1)]
        np.testing.assert_array_equal(*same)
        assert probabilities._needs_left_out(fit, at[needs_at]) == [f"C(sectoral_group)[{group}]:leader_driven"]
        assert probabilities._needs_left_out(fit, at[1 - needs_at]) == []
    # not "a left-out column must be 0": without cases in the reference group, a group's own column is left out
    # as the others' complement, and that group is still predicted
    shifted = simulated_cases[simulated_cases["sectoral_group"] != "traditional_manufacturing"].reset_index(drop=True)
    fits = models.fit_models(shifted, ["product_upgrading"])
    fit = next(f for f in fits if f.model == "by_group")
    assert "C(sectoral_group)[T.specialised_suppliers]" in fit.reasons
    table = probabilities.predicted_probabilities_table(fits, shifted)
    assert table.loc[table["sectoral_group"] == "specialised_suppliers", "probability"].notna().all()
    assert set(table.loc[table["sectoral_group"] == "traditional_manufacturing", "note"]) == {"no cases in this group"}


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


def test_the_links_table_of_a_sheet_with_no_estimable_slope_says_why_and_does_not_fail(tmp_path):
    """Trial 43: governance not reported in any case (a sheet `validate` accepts) leaves no by-group fit under any
    link; the links table raised KeyError 'conf_low', so `upgrading run` stopped in notebook 04. Every fit now keeps
    a row with its reason and no number, and the display and the summary read it."""
    from helpers import SIMULATED_SHEET

    from upgrading.study import narrative_probabilities
    from upgrading.study.coding import load_cases

    sheet = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False).assign(governance="NR")
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    silent = load_cases(tmp_path / "sheet.csv")
    links = probabilities.link_robustness_table(silent, forms=["product_upgrading"])
    assert list(links.columns) == probabilities.LINK_COLUMNS
    assert len(links) == 3 and links["estimate"].isna().all()  # one row per link: the fit's reason
    assert links["note"].str.contains("governance not reported", regex=False).all()
    assert links["excludes_zero"].isna().all() and links["agrees_with_logit"].isna().all()
    probabilities.links_by_slope(links)
    text = narrative_probabilities.links_summary(links)  # models counted as models, not as "0 of 0" slopes
    assert "0 of 0" not in text and "more not compared" not in text
    assert text == (
        "**Links.** For product upgrading the by-group model cannot be fitted under any link on this sheet (1 × not "
        "estimable: governance not reported in any of the sheet's 50 cases), so none of its slopes is estimated."
    )
    fits = models.fit_models(silent, forms=["product_upgrading"])
    effects = probabilities.marginal_effects_table(fits, silent)
    assert effects["estimate"].isna().all()
    assert narrative_probabilities.marginal_effects_summary(effects, silent, links.iloc[:0]).startswith(
        "Read in probabilities: no group-specific average marginal effect on the probability of upgrading at level 2 "
        f"or above is estimated on this sheet. {len(effects)} effects cannot be estimated"
    )  # not "of the 0 group-specific average marginal effects, **0** have ..."
    # the partially pooled fit names what no case reports, not "no cases"
    fit = pooling.fit_form(silent, "product_upgrading")
    assert fit.status == "not estimable: governance not reported in any of the sheet's 50 cases"


@pytest.mark.slow
def test_a_slope_whose_logit_interval_has_no_end_says_why_it_is_not_compared(simulated_cases):
    """Trial 44: on a 12-case sheet the logit's profile interval of a key slope had no end, and notebook 04 read "(5
    more not compared: 4 × leader_driven constant in the group; 1 × no comparison recorded)": the probit row had an
    interval but an empty note. It now names why: the logit's slope has no interval (and the logit's reason)."""
    from upgrading.study import narrative_probabilities

    twelve = simulated_cases.groupby("sectoral_group", observed=True).head(3)
    links = probabilities.link_robustness_table(twelve, forms=["process_upgrading"])
    lost = links[(links["link"] != "logit") & links["excludes_zero"].notna() & links["agrees_with_logit"].isna()]
    assert len(lost)
    why = "profile interval end not found: no converged constrained fit crosses the cutoff"
    assert (lost["note"] == f"the logit's slope has no 95% interval to compare with ({why})").all()
    text = narrative_probabilities.links_summary(links)
    assert "no comparison recorded" not in text and "no 95% interval to compare with" in text


def test_a_slope_within_rounding_of_zero_has_no_sign_in_the_links_table():
    """Trial 44: estimates of about 1e-15 (a slope at 0 by symmetry) were given a sign '+' or '-', so two links
    could 'disagree' on rounding alone."""
    signs = probabilities.slope_sign(pd.Series([1.2e-15, -3e-16, 0.4, -0.02, np.nan]))
    assert signs.iloc[:4].tolist() == ["0", "0", "+", "-"] and pd.isna(signs.iloc[4])


def test_levels_no_case_uses_are_listed_in_prose(simulated_cases):
    """Trial 44: the note read "upgrading level 2, 3 never coded"; now "upgrading levels 2 and 3"."""
    flat = simulated_cases.assign(intersectoral_upgrading=simulated_cases["intersectoral_upgrading"].clip(upper=1))
    fits = models.fit_models(flat, forms=["intersectoral_upgrading"], models=("by_group",))
    notes = probabilities.predicted_probabilities_table(fits, flat)["note"]
    assert notes.str.contains(
        "upgrading levels 2 and 3 never coded on intersectoral_upgrading among the cases used: the model has levels "
        "0 and 1 only, so no row for them",
        regex=False,
    ).all()


def test_a_slope_without_an_interval_under_another_link_says_whose_interval_is_missing(monkeypatch):
    """Trial 45: the links' reading listed "profile interval end not found" among the slopes not compared without
    saying that it was the other link's own interval, not the logit's, that had no end."""
    end = "profile interval end not found: no converged constrained fit crosses the cutoff"
    slope = {"form": "process_upgrading", "sectoral_group": "specialised_suppliers", "predictor": "leader_driven",
             "method": "jeffreys", "estimate": 1.2}  # fmt: skip

    def key_slopes(cases, link, forms):
        if link == "cloglog":
            return [slope | {"link": link, "conf_low": np.nan, "conf_high": 3.0, "note": end}]
        return [slope | {"link": link, "conf_low": 0.2, "conf_high": 2.5, "note": ""}]

    monkeypatch.setattr(probabilities, "_key_slopes", key_slopes)
    table = probabilities.link_robustness_table(pd.DataFrame(), links=("probit", "cloglog")).set_index("link")
    assert table.loc["cloglog", "note"] == f"the cloglog slope has no 95% interval: {end}"
    assert table.loc["probit", "note"] == "" and table.loc["probit", "agrees_with_logit"]
