"""Coding error in the design analysis: the disagreement process, its calibration to a measured alpha (checked
against a generator pair whose true error rates are known), the recoding of a replicate, and the coding-error arm
of the power study (paired with the arm without error on the same replicates, and decided by the claims check)."""

import numpy as np
import pandas as pd
import pytest

from upgrading import paths
from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.study import claims, coding, coding_error, power, power_coding_error, reliability, simulate
from upgrading.study.codebook import collective_efficiency, load_codebook

FIRST = "data/raw/coding_sheet_simulated.csv"
SECOND = "data/raw/coding_sheet_simulated_second_coder.csv"


def _model(rate: float) -> coding_error.CodingError:
    return coding_error.CodingError(tuple((v, rate) for v in coding_error.recoded_variables()))


def test_disagreement_moves_a_code_one_step_within_the_scale():
    rng = np.random.default_rng(1)
    codes = np.tile(np.arange(4), 500)
    assert (simulate.disagree(codes, 0.0, 4, rng) == codes).all()
    moved = simulate.disagree(codes, 1.0, 4, rng)
    assert (np.abs(moved - codes) == 1).all() and moved.min() == 0 and moved.max() == 3
    assert (moved[codes == 0] == 1).all() and (moved[codes == 3] == 2).all()  # reflected at the ends
    share = (simulate.disagree(codes, 0.25, 4, rng) != codes).mean()
    assert abs(share - 0.25) < 0.03


def test_measured_alphas_are_the_reliability_tables_alphas():
    first, second = coding.load_cases(paths.resolve(FIRST)), coding.load_cases(paths.resolve(SECOND))
    measured = reliability.measured_alphas(first, second)
    table = reliability.reliability_table(first, second, n_boot=20).set_index("variable")["alpha"]
    assert list(measured) == list(table.index)
    np.testing.assert_allclose(list(measured.values()), table.to_numpy(), rtol=0, atol=1e-12)
    committed = pd.read_csv(paths.resolve("figures/reliability.csv")).set_index("variable")["alpha"]
    np.testing.assert_allclose(list(measured.values()), committed.loc[list(measured)].to_numpy(), atol=5e-7)


def _sheets():
    return coding.load_cases(paths.resolve(FIRST)), coding.load_cases(paths.resolve(SECOND))


@pytest.mark.slow
def test_calibration_reproduces_the_measured_alpha_of_every_recoded_variable():
    first, second = _sheets()
    measured = reliability.measured_alphas(first, second)
    table = coding_error.calibrate(first, second).set_index("variable")
    recoded = list(coding_error.recoded_variables())
    # the simulated pair is read as one erring coder against the generator's truth (its first coding)
    assert (table["coders_in_error"] == 1).all() and (table.loc[recoded, "note"] == "").all()
    assert (table.loc[recoded, "paired_cases"] == 50).all()
    np.testing.assert_allclose(table.loc[recoded, "model_alpha"], table.loc[recoded, "measured_alpha"], atol=1e-3)
    np.testing.assert_allclose(table.loc[list(measured), "measured_alpha"], list(measured.values()))
    assert np.isnan(table.loc["sectoral_group", "coding_error_rate"])
    assert table.loc["sectoral_group", "note"] == coding_error.NOT_RECODED
    # the derived variables follow from their recoded parts: their alphas are consequences, near the measured ones
    for derived in ("collective_efficiency", "leader_driven"):
        assert table.loc[derived, "note"] == coding_error.DERIVED_FROM[derived]
        assert np.isnan(table.loc[derived, "coding_error_rate"])
        assert abs(table.loc[derived, "model_alpha"] - table.loc[derived, "measured_alpha"]) < 0.03
    # read as two erring coders, each is given a smaller rate (the disagreement is shared between them)
    both = coding_error.calibrate(first, second, coders=2).set_index("variable")
    assert (both.loc[recoded, "coding_error_rate"] < table.loc[recoded, "coding_error_rate"]).all()
    np.testing.assert_allclose(both.loc[recoded, "model_alpha"], both.loc[recoded, "measured_alpha"], atol=1e-3)


