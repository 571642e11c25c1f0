"""Partial pooling in the study: the comparison tables of notebook 04, the pooled verdicts of notebook 05 (same rule
as the claims check), the design analysis's pooled arm (same replicates as the no-pooling arm), bad sheets."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET_NAME

from upgrading.study import (
    claims,
    coding,
    models,
    narrative_design,
    narrative_models,
    narrative_pooled,
    pooling,
    power,
    power_pooled,
    verdicts,
)
from upgrading.study.codebook import load_codebook

SHEET = SIMULATED_SHEET_NAME


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return coding.load_cases(SHEET)


@pytest.fixture(scope="module")
def fast(cases):
    return pooling.pooled_fits(cases, ["product_upgrading", "process_upgrading"], fast=True)


@pytest.mark.slow
def test_slopes_table_has_three_methods_per_group_slope(cases, fast):
    fits = models.fit_models(cases, list(fast))
    table = pooling.slopes_table(cases, fast, fits, pooling.complete_pooling_fits(cases, list(fast)))
    groups = load_codebook().group_codes
    assert len(table) == len(fast) * 2 * len(groups) * 3
    assert set(table["method"]) == set(pooling.METHODS)
    assert table["estimate"].notna().all(), table[table["estimate"].isna()]
    # complete pooling: one slope for every group; no pooling: the by-group model's estimate
    complete = table[table["method"] == "complete pooling"].groupby(["form", "predictor"])["estimate"].nunique()
    assert (complete == 1).all()
    est = models.estimates_table(fits)
    term = "C(sectoral_group)[traditional_manufacturing]:collective_efficiency"
    expected = est[(est["form"] == "product_upgrading") & (est["term"] == term)]["estimate"].iloc[0]
    got = table[
        (table["form"] == "product_upgrading")
        & (table["method"] == "no pooling")
        & (table["sectoral_group"] == "traditional_manufacturing")
        & (table["predictor"] == "collective_efficiency")
    ]["estimate"].iloc[0]
    assert got == expected
    partial = table[table["method"] == "partial pooling"]
    assert ((partial["conf_low"] < partial["estimate"]) & (partial["estimate"] < partial["conf_high"])).all()
    assert partial["p_positive"].between(0, 1).all()


def test_tau_table_and_reference_agreement(cases, fast):
    tau = pooling.tau_table(fast, claims.load_register().margins)
    assert list(tau["parameter"]) == ["tau_beta", "tau_gamma"] * 2
    assert (tau["q05"] < tau["q50"]).all() and (tau["q50"] < tau["q95"]).all()
    assert tau["p_above_margin"].between(0, 1).all()
    agreement = pooling.reference_agreement(fast, cases, "tests/reference/pooling")
    assert list(agreement["form"]) == list(fast)
    assert (agreement["worst_x_tolerance"] < 1.5).all()  # fast setting: close to the default's bar
    other = cases.iloc[:-1]
    assert pooling.reference_agreement(fast, other, "tests/reference/pooling").empty


def test_tau_table_gives_every_summary_an_mcse(fast):
    """Notebook 04 says every reported posterior mean, quantile and probability has a Monte Carlo SE, and quotes
    the medians and P(tau > margin): both carry one, P(tau > margin)'s by the importance-weight formula of P(> 0)."""
    tau = pooling.tau_table(fast, claims.load_register().margins)
    for column in ("mean", "q05", "q50", "q95", "p_above_margin"):
        mcse = tau[f"mcse_{column}"]
        assert (mcse > 0).all() and (mcse < 0.1).all(), column
    for row in tau.itertuples():
        result = fast[row.form].result
        above = result.draws[:, result.names.index(row.parameter)] > row.margin
        p = result.weights @ above
        assert np.isclose(row.mcse_p_above_margin, np.sqrt(result.weights**2 @ (above - p) ** 2), rtol=1e-12)
        assert row.mcse_q50 == result.mcse([row.parameter]).loc[row.parameter, "q50"]


