"""The study's models on sheets of other shapes: every estimate row is a number or says why not."""

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET

from upgrading.study import models, partial_odds
from upgrading.study.coding import load_cases
from upgrading.study.register import load_register


@pytest.fixture(scope="module")
def cases():
    return load_cases(SIMULATED_SHEET)


def _rows_are_numbers_or_reasons(table: pd.DataFrame) -> None:
    number = np.isfinite(table["estimate"].astype(float)) | np.isinf(table["estimate"].astype(float))
    reason = table["note"].fillna("").str.len() > 0
    assert (number | reason).all(), table.loc[~(number | reason), ["form", "model", "term"]]


def test_a_missing_group_keeps_its_rows_with_the_reason(cases):
    three = cases[cases["sectoral_group"] != "specialised_suppliers"].reset_index(drop=True)
    fits = models.fit_models(three, forms=["product_upgrading"])
    table = models.estimates_table(fits)
    _rows_are_numbers_or_reasons(table)
    missing = table[table["sectoral_group"] == "specialised_suppliers"]
    assert len(missing) == 2 and set(missing["note"]) == {"no cases in this group"}
    diagnostics = models.diagnostics_table(fits)
    assert diagnostics["note"].str.contains("specialised_suppliers").any()


@pytest.mark.slow
def test_a_missing_group_leaves_the_nominal_test_to_the_groups_with_cases(cases):
    """The nominal fit leaves out an empty group's columns as the proportional-odds fit does, so neither the
    nominal test nor a relaxed claim about another group fails for that group; a group with cases whose predictor
    is constant keeps its own reason."""
    three = cases[cases["sectoral_group"] != "specialised_suppliers"].reset_index(drop=True)
    resource_based = three["sectoral_group"] == "natural_resource_based"
    three.loc[resource_based, "governance"] = "market"  # leader_driven constant (0) in a group with cases
    three.loc[resource_based, "leader_driven"] = 0
    diagnostics = models.diagnostics_table(models.fit_models(three, models=("by_group",)))
    for predictor in models.KEY_PREDICTORS:
        p_value, note = diagnostics[f"nominal_{predictor}_p"], diagnostics[f"nominal_{predictor}_note"].fillna("")
        assert (np.isfinite(p_value) | (note != "")).all()
        assert not note.str.contains("specialised_suppliers|natural_resource_based|cannot be made").any(), note
    register = load_register()
    cells = dict(zip(register.claims, partial_odds.relaxed_rows(three, register, 0.05)))
    with_cases = {claim: row for claim, row in cells.items() if claim.sectoral_group != "specialised_suppliers"}
    assert not any("specialised_suppliers" in row["note"] for row in with_cases.values())
    leader_notes = [
        row["note"]
        for claim, row in with_cases.items()
        if claim.term.endswith("[natural_resource_based]:leader_driven")
    ]
    assert leader_notes and all(n == "not estimable: leader_driven constant in the group" for n in leader_notes)
    absent = [row["note"] for claim, row in cells.items() if claim.sectoral_group == "specialised_suppliers"]
    assert absent and all(n == "not estimable: no cases in this group" for n in absent)  # not 'every case has 0'


def test_one_case_and_a_constant_predictor_in_a_group(cases):
    shaped = cases.copy()
    cps = shaped.index[shaped["sectoral_group"] == "complex_product_systems"]
    shaped = shaped.drop(index=cps[1:]).reset_index(drop=True)  # one case left in the group
    nr = shaped["sectoral_group"] == "natural_resource_based"
    shaped.loc[nr, "collective_efficiency"] = 2  # constant within the group
    table = models.estimates_table(models.fit_models(shaped, forms=["process_upgrading"]))
    _rows_are_numbers_or_reasons(table)
    notes = table.set_index("term")["note"]
    assert notes["C(sectoral_group)[complex_product_systems]:collective_efficiency"] == "one case in this group"
    assert notes["C(sectoral_group)[natural_resource_based]:collective_efficiency"] == (
        "collective_efficiency constant in the group"
    )
    # a row without an estimate names no fit method, interval or test of its own, as claims_verdicts' "fit" does
    empty = table[table["estimate"].isna()]
    assert len(empty) == 3 and (empty[["method", "interval", "test"]] == "not estimable").all().all()
    assert not (table.loc[table["estimate"].notna(), ["method", "interval", "test"]] == "not estimable").any().any()


