"""Complete-case analysis of a sheet with codes not reported: every analysis uses the cases coded on its
variables, says how many it used, and gives what it gives on the sheet with those cases removed; notebook 02's
tables say what is missing and who each form's models leave out.

The sheet: the simulated one with six cells not reported, chosen so that the expected counts can be read off
BLANKED below by hand."""

import krippendorff
import numpy as np
import pandas as pd
import pytest
from helpers import SECOND_CODER_SHEET, SIMULATED_SHEET

from upgrading.study import (
    claims,
    descriptives,
    missing,
    models,
    narrative,
    pooling,
    probabilities,
    reasons,
    reliability,
)
from upgrading.study.coding import load_cases, to_cases
from upgrading.study.validation import check_sheet

FRAME = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False)
# (row of the simulated sheet, column): cells written "not reported" (collective efficiency with its parts)
BLANKED = [
    (0, "intersectoral_upgrading"),
    (1, "intersectoral_upgrading"),
    (2, "governance"),
    (3, "product_upgrading"),
    (4, "external_economies"),
    (4, "joint_actions"),
    (4, "collective_efficiency"),
]


def _blanked(tmp_path_factory) -> pd.DataFrame:
    frame = FRAME.copy()
    for row, column in BLANKED:
        frame.loc[row, column] = "NR" if column == "governance" else ""
    path = tmp_path_factory.mktemp("nr") / "sheet.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    return load_cases(path)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _blanked(tmp_path_factory)


@pytest.fixture(scope="module")
def complete():
    return load_cases(SIMULATED_SHEET)


def _ids(rows):
    return {str(FRAME.loc[r, "case_id"]) for r in rows}


def test_the_sheet_reads_the_blanked_cells_as_not_reported(cases):
    assert cases["intersectoral_upgrading"].isna().sum() == 2
    assert cases["governance"].isna().sum() == 1 and cases["leader_driven"].isna().sum() == 1
    assert cases["collective_efficiency"].isna().sum() == 1


def test_left_out_lists_per_form_the_cases_without_one_of_its_models_variables(cases):
    table = missing.left_out_table(cases)
    everywhere = _ids([2, 4])  # governance, collective efficiency: in every form's models
    expected = {
        "product_upgrading": everywhere | _ids([3]),
        "process_upgrading": everywhere,
        "functional_upgrading": everywhere,
        "intersectoral_upgrading": everywhere | _ids([0, 1]),
    }
    assert {form: set(rows["case_id"]) for form, rows in table.groupby("form")} == expected
    row = table[(table["form"] == "product_upgrading") & (table["case_id"] == str(FRAME.loc[4, "case_id"]))]
    assert row["not_reported"].tolist() == ["collective_efficiency"]


def test_not_reported_counts_per_variable_and_group_by_hand(cases):
    table = missing.not_reported_table(cases)
    overall = table[table["sectoral_group"] == "all"].set_index("variable")["not_reported"].to_dict()
    assert overall == {
        "external_economies": 1,
        "joint_actions": 1,
        "collective_efficiency": 1,
        "governance": 1,
        "product_upgrading": 1,
        "intersectoral_upgrading": 2,
    }
    group = FRAME.loc[2, "sectoral_group"]
    row = table[(table["variable"] == "governance") & (table["sectoral_group"] == group)].iloc[0]
    assert row["cases"] == (FRAME["sectoral_group"] == group).sum() and row["not_reported"] == 1
    sentence = narrative.missing_summary(table, missing.left_out_table(cases), cases)
    assert "intersectoral upgrading in 2 of 50 cases (4%;" in sentence
    assert "descriptives, reliability and permutation tests use" in sentence
    alone = narrative.missing_summary(table, missing.left_out_table(cases), cases, double_coded=False)
    assert "descriptives and permutation tests use" in alone  # no second coding: no reliability to speak of
    assert missing.not_reported_table(load_cases(SIMULATED_SHEET)).empty