@pytest.mark.slow
def test_bad_sheets_give_rows_with_reasons(cases):
    cb = load_codebook()
    one_group = cases[cases["sectoral_group"] == cb.group_codes[0]]
    fits = pooling.pooled_fits(one_group, ["product_upgrading"], fast=True)
    assert any("one group present" in n for n in fits["product_upgrading"].result.notes)
    table = pooling.slopes_table(
        one_group,
        fits,
        models.fit_models(one_group, ["product_upgrading"]),
        pooling.complete_pooling_fits(one_group, ["product_upgrading"]),
    )
    absent = table[table["sectoral_group"] != cb.group_codes[0]]
    assert absent["estimate"].isna().all() and (absent["note"] == "no cases in this group").all()

    tiny = pd.concat(
        [
            cases[cases["sectoral_group"] != cb.group_codes[1]],
            cases[cases["sectoral_group"] == cb.group_codes[1]].iloc[:1],
        ]
    )
    fit = pooling.fit_form(tiny, "product_upgrading", fast=True)
    assert any("has one case" in n for n in fit.result.notes)

    constant = cases.assign(product_upgrading=1)
    fit = pooling.fit_form(constant, "product_upgrading", fast=True)
    assert fit.result is None and "single observed level" in fit.status
    tau = pooling.tau_table({"product_upgrading": fit}, claims.load_register().margins)
    assert tau["mean"].isna().all() and tau["status"].str.startswith("not estimable").all()

    unobserved = cases.assign(product_upgrading=cases["product_upgrading"].clip(upper=2))
    fit = pooling.fit_form(unobserved, "product_upgrading", fast=True)
    assert any("never observed" in n for n in fit.result.notes)


def test_unreliable_posterior_is_not_reported(cases):
    settings = pooling.PoolingSettings(tau_range=(0.5, 0.6), draws=500)  # grid far too narrow: mass at its edge
    fit = pooling.fit_form(cases, "product_upgrading", settings=settings)
    assert not fit.ok and "edge" in fit.status
    levels = claims.load_register().levels
    intervals, reason = pooling.slope_intervals(fit, "collective_efficiency", "traditional_manufacturing", levels)
    assert intervals is None and reason == fit.status
    row = pooling.group_slope(fit, "collective_efficiency", "traditional_manufacturing")
    assert "estimate" not in row and "unreliable" in row["note"]


@pytest.mark.slow
def test_pooled_verdicts_use_the_declared_rule(cases):
    register = claims.load_register()
    table = claims.evaluate(cases, register, n_resamples=99)
    pooled = pooling.pooled_fits(cases, claims.pooled_claim_forms(register), fast=True)
    out = claims.add_pooled_verdicts(table, pooled, register)
    assert list(out["verdict"]) == list(table["verdict"])  # the existing columns are kept
    applicable = out[out["verdict_pooled"] != claims.POOLED_NOT_APPLICABLE]
    assert len(applicable) >= (table["kind"] == "table cell").sum()
    for row in applicable.itertuples():
        expected = verdicts.decide(
            row.expected,
            (row.pooled_ci_low, row.pooled_ci_high),
            (row.pooled_ci90_low, row.pooled_ci90_high),
            row.margin,
        )
        assert row.verdict_pooled == expected
        fit = pooled[row.outcome].result
        group, predictor = models.parse_term(row.term)
        name = f"{pooling.SYMBOL[predictor]}[{group}]"
        assert row.pooled_ci_low == fit.conf_int(0.05).loc[name, 0]
        assert row.pooled_ci90_high == fit.conf_int(0.10).loc[name, 1]
    other = out[out["verdict_pooled"] == claims.POOLED_NOT_APPLICABLE]
    assert other["pooled_ci_low"].isna().all()
    assert "differ on" in narrative_pooled.pooled_verdicts_summary(
        out, cases
    ) or "agree on" in narrative_pooled.pooled_verdicts_summary(out, cases)


def test_pooled_arm_refuses_a_chunk_size_below_one_before_any_fit():
    from upgrading.errors import UpgradingError

    with pytest.raises(UpgradingError, match="chunk_size must be at least 1, not 0"):
        power_pooled.run_pooled(replicates=2, cases=[30], effect_scales=[1.0], pooled_cases=[30], chunk_size=0)


