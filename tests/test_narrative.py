"""The notebooks' sentences and helpers: numbers in the prose come from the tables, file handling stays out of
the repository."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET
from test_descriptives_plots import small_cases

from upgrading import coding, descriptives, narrative, narrative_design, narrative_models, power
from upgrading.errors import UpgradingError
from upgrading.paths import DATA_RAW

GOOD = SIMULATED_SHEET


def test_small_prose_helpers():
    assert narrative.span([0.301, 0.304]) == "0.30"  # both ends print the same: one number
    assert narrative.span([0.0, 0.341]) == "0.00–0.34"
    assert narrative.count_span([18, 9, 14]) == "9 to 18" and narrative.count_span([5, 5]) == "5"
    assert narrative.series(["a"]) == "a" and narrative.series(["a", "b", "c"]) == "a, b and c"
    assert narrative.shown_rows(3, 10, ["figures/x.csv"]) == (
        "The 3 rows shown are a selection of 10; the full table is `figures/x.csv`."
    )
    assert narrative.shown_rows(4, 4, []).startswith("All 4 rows are shown")
    # one row shown, in the singular (new-user trial on a one-group sheet: "The 1 rows shown are a selection")
    assert narrative.shown_rows(1, 36, []) == "The 1 row shown is a selection of 36; the full table is its exhibit."
    # nothing shown (no slope changes sign): no "The 0 rows shown are a selection" (new-user trial)
    assert narrative.shown_rows(0, 36, ["figures/x.csv"]) == "The full table (36 rows) is `figures/x.csv`."


def test_sheet_sentences_count_the_sheet():
    cases = small_cases()
    by_group = descriptives.cases_by_group(cases)
    assert narrative.sheet_summary(cases, by_group) == (
        "The sheet holds **6 cases** in 3 sectoral groups: traditional_manufacturing 3; natural_resource_based 2; "
        "complex_product_systems 1. The sheet has no case of specialised_suppliers: the descriptive tables leave it "
        "out, "
        "and the models and claims keep its rows with that reason."
    )
    assert narrative.group_sizes(cases) == "1 to 3 cases per group"
    # a sheet of one sectoral group: "in 1 sectoral group", not "in 1 sectoral groups" (new-user trial)
    one = cases[cases["sectoral_group"] == "traditional_manufacturing"]
    assert narrative.sheet_summary(one, descriptives.cases_by_group(one)).startswith(
        "The sheet holds **3 cases** in 1 sectoral group: traditional_manufacturing 3. The sheet has no case of "
    )
    assert narrative.group_sizes(one) == "3 cases in one sectoral group"  # not "3 cases per group"
    # no "intervals on differences between groups" on a sheet of one group (new-user trial)
    alone = narrative.upgrading_summary(descriptives.upgrading_by_group(one), one)
    assert alone.endswith(
        "With 3 cases in one sectoral group, these are descriptive means, not tests: the ordered-logit models of "
        "`04_models` put intervals on the relations within that group (with one group on the sheet, no model "
        "compares groups)."
    )
    text = narrative.upgrading_summary(descriptives.upgrading_by_group(cases), cases)
    # means over the six cases by hand: product 11/6, process 11/6, functional 4/6, intersectoral 5/6
    assert text.startswith(
        "In the simulated sheet, across all 6 cases, product upgrading has the highest mean "
        "score (1.83) and functional upgrading the lowest (0.67)."
    )
    partly = cases.copy()
    partly.loc[partly.index[:2], "functional_upgrading"] = np.nan  # not reported
    text = narrative.upgrading_summary(descriptives.upgrading_by_group(partly), partly)
    assert "across all 6 cases" in text and "(each mean over the cases coded on that form: 4 to 6)" in text
    assert "these are descriptive means, not tests" in text and "sampling alone" not in text  # nothing untested
    # a mean of 1.775 reads 1.78, as notebook 03's table (`.round(2)`) shows it, not Python's 1.77
    table = descriptives.upgrading_by_group(cases)
    overall = table["sectoral_group"] == "all"
    table.loc[overall & (table["form"] == "product_upgrading"), "mean"] = 71 / 40
    table.loc[overall & (table["form"] == "process_upgrading"), "mean"] = 1.5
    assert "product upgrading has the highest mean score (1.78)" in narrative.upgrading_summary(table, cases)
    assert f"{71 / 40:.2f}" == "1.77" and pd.Series([71 / 40]).round(2).iloc[0] == 1.78  # the roundings differ
    governance = descriptives.governance_by_group(cases)
    text = narrative.governance_summary(governance, ["market", "network", "quasi_hierarchy", "hierarchy"])
    # zeros by hand: traditional 1 (network), natural-resource 2, CoPS 3; the other six cells hold one case each
    assert text.startswith("6 of the 12 group-by-governance cells are empty") and "and 6 hold only one or two" in text
    assert text.endswith(  # complex-product-systems' one case is market-governed
        "No case in complex_product_systems is leader-driven, so no governance effect can be estimated there (the "
        "models, claims and tests say so on their rows)."
    )
    one_sparse = governance.assign(market=[2, 0, 0], network=[0, 0, 0])  # one cell of one or two cases
    assert "and 1 holds only one or two" in narrative.governance_summary(one_sparse, ["market", "network"])
    # no empty cell, no sparse one: "None of the 4 ... is empty, and none holds", not "0 of the 4 ... are empty, and
    # 0 hold" (new-user trial)
    full = governance.assign(market=[3, 4, 5], network=[3, 4, 5])
    assert narrative.governance_summary(full, ["market", "network"]).startswith(
        "None of the 6 group-by-governance cells is empty, and none holds only one or two cases."
    )
    varied = descriptives.governance_by_group(cases[cases["sectoral_group"] != "complex_product_systems"])
    assert "can be estimated" not in narrative.governance_summary(varied, ["market", "network"])


def test_the_disagreements_sentence_counts_codes_against_not_reported_apart():
    listed = pd.DataFrame(
        {
            "case_id": ["C1", "C2", "C2", "C3"],
            "variable": ["governance", "governance", "joint_actions", "joint_actions"],
            "first_coder": ["market", "not reported", "1", "2"],
            "second_coder": ["network", "market", "2", "not reported"],
        }
    )
    assert narrative.disagreements_summary(listed) == (
        '4 differences over 3 cases: 2 disagreements (two codes that differ) and 2 codes against "not reported".'
    )
    assert narrative.disagreements_summary(listed.iloc[[0, 2]]) == "2 disagreements over 2 cases."


def test_reliability_sentence_names_the_weak_variables():
    alphas = pd.DataFrame(
        {"variable": ["a", "b"], "alpha": [0.9, 0.7], "ci_low": [0.8, 0.5], "exact_agreement": [0.95, 0.8]}
    )
    text = narrative.reliability_summary(alphas)
    assert "from 0.70 (b) to 0.90" in text and "The interval of b reaches below 0.667" in text
    assert "Every interval lies above 0.667" in narrative.reliability_summary(alphas.assign(ci_low=[0.8, 0.7]))
    # two weak variables: a plural subject and verb, the names joined as a list
    both = narrative.reliability_summary(alphas.assign(ci_low=[0.6, 0.5]))
    assert "The intervals of a and b reach below 0.667, so conclusions resting on them should be read" in both
    assert "The interval of" not in both


def test_leave_one_out_and_exact_sentences_read_their_tables():
    loo = pd.DataFrame(
        {
            "form": ["product_upgrading", "product_upgrading", "process_upgrading", "process_upgrading"],
            "model": ["by_group"] * 4,
            "refits": [50, 49, 48, 48],
            "refits_failed": [0, 1, 2, 2],
            "loo_min": [-1, 0.1, -0.2, -3e-15],
            "loo_max": [1, 0.5, -0.1, 2e-15],  # the last: an estimate of 0, a range of rounding
            "skipped": ["", "1: a predictor left constant", "1: an outcome level left empty; 1: a predictor left "
                        "constant"] * 1 + ["1: an outcome level left empty; 1: a predictor left constant"],
            "note": ["", "the range leaves out only 8 of this group's 9 cases (the refits without the other 1 "
                     "skipped)", "", ""],
        }
    )  # fmt: skip
    cases = pd.DataFrame(index=range(50))
    text = narrative_models.leave_one_out_design(loo, cases)
    assert "without each of the 50 cases; 48 to 50 of those refits" in text and "at most 2 per slope" in text
    assert (
        "being skipped: product upgrading, by-group model: 1 × a predictor left constant; process upgrading, "
        "by-group model: 1 × an outcome level left empty, 1 × a predictor left constant. 1 slope's range "
        "therefore leaves out only some, or none, of its own group's cases (its `note` says how many)"
    ) in text  # one range, in the singular (new-user trial: "1 slopes' ranges therefore leave out")
    assert len(narrative_models.sign_changes(loo)) == 1
    assert narrative_models.leave_one_out_summary(loo).startswith(  # not "1 of the 4 ... slopes change sign"
        "1 of the 4 estimated group-specific slopes changes sign when a single case is left out."
    )
    exact = pd.DataFrame(
        {
            "n": [5, 12, 12, 0],
            "method": ["exact (30 distinct arrangements)", "Monte Carlo", "Monte Carlo", "not computed"],
            "arrangements": [30, np.nan, np.nan, np.nan],
            "draws": [np.nan, 9999, 9999, np.nan],
            "reason": ["", "", "", "no cases in this group"],
        }
    )
    assert narrative_models.exact_tests_summary(exact) == (
        "Of the 4 tests, 3 cover groups of 5 to 12 cases and 1 is on a group with no cases; p-values: 1 exact, "
        "counting every distinct arrangement of the form's scores (30 arrangements), 2 by Monte Carlo (9,999 seeded "
        "random permutations) and 1 not computed (no cases in this group)."
    )  # not "The 4 tests cover groups of 5 to 12 cases" (new-user trial: a sheet without some groups)
    full = exact[exact["n"] > 0]
    assert narrative_models.exact_tests_summary(full).startswith("The 3 tests cover groups of 5 to 12 cases; ")
    assert narrative_models.exact_tests_summary(exact.iloc[[0, 3]]).startswith(
        "Of the 2 tests, 1 covers a group of 5 cases and 1 is on a group with no cases; "
    )
    assert narrative_models.exact_tests_summary(exact.iloc[[3, 3]]).startswith("All 2 tests are on a group with no ")


def test_verdict_sentences_take_counts_and_margin_from_the_data():
    verdicts = pd.DataFrame(
        {
            "kind": ["table cell"] * 3 + ["textual"],
            "expected": ["null", "positive", "null", "positive"],
            "verdict": ["consistent", "inconclusive", "inconclusive", "contradicted"],
            "verdict_holm": ["inconclusive"] * 4,
            "fit": ["ml", "ml", "not estimable", "jeffreys"],
        }
    )
    counts = pd.DataFrame(
        {"raw": verdicts["verdict"].value_counts(), "holm": verdicts["verdict_holm"].value_counts()}
    ).reindex(["consistent", "contradicted", "inconclusive"], fill_value=0)
    register = _register(2.0)
    text = narrative_models.verdicts_summary(verdicts, counts, register, small_cases())
    assert text.startswith(
        "Of the 4 claims (3 table cells, 1 textual), 1 is consistent with the data, 1 "
        "contradicted and 2 inconclusive before adjustment (1 of them because the claim cannot be tested on this "
        "sheet: no estimate, the reason in the table's `note`)"
    )
    assert "Holm's adjustment over one family of 8 tests" in text
    two = counts.assign(raw=[2, 0, 2])  # the verb agrees with the count: "1 is", "2 are"
    assert ", 2 are consistent with the data, 0 contradicted" in narrative_models.verdicts_summary(
        verdicts, two, register, small_cases()
    )
    assert "the 2 tests of the 1 claim that cannot be tested count as p = 1, rejecting nothing" in text
    every = narrative_models.verdicts_summary(verdicts.assign(fit="ml"), counts, register, small_cases())
    assert "cannot be tested" not in every and "count as p = 1" not in every
    assert "The one 'neutral'/'none' claim that can be tested here (of 2) cannot be consistent unless" in text
    untested = verdicts.assign(fit="not estimable")
    assert narrative_models.verdicts_summary(untested, counts, register, small_cases()).endswith(
        "None of the 2 'neutral'/'none' claims can be tested on this sheet."
    )
    assert "odds ratio of 1/2 to 2" in text
    assert "None of the 2 'neutral'/'none' claims can be consistent" in every
    assert "1 to 3 cases per group" in text
    assert "6 cases cannot resolve" in narrative_models.simulated_reading(small_cases())
    assert narrative_models.simulated_reading(small_cases(simulated=False)).startswith("These verdicts are computed")
    invented = small_cases()
    invented.attrs["generated"] = False  # labelled simulated by its user, not made by `upgrading simulate`
    reading = narrative_models.simulated_reading(invented)
    assert reading.startswith("**Reading on a sheet labelled simulated.**") and "generated" not in reading
    assert "not a finding about Latin American clusters" in reading.replace("none is a finding", "not a finding")


def test_only_the_compendiums_own_simulated_sheet_is_said_to_be_generated_from_the_assumptions(tmp_path):
    from helpers import SIMULATED_SHEET

    from upgrading.study import coding
    from upgrading.study.narrative import on_the_sheet, simulated_caveat

    shipped = coding.load_cases(SIMULATED_SHEET)
    assert shipped.attrs["simulated"] and shipped.attrs["generated"]
    assert "generated from the documented assumptions" in simulated_caveat(shipped)
    assert on_the_sheet(shipped) == "On the simulated sheet"
    frame = pd.read_csv(SIMULATED_SHEET, keep_default_na=False)
    for column, value in (("coding_source", "simulated: invented test cases"), ("case_id", "MY-01")):
        mine = frame.copy()
        mine.loc[0, column] = value
        mine.to_csv(tmp_path / "mine.csv", index=False)
        cases = coding.load_cases(tmp_path / "mine.csv")
        assert cases.attrs["simulated"] and not cases.attrs["generated"], column
        assert on_the_sheet(cases) == "On this sheet, labelled simulated,"  # notebooks 04 and 05's pooling sentences
        assert (
            simulated_caveat(cases)
            == " On this sheet, labelled simulated, they are not findings about Latin American clusters."
        )
    coded = frame.assign(coding_source="Author (2003), case study")
    coded.to_csv(tmp_path / "coded.csv", index=False)
    assert simulated_caveat(coding.load_cases(tmp_path / "coded.csv")) == ""


def _register(odds_ratio: float):
    """The package's register with one declared margin (as an odds ratio), for sentences that quote it."""
    import dataclasses

    from upgrading import package_data
    from upgrading.study.register import load_register

    margins = package_data.freeze({"x": float(np.log(odds_ratio))})
    return dataclasses.replace(load_register(), margins=margins)


