"""Coding error in the design analysis: the disagreement process, its calibration to a measured alpha (checked
against a generator pair whose true error rates are known), the recoding of a replicate, and the coding-error arm
of the power study (paired with the arm without error on the same replicates, and decided by the claims check)."""

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from upgrading import paths
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


def test_calibration_reproduces_the_measured_alpha_of_every_recoded_variable():
    first, second = coding.load_cases(paths.resolve(FIRST)), coding.load_cases(paths.resolve(SECOND))
    measured = reliability.measured_alphas(first, second)
    table = coding_error.calibrate(measured).set_index("variable")
    recoded = list(coding_error.recoded_variables())
    assert (table.loc[recoded, "coders_in_error"] == 2).all() and (table.loc[recoded, "note"] == "").all()
    np.testing.assert_allclose(table.loc[recoded, "model_alpha"], table.loc[recoded, "measured_alpha"], atol=2e-3)
    assert (table.loc[recoded, "coding_error_rate"].between(0.005, 0.5)).all()
    assert np.isnan(table.loc["sectoral_group", "coding_error_rate"])
    assert table.loc["sectoral_group", "note"] == coding_error.NOT_RECODED
    # collective efficiency follows from its recoded parts: its alpha is a consequence, near the measured one
    assert table.loc["collective_efficiency", "note"] == coding_error.DERIVED
    assert abs(table.loc["collective_efficiency", "model_alpha"] - measured["collective_efficiency"]) < 0.03
    # a less reliable coding needs a coder who errs more
    lower = coding_error.calibrate(measured | {"governance": 0.7}).set_index("variable")
    assert lower.loc["governance", "coding_error_rate"] > table.loc["governance", "coding_error_rate"] + 0.05


def test_calibration_recovers_the_known_error_rates_of_a_simulated_second_coder():
    """Known truth: the simulated second coder errs against the error-free simulated first coder at the documented
    rates ([second_coder]: 0.12 per 0-3 code, 0.08 for governance). Read as one erring coder against the truth
    (coders_in_error = 1), the alphas measured on a large generator pair give those rates back."""
    documented = simulate.load_parameters()
    params = dict(documented) | {"group_sizes": {g: 60 * n for g, n in documented["group_sizes"].items()}}
    first = simulate.simulate_first_coder(params, seed=11)
    second = simulate.simulate_second_coder(first, params, seed=11)
    measured = reliability.measured_alphas(coding.to_cases(first), coding.to_cases(second))
    spec = coding_error.declaration() | {"coders_in_error": 1}
    rates = coding_error.calibrate(measured, spec).set_index("variable")["coding_error_rate"]
    truth = params["second_coder"]
    for variable in coding_error.recoded_variables():
        expected = truth["governance"] if variable == "governance" else truth["ordinal"]
        assert abs(rates[variable] - expected) < 0.02, (variable, rates[variable], expected)
    # read as two erring coders, each is given a smaller rate (the disagreement is shared between them)
    both = coding_error.calibrate(measured).set_index("variable")["coding_error_rate"]
    assert (both[list(coding_error.recoded_variables())] < rates[list(coding_error.recoded_variables())]).all()


def test_rates_that_cannot_be_solved_say_why():
    codes = np.tile(np.arange(4), 300)
    rate, note = coding_error.solve_rate(codes, np.nan, 4, "ordinal", 2, 5)
    assert rate == 0.0 and "undefined" in note
    assert coding_error.solve_rate(codes, 1.0, 4, "ordinal", 2, 5) == (0.0, "")
    rate, note = coding_error.solve_rate(codes, -0.5, 4, "ordinal", 2, 5)
    assert rate == 1.0 and "capped at 1" in note
    rate, note = coding_error.solve_rate(codes, 0.9, 4, "ordinal", 2, 5)
    assert 0 < rate < 1 and note == ""
    assert abs(coding_error.model_alpha(codes, rate, 4, "ordinal", 2, 5) - 0.9) < 1e-3


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
    with pytest.raises(UpgradingError, match="same seed"):
        power_coding_error.compare_coding_error(base.iloc[:1], erring)


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
            done = run_cli("claims", "--coding", str(sheet), "--resamples", "9", "--out", str(out))
            assert done.returncode == 0, done.stderr
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

    settings = dict(replicates=3, cases=[50], effect_scales=[1.0], pooled_replicates=2, n_jobs=1)
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
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return executed.read_text(encoding="utf-8")


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
    assert (calibration["data"] == "coded").all()
    process = calibration.set_index("variable").loc["process_upgrading"]
    assert process["coding_error_rate"] > 0.05 and abs(process["model_alpha"] - process["measured_alpha"]) < 2e-3
    costs = pd.read_csv(tmp_path / "with" / "power_coding_error.csv")
    assert (costs["data"] == "simulated").all() and (costs["replicates"] == 3).all()
    assert "What the measured reliability costs" in text
    (tmp_path / "without").mkdir()
    text = _run_design_notebook(repo, tmp_path / "without", second_coder_path=None)
    assert not list((tmp_path / "without").glob("*coding_error*"))
    assert "the cost of coding error is not estimated" in text


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
    same = power_coding_error.compare_coding_error(base, base)
    assert "no loss of right verdicts" in narrative_design.coding_error_reading(same)
    # with error, every right verdict of the per-group claim is lost: a loss of 100% of its right verdicts
    erring = base.assign(outcome=np.where(base["scope"] == "pooled", base["outcome"], "inconclusive"))
    text = narrative_design.coding_error_reading(power_coding_error.compare_coding_error(base, erring))
    assert "at most 100% of the right verdicts of per-group positive claims" in text
    assert "right 0.500 → 0.000 (-0.500 ± 0.160)" in text


def test_the_power_command_runs_the_coding_error_arm_and_refuses_bad_sheets_first(tmp_path):
    done = run_cli(
        "power", "--replicates", "3", "--cases", "50", "--effect-scales", "1", "--quiet", "--coding-error", FIRST,
        SECOND,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "coding-error arm: an erring coder calibrated" in done.stdout and "p_right_coding_error" in done.stdout
    bad = tmp_path / "second.csv"
    frame = pd.read_csv(paths.resolve(SECOND))
    frame.loc[3, "joint_actions"] = 7
    frame.to_csv(bad, index=False)
    refused = run_cli("power", "--replicates", "3", "--cases", "50", "--coding-error", FIRST, str(bad))
    assert refused.returncode == 2 and "joint_actions" in refused.stderr and "Traceback" not in refused.stderr
    assert "p_right" not in refused.stdout  # refused before any replicate was run