def test_each_model_is_the_fit_on_its_complete_cases_and_says_how_many(cases):
    fits = models.fit_models(cases, forms=["intersectoral_upgrading"], models=["pooled"])
    fit = fits[0]
    assert fit.cases_used == 46 and set(fit.left_out) == _ids([0, 1, 2, 4])
    kept = cases[~cases["case_id"].astype(str).isin(fit.left_out)]
    direct = models.fit_models(kept, forms=["intersectoral_upgrading"], models=["pooled"])[0]
    assert np.array_equal(fit.reported.params.to_numpy(), direct.reported.params.to_numpy())
    assert int(fit.ml.nobs) == 46
    estimates = models.estimates_table(fits)
    assert (
        estimates["note"].str.contains("complete cases: 46 of 50 (4 with a variable not reported)", regex=False).all()
    )
    diagnostics = models.diagnostics_table(fits)
    assert diagnostics["cases"].tolist() == [46]


def test_a_complete_sheet_has_no_complete_case_notes_or_extra_columns(complete):
    fits = models.fit_models(complete, forms=["process_upgrading"], models=["pooled"])
    assert fits[0].complete_note == "" and fits[0].cases_used == 50
    assert not models.estimates_table(fits)["note"].fillna("").str.contains("complete cases", regex=False).any()
    assert "not_reported" not in descriptives.upgrading_by_group(complete)
    assert "missing" not in models.exact_tests_table(complete, n_resamples=9)


def test_descriptives_count_coded_cases_and_the_not_reported(cases):
    table = descriptives.upgrading_by_group(cases)
    row = table[(table["form"] == "intersectoral_upgrading") & (table["sectoral_group"] == "all")].iloc[0]
    coded = pd.to_numeric(FRAME["intersectoral_upgrading"]).drop(index=[0, 1])
    assert row["cases"] == 48 and row["not_reported"] == 2
    assert row["mean"] == pytest.approx(coded.mean())
    governance = descriptives.governance_by_group(cases)
    assert governance["not_reported"].sum() == 1 and governance["cases"].sum() == 49


def test_exact_tests_use_the_pairs_coded_and_count_the_others(cases):
    table = models.exact_tests_table(cases, n_resamples=9)
    group = FRAME.loc[0, "sectoral_group"]
    row = table[
        (table["sectoral_group"] == group)
        & (table["outcome"] == "intersectoral_upgrading")
        & (table["predictor"] == "collective_efficiency")
    ].iloc[0]
    in_group = FRAME["sectoral_group"] == group
    missing_here = sum(1 for r in (0, 1, 4) if in_group[r])
    assert row["missing"] == missing_here and row["n"] == in_group.sum() - missing_here


@pytest.mark.slow
def test_claims_are_decided_on_complete_cases(cases):
    verdicts = claims.evaluate(cases, n_resamples=9)
    intersectoral = verdicts[(verdicts["outcome"] == "intersectoral_upgrading") & (verdicts["subset"] == "all")]
    assert len(intersectoral) and (intersectoral["n"] == 46).all()


def test_alpha_with_not_reported_codes_matches_the_library_on_the_same_data(tmp_path):
    first = load_cases(SIMULATED_SHEET)
    frame = pd.read_csv(SECOND_CODER_SHEET, dtype=str, keep_default_na=False)
    frame.loc[[0, 3], "product_upgrading"] = "NR"
    path = tmp_path / "second.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    second = load_cases(path)
    table = reliability.reliability_table(first, second, n_boot=20).set_index("variable")
    a, b = reliability.pair_up(first, second)
    data = np.vstack([a["product_upgrading"].to_numpy(float, na_value=np.nan),
                      b["product_upgrading"].to_numpy(float, na_value=np.nan)])  # fmt: skip
    assert table.loc["product_upgrading", "alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"), abs=1e-12
    )
    assert table.loc["product_upgrading", "not_reported"] == table.loc["product_upgrading", "code_vs_not_reported"] == 2
    assert table.loc["product_upgrading", "pairs"] == len(a) - 2
    both = ~np.isnan(data).any(axis=0)
    assert table.loc["product_upgrading", "exact_agreement"] == pytest.approx(np.mean(data[0, both] == data[1, both]))
    listed = reliability.disagreements(first, second)
    nr = listed[(listed["variable"] == "product_upgrading") & (listed["second_coder"] == "not reported")]
    assert set(nr["case_id"]) == {str(frame.loc[0, "case_id"]), str(frame.loc[3, "case_id"])}