@pytest.mark.slow
def test_the_pessimistic_calibration_solves_to_the_lower_ends_of_notebook_02s_intervals():
    first, second = _sheets()
    table = coding_error.calibrations(first, second, coders=1, n_boot=2000)
    assert list(dict.fromkeys(table["alpha_at"])) == [coding_error.AT_POINT, coding_error.AT_LOWER]
    point = table[table["alpha_at"] == coding_error.AT_POINT].set_index("variable")
    lower = table[table["alpha_at"] == coding_error.AT_LOWER].set_index("variable")
    recoded = list(coding_error.recoded_variables())
    committed = pd.read_csv(paths.resolve("figures/reliability.csv")).set_index("variable")
    np.testing.assert_allclose(lower.loc[recoded, "target_alpha"], committed.loc[recoded, "ci_low"], atol=5e-7)
    np.testing.assert_allclose(point.loc[recoded, "target_alpha"], committed.loc[recoded, "alpha"], atol=5e-7)
    np.testing.assert_allclose(lower.loc[recoded, "model_alpha"], lower.loc[recoded, "target_alpha"], atol=1e-3)
    assert (lower.loc[recoded, "coding_error_rate"] > point.loc[recoded, "coding_error_rate"]).all()


@pytest.mark.slow
def test_the_reading_of_the_measured_alpha_follows_the_codings_provenance():
    first, second = _sheets()
    assert coding_error.reading(first, second)[0] == 1
    by_people = [sheet.assign(coding_source="Author (2003), case study") for sheet in (first, second)]
    coders, reason = coding_error.reading(*by_people)
    assert coders == 2 and "people" in reason
    assert coding_error.calibrate(*by_people)["coders_in_error"].eq(2).all()
    assert coding_error.reading(first, second, chosen=2) == (2, "chosen for this run")
    with pytest.raises(UpgradingError, match="1 or 2"):
        coding_error.calibrate(first, second, coders=3)


def _large_pair(scale: int, seed: int):
    documented = simulate.load_parameters()
    params = dict(documented) | {"group_sizes": {g: scale * n for g, n in documented["group_sizes"].items()}}
    return params, simulate.simulate_first_coder(params, seed=seed)


@pytest.mark.slow
def test_calibration_recovers_the_known_error_rates_of_a_simulated_second_coder():
    """Known truth: the simulated second coder errs against the error-free simulated first coder at the documented
    rates ([second_coder]: 0.12 per 0-3 code, 0.08 for governance). Read as one erring coder against the truth (as
    the pair's provenance says), the alphas measured on a large generator pair give those rates back."""
    params, first = _large_pair(150, seed=11)
    second = simulate.simulate_second_coder(first, params, seed=11)
    table = coding_error.calibrate(coding.to_cases(first), coding.to_cases(second)).set_index("variable")
    assert (table["coders_in_error"] == 1).all()
    truth = params["second_coder"]
    for variable in coding_error.recoded_variables():
        expected = truth["governance"] if variable == "governance" else truth["ordinal"]
        assert abs(table.loc[variable, "coding_error_rate"] - expected) < 0.012, (variable, expected)


@pytest.mark.slow
def test_calibration_recovers_the_known_rate_of_two_coders_who_both_err():
    """Known truth: two codings of the generator's truth, each erring independently (0.10 per 0-3 code, 0.06 for
    governance), labelled as codings by people; read as two erring coders, calibration gives those rates back."""
    params, truth = _large_pair(150, seed=12)
    spec = dict(params) | {"second_coder": dict(params["second_coder"]) | {"ordinal": 0.10, "governance": 0.06}}
    codings = [
        coding.to_cases(simulate.simulate_second_coder(truth, spec, seed=s).assign(coding_source="Author (2003)"))
        for s in (21, 22)
    ]
    table = coding_error.calibrate(*codings).set_index("variable")
    assert (table["coders_in_error"] == 2).all()
    for variable in coding_error.recoded_variables():
        expected = 0.06 if variable == "governance" else 0.10
        assert abs(table.loc[variable, "coding_error_rate"] - expected) < 0.012, (variable, expected)