@pytest.mark.slow
def test_pooled_arm_uses_the_same_replicates():
    raw = power.run(replicates=4, cases=[30], effect_scales=[1.0], progress=False)
    pooled = power_pooled.run_pooled(
        replicates=2, cases=[30], effect_scales=[1.0], pooled_cases=[30], progress=False, chunk_size=1
    )
    assert set(pooled["replicate"]) == {0, 1}
    assert set(pooled["claim"]) == {c.id for c in power.claims_studied() if c.scope != "pooled"}
    assert set(pooled["fit"]) <= {"partial pooling", "unreliable", "not estimable"}
    again = power_pooled.run_pooled(replicates=2, cases=[30], effect_scales=[1.0], pooled_cases=[30], progress=False)
    pd.testing.assert_frame_equal(pooled, again)  # chunking changes nothing
    # replicate 0's sheet is the no-pooling arm's replicate 0: refit it by hand and compare one verdict
    cell = power.DesignCell(30, 1.0)
    data = power.simulate_chunk(cell.seeds(power.SEED, 0, 1), 30, 1.0)
    sheet = power.replicate_sheet(data, 0)
    form = "product_upgrading"
    fit = pooling.fit_form(coding.to_cases(sheet), form, settings=pooling.FAST_SETTINGS)
    studied = next(c for c in power.claims_studied() if c.claim.outcome == form and c.scope != "pooled")
    claim = studied.claim
    levels = claims.load_register().levels
    intervals, _ = pooling.slope_intervals(fit, claim.predictor, claim.sectoral_group, levels)
    got = pooled[(pooled["claim"] == claim.id) & (pooled["replicate"] == 0)]["verdict"].iloc[0]
    assert got == verdicts.decide(claim.expected, *intervals, claim.margin)
    table = power_pooled.compare_pooling(raw, pooled)
    assert set(table["replicates"]) == {2}
    assert set(table["method"]) == set(power_pooled.METHODS.values())
    assert np.allclose(table[["p_right", "p_wrong", "p_inconclusive"]].sum(axis=1), 1)
    assert "30 cases" in narrative_design.pooling_power_reading(table)
    with pytest.raises(Exception, match="not in the study's design"):
        power_pooled.run_pooled(replicates=1, cases=[30], effect_scales=[1.0], pooled_cases=[50], progress=False)


def test_kept_fits_are_read_back_equal_and_only_for_the_same_sheet_and_settings(cases, tmp_path, monkeypatch):
    """`pooled_fits(cache=True)` (notebooks 04, 05 and 07): a fit read from data/interim/ equals a fresh one; another
    sheet or other settings fit again."""
    from upgrading import interim, paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    forms = ["product_upgrading"]
    fresh = pooling.pooled_fits(cases, forms, fast=True)["product_upgrading"]
    kept = pooling.pooled_fits(cases, forms, fast=True, cache=True)["product_upgrading"]
    calls = []
    monkeypatch.setattr(pooling, "fit_form", lambda *a, **k: calls.append(a) or fresh)
    read = pooling.pooled_fits(cases, forms, settings=pooling.FAST_SETTINGS, cache=True)["product_upgrading"]
    assert not calls  # read back: fast=True and settings=FAST are the same settings
    for fit in (kept, read):
        pd.testing.assert_frame_equal(fit.result.posterior_summary(), fresh.result.posterior_summary())
        assert (fit.form, fit.cases, fit.left_out, fit.sheet_groups) == (fresh.form, fresh.cases, 0, fresh.sheet_groups)
    changed = cases.copy()
    changed.loc[0, "product_upgrading"] = (changed.loc[0, "product_upgrading"] + 1) % 4
    pooling.pooled_fits(changed, forms, fast=True, cache=True)
    pooling.pooled_fits(cases, forms, cache=True)  # the default settings: kept under another name
    assert len(calls) == 2
    halved = dataclasses.replace(pooling.load_priors(), tau_scale=pooling.load_priors().tau_scale / 2)
    pooling.pooled_fits(cases, forms, fast=True, priors=halved, cache=True)  # other priors: fitted again
    assert len(calls) == 3
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "data" / "interim").glob("*.pickle"))
    assert names == ["pooled_fit_default_product_upgrading", "pooled_fit_fast_product_upgrading"]
    assert interim.frame_digest(changed) != interim.frame_digest(cases)


