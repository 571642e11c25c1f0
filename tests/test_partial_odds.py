"""Proportional odds relaxed where rejected (a robustness specification): the nominal test of the claim's term,
and where it rejects, the verdict on every threshold's slope of the partial-proportional-odds fit, given only
where all thresholds agree. On sheets drawn with known threshold-specific slopes."""

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET
from scipy.special import expit

from upgrading.ordinal import CumulativeLink
from upgrading.study import claims, partial_odds
from upgrading.study.coding import load_cases
from upgrading.study.register import Claim, load_register
from upgrading.study.verdicts import decide

REGISTER = load_register()
CLAIM = Claim(
    id="TEST-JOINT",
    kind="text",
    source="a test",
    wording="joint actions raise product upgrading",
    outcome="product_upgrading",
    predictor="joint_actions",
    sectoral_group="",
    formula="product_upgrading ~ joint_actions",
    subset="all",
    term="joint_actions",
    expected="positive",
    margin=0.405,
)
ONE_CLAIM = REGISTER.with_claims([CLAIM])


@pytest.fixture(scope="module")
def simulated():
    return load_cases(SIMULATED_SHEET)


def _sheet(simulated: pd.DataFrame, slopes, copies: int = 8, seed: int = 1) -> pd.DataFrame:
    """The simulated sheet repeated `copies` times, with joint actions uniform on 0-3 and product upgrading drawn
    with P(y > j) = logistic(a_j + slope_j x): proportional odds exactly where the slopes are equal."""
    rng = np.random.default_rng(seed)
    cases = pd.concat([simulated] * copies, ignore_index=True)
    cases["case_id"] = [f"T{k:04d}" for k in range(len(cases))]
    x = rng.integers(0, 4, len(cases))
    above = expit(np.array([-1.0, -1.8, -2.6])[None, :] + np.outer(x, slopes))
    above = np.minimum.accumulate(above, axis=1)  # P(y > j) decreasing in j
    cases["joint_actions"] = x
    cases["product_upgrading"] = (rng.random(len(cases))[:, None] < above).sum(axis=1)
    return cases


def test_where_thresholds_disagree_the_claim_is_inconclusive_and_each_slope_is_shown(simulated):
    cases = _sheet(simulated, [1.5, 0.5, 0.0])
    (row,) = partial_odds.relaxed_rows(cases, ONE_CLAIM, 0.05)
    assert (row["verdict"], row["decided"]) == ("inconclusive", True)
    assert (
        row["note"].startswith("proportional odds rejected for joint_actions") and "thresholds disagree" in row["note"]
    )
    # the slopes and verdicts the note gives, from the nominal fit made directly and the declared rule
    fit = CumulativeLink.from_formula(CLAIM.model("by_group"), claims.prepare(cases), nominal="~ joint_actions").fit()
    levels = REGISTER.levels
    for name in fit.design.nominal_parameter_names:
        slope, se = -fit.params[name], fit.bse[name]
        ci = (slope - levels.z * se, slope + levels.z * se)
        verdict = decide("positive", ci, (slope - levels.z_equivalence * se, slope + levels.z_equivalence * se), 0.405)
        assert f"{name.split('.')[0]}: {slope:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] {verdict}" in row["note"]
    assert "] consistent" in row["note"] and "] inconclusive" in row["note"]  # they do disagree


def test_where_every_threshold_gives_the_verdict_the_claim_has_it(simulated):
    (row,) = partial_odds.relaxed_rows(_sheet(simulated, [1.6, 0.9, 0.5]), ONE_CLAIM, 0.05)
    assert (row["verdict"], row["decided"]) == ("consistent", True)
    assert row["note"].count(" consistent") == 3


def test_where_proportional_odds_holds_there_is_nothing_to_relax(simulated):
    (row,) = partial_odds.relaxed_rows(_sheet(simulated, [0.8, 0.8, 0.8]), ONE_CLAIM, 0.05)
    assert (row["verdict"], row["decided"]) == (claims.POOLED_NOT_APPLICABLE, False)
    assert "proportional odds not rejected for joint_actions (nominal test p = " in row["note"]
    # the same sheet at a test level above its p-value is relaxed, so the level is the declared one, not a constant
    p_value = float(row["note"].split("p = ")[1].split(")")[0])
    (relaxed,) = partial_odds.relaxed_rows(_sheet(simulated, [0.8, 0.8, 0.8]), ONE_CLAIM, min(p_value + 0.01, 0.99))
    assert relaxed["decided"] and relaxed["note"].startswith("proportional odds rejected")


@pytest.mark.slow
def test_a_sheet_where_the_test_cannot_be_made_says_why_for_every_claim(simulated):
    rows = partial_odds.relaxed_rows(simulated, REGISTER, 0.05)
    assert [r["id"] for r in rows] == [c.id for c in REGISTER.claims]
    undecided = [r for r in rows if not r["decided"]]
    assert len(undecided) == len(rows)  # on the simulated sheet no relaxed fit decides (boundaries, no rejection)
    assert all(r["note"] for r in rows)
    assert any("cannot be tested on this sheet: nominal fit at a boundary" in r["note"] for r in rows)


@pytest.mark.slow
def test_a_group_whose_governance_is_never_reported_is_said_to_be_so(tmp_path):
    """Governance not reported in any case of one group: that group's claims cannot be relaxed, and the cell says
    why as the claims check does (not that the group's predictor is 0 in every case, which the design alone says)."""
    sheet = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False)
    sheet.loc[sheet["sectoral_group"] == "specialised_suppliers", "governance"] = "NR"
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    rows = {r["id"]: r for r in partial_odds.relaxed_rows(load_cases(tmp_path / "sheet.csv"), REGISTER, 0.05)}
    size = int((sheet["sectoral_group"] == "specialised_suppliers").sum())
    for claim_id in ("CE-PRODUCT-SOFT", "LEAD-PROCESS-SOFT"):
        assert not rows[claim_id]["decided"]
        assert rows[claim_id]["note"] == f"not estimable: governance not reported in any of this group's {size} cases"