def test_a_nominal_alpha_that_two_erring_coders_reach_twice_is_solved_at_the_smaller_rate():
    """With two erring coders and the nominal metric, the model's alpha falls to about 0.2 near rate 0.6 and rises
    again toward rate 1: a measured alpha of 0.5 is reached below 0.6 and must not be capped at rate 1."""
    sample = coding_error.calibration_codes(_sheets()[0], ["governance"], 10000)[:, 0]
    alphas = [coding_error.model_alpha(sample, r, 4, "nominal", 2, 5) for r in (0.3, 0.6, 1.0)]
    assert alphas[1] < alphas[0] and alphas[1] < alphas[2]  # not monotone: the case the scan is there for
    rate, note = coding_error.solve_rate(sample, 0.5, 4, "nominal", 2, 5)
    assert note == "" and 0.1 < rate < 0.6
    assert abs(coding_error.model_alpha(sample, rate, 4, "nominal", 2, 5) - 0.5) < 1e-3
    none, note = coding_error.solve_rate(sample, 0.05, 4, "nominal", 2, 5)
    assert none == 0.0 and "below any the model gives" in note  # without the observed share: nothing assumed
    matched, note = coding_error.solve_rate(sample, 0.05, 4, "nominal", 2, 5, share=0.3)
    assert "share of pairs the codings disagree on (0.300)" in note and 0.1 < matched < 0.3
    assert abs(coding_error.model_share(sample, matched, 4, 2, 5) - 0.3) < 1e-3


def test_less_agreement_needs_a_coder_who_errs_more():
    sample = coding_error.calibration_codes(_sheets()[0], ["process_upgrading"], 10000)[:, 0]
    rates = [coding_error.solve_rate(sample, target, 4, "ordinal", 2, 5)[0] for target in (0.95, 0.85, 0.7)]
    assert rates[0] < rates[1] < rates[2]


@pytest.mark.slow
def test_rates_that_cannot_be_solved_say_why():
    first, second = _sheets()
    both = set(first["case_id"]) & set(second["case_id"])
    first, second = first.copy(), second.copy()
    for sheet in (first, second):  # every double-coded case coded 2 by both: alpha undefined (one value)
        sheet.loc[sheet["case_id"].isin(both), "product_upgrading"] = 2
    first["intersectoral_upgrading"] = first["intersectoral_upgrading"].astype("Int64")
    first.loc[first["case_id"].isin(both), "intersectoral_upgrading"] = pd.NA  # not reported by the first coding
    table = coding_error.calibrate(first, second).set_index("variable")
    assert (
        table.loc["product_upgrading", "coding_error_rate"] == 0
        and "one value" in table.loc["product_upgrading", "note"]
    )
    row = table.loc["intersectoral_upgrading"]
    assert row["coding_error_rate"] == 0 and "reported by both codings" in row["note"] and row["paired_cases"] == 0


@pytest.mark.slow
def test_agreement_below_chance_is_matched_to_the_disagreement_share_not_to_an_extreme_rate():
    """A rare code on a few double-coded cases: the first coding codes 0 throughout, the second codes 1 on three of
    twenty cases, so alpha is below zero, lower than symmetric one-step error can give. Read as two erring coders,
    the model's alpha is lowest near rate 0.6-1; the rate is matched instead to the 3/20 disagreeing pairs."""
    first, second = (sheet.assign(coding_source="Author (2003)") for sheet in _sheets())
    second = second.iloc[:20].copy()
    first.loc[first.index[:20], "process_upgrading"] = 0
    second["process_upgrading"] = [1, 1, 1] + [0] * 17
    table = coding_error.calibrate(first, second).set_index("variable")
    row = table.loc["process_upgrading"]
    assert row["measured_alpha"] < 0 and row["paired_cases"] == 20 and row["coders_in_error"] == 2
    assert "share of pairs the codings disagree on (0.150)" in row["note"]
    assert 0.05 < row["coding_error_rate"] < 0.12  # two coders disagreeing on 15% of pairs: about 8% each
    sample = coding_error.calibration_codes(first.iloc[:20], ["process_upgrading"], 10000)[:, 0]
    share = coding_error.model_share(sample, row["coding_error_rate"], 4, 2, 20070201)
    assert abs(share - 0.15) < 2e-3
    codes = np.tile(np.arange(4), 300)
    assert coding_error.solve_rate(codes, 1.0, 4, "ordinal", 2, 5) == (0.0, "")


