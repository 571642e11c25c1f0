"""The claims check: the register is complete and faithful, and verdicts follow the data, not the register."""

import numpy as np
import pandas as pd
import pytest

from upgrading import package_data
from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.paths import DATA_RAW, FIGURES
from upgrading.study import claims
from upgrading.study.coding import load_cases

GOOD = DATA_RAW / "coding_sheet_simulated.csv"


def test_register_has_every_table_cell_with_the_source_wording():
    register = claims.load_register()
    cells = [c for c in register["claims"] if c["kind"] == "table cell"]
    assert len(cells) == 24
    assert {(c["predictor"], c["outcome"], c["sectoral_group"]) for c in cells} == {
        (p, f, g)
        for p in ("collective_efficiency", "leader_driven")
        for f in ("product_upgrading", "process_upgrading", "functional_upgrading")
        for g in (
            "traditional_manufacturing",
            "natural_resource_based",
            "complex_product_systems",
            "specialised_suppliers",
        )
    }
    assert any(c["kind"] == "textual" for c in register["claims"])


def test_every_wording_has_a_documented_expectation_and_margins_are_declared():
    register = claims.load_register()
    for claim in register["claims"]:
        assert claims.expected_direction(claim, register) in claims.EXPECTATIONS
        assert register["margins"][claim["predictor"]] > 0
    assert set(register["verdict_rules"]) >= {"positive", "negative", "null", "non_positive", "multiplicity"}


def test_a_tampered_register_is_refused():
    register = package_data.thaw(claims.load_register())
    register["claims"][0]["wording"] = "Strongly positive"
    del register["claims"][5]
    with pytest.raises(UpgradingError) as err:
        claims.check_register(register)
    message = str(err.value)
    assert "differs from the source's" in message and "no documented mapping" in message
    assert "missing from the register" in message


@pytest.mark.parametrize(
    "expected, ci, ci90, verdict",
    [
        ("positive", (0.2, 2.0), (0.4, 1.8), "consistent"),
        ("positive", (-2.0, -0.1), (-1.8, -0.3), "contradicted"),
        ("positive", (-0.3, 0.3), (-0.2, 0.2), "contradicted"),  # precisely too small to matter
        ("positive", (-0.5, 2.0), (-0.3, 1.8), "inconclusive"),
        ("null", (-0.5, 0.5), (-0.38, 0.38), "consistent"),
        ("null", (0.1, 2.0), (0.3, 1.8), "contradicted"),
        ("null", (-1.0, 1.0), (-0.8, 0.8), "inconclusive"),
        ("negative", (-2.0, -0.1), (-1.8, -0.3), "consistent"),
        ("non_positive", (-2.0, 0.5), (-1.8, 0.3), "consistent"),
        ("non_positive", (0.1, 2.0), (0.2, 1.9), "contradicted"),
    ],
)
def test_verdict_rules(expected, ci, ci90, verdict):
    assert claims.decide(expected, ci, ci90, 0.405) == verdict


def test_verdict_rules_mirror_and_vectorise():
    """A negative claim on a slope is the positive claim on the mirrored slope; 'null' is symmetric too; and
    the rule gives, fit by fit, on arrays (as the design analysis calls it) what it gives on each fit alone."""
    rng = np.random.default_rng(0)
    est, se, margin = rng.normal(0, 1, 500), rng.uniform(0.05, 1, 500), 0.405
    low, high, low90, high90 = est - 1.96 * se, est + 1.96 * se, est - 1.645 * se, est + 1.645 * se
    for expected in claims.EXPECTATIONS:
        codes = claims.verdict_rule(expected, low > 0, high < 0, (-margin < low90) & (high90 < margin), high90 < margin)
        single = [
            claims.decide(expected, (lo, hi), (lo9, hi9), margin) for lo, hi, lo9, hi9 in zip(low, high, low90, high90)
        ]
        assert [claims.VERDICTS[c] for c in codes] == single
        assert set(single) == set(claims.VERDICTS), expected  # every verdict is reachable
    for r in range(len(est)):
        ci, ci90, mirrored, mirrored90 = (
            (low[r], high[r]),
            (low90[r], high90[r]),
            (-high[r], -low[r]),
            (-high90[r], -low90[r]),
        )
        assert claims.decide("negative", ci, ci90, margin) == claims.decide("positive", mirrored, mirrored90, margin)
        assert claims.decide("null", ci, ci90, margin) == claims.decide("null", mirrored, mirrored90, margin)
    with pytest.raises(ValueError, match="'sideways' is not one of"):
        claims.verdict_rule("sideways", True, False, False, False)


def test_a_register_naming_an_unknown_cell_model_is_refused():
    register = package_data.thaw(claims.load_register())
    register["cell_model"] = "by_groups"
    with pytest.raises(UpgradingError, match="cell_model 'by_groups' is not one of the study's models"):
        claims.check_register(register)


