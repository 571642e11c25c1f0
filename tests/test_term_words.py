"""A term the estimator leaves out as collinear is named in the study's words (`study.term_words`), in the tables'
notes and the narrative of notebook 04: which form, group and predictor, not patsy's column names."""

import pandas as pd
import pytest

from upgrading.study import models, narrative_models, reasons
from upgrading.study.term_words import collinear_words, predictor_words, term_words

COPS = "complex_product_systems"
SLOPE = f"C(sectoral_group)[{COPS}]:leader_driven"
COLLINEAR = f"collinear with C(sectoral_group)[T.{COPS}], C(sectoral_group)[{COPS}]:collective_efficiency"
SAID = (
    "on process upgrading, leader-driven governance moves with collective efficiency in the 5 complete cases of "
    "complex product systems"
)


def _cops_cases() -> pd.DataFrame:
    """Six cases of complex product systems, leader-driven exactly where collective efficiency is 2 (so the one
    moves with the other), one without process upgrading coded; and one case of another group."""
    return pd.DataFrame(
        {
            "sectoral_group": [COPS] * 6 + ["traditional_manufacturing"],
            "collective_efficiency": [1, 2, 1, 2, 2, 1, 3],
            "leader_driven": [0, 1, 0, 1, 1, 0, 1],
            "process_upgrading": [0, 2, 1, 3, None, 1, 2],
        }
    )


def test_a_collinear_group_slope_is_said_in_words_naming_form_group_and_predictors():
    assert collinear_words(SLOPE, COLLINEAR, _cops_cases(), "process_upgrading") == SAID
    assert reasons.study_reason(SLOPE, COLLINEAR, _cops_cases(), "process_upgrading") == SAID
    without_form = collinear_words(SLOPE, COLLINEAR, _cops_cases())
    assert without_form == SAID.removeprefix("on process upgrading, ").replace("5 complete", "6 complete")
    assert "C(" not in without_form and "[" not in without_form


def test_other_reasons_and_other_terms_in_words():
    assert collinear_words(SLOPE, "no variance (every case has 1)", _cops_cases()) == "no variance (every case has 1)"
    assert predictor_words("collective_efficiency") == "collective efficiency"
    assert predictor_words("governance:quasi_hierarchy") == "value-chain governance quasi-hierarchy"
    assert term_words(f"C(sectoral_group)[T.{COPS}]") == "being in complex product systems"
    assert term_words("C(sectoral_group)[specialised_suppliers]:collective_efficiency") == (
        "collective efficiency in specialised suppliers"
    )
    pooled = collinear_words(
        "leader_driven", "collinear with collective_efficiency", _cops_cases(), "process_upgrading"
    )
    assert pooled == (
        "on process upgrading, leader-driven governance moves with collective efficiency in the 6 complete cases"
    )


@pytest.fixture
def cops_collinear(simulated_cases):
    """The simulated sheet with complex product systems' cases leader-driven exactly where their collective
    efficiency is 2 (1 or 2 elsewhere), and one of them without process upgrading coded."""
    cases = simulated_cases
    cops = cases.index[cases["sectoral_group"] == COPS]
    high = cases.loc[cops, "collective_efficiency"] >= 2
    cases.loc[cops, "collective_efficiency"] = high.map({True: 2, False: 1}).astype(int).to_numpy()
    cases.loc[cops, "governance"] = high.map({True: "hierarchy", False: "market"}).to_numpy()
    cases.loc[cops, "leader_driven"] = high.astype(int).to_numpy()
    cases.loc[cops[0], "process_upgrading"] = pd.NA
    return cases, len(cops) - 1


def test_the_estimates_note_and_the_narrative_name_the_slope_that_cannot_be_estimated(cops_collinear):
    cases, complete = cops_collinear
    fits = models.fit_models(cases, forms=["process_upgrading"], models=["by_group"])
    table = models.estimates_table(fits)
    said = (
        "on process upgrading, leader-driven governance moves with collective efficiency in the "
        f"{complete} complete cases of complex product systems"
    )
    (note,) = table.loc[table["term"] == SLOPE, "note"]
    assert reasons.reason_of(note) == said
    key = table[(table["sectoral_group"] == COPS) & (table["predictor"] == "leader_driven")]
    sentence = narrative_models.estimates_summary(key, cases)
    assert f"1 group-specific slope cannot be estimated on this sheet (1 × {said})" in sentence
    assert "C(sectoral_group)" not in sentence


@pytest.mark.slow
def test_the_relaxed_proportional_odds_row_names_the_slope_too(cops_collinear):
    """The robustness table's relaxed proportional-odds fit reads the same reason from the estimator: in words."""
    from upgrading.study.partial_odds import relaxed_rows
    from upgrading.study.register import load_register

    cases, complete = cops_collinear
    register = load_register()
    (claim,) = [c for c in register.claims if c.term == SLOPE and c.outcome == "process_upgrading"]
    (row,) = [r for r in relaxed_rows(cases, register, 0.05) if r["id"] == claim.id]
    assert row["note"] == (
        "not estimable: on process upgrading, leader-driven governance moves with collective efficiency in the "
        f"{complete} complete cases of complex product systems"
    )


def test_a_claims_indicator_of_a_form_of_governance_is_named_in_words():
    assert predictor_words("is_quasi_hierarchy") == "quasi-hierarchy governance"
    assert term_words("is_market") == "market governance"
    assert predictor_words("leader_driven") == "leader-driven governance"