def test_a_variable_no_double_coded_case_reports_keeps_its_row_with_the_reason(tmp_path):
    frame = FRAME.copy()
    frame["intersectoral_upgrading"] = ""
    path = tmp_path / "sheet.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    cases = to_cases(check_sheet(path)[0])
    table = reliability.reliability_table(cases, cases.iloc[:10], n_boot=5).set_index("variable")
    assert np.isnan(table.loc["intersectoral_upgrading", "alpha"])
    assert "not reported" in table.loc["intersectoral_upgrading", "note"]


def test_a_variable_the_coders_reported_for_different_cases_has_no_alpha_and_no_crash(tmp_path):
    """Coder 1 reports functional upgrading on odd rows only, coder 2 on even rows only: no pair to compare."""
    first, second = FRAME.copy(), FRAME.copy()
    first.loc[first.index % 2 == 0, "functional_upgrading"] = "NR"
    second.loc[second.index % 2 == 1, "functional_upgrading"] = "NR"
    paths = []
    for name, frame in (("first.csv", first), ("second.csv", second)):
        frame.to_csv(tmp_path / name, index=False, lineterminator="\n")
        paths.append(tmp_path / name)
    a, b = load_cases(paths[0]), load_cases(paths[1])
    table = reliability.reliability_table(a, b, n_boot=20).set_index("variable")
    row = table.loc["functional_upgrading"]
    assert np.isnan(row["alpha"]) and "coded by both coders" in row["note"]
    assert row["pairs"] == row["disagreements"] == 0  # no pair to differ: each case is a code against not reported
    assert row["not_reported"] == row["code_vs_not_reported"] == len(FRAME)
    one_pair = b.copy()  # a single pair coded by both (case 2): resamples without it are undefined, not a crash
    one_pair.loc[1, "functional_upgrading"] = (
        a.loc[1, "functional_upgrading"] + 1 if a.loc[1, "functional_upgrading"] < 3 else 0
    )
    first_rows = reliability.reliability_table(a, one_pair.iloc[[1, 2, 4]], n_boot=20).set_index("variable")
    assert first_rows.loc["functional_upgrading", "bootstrap_draws"] <= 20


def test_a_group_whose_cases_all_lack_the_form_is_not_called_empty(tmp_path):
    frame = FRAME.copy()
    group = "specialised_suppliers"
    frame.loc[frame["sectoral_group"] == group, "product_upgrading"] = "NR"
    frame.to_csv(tmp_path / "sheet.csv", index=False, lineterminator="\n")
    cases = load_cases(tmp_path / "sheet.csv")
    fit = pooling.fit_form(cases, "product_upgrading", fast=True)
    note = pooling.group_slope(fit, "collective_efficiency", group)["note"]
    assert note.startswith("no case in this group has product_upgrading") and "complete cases" in note
    tau = pooling.tau_table({"product_upgrading": fit}, claims.load_register().margins)
    assert tau["note"].str.contains("complete cases", regex=False).all()