def _sheet_with_product(relation: str) -> pd.DataFrame:
    """The simulated cases with product upgrading in traditional manufacturing rewritten to follow `relation`."""
    cases = load_cases(GOOD)
    trad = cases["sectoral_group"] == "traditional_manufacturing"
    ce = cases.loc[trad, "collective_efficiency"]
    rng = np.random.default_rng(1)
    noise = rng.integers(-1, 2, trad.sum())
    if relation == "rises":
        new = np.clip(ce + noise * (rng.random(trad.sum()) < 0.3), 0, 3)
    elif relation == "falls":
        new = np.clip(3 - ce + noise * (rng.random(trad.sum()) < 0.3), 0, 3)
    else:
        new = rng.permutation(np.resize([0, 1, 2, 3], trad.sum()))
    cases.loc[trad, "product_upgrading"] = new
    return cases


def _verdict(cases, claim_id="CE-PRODUCT-TRAD"):
    register = package_data.thaw(claims.load_register())
    register["claims"] = [c for c in register["claims"] if c["id"] == claim_id]
    row = claims.evaluate(cases, register, n_resamples=999).iloc[0]
    return row


def test_verdicts_follow_the_data_not_the_register():
    rises, falls, flat = (_verdict(_sheet_with_product(r)) for r in ("rises", "falls", "none"))
    assert rises["verdict"] == "consistent" and rises["estimate"] > 0
    assert falls["verdict"] == "contradicted" and falls["estimate"] < 0
    assert flat["expected"] == "positive"
    assert flat["verdict"] != "consistent", "no relation must never be read as consistent-with-positive"
    for row in (rises, falls, flat):  # no verdict without its evidence
        assert np.isfinite([row["estimate"], row["ci_low"], row["ci_high"], row["p_value"]]).all()


def test_committed_verdict_table_has_all_cells_and_evidence():
    table = pd.read_csv(FIGURES / "claims_verdicts.csv")
    assert (table["kind"] == "table cell").sum() == 24
    assert set(table["verdict"]) <= set(claims.VERDICTS) and set(table["verdict_holm"]) <= set(claims.VERDICTS)
    estimable = table[table["fit"].isin(["ml", "jeffreys"])]
    assert len(estimable) == len(table)
    for column in ("estimate", "ci_low", "ci_high", "p_value", "p_consistent_holm", "p_contradicted_holm"):
        assert estimable[column].notna().all(), column
    assert set(table["data"]) == {"simulated"}
    for column in ("id", "sectoral_group", "outcome", "predictor", "published_wording", "expected"):
        assert column in table.columns


def test_holm_step_on_a_small_family_by_hand():
    # valid p sorted: 0.005, 0.01, 0.03, 0.04 (m = 4): 4 x 0.005 = 0.02; 3 x 0.01 = 0.03; 2 x 0.03 = 0.06;
    # 1 x 0.04 = 0.04, raised to the running maximum 0.06. The missing p-value is not counted in m.
    p = pd.Series([0.01, 0.04, np.nan, 0.03, 0.005], index=list("abcde"))
    adjusted = claims._holm(p)
    assert adjusted.index.tolist() == list("abcde")
    np.testing.assert_allclose(adjusted.to_numpy(), [0.03, 0.06, np.nan, 0.06, 0.02], rtol=0, atol=1e-12)
    assert claims._holm(pd.Series([0.6, 0.7])).tolist() == [1.0, 1.0]  # capped at 1
    assert claims._holm(pd.Series([np.nan, np.nan])).isna().all()


def test_holm_family_pools_both_tests_of_every_claim_by_hand():
    # two claims, four tests in one family: 0.01, 0.20 (consistent) and 0.30, 0.004 (contradicted).
    # Sorted: 4 x 0.004 = 0.016; 3 x 0.01 = 0.03; 2 x 0.20 = 0.40; 1 x 0.30 = 0.30 -> running max 0.40.
    # Adjusting each column on its own would give 0.02 and 0.20 for the first column instead.
    table = pd.DataFrame({"p_consistent": [0.01, 0.20], "p_contradicted": [0.30, 0.004]}, index=[7, 9])
    adjusted = claims.holm_family(table)
    assert adjusted.index.tolist() == [7, 9]
    np.testing.assert_allclose(adjusted["p_consistent_holm"], [0.03, 0.40], rtol=0, atol=1e-12)
    np.testing.assert_allclose(adjusted["p_contradicted_holm"], [0.40, 0.016], rtol=0, atol=1e-12)


def test_cli_claims_prints_the_verdict_table(tmp_path, capsys):
    path = tmp_path / "sheet.csv"
    _sheet_with_product("rises").drop(columns="leader_driven").to_csv(path, index=False)
    out = tmp_path / "verdicts.csv"
    assert main(["claims", "--coding", str(path), "--resamples", "99", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SIMULATED DATA" in printed and "CE-PRODUCT-TRAD" in printed and "verdicts (raw / Holm)" in printed
    assert len(pd.read_csv(out)) == len(claims.load_register()["claims"])