@pytest.mark.slow
def test_a_slope_the_groups_own_cases_cannot_inform_gets_no_pooled_verdict(cases):
    """Where a group's predictor takes one value (every case alike, or one case), the likelihood does not depend on
    its slope once its shift is free: the posterior is the prior's and the other groups', so no verdict is given on
    it, and the group's other slope is still decided. Checked against the sheet itself, not against the notes."""
    cops = cases["sectoral_group"] == "complex_product_systems"
    flat = cases.copy()
    flat.loc[cops, "leader_driven"] = 0  # every complex-product-systems case market- or network-governed
    register = claims.load_register()
    pooled = pooling.pooled_fits(flat, ["product_upgrading"], fast=True)
    fit = pooled["product_upgrading"]
    zero = pooling.unidentified_slope(fit, "leader_driven", "complex_product_systems")
    assert zero.startswith("every case of this group in the fit has leader_driven = 0: the slope does not enter")
    assert "apart from the group's shift" not in zero  # slope x 0: absent from the likelihood, not confounded
    assert pooling.unidentified_slope(fit, "collective_efficiency", "complex_product_systems") == ""
    assert pooling.unidentified_slope(fit, "leader_driven", "traditional_manufacturing") == ""
    flat_slope = claims.pooled_verdict(register.claim("LEAD-PRODUCT-COPS"), register, pooled)
    assert flat_slope["verdict_pooled"] == verdicts.Verdict.INCONCLUSIVE.value
    assert "not the group's own" in flat_slope["pooled_note"] and "pooled_estimate" not in flat_slope
    varying = claims.pooled_verdict(register.claim("CE-PRODUCT-COPS"), register, pooled)
    assert varying["pooled_note"] == "" and "pooled_estimate" in varying
    # notebook 04's slopes table shows the posterior, its note on the flat slope only
    fits = models.fit_models(flat, ["product_upgrading"])
    slopes = pooling.slopes_table(flat, pooled, fits, pooling.complete_pooling_fits(flat, ["product_upgrading"]))
    rows = slopes[(slopes["method"] == "partial pooling") & (slopes["sectoral_group"] == "complex_product_systems")]
    notes = rows.set_index("predictor")["note"]
    assert notes["leader_driven"].startswith("every case of this group in the fit has leader_driven = 0")
    # ... which the shrinkage figure reads to draw it as the priors' (plots.pooling_shrinkage)
    assert pooling.prior_driven(notes).to_dict() == {"collective_efficiency": False, "leader_driven": True}
    assert "leader_driven" not in notes["collective_efficiency"]
    # one case left in a group: both of its slopes
    alone = cases[~cops | (cases.index == cases.index[cops][0])]
    fit = pooling.pooled_fits(alone, ["product_upgrading"], fast=True)["product_upgrading"]
    first = cases.index[cops][0]
    for predictor in models.KEY_PREDICTORS:
        reason = pooling.unidentified_slope(fit, predictor, "complex_product_systems")
        if cases.loc[first, predictor] == 0:  # slope x 0 in its one case: absent from the likelihood
            assert reason.startswith(f"the one case of this group in the fit has {predictor} = 0: the slope does")
            assert "apart from the group's shift" not in reason
        else:
            assert reason.startswith("one case of this group in the fit: its case cannot tell this slope apart")
    # the one case left has leader_driven = 0 and collective efficiency above 0: each wording once
    zero_led = cases[~cops | (cops & (cases["leader_driven"] == 0) & (cases["collective_efficiency"] > 0))]
    zero_led = zero_led[~cops[zero_led.index] | (zero_led.index == zero_led.index[cops[zero_led.index]][0])]
    fit = pooling.pooled_fits(zero_led, ["product_upgrading"], fast=True)["product_upgrading"]
    assert "does not enter its case's likelihood" in pooling.unidentified_slope(
        fit, "leader_driven", "complex_product_systems"
    )
    assert "one case of this group in the fit: its case cannot tell" in pooling.unidentified_slope(
        fit, "collective_efficiency", "complex_product_systems"
    )
    # the two predictors moving together in a group (leader-driven exactly where collective efficiency is high):
    # the cases see only their sum; neither slope is the group's own, though each varies
    together = cases.copy()
    together.loc[cops, "leader_driven"] = (together.loc[cops, "collective_efficiency"] >= 2).astype(int)
    together.loc[cops, "collective_efficiency"] = 1 + together.loc[cops, "leader_driven"]
    fit = pooling.pooled_fits(together, ["product_upgrading"], fast=True)["product_upgrading"]
    for predictor in models.KEY_PREDICTORS:
        assert "moves with" in pooling.unidentified_slope(fit, predictor, "complex_product_systems")
    assert pooling.unidentified_slope(fit, "leader_driven", "traditional_manufacturing") == ""
    # every case leader-driven: the slope multiplied by 1 is the group's shift again, so the split is the priors'
    led = cases.copy()
    led.loc[cops, "leader_driven"] = 1
    fit = pooling.pooled_fits(led, ["product_upgrading"], fast=True)["product_upgrading"]
    one = pooling.unidentified_slope(fit, "leader_driven", "complex_product_systems")
    assert one.startswith("every case of this group in the fit has leader_driven = 1: its cases cannot tell this")
    assert one.endswith("so the split is the priors' and the other groups', not the group's own")