def _summary():
    rows = []
    for n in (30, 50, 200):
        for scope, kind in (("pooled", "positive"), ("g1", "positive"), ("g2", "positive"), ("g1", "neutral")):
            right = {"pooled": 0.5 + n / 400, "g1": n / 250, "g2": n / 300}[scope] if kind == "positive" else 0.01
            rows.append(
                {
                    "scope": scope,
                    "kind": kind,
                    "n_cases": n,
                    "effect_scale": 1.0,
                    "p_right": right,
                    "p_wrong": 0.02 if n == 30 else 0.0,
                    "p_separated": 0.5 if n < 200 else 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_power_reading_takes_every_number_from_the_table():
    text = narrative_design.power_reading(_summary(), _register(1.5), base_cases=50)
    assert "**At 50 cases with the documented effects**" in text
    assert "right verdict in 0.01–0.20 of replicates" in text  # min 0.01 (neutral), max 50/250
    assert "separated in 0.50 of these fits at 50 cases and in 0.00 at 200" in text
    # positive per group: the weakest group reaches 0.8 at n / 300 >= 0.8 -> never; pooled: 0.5 + n/400 from 200
    assert (
        "**Positive per-group claims** reach a right verdict in at least 80% of replicates in every group at none "
        "of the numbers of cases studied (up to 200)"
    ) in text
    assert "**pooled** positive claim reaches a right verdict in at least 80% of replicates from 200 cases" in text
    assert "odds ratio 1.5" in text and "at most 0.020 of verdicts" in text and "its 90% interval inside" in text
    # a study size that was not run falls back to the nearest number of cases studied
    assert "**At 30 cases" in narrative_design.power_reading(_summary(), _register(1.5), base_cases=35)
    assert narrative_design.reaching(pd.DataFrame({"n_cases": [30, 50], "p_right": [0.5, 0.9]})) == (
        "reach a right verdict in at least 80% of replicates from 50 cases"
    )


def test_design_summary_prints_the_documented_proportions():
    params = {
        "group_sizes": {"a_b": 3, "c": 2},
        "outcome": {"effect_size": {"collective_efficiency": 0.9, "leader_driven": 1.4}},
    }
    text = narrative_design.design_summary(params, replicates=1000, cases=[30, 50], effect_scales=[1.0])
    assert "(3 : 2, a b and c)" in text and "1,000 replicates in each of 2 design cells" in text
    assert "2,000 simulated sheets" in text and "0.9 log-odds" in text


# helpers moved out of the notebooks -------------------------------------------------------------------------


def test_typical_mistakes_report_finds_every_planted_mistake_and_leaves_the_sheet_alone():
    before = hashlib.sha256(GOOD.read_bytes()).hexdigest()
    error = coding.typical_mistakes_report(GOOD)
    assert hashlib.sha256(GOOD.read_bytes()).hexdigest() == before
    assert isinstance(error, coding.CodingSheetError) and error.file == "corrupted_copy.csv"
    assert [(p.line, p.column) for p in error.problems] == [
        (row + 2, m.column) for row, m in enumerate(coding.TYPICAL_MISTAKES)
    ]
    assert "did you mean 'hierarchy'?" in str(error)
    text = narrative.mistakes_summary(coding.TYPICAL_MISTAKES)
    assert text.startswith(f"The copy carries {len(coding.TYPICAL_MISTAKES)} typical mistakes")


def test_typical_mistakes_report_refuses_a_sheet_too_short_or_a_mistake_that_is_none(tmp_path):
    lines = GOOD.read_text(encoding="utf-8").splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    with pytest.raises(UpgradingError, match="planting 5 mistakes needs 5"):
        coding.typical_mistakes_report(short)
    harmless = (coding.Mistake("governance", "market", "not a mistake at all"),)
    with pytest.raises(UpgradingError, match="accepted a sheet|missed planted"):
        coding.typical_mistakes_report(GOOD, mistakes=harmless)


def test_write_processed_writes_once_and_never_under_raw(tmp_path):
    cases = small_cases()
    target = coding.write_processed(cases, tmp_path / "out" / "cases.csv")
    assert target.read_text(encoding="utf-8").splitlines()[0].startswith("case_id,sectoral_group")
    mtime = target.stat().st_mtime_ns
    coding.write_processed(cases, target)
    assert target.stat().st_mtime_ns == mtime  # same bytes: left alone
    with pytest.raises(UpgradingError, match="under data/raw/, which holds inputs only"):
        coding.write_processed(cases, DATA_RAW / "cases.csv")


def test_power_table_helpers():
    studied = power.claims_studied_table()
    by_scope = power.claims_by_scope(studied)
    assert int(by_scope.to_numpy().sum()) == len(studied) == len(power.claims_studied())
    assert by_scope.index[0] == "pooled" and list(by_scope.columns) == ["positive", "neutral", "negative"]
    assert by_scope.loc["pooled"].tolist() == [1, 1, 1]
    summary = _summary()
    cell = power.design_cell(summary, 50)
    assert len(cell) == 4 and set(cell["n_cases"]) == {50}
    assert power.design_cell(summary, 50, effect_scale=0.5).empty


def test_separation_sentence_reads_the_diagnostics():
    diagnostics = pd.DataFrame(
        {
            "form": ["a", "b", "c"],
            "model": ["pooled", "by_group", "by_group"],
            "reported": ["ml", "jeffreys", "jeffreys"],
            "ml_separated": [False, True, True],
            "ml_hessian_condition": [234.3, np.inf, np.inf],
            "brant_p": [0.2, np.nan, np.nan],
        }
    )
    text = narrative_models.separation_summary(diagnostics)
    assert text.startswith(
        "Maximum likelihood is separated in **2 of 3** fits (b by_group, c by_group); at a "
        "separated fit the information matrix vanishes"
    )
    assert "The other fits' condition numbers are at most 2.3e+02." in text
    assert "defined for 1 of 3 fits" in text
    none = narrative_models.separation_summary(
        diagnostics.assign(ml_separated=False, ml_hessian_condition=10.0, brant_p=0.5)
    )
    assert (
        none.startswith(
            "Maximum likelihood is separated in **0 of 3** fits. The fits' condition numbers are at most 1.0e+01."
        )
        and "defined for every fit" in none
        and "it rejects proportional odds in none of the fits at the 5% level" in none
    )
    rejected = narrative_models.separation_summary(diagnostics.assign(brant_p=[1.4e-5, 0.3, np.nan]))
    assert "rejects proportional odds at the 5% level in 1 of 2 fits: a, pooled (p = 1.4e-05)." in rejected
    flat = pd.concat(
        [
            diagnostics,
            pd.DataFrame(
                {
                    "form": ["d"],
                    "model": ["pooled"],
                    "reported": ["not estimable"],
                    "note": ["not estimable: outcome 'd' has a single observed level"],
                }
            ),
        ]
    )
    assert narrative_models.separation_summary(flat).endswith(
        "1 model cannot be estimated on this sheet (1 × not estimable: outcome 'd' has a single observed level)."
    )
    # no Brant test, but a nominal test: the assumption is tested (new-user trial: "the models rest on that
    # assumption untested" just above the nominal tests computed in 8 fits)
    undefined = diagnostics.assign(brant_p=np.nan, nominal_collective_efficiency_p=[0.4, np.nan, np.nan])
    assert narrative_models.separation_summary(undefined).endswith(
        "The Brant test of proportional odds cannot be computed for any fit, so it cannot test the assumption on "
        "these data; the nominal tests below ask it of each key predictor alone."
    )
    untested = narrative_models.separation_summary(undefined.assign(nominal_collective_efficiency_p=np.nan))
    assert untested.endswith(
        "nor can the nominal tests below, so proportional odds cannot be tested on these data, and the models rest "
        "on that assumption untested."
    )


def test_marginal_effects_are_read_in_percentage_points_with_their_direction():
    import pandas as pd

    from upgrading.study.narrative_probabilities import marginal_effects_summary

    effects = pd.DataFrame(
        {
            "form": ["process_upgrading"] * 2,
            "sectoral_group": ["complex_product_systems", "traditional_manufacturing"],
            "predictor": ["leader_driven", "collective_efficiency"],
            "level": [">=2", ">=2"],
            "estimate": [-0.54, 0.05],
            "conf_low": [-0.91, -0.2],
            "conf_high": [-0.16, 0.3],
            "method": ["jeffreys", "ml"],
        }
    )
    # the slopes' own intervals (profile for the Jeffreys-penalised fit): the first excludes zero, as its effect
    slopes = effects[["form", "sectoral_group", "predictor"]].assign(conf_low=[-3.1, -0.4], conf_high=[-0.2, 0.5])
    text = marginal_effects_summary(effects, pd.DataFrame().assign(), slopes)
    assert "**1**" in text and "**54 percentage points** less likely" in text and "-91 to -16" in text
    assert "widest spans 75 percentage points" in text and "beyond ±100" not in text
    assert "of the 2 group-specific average marginal effects on the probability" in text
    one = marginal_effects_summary(effects.iloc[:1], pd.DataFrame().assign(), slopes.iloc[:1])
    assert "of the one group-specific average marginal effect on the probability" in one  # not "of the 1 ... effects"
    # a penalised fit whose profile interval includes zero: its effect is not read, and the sentence says why
    unsupported = marginal_effects_summary(effects, pd.DataFrame().assign(), slopes.assign(conf_high=[0.4, 0.5]))
    assert "**0**" in unsupported and "54 percentage points" not in unsupported
    # the effects read are counted as read: an effect whose delta-method interval alone excludes zero is not
    # counted among those "that have a 95% interval that excludes zero" (notebook 04 once read "4 have ... 1 more")
    assert "**0** are read as effects, their 95% interval excluding zero as their slope's own interval does" in (
        unsupported
    )
    assert "interval that excludes zero" not in unsupported
    assert "**1** is read as an effect, its 95% interval excluding zero as its slope's own interval does:" in text
    assert (
        "1 more excludes zero on the delta-method interval only: the slope's own interval (Wald for ML, profile for "
        "a Jeffreys-penalised fit of separated data) includes zero, so it is not read as an effect (leader-driven "
        "governance on process upgrading in complex product systems)."
    ) in unsupported
    strong = effects.assign(estimate=[-0.54, 0.70], conf_low=[-0.91, 0.22], conf_high=[-0.16, 1.17])
    # an ML effect whose slope's Wald interval includes zero is not read either (the claims check would not)
    ml_only = marginal_effects_summary(strong, pd.DataFrame().assign(), slopes)
    assert "**1**" in ml_only and "collective efficiency on process upgrading in traditional manufacturing)" in ml_only
    slopes = slopes.assign(conf_low=[-3.1, 0.1])  # now both slopes' intervals exclude zero
    text = marginal_effects_summary(strong, pd.DataFrame().assign(), slopes)
    assert (  # collective efficiency: an average derivative, per level, not the change over a whole level
        "the probability of process upgrading at level 2 or above rises with collective efficiency at on average "
        "**70 percentage points per level** (the slope at each cluster's own level; 95% interval +22 to +117, ml)"
    ) in text
    assert "1 of them reaches beyond ±100 percentage points" in text
    # each effect read is given with its slope's odds ratio and interval (where the slopes table has them)
    with_or = slopes.assign(odds_ratio=[0.2, 12.49], or_conf_low=[0.05, 1.97], or_conf_high=[0.8, 79.27])
    text = marginal_effects_summary(strong, pd.DataFrame().assign(), with_or)
    assert "95% interval +22 to +117, ml; its slope's odds ratio 12.49, 95% interval 1.97 to 79.27)" in text
    assert "more precision than the slope it comes from" in text
    # no case of the group at level 2 or above: the effect rests on the thresholds the groups share, not read
    unreached = strong.assign(note=["", "no case of this group is at level 2 or above on process_upgrading: ..."])
    text = marginal_effects_summary(unreached, pd.DataFrame().assign(), slopes)
    assert "**1**" in text and "70 percentage points" not in text
    assert (
        "1 more excludes zero where no case of the group is at level 2 or above: the model's probability there "
        "rests on the thresholds the groups share, not on the group's cases, so it is not read as an effect "
        "(collective efficiency on process upgrading in traditional manufacturing)."
    ) in text
    # on a sheet with codes not reported the row's note begins with the fit's own notes: the effect is still not read
    after = "complete cases: 27 of 30 (3 with a variable not reported); " + unreached["note"].iloc[1]
    text = marginal_effects_summary(unreached.assign(note=["", after]), pd.DataFrame().assign(), slopes)
    assert "**1** is read as an effect, its 95% interval" in text and "70 percentage points" not in text
    assert "1 more excludes zero where no case of the group is at level 2 or above" in text


def test_slopes_are_counted_by_their_numbers_not_by_their_notes_on_a_sheet_with_codes_not_reported():
    """Every row of a complete-case model carries the count of cases it used; that is not a reason the slope
    cannot be estimated, and a reason is given once, without it."""
    used = "complete cases: 27 of 30 (3 with a variable not reported)"
    rows = [
        ("traditional_manufacturing", 0.8, 0.2, 1.4, used),
        ("natural_resource_based", 0.1, -0.9, 1.1, used),
        ("specialised_suppliers", np.nan, np.nan, np.nan, f"no cases in this group; {used}"),
        ("complex_product_systems", 5.1, 0.5, 9.7, f"the ML fit did not converge: estimate unreliable; {used}"),
    ]
    key = pd.DataFrame(
        [
            {
                "form": "product_upgrading", "predictor": "collective_efficiency", "sectoral_group": group,
                "estimate": est, "conf_low": low, "conf_high": high, "note": note, "method": "ml",
                "odds_ratio": np.exp(est), "or_conf_low": np.exp(low), "or_conf_high": np.exp(high),
            }
            for group, est, low, high, note in rows
        ]
    )  # fmt: skip
    cases = pd.DataFrame({"sectoral_group": ["traditional_manufacturing"] * 15 + ["natural_resource_based"] * 15})
    text = narrative_models.estimates_summary(key, cases)
    assert text.startswith("Of the 2 estimated group-specific slopes, **1** has a 95% interval that excludes zero")
    assert "complex product systems" not in text.split(".")[0]  # a fit that did not converge is no finding
    # a slope with no number cannot be estimated; one with a number that is not read is said to have one
    assert (
        "1 group-specific slope cannot be estimated on this sheet (1 × no cases in this group). 1 more group-specific "
        "slope has an estimate that is not read (1 × the ML fit did not converge: estimate unreliable)."
    ) in text
    key = key.iloc[:3]
    loo = key.assign(refits=[27.0, 27.0, np.nan], loo_min=[0.5, -1.0, np.nan], loo_max=[1.0, 0.3, np.nan])
    text = narrative_models.leave_one_out_summary(loo)
    assert text.startswith("1 of the 2 estimated group-specific slopes changes sign")
    assert "(1 × no cases in this group)" in text and "complete cases" not in text
    assert text.endswith("The sign changes:")
    steady = narrative_models.leave_one_out_summary(loo.assign(loo_min=[0.5, 0.1, np.nan]))
    assert steady.startswith("None of the 2 estimated group-specific slopes change sign")
    assert not steady.endswith(":")  # no table follows


def test_reliability_says_which_variables_rest_on_fewer_pairs_than_the_double_coded_cases():
    alphas = pd.DataFrame(
        {
            "variable": ["joint_actions", "product_upgrading"],
            "cases": [15, 15],
            "pairs": [14, 15],
            "alpha": [0.8, 0.9],
            "exact_agreement": [13 / 14, 1.0],
            "ci_low": [0.7, 0.8],
            "not_reported": [1, 0],
            "code_vs_not_reported": [1, 0],
        }
    )
    text = narrative.reliability_summary(alphas)
    assert "For 1 variable a coder did not report a code in some double-coded cases" in text
    assert "(`pairs`: joint_actions 14 of 15)" in text
    assert "in 1 of those cases the other coder gave a code (`code_vs_not_reported`)" in text
    assert "not counted among them" in text and "counts such a case as a disagreement" not in text
    assert "fewer pairs" not in narrative.reliability_summary(alphas.drop(columns="not_reported"))


def test_links_summary_counts_the_slopes_it_could_not_compare_with_their_reasons():
    from upgrading.study import narrative_probabilities

    row = {"form": "product_upgrading", "sectoral_group": "traditional_manufacturing", "predictor": "leader_driven"}
    links = pd.DataFrame(
        [
            row | {"link": "logit", "agrees_with_logit": True, "note": ""},
            row | {"link": "cloglog", "agrees_with_logit": True, "note": ""},
            row | {"link": "cloglog", "agrees_with_logit": False, "note": ""},
            row | {"link": "cloglog", "agrees_with_logit": np.nan, "note": "profile interval end not found: no "
                   "converged constrained fit crosses the cutoff; complete cases: 33 of 35 (2 with a variable not "
                   "reported)"},
            row | {"link": "cloglog", "agrees_with_logit": np.nan, "note": "no cases in this group; complete "
                   "cases: 33 of 35 (2 with a variable not reported)"},
        ]
    )  # fmt: skip
    text = narrative_probabilities.links_summary(links)
    assert text.startswith("**Links.** Under the cloglog link 1 of 2 key slopes keep the logit's sign")
    # a reason with a colon reads as one, and the complete-case count every row carries is no reason
    assert text.endswith(
        "(2 more not compared: 1 × profile interval end not found: no converged constrained fit crosses the "
        "cutoff; 1 × no cases in this group)."
    )


def test_the_nominal_sentence_counts_the_fits_that_hold_the_predictor_and_names_a_separated_rejection():
    from upgrading.study.narrative_probabilities import nominal_summary

    diagnostics = pd.DataFrame({
        "form": ["product_upgrading"] * 3,
        "model": ["pooled", "by_group", "complete_pooling"],
        "nominal_collective_efficiency_p": [0.40, np.nan, 0.20],
        "nominal_collective_efficiency_note": ["", "nominal fit at a boundary", ""],
        "nominal_leader_driven_p": [np.nan, np.nan, 0.017],
        "nominal_leader_driven_note": ["not in this model", "nominal fit at a boundary",
                                       "nominal fit separated (some estimates infinite): log-likelihood at its "
                                       "supremum"],
    })  # fmt: skip
    text = nominal_summary(diagnostics)
    assert "for collective efficiency the test is computed in 2 of the 3 fits with it" in text
    assert "for leader-driven governance the test is computed in 1 of the 2 fits with it" in text
    assert (
        "rejects proportional odds at 0.05 in 1: product upgrading (complete_pooling, p = 0.017, separated: a "
        "statistic at its supremum, its p-value less trustworthy)"
    ) in text
    assert "(smallest p = 0.20)" in text  # no test on a separated fit among those that do not reject
    # a p-value under 0.0005 is not printed "p = 0.000" (new-user trial: 0.000215 in the diagnostics table)
    tiny = nominal_summary(diagnostics.assign(nominal_leader_driven_p=[np.nan, np.nan, 0.000215]))
    assert "(complete_pooling, p = 2.1e-04, separated" in tiny and "p = 0.000" not in tiny
    from upgrading.study.wording import p_value

    assert [p_value(p) for p in (0.593, 0.0005, 0.00049, 0.0)] == ["0.593", "0.001", "4.9e-04", "0.0e+00"]
    # tests that do not reject, made on separated fits, are said to tell little (a new-user trial: p = 1.00, read
    # as no evidence against proportional odds)
    separated = "model and nominal fit separated (some estimates infinite): log-likelihood at its supremum"
    notes = [separated, "nominal fit at a boundary", ""]
    both = diagnostics.assign(
        nominal_collective_efficiency_p=[1.0, np.nan, 0.9], nominal_collective_efficiency_note=notes
    )
    assert "(smallest p = 0.90; 1 of them made on a separated nominal fit, whose statistic is at its supremum" in (
        nominal_summary(both)
    )
    both = both.assign(nominal_collective_efficiency_note=[separated, "nominal fit at a boundary", separated])
    assert "(smallest p = 0.90; all made on separated nominal fits, whose statistic" in nominal_summary(both)
    # no test computed for a predictor: said once, without "0 of the 3 fits (no model)"
    none = diagnostics.assign(nominal_collective_efficiency_p=np.nan)
    text = nominal_summary(none)
    assert "for collective efficiency the test could not be computed in any of the 3 fits with it;" in text
    assert "no model" not in text and "cannot be read" not in text
    # one fit holding the predictor, one test computed: said in the singular, not "any of the 1 fits", "all made on"
    one = diagnostics.iloc[[2]].assign(nominal_collective_efficiency_p=np.nan)
    assert "for collective efficiency the test could not be computed in the one fit with it;" in nominal_summary(one)
    lone = diagnostics.iloc[[0]].assign(
        nominal_collective_efficiency_p=0.9, nominal_collective_efficiency_note=separated
    )
    assert "(smallest p = 0.90; the one test made on a separated nominal fit, whose" in nominal_summary(lone)


def test_the_partial_proportional_odds_sentence_names_the_group_of_each_thresholds_slopes():
    # a model with one slope per group: its nominal fit has a run of thresholds per group, and the sentence must say
    # whose run each is (it used to list the twelve slopes of four groups as one run, the groups' names dropped)
    from upgrading.study.narrative_probabilities import partial_proportional_odds_summary

    groups = ["traditional_manufacturing", "complex_product_systems"]
    names = [f"{t}.C(sectoral_group)[{g}]:collective_efficiency" for g in groups for t in ("0|1", "1|2")]
    effects = pd.Series([0.53, 1.55, np.inf, -0.25], index=names)
    key = ("intersectoral_upgrading", "by_group", "collective_efficiency")
    text = partial_proportional_odds_summary({key: effects})
    assert (
        "intersectoral upgrading (by_group), collective efficiency: traditional manufacturing (0|1 +0.53, 1|2 +1.55), "
        "complex product systems (0|1 +inf, 1|2 -0.25)"
    ) in text
    assert "±inf: the nominal fit is separated" in text
    # a model with one slope for all groups names no group, and with every slope finite says nothing of separation
    pooled = pd.Series([0.2, 0.6], index=["0|1.collective_efficiency", "1|2.collective_efficiency"])
    key = ("product_upgrading", "complete_pooling", "collective_efficiency")
    text = partial_proportional_odds_summary({key: pooled})
    assert "collective efficiency: 0|1 +0.20, 1|2 +0.60 (the slope at each threshold" in text
    assert "separated" not in text


def test_effects_with_no_row_at_level_2_or_above_are_counted_and_said_why():
    """A form none of whose cases used is at level 2 or above has effects on each level but none on P(>= 2): the
    sentence that counts the effects on P(>= 2) says how many more there are and why they have none."""
    import pandas as pd

    from upgrading.study.narrative_probabilities import marginal_effects_summary

    rows = [("process_upgrading", "traditional_manufacturing", ">=2", 0.05), ("process_upgrading",
            "traditional_manufacturing", "2", 0.03)]  # fmt: skip
    rows += [("intersectoral_upgrading", g, level, 0.1) for g in ("traditional_manufacturing",
             "natural_resource_based") for level in ("0", "1")]  # fmt: skip
    form, group, level, estimate = zip(*rows)
    effects = pd.DataFrame({"form": form, "sectoral_group": group, "predictor": "collective_efficiency",
                            "level": level, "estimate": estimate, "conf_low": -0.2, "conf_high": 0.3,
                            "method": "ml", "note": ""})  # fmt: skip
    slopes = effects[["form", "sectoral_group", "predictor"]].drop_duplicates().assign(conf_low=-1.0, conf_high=1.0)
    text = marginal_effects_summary(effects, pd.DataFrame().assign(), slopes)
    assert "of the one group-specific average marginal effect" in text
    assert (
        "2 more effects are estimated on each level only, not on the probability of upgrading at level 2 or above, "
        "and are not counted above: no case that the model of intersectoral upgrading uses is at level 2 or above, "
        "so that probability is 0 throughout."
    ) in text
    complete = marginal_effects_summary(effects[effects["form"] == "process_upgrading"], pd.DataFrame(), slopes)
    assert "not counted above" not in complete


def test_a_model_that_cannot_be_fitted_is_counted_as_a_model_not_as_slopes():
    """Trial 43: with governance not reported anywhere, the by-group model of every form has one row with its
    reason and no predictor; notebook 04 said "Of the 0 estimated group-specific slopes" and counted 4 models as 4
    slopes that change no sign."""
    from upgrading.study import narrative_probabilities

    why = "not estimable: governance not reported in any of the sheet's 25 cases"
    forms = ["product_upgrading", "process_upgrading"]
    unfitted = pd.DataFrame({"form": forms, "model": "by_group", "predictor": "", "sectoral_group": "all",
                             "estimate": np.nan, "conf_low": np.nan, "conf_high": np.nan, "refits": np.nan,
                             "loo_min": np.nan, "loo_max": np.nan,
                             "note": why})  # fmt: skip
    cases = pd.DataFrame({"sectoral_group": ["traditional_manufacturing"] * 25})
    said = (
        f"For product upgrading and process upgrading the by-group model cannot be fitted on this sheet (2 × {why}), "
        "so none of their slopes is estimated."
    )
    text = narrative_models.estimates_summary(unfitted, cases)
    assert text == f"No group-specific slope can be read on this sheet. {said}"
    assert narrative_models.leave_one_out_summary(unfitted) == (
        f"No group-specific slope is estimated on this sheet, so none is refitted without a case. {said}"
    )
    # beside a slope that is estimated, the model that is not is still counted apart
    slope = {"form": "functional_upgrading", "model": "by_group", "predictor": "leader_driven",
             "sectoral_group": "traditional_manufacturing", "estimate": 0.5, "refits": 24.0, "loo_min": 0.1,
             "loo_max": 0.9, "note": ""}  # fmt: skip
    loo = pd.concat([unfitted, pd.DataFrame([slope])], ignore_index=True)
    assert narrative_models.leave_one_out_summary(loo) == (
        f"None of the 1 estimated group-specific slopes change sign when a single case is left out. {said}"
    )
    # the links: a model that fails under every link is said once; one that fails under one link names it
    links = pd.concat([unfitted.assign(link=link) for link in ("logit", "probit", "cloglog")], ignore_index=True)
    assert (
        narrative_probabilities.links_summary(links)
        == f"**Links.** {said.replace('fitted on', 'fitted under any link on')}"
    )
    one = unfitted.iloc[:1].assign(link="cloglog")
    compared = pd.DataFrame([slope | {"link": link, "agrees_with_logit": True} for link in ("logit", "cloglog")])
    text = narrative_probabilities.links_summary(pd.concat([compared, one], ignore_index=True))
    assert text.startswith("**Links.** Under the cloglog link 1 of 1 key slopes keep the logit's sign")
    assert text.endswith(
        f"For product upgrading the by-group model cannot be fitted under the cloglog link on this sheet (1 × {why}), "
        "so none of its slopes is estimated."
    )


def test_the_nominal_sentence_counts_models_that_cannot_be_fitted_as_models_not_as_fits_with_the_predictor():
    """Trial 44: with governance not reported anywhere no model can be fitted, and notebook 04 read "for collective
    efficiency the test could not be computed in any of the 12 fits with it" (12 fits that do not exist), gave no
    reason, and blamed empty upgrading levels within groups. Where some models are fitted, those that are not are
    counted apart with their reason, and the reasons of a predictor tested nowhere are given."""
    from upgrading.study.narrative_probabilities import nominal_summary

    why = "not estimable: governance not reported in any of the sheet's 25 cases"
    unfitted = pd.DataFrame({
        "form": ["product_upgrading"] * 3, "model": ["pooled", "by_group", "complete_pooling"],
        "reported": "not estimable", "nominal_collective_efficiency_p": np.nan,
        "nominal_collective_efficiency_note": "model not estimable", "nominal_leader_driven_p": np.nan,
        "nominal_leader_driven_note": "model not estimable", "note": why,
    })  # fmt: skip
    text = nominal_summary(unfitted)
    assert text == (
        "**Proportional odds, by the nominal (partial proportional odds) likelihood-ratio test**: no model can be "
        f"fitted on this sheet, so the test is made in none. 3 models cannot be estimated on this sheet (3 × {why})."
    )
    fitted = unfitted.iloc[[0]].assign(
        reported="ml", nominal_collective_efficiency_note="nominal fit at a boundary", nominal_leader_driven_p=0.5,
        nominal_leader_driven_note="", note="",
    )  # fmt: skip
    text = nominal_summary(pd.concat([fitted, unfitted.iloc[1:]], ignore_index=True))
    assert "for collective efficiency the test could not be computed in the one fit with it;" in text
    assert "Where it has no number: nominal fit at a boundary (1)." in text
    assert f"2 models cannot be estimated on this sheet (2 × {why})." in text
    assert "model not estimable" not in text


def test_group_by_governance_cells_empty_because_governance_is_not_reported_are_said_to_be_so(simulated_cases):
    """Trial 44: with governance not reported in any case, notebook 03 read "16 of the 16 group-by-governance cells are
    empty (market in traditional_manufacturing, ...) ... Models ... therefore use the two-way `leader_driven`
    contrast": the cells are empty because no case reports its governance, and no governance effect can be
    estimated. A group none of whose cases reports it is named, its cells left out of the counts."""
    from upgrading.study import descriptives

    levels = ["market", "network", "quasi_hierarchy", "hierarchy"]
    silent = simulated_cases.assign(governance=pd.NA, leader_driven=pd.NA)
    text = narrative.governance_summary(descriptives.governance_by_group(silent), levels)
    assert text == (
        f"No case on the sheet reports its governance ({len(silent)} not reported), so every group-by-governance cell "
        "is empty and no governance effect can be estimated (the models, claims and tests say so on their rows)."
    )
    soft = simulated_cases["sectoral_group"] == "specialised_suppliers"
    one = simulated_cases.assign(governance=simulated_cases["governance"].where(~soft))
    text = narrative.governance_summary(descriptives.governance_by_group(one), levels)
    assert text.startswith("None of the 12 group-by-governance cells is empty")  # the other three groups' cells
    assert "in specialised_suppliers" not in text.split(".")[0]
    assert text.endswith(
        f"No case in specialised_suppliers reports its governance ({int(soft.sum())} not reported), so its cells, "
        "left out of these counts, are empty for that reason, and no governance effect can be estimated there (the "
        "models, claims and tests say so on their rows)."
    )


def test_an_effect_whose_slope_is_not_read_is_counted_apart_and_an_interval_end_near_zero_keeps_its_sign():
    """Trial 44: an effect whose slope notebook 04 does not read (a constant outcome in the group) was counted among
    the effects and could be named the widest; an interval said to exclude zero was printed '+0 to +116'."""
    from upgrading.study.narrative_probabilities import marginal_effects_summary

    effects = pd.DataFrame(
        {
            "form": ["process_upgrading"] * 2,
            "sectoral_group": ["traditional_manufacturing", "specialised_suppliers"],
            "predictor": ["leader_driven"] * 2,
            "level": [">=2", ">=2"],
            "estimate": [0.58, 0.1],
            "conf_low": [0.001, -0.9],
            "conf_high": [1.16, 1.1],
            "method": ["jeffreys", "ml"],
        }
    )
    constant = "process_upgrading constant in the group (every case at 1): the slope rests on no variation"
    slopes = effects[["form", "sectoral_group", "predictor"]].assign(
        conf_low=[0.6, -2.0], conf_high=[7.4, 2.0], note=["", f"{constant}; complete cases: 20 of 25 (5 ...)"]
    )
    text = marginal_effects_summary(effects, pd.DataFrame().assign(), slopes)
    assert "of the one group-specific average marginal effect on the probability" in text
    assert "(95% interval +0.1 to +116, jeffreys" in text  # not "+0 to +116"
    assert "widest spans 116 percentage points" in text  # not the unread effect's 200
    assert f"1 more effect is not read, as its slope is not (1 × {constant})." in text


@pytest.mark.parametrize(
    "value, printed",
    [(0.3, "+30"), (-0.004, "-0.4"), (0.0004, "+<0.1"), (0.0, "+0"), (-0.0, "+0"), (0.005, "+0.5"), (-0.005, "-0.5")],
)  # an end at exactly half a point: Python's format rounds it to even, "+0", which hid its sign
def test_percentage_points_keep_the_sign_of_an_end_within_half_a_point_of_zero(value, printed):
    from upgrading.study.narrative_probabilities import _points

    assert _points(value) == printed


def test_no_partial_proportional_odds_fit_where_no_test_could_be_made_says_so():
    """Trial 44: with no model fitted, "No nominal test rejects proportional odds" was true only vacuously."""
    from upgrading.study.narrative_probabilities import partial_proportional_odds_summary

    untested = pd.DataFrame({f"nominal_{p}_p": [np.nan] for p in ("collective_efficiency", "leader_driven")})
    assert partial_proportional_odds_summary({}, untested).startswith("No nominal test could be computed")
    tested = untested.assign(nominal_leader_driven_p=[0.4])
    assert partial_proportional_odds_summary({}, tested).startswith("No nominal test rejects proportional odds")


def test_the_size_of_a_sheet_of_one_group_is_not_said_twice():
    """Trial 45: notebook 04 opened "18 cases, 18 cases in one sectoral group."."""
    one = pd.DataFrame({"sectoral_group": ["traditional_manufacturing"] * 18})
    assert narrative.sheet_size(one) == "18 cases, all in one sectoral group"
    two = pd.DataFrame({"sectoral_group": ["traditional_manufacturing"] * 18 + ["natural_resource_based"] * 9})
    assert narrative.sheet_size(two) == "27 cases, 9 to 18 cases per group"