def test_recoding_rederives_the_derived_variables_and_keeps_the_group():
    cell = power.DesignCell(200, 1.0)
    seed = cell.seeds(3, 0, 1)[0]
    params = simulate.load_parameters()
    design = simulate.plan(params, simulate.group_sizes(params, 200))
    truth = simulate.draw_cases(design, np.random.default_rng(seed))
    outcomes = [simulate.draw_outcomes(design, truth, np.random.default_rng(1))]
    same, same_outcomes = _model(0.0).recode(truth, outcomes, design.leader_lookup, np.random.default_rng(2))
    for key in truth:
        np.testing.assert_array_equal(same[key], truth[key])
    assert all((same_outcomes[0][f] == outcomes[0][f]).all() for f in outcomes[0])
    coded, coded_outcomes = _model(0.3).recode(truth, outcomes, design.leader_lookup, np.random.default_rng(2))
    np.testing.assert_array_equal(
        coded["collective_efficiency"], collective_efficiency(coded["external_economies"], coded["joint_actions"])
    )
    np.testing.assert_array_equal(coded["leader_driven"], design.leader_lookup[coded["governance"]])
    np.testing.assert_array_equal(coded["group"], truth["group"])
    np.testing.assert_array_equal(coded["industry"], truth["industry"])
    for variable in ("external_economies", "governance"):
        assert 0.2 < (coded[variable] != truth[variable]).mean() < 0.4
    for form in load_codebook().upgrading_forms:
        assert 0.2 < (coded_outcomes[0][form] != outcomes[0][form]).mean() < 0.4


def test_no_coding_error_leaves_the_study_unchanged():
    plain = power.run(replicates=3, cases=[40], effect_scales=[1.0], seed=9, progress=False)
    zero = power.run(replicates=3, cases=[40], effect_scales=[1.0], seed=9, progress=False, coding_error=_model(0))
    pd.testing.assert_frame_equal(plain, zero)


def test_coding_error_costs_right_verdicts_on_the_same_replicates():
    """Heavy coding error (every code moved with probability 0.5) on sheets of 100 cases where the positive claims
    are often right: the paired change is negative, and the comparison is of the very same replicates."""
    settings = dict(replicates=12, cases=[100], effect_scales=[1.0], seed=21, progress=False)
    raw = power.run(**settings)
    erring = power_coding_error.run_coding_error(_model(0.5), **settings)
    table = power_coding_error.compare_coding_error(raw, erring)
    positive = table[table["kind"] == "positive"].set_index("scope")
    for scope in ("pooled", power_coding_error.ALL_GROUPS):
        row = positive.loc[scope]
        assert row["replicates"] == 12 and row["p_right"] >= 0.4
        assert row["change_right"] < -0.2 and row["change_right"] < -3 * row["mcse_change_right"]
        np.testing.assert_allclose(row["change_right"], row["p_right_coding_error"] - row["p_right"])
    per_group = table[table["scope"] == power_coding_error.ALL_GROUPS]
    assert set(per_group["kind"]) == {"positive", "neutral", "negative"}
    assert (per_group["claims"] == per_group["kind"].map({"positive": 12, "neutral": 9, "negative": 3})).all()
    changes = table[[f"change_{o}" for o in power.OUTCOMES]].sum(axis=1)
    np.testing.assert_allclose(changes, 0.0, atol=1e-12)  # a verdict lost is a verdict moved elsewhere
    total = table[[f"p_{o}_coding_error" for o in power.OUTCOMES]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0)