def test_the_two_verdicts_agree_only_where_both_estimate():
    """A claim neither method can estimate is inconclusive in both: named with its reason, not counted as
    agreement; a claim only one estimates is named."""
    nan = np.nan
    verdicts_table = pd.DataFrame({
        "id": ["A", "B", "C", "D"],
        "verdict": ["consistent", "inconclusive", "inconclusive", "inconclusive"],
        "estimate": [0.9, 0.1, nan, nan],
        "note": ["", "", "no cases in this group; complete cases: 33 of 35 (2 with a variable not reported)",
                 "leader_driven constant in the group"],
        "verdict_pooled": ["consistent", "inconclusive", "inconclusive", "inconclusive"],
        "pooled_estimate": [0.8, 0.2, nan, 0.4],
    })  # fmt: skip
    text = narrative_pooled.pooled_verdicts_summary(verdicts_table, pd.DataFrame())
    assert "Of the 2 that both estimate, the two agree on 2." in text
    assert "Only the partially pooled posterior estimates D" in text
    assert "1 neither can estimate, inconclusive in both (no-pooling reasons: 1 × no cases in this group)" in text
    assert "borrowing from the other groups" in text
    # one sectoral group on the sheet: no other group to borrow from (new-user trial)
    alone = narrative_pooled.pooled_verdicts_summary(verdicts_table, pd.DataFrame({"sectoral_group": ["a", "a"]}))
    assert "other groups" not in alone and alone.endswith(
        "With one sectoral group on the sheet, partial pooling has no other group to borrow strength from: its "
        "verdicts differ from no pooling's only through the model's priors."
    )


@pytest.mark.slow
def test_the_between_group_sds_are_read_beside_their_prior(cases, fast):
    """With few groups a between-group SD's posterior stays close to its HalfNormal prior: the sentence gives the
    prior's median and P(tau > margin) (checked against scipy's half-normal) so a reader can see it."""
    from scipy import stats

    fits = models.fit_models(cases, list(fast))
    slopes = pooling.slopes_table(cases, fast, fits, pooling.complete_pooling_fits(cases, list(fast)))
    margins = claims.load_register().margins
    tau = pooling.tau_table(fast, margins)
    scale = pooling.load_priors().tau_scale
    margin = float(tau["margin"].iloc[0])
    prior = stats.halfnorm(scale=scale)
    text = narrative_models.pooling_summary(slopes, tau, cases, scale)
    assert (
        f"Under its HalfNormal({scale:g}) prior alone, a between-group SD has median {prior.median():.2f} and "
        f"P(tau > {margin:.3f}) = {prior.sf(margin):.2f}"
    ) in text