@pytest.mark.slow
def test_a_group_whose_cases_all_lack_the_form_is_not_called_empty_by_the_models_tests_and_claims(tmp_path):
    """New-user trial: with functional upgrading not reported in every software case, the models, tables and
    claims of that form said "no cases in this group" (the group has 9), "factor level ... has no cases", "no cases:
    no association to test", "every case has 0 (no case of level ... has a nonzero collective_efficiency)" and "is
    specialised suppliers does not vary"; each now names the form not reported in the group's cases."""
    frame = FRAME.copy()
    group = "specialised_suppliers"
    size = int((frame["sectoral_group"] == group).sum())
    frame.loc[frame["sectoral_group"] == group, "functional_upgrading"] = "NR"
    frame.to_csv(tmp_path / "sheet.csv", index=False, lineterminator="\n")
    cases = load_cases(tmp_path / "sheet.csv")
    said = f"functional_upgrading not reported in any of this group's {size} cases"
    fits = models.fit_models(cases, forms=["functional_upgrading"])
    estimates = models.estimates_table(fits)
    software = estimates[estimates["term"].str.contains(group, regex=False)]
    assert len(software) == 4 and software["note"].str.startswith(said).all()  # both shifts, both slopes
    exact = models.exact_tests_table(cases, n_resamples=99)
    rows = exact[(exact["sectoral_group"] == group) & (exact["outcome"] == "functional_upgrading")]
    assert (rows["reason"] == said).all() and (rows["missing"] == size).all()
    for table in (
        probabilities.marginal_effects_table(fits, cases),
        probabilities.predicted_probabilities_table(fits, cases),
    ):
        assert (table.loc[table["sectoral_group"] == group, "note"] == said).all()
    verdicts = claims.evaluate(cases, n_resamples=99).set_index("id")
    for claim in ("CE-FUNCTIONAL-SOFT", "LEAD-FUNCTIONAL-SOFT", "TXT-SOFT-FUNCTIONAL-MORE"):
        assert verdicts.loc[claim, "fit"] == "not estimable" and verdicts.loc[claim, "note"] == said
    # a group with no case on the sheet is still said to have none
    absent = cases[cases["sectoral_group"] != group]
    assert reasons.no_cases_reason(group, absent) == reasons.NO_CASES
    assert (
        models.estimates_table(models.fit_models(absent, forms=["product_upgrading"]))
        .set_index("term")
        .loc[f"C(sectoral_group)[{group}]:collective_efficiency", "note"]
        == reasons.NO_CASES
    )


@pytest.mark.slow
def test_a_form_not_reported_in_any_case_is_said_to_be_so_by_the_claims_not_called_empty(tmp_path):
    """Trial 43: with product upgrading not reported in every case, the claims check's cell claims said "no cases:
    nothing to model" (the sheet has 50 cases), while the textual claim on the same form named the form not
    reported; every product claim, and its relaxed-proportional-odds cell, now names it."""
    frame = FRAME.copy()
    frame["product_upgrading"] = "NR"
    frame.to_csv(tmp_path / "sheet.csv", index=False, lineterminator="\n")
    cases = load_cases(tmp_path / "sheet.csv")
    register = claims.load_register()
    product = [c.id for c in register.claims if c.outcome == "product_upgrading" and c.subset == "all"]
    verdicts = claims.evaluate(cases, n_resamples=99).set_index("id")
    said = f"product_upgrading not reported in any of the sheet's {len(frame)} cases"
    assert product and (verdicts.loc[product, "note"] == said).all()
    from upgrading.study.partial_odds import relaxed_rows

    relaxed = {r["id"]: r["note"] for r in relaxed_rows(cases, register, 0.05)}
    assert all(relaxed[i] == f"not estimable: {said}" for i in product)
    fits = models.fit_models(cases, forms=["product_upgrading"])  # notebook 04's models and tables
    assert fits and all(fit.error == f"not estimable: {said}" for fit in fits)
    assert models.estimates_table(fits)["note"].map(reasons.reason_of).eq(f"not estimable: {said}").all()


def test_the_variable_a_model_column_is_made_from_is_read_from_the_codebook():
    """Which coded variable a case does not report, for a derived column: read from the codebook (its
    [derived.leader_driven] sources and governance forms), not from a second list that a new form would miss."""
    from upgrading.study.codebook import load_codebook

    cb = load_codebook()
    assert {reasons.coded_variable(f"is_{form}") for form in cb.governance_levels} == {"governance"}
    assert reasons.coded_variable("leader_driven") == " and ".join(cb.derived["leader_driven"]["from"]) == "governance"
    assert reasons.coded_variable("collective_efficiency") == "collective_efficiency"  # on the sheet itself
    assert reasons.coded_variable(f"is_{cb.group_codes[0]}") == f"is_{cb.group_codes[0]}"  # a group, not a form