def test_paired_changes_on_a_hand_made_study():
    """Two replicates, one claim: right/right without error, inconclusive/right with it."""
    base = pd.DataFrame(
        {
            "claim": "CE-PRODUCT-NR",
            "scope": "natural_resource_based",
            "kind": "positive",
            "n_cases": 50,
            "effect_scale": 1.0,
            "replicate": [0, 1],
            "outcome": ["right", "right"],
        }
    )
    erring = base.assign(outcome=["inconclusive", "right"])
    table = power_coding_error.compare_coding_error(base, erring)
    group = table[table["scope"] == "natural_resource_based"].iloc[0]
    assert (group["p_right"], group["p_right_coding_error"], group["change_right"]) == (1.0, 0.5, -0.5)
    assert group["change_inconclusive"] == 0.5
    assert group["mcse_change_right"] == pytest.approx(np.std([-1.0, 0.0], ddof=1) / np.sqrt(2))
    assert (table["scope"] == "all groups").sum() == 1 and len(table) == 2
    with pytest.raises(UpgradingError, match="same replicates"):
        power_coding_error.compare_coding_error(base.iloc[:1], erring)
    base.attrs["root_seed"], erring.attrs["root_seed"] = 1, 2  # the same indices, other sheets: refused
    with pytest.raises(UpgradingError, match="different root seeds"):
        power_coding_error.compare_coding_error(base, erring)


def test_the_arm_is_paired_only_on_design_cells_the_study_runs():
    assert power_coding_error.cells_in_study((50,), (0.5, 1.0), (30, 50, 100), (1.0,)) == ([50], [1.0])
    assert power_coding_error.cells_in_study((50,), (1.0,), (30,), (1.0,)) == ([], [1.0])
    raw = power.run(replicates=2, cases=[40], effect_scales=[1.0], seed=9, progress=False)
    assert raw.attrs["root_seed"] == 9


@pytest.mark.slow
def test_kept_replicates_with_coding_error_get_their_verdicts_from_the_claims_command(tmp_path):
    """A replicate coded with error is a coding sheet like any other: `upgrading claims --coding` on it gives the
    verdicts the coding-error arm recorded."""
    raw = power.run(
        replicates=2, cases=[50], effect_scales=[1.0], seed=5, progress=False, keep=2, keep_dir=tmp_path,
        coding_error=_model(0.2),
    )  # fmt: skip
    truth = power.simulate_chunk(power.DesignCell(50, 1.0).seeds(5, 0, 2), 50, 1.0)
    for k in range(2):
        sheet = tmp_path / "n50_scale1" / f"replicate_{k}.csv"
        recorded = pd.read_csv(tmp_path / "n50_scale1" / f"replicate_{k}_verdicts.csv")
        if k == 0:
            out = tmp_path / "decided.csv"
            assert main(["claims", "--coding", str(sheet), "--resamples", "9", "--out", str(out)]) == 0
            decided = pd.read_csv(out)
        else:
            decided = claims.evaluate(coding.load_cases(sheet), n_resamples=9)
        assert list(decided["verdict"]) == list(recorded["verdict"])
        kept = coding.load_cases(sheet)
        assert (kept["external_economies"].to_numpy() != truth["cases"]["external_economies"][k]).any()
    assert len(raw) and set(raw["replicate"]) == {0, 1}