def test_the_method_is_described_at_the_settings_every_form_starts_from_not_the_first_forms_last():
    """A form that improves itself ends at more draws and a finer grid; notebook 04 described the first form's last
    attempt as the start (a new-user trial: "622,000 draws (to start)" where every form starts at 50,000)."""
    from types import SimpleNamespace

    from upgrading.ordinal.multilevel_inputs import DEFAULT
    from upgrading.study import narrative_models

    improved = dataclasses.replace(DEFAULT, draws=622_000, grid_step=DEFAULT.grid_step / 2)

    def fit(settings, points):
        return SimpleNamespace(
            result=SimpleNamespace(settings=settings, groups=("a", "b"), diagnostics={"grid_points": points})
        )

    pooled = {"product_upgrading": fit(improved, 2601), "process_upgrading": fit(DEFAULT, 676),
              "functional_upgrading": SimpleNamespace(result=None)}  # fmt: skip
    start = pooling.starting_computation(pooled)
    assert start == dict(settings=DEFAULT, n_groups=2, grid_points=676)
    text = narrative_models.pooling_method(priors=pooling.load_priors(), **start)
    assert f"{DEFAULT.draws:,} draws (to start)" in text and "grid of 676 points" in text and "622,000" not in text
    every_improved = pooling.starting_computation({"product_upgrading": fit(improved, 2601)})
    assert every_improved["grid_points"] is None and every_improved["settings"] == DEFAULT
    assert "on a grid over (log tau_beta" in narrative_models.pooling_method(
        priors=pooling.load_priors(), **every_improved
    )
    assert pooling.starting_computation({"product_upgrading": SimpleNamespace(result=None)}) is None


def test_on_a_sheet_of_one_group_the_pooling_sentences_do_not_speak_of_other_groups():
    """New-user trial on a sheet of 15 natural-resource-based cases: notebook 04 read "lets each of the 1 groups'
    ... slopes vary ..., estimated from the data" and "because each group borrows strength from the others"; with
    one group there is none to borrow from, and tau's posterior stays near its prior."""
    start = dict(settings=pooling.FAST_SETTINGS, n_groups=1, grid_points=None)
    method = narrative_models.pooling_method(priors=pooling.load_priors(), **start)
    assert "1 groups'" not in method and "estimated from the data" not in method
    assert "This sheet has one sectoral group" in method and "its posterior stays close to its prior" in method
    slopes = pd.DataFrame({
        "method": ["no pooling", "partial pooling"], "estimate": [1.0, 0.8], "conf_low": [0.2, 0.1],
        "conf_high": [1.8, 1.5],
    })  # fmt: skip
    tau = pd.DataFrame({"form": ["f"], "status": ["ok"], "q05": [0.05], "q50": [0.66], "q95": [1.9],
                        "margin": [0.405], "p_above_margin": [0.68]})  # fmt: skip
    one = pd.DataFrame({"sectoral_group": ["natural_resource_based"] * 3})
    text = narrative_models.pooling_summary(slopes, tau, one, 1.0)
    assert "borrows strength from the others" not in text and "from few groups, say little" not in text
    assert "no other group to borrow strength from" in text and "posterior stays close to this prior" in text
    two = narrative_models.pooling_summary(slopes, tau, pd.DataFrame({"sectoral_group": ["a", "b"]}), 1.0)
    assert "because each group borrows strength from the others" in two


def test_with_no_slope_estimated_both_ways_the_widths_are_not_compared():
    """Trial 43: with governance not reported in any case no slope is estimated either way, and notebook 04 read
    "partial pooling's intervals are nan times as wide as no pooling's at the median (range nan), because each group
    borrows strength from the others"."""
    nan = np.nan
    slopes = pd.DataFrame({"method": ["no pooling", "partial pooling"], "estimate": [nan, nan],
                           "conf_low": [nan, nan], "conf_high": [nan, nan]})  # fmt: skip
    tau = pd.DataFrame({"form": ["f"], "status": ["not estimable: no cases"]})
    text = narrative_models.pooling_summary(slopes, tau, pd.DataFrame({"sectoral_group": ["a", "b"]}), 1.0)
    assert "nan" not in text and "borrows strength" not in text
    assert text.startswith("No group slope is estimated both without pooling and with partial pooling")
    assert "Not reported (unreliable or not estimable): f (not estimable: no cases)." in text