def test_one_case_with_every_variable_coded_among_more_on_the_sheet_says_the_others_do_not_report_one(tmp_path):
    """Trial 43: "one case in this group" hid the cases whose codes are not reported (the model drops them)."""
    sheet = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False)
    cps = sheet.index[sheet["sectoral_group"] == "complex_product_systems"]
    sheet.loc[cps[1:], "governance"] = "NR"  # one case of the group keeps every variable of the model
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    table = models.estimates_table(models.fit_models(load_cases(tmp_path / "sheet.csv"), forms=["process_upgrading"]))
    _rows_are_numbers_or_reasons(table)
    note = table.set_index("term")["note"]["C(sectoral_group)[complex_product_systems]:collective_efficiency"]
    members = len(cps)
    assert note.startswith(f"one case of this group has every variable of the model coded ({members} on the sheet)")


def test_an_outcome_with_one_observed_level_is_a_row_not_a_crash(cases):
    flat = cases.assign(functional_upgrading=2)
    fits = models.fit_models(flat, forms=["functional_upgrading"])
    assert not any(f.estimated for f in fits)
    table = models.estimates_table(fits)
    assert table["note"].str.contains("single observed level").all()
    assert models.diagnostics_table(fits)["reported"].eq("not estimable").all()
    assert models.leave_one_out_table(fits)["note"].str.contains("single observed level").all()


def test_a_fit_that_did_not_converge_is_flagged_in_the_tables(cases, monkeypatch):
    from upgrading.ordinal import results

    original = results.CumulativeLink.fit

    def two_iterations(self, penalty=None, **options):
        return original(self, penalty, **{**options, "max_iter": 2})

    monkeypatch.setattr(results.CumulativeLink, "fit", two_iterations)
    table = models.estimates_table(models.fit_models(cases, forms=["product_upgrading"], models=("pooled",)))
    assert table["note"].str.contains("the ml fit did not converge").all()
    separated = models.estimates_table(models.fit_models(cases, forms=["functional_upgrading"], models=("by_group",)))
    assert separated["note"].str.contains("the jeffreys fit did not converge").all(), "the reported penalised fit"


def test_a_claim_on_a_fit_that_did_not_converge_decides_nothing(cases, monkeypatch):
    from upgrading.ordinal import replicates
    from upgrading.study import claims

    def unconverged(designs, link="logit"):
        fits = replicates.fit_designs(designs, link)
        for fit in fits:
            fit.fits.converged[:] = False
        return fits

    monkeypatch.setattr(claims, "fit_designs", unconverged)
    register = claims.load_register()
    row = claims.evaluate(cases, register.with_claims([register.claim("CE-PRODUCT-TRAD")]), n_resamples=99).iloc[0]
    assert row["fit"] == "not estimable" and row["verdict"] == "inconclusive"
    assert row["note"] == "the maximum-likelihood fit did not converge" and np.isnan(row["estimate"])