def _run_design_notebook(repo, out_dir, **parameters):
    """Notebook 07 at a tiny setting in a copy of the repository (its own package), exhibits into `out_dir`."""
    import subprocess
    import sys

    settings = dict(replicates=3, cases=[50], effect_scales=[1.0], pooled_replicates=2, n_jobs=1, n_boot=100)
    settings |= dict(exhibit_dir=str(out_dir), **parameters)
    code = (
        "import sys, json, papermill; papermill.execute_notebook('notebooks/07_power.ipynb', sys.argv[1], "
        "parameters=json.loads(sys.argv[2]), progress_bar=False, kernel_name='python3')"
    )
    import json

    executed = out_dir / "07_power.ipynb"
    done = subprocess.run(
        [sys.executable, "-c", code, str(executed), json.dumps(settings)],
        cwd=repo, env={**__import__("os").environ, "PYTHONPATH": str(repo / "src")}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return executed.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_design_notebook_calibrates_to_a_users_codings_or_says_why_it_cannot(tmp_path):
    """Notebook 07 on a researcher's two codings (a double-coded subsample with codes not reported) writes both
    coding-error exhibits, labelled as coded data where they come from the sheets; without a second coding it
    writes neither and says why."""
    from helpers import SIMULATED_SHEET_NAME, copy_repository

    repo = copy_repository(tmp_path / "repo")
    first = pd.read_csv(repo / SIMULATED_SHEET_NAME)
    first["coding_source"] = "Author (2003), case study"
    second = first.iloc[::3].copy()
    second.loc[second.index[:4], "process_upgrading"] = 3 - second.loc[second.index[:4], "process_upgrading"]
    second["functional_upgrading"] = second["functional_upgrading"].astype(object)
    second.loc[second.index[5], "functional_upgrading"] = "not reported"
    first.to_csv(tmp_path / "mine.csv", index=False)
    second.to_csv(tmp_path / "mine_second.csv", index=False)
    (tmp_path / "with").mkdir()
    text = _run_design_notebook(
        repo,
        tmp_path / "with",
        coding_path=str(tmp_path / "mine.csv"),
        second_coder_path=str(tmp_path / "mine_second.csv"),
    )
    calibration = pd.read_csv(tmp_path / "with" / "coding_error_model.csv")
    assert (calibration["data"] == "coded").all() and (calibration["coders_in_error"] == 2).all()
    assert set(calibration["alpha_at"]) == {coding_error.AT_POINT, coding_error.AT_LOWER}
    calibration = calibration[calibration["alpha_at"] == coding_error.AT_POINT]
    process = calibration.set_index("variable").loc["process_upgrading"]
    assert process["coding_error_rate"] > 0.05 and abs(process["model_alpha"] - process["measured_alpha"]) < 2e-3
    costs = pd.read_csv(tmp_path / "with" / "power_coding_error.csv")
    assert (costs["data"] == "simulated").all() and (costs["replicates"] == 3).all()
    assert set(costs["alpha_at"]) == {coding_error.AT_POINT, coding_error.AT_LOWER}
    assert "What the measured reliability costs" in text
    # without a second coding, on a sheet of 30 cases: no coding-error arm; the pooled arm at the sheet's size
    first.iloc[:30].to_csv(tmp_path / "mine_30.csv", index=False)
    (tmp_path / "without").mkdir()
    text = _run_design_notebook(
        repo, tmp_path / "without", second_coder_path=None, coding_path=str(tmp_path / "mine_30.csv"), cases=[30, 50]
    )
    assert not list((tmp_path / "without").glob("*coding_error*"))
    assert "the cost of coding error is not estimated" in text
    assert set(pd.read_csv(tmp_path / "without" / "pooling_power.csv")["n_cases"]) == {30}


def test_the_reading_names_only_losses_beyond_monte_carlo_noise():
    from upgrading.study import narrative_design

    rows = []
    for replicate in range(40):
        for claim, scope in (("CE-PRODUCT-NR", "natural_resource_based"), ("CE-POOLED-PRODUCT", "pooled")):
            rows.append(
                dict(claim=claim, scope=scope, kind="positive", n_cases=50, effect_scale=1.0, replicate=replicate,
                     outcome="right" if replicate % 2 else "inconclusive")
            )  # fmt: skip
    base = pd.DataFrame(rows)
    same = power_coding_error.compare_coding_error(base, base).assign(alpha_at="point estimate")
    assert "no loss of right verdicts" in narrative_design.coding_error_reading(same)
    # with error, every right verdict of the per-group claim is lost: a loss of 100% of its right verdicts
    erring = base.assign(outcome=np.where(base["scope"] == "pooled", base["outcome"], "inconclusive"))
    lost = power_coding_error.compare_coding_error(base, erring).assign(alpha_at="point estimate")
    text = narrative_design.coding_error_reading(pd.concat([lost, same.assign(alpha_at="lower end")]))
    assert "the largest relative one is that of the per-group positive claims" in text
    assert "100% of their right verdicts (a point estimate)" in text
    assert "costs, at the alphas' lower end**: no loss of right verdicts" in text
    assert "right 0.500 → 0.000 (-0.500 ± 0.160)" in text


@pytest.mark.slow
def test_the_power_command_runs_the_coding_error_arm_and_refuses_bad_sheets_first(tmp_path, capsys):
    study = ["power", "--replicates", "3", "--cases", "50", "--effect-scales", "1", "--quiet"]
    assert main([*study, "--coding-error", FIRST, SECOND]) == 0
    printed = capsys.readouterr().out
    assert "coding-error arm: an erring coder calibrated" in printed and "p_right_coding_error" in printed
    bad = tmp_path / "second.csv"
    frame = pd.read_csv(paths.resolve(SECOND))
    frame.loc[3, "joint_actions"] = 7
    frame.to_csv(bad, index=False)
    assert main(["power", "--replicates", "3", "--cases", "50", "--coding-error", FIRST, str(bad)]) == 2
    refused = capsys.readouterr()
    assert "joint_actions" in refused.err and "p_right" not in refused.out  # refused before any replicate was run
    assert main(["power", "--replicates", "3", "--coders-in-error", "2"]) == 2
    assert "--coders-in-error needs --coding-error" in capsys.readouterr().err


@pytest.mark.slow
def test_the_power_command_reads_each_coding_from_its_named_worksheet(tmp_path, capsys):
    """`--sheet` and `--second-coder-sheet` name the worksheets of the two --coding-error workbooks (here one workbook
    whose first worksheet holds notes): the same erring coder as from the two CSVs; refused without --coding-error."""

    book = tmp_path / "codings.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["the codes are on the next worksheets"]}).to_excel(
            writer, sheet_name="notes", index=False
        )
        pd.read_csv(paths.resolve(FIRST)).to_excel(writer, sheet_name="coder A", index=False)
        pd.read_csv(paths.resolve(SECOND)).to_excel(writer, sheet_name="coder B", index=False)
    study = ["power", "--replicates", "2", "--cases", "50", "--effect-scales", "1", "--quiet", "--coders-in-error", "1"]
    assert main([*study, "--coding-error", FIRST, SECOND]) == 0
    from_csv = capsys.readouterr().out.splitlines()
    named = ["--sheet", "coder A", "--second-coder-sheet", "coder B"]
    assert main([*study, "--coding-error", str(book), str(book), *named]) == 0
    from_book = capsys.readouterr().out.splitlines()
    header = [k for k, line in enumerate(from_csv) if line.startswith("coding-error arm:")]
    assert header and from_book[: header[0]] == from_csv[: header[0]]  # the study
    assert from_book[header[0] + 1 :] == from_csv[header[0] + 1 :]  # the calibration and the arm
    # the two codings are named by file and worksheet, not as the same file twice (new-user trial)
    assert from_book[header[0]] == (
        f"coding-error arm: an erring coder calibrated to the alphas of {book}, worksheet 'coder A' and {book}, "
        "worksheet 'coder B'"
    )
    assert from_csv[header[0]] == f"coding-error arm: an erring coder calibrated to the alphas of {FIRST} and {SECOND}"
    assert main([*study, "--coding-error", str(book), str(book)]) == 2  # the first worksheet holds no codes
    refused = " ".join(capsys.readouterr().err.split())
    assert "worksheet 'notes', line 1: row 1 holds 0 of the codebook's 12 column names" in refused
    assert "worksheets 'coder A' and 'coder B' have them in row 1" in refused
    for option in named[::2]:
        assert main(["power", "--replicates", "2", option, "coder A"]) == 2
        assert f"{option} needs --coding-error" in capsys.readouterr().err


def test_the_reliability_intervals_are_kept_for_notebook_07_and_recomputed_for_other_codings(tmp_path, monkeypatch):
    """`reliability_table(..., cache=True)`: notebook 02 keeps its bootstrap intervals in data/interim/ and notebook
    07 reads them (the same codings and resamples); changed codings or settings compute anew."""
    first, second = _sheets()
    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    made = reliability.reliability_table(first, second, n_boot=40, cache=True)
    pd.testing.assert_frame_equal(made, reliability.reliability_table(first, second, n_boot=40))
    assert len(list((tmp_path / "data" / "interim").glob("reliability-*.pickle"))) == 1
    monkeypatch.setattr(reliability, "pair_up", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("computed anew")))
    pd.testing.assert_frame_equal(reliability.reliability_table(first, second, n_boot=40, cache=True), made)
    changed = second.copy()
    changed.loc[changed.index[0], "joint_actions"] = 3 - int(changed.loc[changed.index[0], "joint_actions"])
    with pytest.raises(RuntimeError, match="computed anew"):
        reliability.reliability_table(first, changed, n_boot=40, cache=True)
    with pytest.raises(RuntimeError, match="computed anew"):
        reliability.reliability_table(first, second, n_boot=41, cache=True)


@pytest.mark.slow
def test_a_kept_coding_error_cell_is_read_back_only_for_the_same_erring_coder(tmp_path, monkeypatch):
    """`cache=True` with coding error: the cells are kept under the arm's own name (never read as the study's
    without error), read back for the same coder, and run again when one rate moves by 1e-9 or the seed changes."""
    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    small = dict(replicates=4, cases=[40], effect_scales=[1.0], seed=7, progress=False)
    ran = []
    original = power._run_cells
    monkeypatch.setattr(
        power, "_run_cells", lambda cells, **kw: ran.append(kw["coding_error"]) or original(cells, **kw)
    )
    coder = _model(0.1)
    made = power_coding_error.run_coding_error(coder, **small, cache=True)
    assert ran == [coder]
    pd.testing.assert_frame_equal(power_coding_error.run_coding_error(coder, **small, cache=True), made)
    assert ran == [coder]  # read back
    power.run(**small, cache=True)  # the study without coding error: its own cell, not the arm's
    assert ran == [coder, None]
    nudged = coding_error.CodingError(tuple((v, r + 1e-9 * (k == 0)) for k, (v, r) in enumerate(coder.rates)))
    power_coding_error.run_coding_error(nudged, **small, cache=True)
    power_coding_error.run_coding_error(coder, **(small | {"seed": 8}), cache=True)
    assert ran == [coder, None, nudged, coder]
    kept = sorted(p.name.split("-")[0] for p in (tmp_path / "data" / "interim").glob("*.pickle"))
    assert kept == ["power_coding_error_n40_scale1", "power_n40_scale1"]  # one result per name