@pytest.mark.slow
def test_groups_of_two_raise_no_numerical_warning_under_any_link(cases):
    """A notebook prints a numerical warning to stderr, which fails the run. With two cases per group, the probit
    and cloglog profile intervals try far points whose density-to-probability ratios overflow; the engine marks
    those points unusable without a warning."""
    import warnings

    from upgrading.study import probabilities

    two = cases.groupby("sectoral_group", observed=True).sample(n=2, random_state=0).reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits = models.fit_models(two)
        models.leave_one_out_table(fits)
        links = probabilities.link_robustness_table(two)
    assert not [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert set(links["link"]) == {"logit", "probit", "cloglog"}
    _rows_are_numbers_or_reasons(links.assign(model="by_group", term=links["predictor"]))


def test_a_slope_whose_range_keeps_some_of_its_groups_cases_in_says_how_many(cases):
    """Specialised suppliers has one leader-driven case on the simulated sheet: the refit without it leaves
    leader_driven constant there and is skipped, so that group's slopes are ranged over 8 of its 9 cases; with three
    cases in a group, every refit without one of them leaves a slope unidentified, and the range says nothing."""
    soft = cases["sectoral_group"] == "specialised_suppliers"
    assert int(cases.loc[soft, "leader_driven"].sum()) == 1
    loo = models.leave_one_out_table(models.fit_models(cases, forms=["product_upgrading"]))
    notes = loo.set_index(["model", "sectoral_group", "predictor"])["note"]
    for predictor in models.KEY_PREDICTORS:
        assert notes["by_group", "specialised_suppliers", predictor] == (
            "the range leaves out only 8 of this group's 9 cases (the refits without the other 1 skipped)"
        )
        assert notes["by_group", "traditional_manufacturing", predictor] == ""
    assert notes["pooled", "all", "collective_efficiency"] == ""
    # complex product systems' leader-driven slope: one refit is separated, its range ends at +inf, and says why
    # (a reviewer's trace: the exhibit showed inf with no note)
    ranges = loo.set_index(["model", "sectoral_group", "predictor"])
    cops = ranges.loc[("by_group", "complex_product_systems", "leader_driven")]
    assert cops["loo_max"] == np.inf and cops["note"].endswith(models.SEPARATED_REFIT)
    finite = np.isfinite(ranges["loo_min"].astype(float)) & np.isfinite(ranges["loo_max"].astype(float))
    assert not ranges.loc[finite, "note"].fillna("").str.contains(models.SEPARATED_REFIT, regex=False).any()
    leader = cases.index[soft & (cases["leader_driven"] == 1)]
    others = cases[soft & (cases["leader_driven"] == 0)].drop_duplicates("collective_efficiency").index[:2]
    three = cases[~soft | cases.index.isin(leader.union(others))]  # a shift and two slopes on three cases
    loo = models.leave_one_out_table(models.fit_models(three, forms=["product_upgrading"]))
    row = loo[(loo["sectoral_group"] == "specialised_suppliers") & (loo["predictor"] == "collective_efficiency")]
    assert row["note"].iloc[0].startswith("the range leaves out none of this group's 3 cases")


@pytest.mark.slow
def test_counts_stay_integers_beside_rows_without_them(cases):
    """A group without cases gives rows without counts (NaN): the counts beside them stay integers, so a table
    does not print 81,681,600 arrangements as 8.16816e+07 or 33 cases as 33.0."""
    from upgrading.study import claims

    absent = cases[cases["sectoral_group"] != "specialised_suppliers"]
    tables = {
        "leave_one_out": (models.leave_one_out_table(models.fit_models(absent)), ["refits", "refits_failed"]),
        "exact_tests": (models.exact_tests_table(absent, n_resamples=99), ["n", "arrangements", "draws"]),
        "claims": (claims.evaluate(absent, n_resamples=99), ["n"]),
    }
    for name, (table, columns) in tables.items():
        for column in columns:
            assert table[column].isna().any() or name == "exact_tests", (name, column)
            assert str(table[column].dtype) == "Int64", (name, column)
            assert "." not in table[column].dropna().astype(str).str.cat(), (name, column)


def test_a_nominal_fit_whose_warm_start_stalls_is_fitted_again_from_the_default_start(cases):
    """Without specialised suppliers, process upgrading's by-group nominal fit of leader_driven is separated:
    started at the proportional-odds fit it stalled and was reported as not converged; from the default start it
    reaches its supremum, and the test has a statistic, said to be at a supremum."""
    absent = cases[cases["sectoral_group"] != "specialised_suppliers"]
    diagnostics = models.diagnostics_table(models.fit_models(absent, forms=["process_upgrading"]))
    row = diagnostics[diagnostics["model"] == "by_group"].iloc[0]
    assert 0 < row["nominal_leader_driven_p"] < 1
    assert "separated" in row["nominal_leader_driven_note"] and "converge" not in row["nominal_leader_driven_note"]


@pytest.mark.slow
def test_a_group_whose_outcome_is_one_level_says_so_beside_its_estimated_slopes(cases):
    """New-user trial (two groups, software of three cases all at functional upgrading 1 and intersectoral 0): the
    by-group slopes of that group were printed as plain estimates (an ML slope of exactly 0 with a Wald interval,
    a Jeffreys slope that is the penalty's) with no note, while the permutation tests said "outcome constant in
    the group" and claims_verdicts "undefined: y has no variance". Each slope row now says the outcome is one level
    in the group, and the claims table's cross-check says it in the same words as notebook 04's."""
    from upgrading.study import claims

    shaped = cases.copy()
    soft = shaped["sectoral_group"] == "specialised_suppliers"
    shaped.loc[soft, "functional_upgrading"] = 1  # a middle level
    shaped.loc[soft, "intersectoral_upgrading"] = 0  # the lowest
    table = models.estimates_table(models.fit_models(shaped, forms=["functional_upgrading", "intersectoral_upgrading"]))
    slopes = table[(table["sectoral_group"] == "specialised_suppliers") & table["estimate"].notna()]
    assert len(slopes) == 4
    for form, level in (("functional_upgrading", 1), ("intersectoral_upgrading", 0)):
        notes = slopes.loc[slopes["form"] == form, "note"]
        assert notes.str.startswith(f"{form} constant in the group (every case at {level}): the slope rests").all()
    assert (
        not table.loc[table["sectoral_group"] == "natural_resource_based", "note"]
        .fillna("")
        .str.contains("constant in the group")
        .any()
    )
    verdicts = claims.evaluate(shaped, n_resamples=9).set_index("id")
    assert verdicts.loc["CE-FUNCTIONAL-SOFT", "note"].startswith("functional_upgrading constant in the group")
    assert verdicts.loc["CE-FUNCTIONAL-SOFT", "permutation_method"] == "outcome constant in the group"
    assert "constant in the group" not in verdicts.loc["CE-FUNCTIONAL-NR", "note"]


def test_a_level_measured_against_another_than_the_absent_reference_says_which(cases):
    """Without the reference group (or form of governance) on the sheet, the estimator leaves one present level out
    as collinear with the thresholds, and the other levels are measured against it: their rows say so. With the
    reference present, no row says it."""
    two_groups = cases[cases["sectoral_group"].astype(str).isin(["natural_resource_based", "specialised_suppliers"])]
    table = models.estimates_table(models.fit_models(two_groups.copy(), forms=["product_upgrading"]))
    shift = table[table["term"] == "C(sectoral_group)[T.natural_resource_based]"]
    assert len(shift) == 2 and shift["estimate"].notna().all()  # the pooled and the by-group model's shift
    assert (
        shift["note"]
        .eq(
            "measured against sectoral group specialised suppliers, not against the reference sectoral group "
            "traditional manufacturing, which has no case in this fit"
        )
        .all()
    )
    assert table[table["term"] == "C(sectoral_group)[T.specialised_suppliers]"]["estimate"].isna().all()
    no_market = cases[cases["governance"].astype(str) != "market"]
    pooled = models.estimates_table(models.fit_models(no_market.copy(), forms=["product_upgrading"], models=["pooled"]))
    estimated = pooled[pooled["term"].str.startswith("C(governance)") & pooled["estimate"].notna()]
    assert len(estimated) == 2
    assert estimated["note"].str.endswith("not against the reference value-chain governance market, which has no case "
                                          "in this fit").all()  # fmt: skip
    everything = models.estimates_table(models.fit_models(cases.copy(), forms=["product_upgrading"]))
    assert not everything["note"].fillna("").str.contains("not against the reference").any()