@pytest.mark.slow
def test_the_pessimistic_scenario_never_assumes_less_error_than_the_point_estimate():
    """An alpha sought below any the one-step model gives falls back to the observed share of disagreeing pairs,
    which is the same at the point estimate and at the lower end: the lower end then keeps the point estimate's
    rate where its own would be lower (as a user's four-case sheet gave: 0.144 against 0.172), and says so."""
    first, second = _sheets()
    point = coding_error.calibrate(first, second).set_index("variable")
    recoded = list(coding_error.recoded_variables())
    floor = point.loc[recoded, "coding_error_rate"].to_dict()
    low_targets = dict.fromkeys(recoded, 0.01)  # below the one-step model's reach: the share rule decides
    unfloored = coding_error.calibrate(first, second, targets=low_targets).set_index("variable")
    lower = coding_error.calibrate(first, second, targets=low_targets, at_least=floor).set_index("variable")
    below = [v for v in recoded if unfloored.loc[v, "coding_error_rate"] < floor[v]]
    assert below  # the case the floor is for
    for variable in recoded:
        assert lower.loc[variable, "coding_error_rate"] >= floor[variable]
    for variable in below:
        assert lower.loc[variable, "coding_error_rate"] == floor[variable]
        assert "the point estimate's rate" in lower.loc[variable, "note"]
        assert lower.loc[variable, "model_alpha"] == pytest.approx(point.loc[variable, "model_alpha"], abs=1e-12)
