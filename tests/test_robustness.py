"""Robustness of verdicts (issue 22, first part): every claim decided under every declared coding x model (x link
without pooling) by the study's own functions (the primary specification is the claims check itself), the
summary's label, and `upgrading claims --robustness`."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import SECOND_CODER_SHEET, SIMULATED_SHEET, labelled_cases

from upgrading import package_data
from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.study import claims, claims_table, partial_odds, pooling, probabilities, robustness, robustness_choices
from upgrading.study.codebook import load_codebook
from upgrading.study.coding import load_cases
from upgrading.study.register import load_register

RESAMPLES = 9  # permutations of the cross-check, which decides nothing
PRIMARY = "first / no pooling"
COMPLETE = "complete cases"
BOUND_VALUES = ("missing at lowest", "missing at highest")


@pytest.fixture(scope="module")
def first():
    return load_cases(SIMULATED_SHEET)


@pytest.fixture(scope="module")
def second():
    return load_cases(SECOND_CODER_SHEET)


@pytest.fixture(scope="module")
def table(first, second):
    """Notebook 06's table, at its settings: read from data/interim/ where the notebook (README line 1) kept it."""
    return robustness.robustness_table(first, second, n_jobs=2, cache=True)


def _primary_only(choices: robustness_choices.Choices) -> robustness_choices.Choices:
    """The choices with the primary value of each but the coding: the claims check on each coding."""
    return dataclasses.replace(
        choices,
        **{kind: tuple(c for c in getattr(choices, kind) if c.name == choices.primary[kind]) for kind in KINDS},
    )


KINDS = ("model", "link", "proportional_odds", "missing")
CLAIMS_CHECK_ONLY = _primary_only(robustness_choices.load_choices())


def _column(table: pd.DataFrame, specification: str, column: str = "verdict") -> pd.Series:
    """One specification's column, by claim id."""
    rows = table[table["specification"] == specification]
    return pd.Series(rows[column].to_numpy(), index=rows["id"].to_numpy(), name=specification)


def _by_id(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(frame[column].to_numpy(), index=frame["id"].to_numpy())


# ---------------------------------------------------------------------------------------------------------
# The declared choices
# ---------------------------------------------------------------------------------------------------------


def test_choices_are_declared_with_reasons_and_crossed_into_eighteen_specifications():
    choices = robustness_choices.load_choices()
    assert [c.name for c in choices.coding] == ["first", "second"]
    assert {m.name: m.tau_scale_factor for m in choices.model} == {
        "no pooling": None,
        "partial pooling": 1.0,
        "partial pooling x0.5": 0.5,
        "partial pooling x2": 2.0,
    }
    assert [c.name for c in choices.link] == ["logit", "probit", "cloglog"]
    assert {m.name: m.fill for m in choices.missing} == {
        "complete cases": "none",
        "missing at lowest": "lowest",
        "missing at highest": "highest",
    }
    assert {m.name: (m.relax, m.test_level) for m in choices.proportional_odds} == {
        "assumed": ("never", None),
        "relaxed where rejected": ("where rejected", 0.05),
    }
    kinds = (choices.coding, choices.model, choices.link, choices.proportional_odds, choices.missing)
    assert all(c.reason.strip() for kind in kinds for c in kind)
    specs = robustness_choices.specifications()
    assert len(specs) == 18 and len({s.name for s in specs}) == 18
    plain = [s for s in specs if (s.link, s.proportional_odds, s.missing) == ("logit", "assumed", COMPLETE)]
    assert len(plain) == 8 and all(s.name == f"{s.coding} / {s.model}" for s in plain)
    bounds = {(s.coding, s.model, s.link, s.proportional_odds, s.missing) for s in specs if s.missing != COMPLETE}
    assert bounds == {(c, "no pooling", "logit", "assumed", m) for c in ("first", "second") for m in BOUND_VALUES}
    relaxed = {(s.coding, s.model, s.link, s.missing) for s in specs if s.proportional_odds != "assumed"}
    assert relaxed == {(c, "no pooling", "logit", COMPLETE) for c in ("first", "second")}
    links = {(s.coding, s.link) for s in specs if s.model == "no pooling"}
    assert links == {(c, link) for c in ("first", "second") for link in ("logit", "probit", "cloglog")}
    assert {s.link for s in specs if s.model != "no pooling"} == {"logit"}  # the pooled model is a logit model
    assert [s.name for s in specs if s.primary] == [PRIMARY]
    assert [s.name for s in robustness_choices.specifications(codings=["first"])] == [s.name for s in specs[:9]]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(primary={"coding": "first", "model": "partial pooling"}),
        lambda d: d.update(primary={"coding": "second", "model": "no pooling"}),
        lambda d: d["model"].append({"name": "complete pooling", "pooling": "complete", "reason": "r"}),
        lambda d: d["model"].append(
            {"name": "partial pooling x0", "pooling": "partial", "tau_scale_factor": 0.0, "reason": "r"}
        ),  # fmt: skip
        lambda d: d["coding"].append({"name": "third", "reason": "r"}),
        lambda d: d["coding"][1].update(reason=""),
        lambda d: d["link"].append({"name": "cauchit", "reason": "no latent SD to carry the margins to"}),
        lambda d: d["link"].append({"name": "tobit", "reason": "r"}),
        lambda d: d.update(link=[x for x in d["link"] if x["name"] != "logit"]),
        lambda d: d.update(primary=d["primary"] | {"link": "probit"}),
        lambda d: d.update(primary=d["primary"] | {"missing": "missing at lowest"}),
        lambda d: d["missing"].append({"name": "missing at median", "fill": "median", "reason": "r"}),
        lambda d: d.pop("missing"),
        lambda d: d.update(primary=d["primary"] | {"proportional_odds": "relaxed where rejected"}),
        lambda d: d["proportional_odds"][1].update(test_level=1.5),
        lambda d: d["proportional_odds"][0].update(test_level=0.05),
        lambda d: d["proportional_odds"].append({"name": "always", "relax": "always", "reason": "r"}),
    ],
)
def test_a_choice_the_code_cannot_compute_as_declared_is_refused(change):
    data = package_data.thaw(package_data.load("robustness.toml"))
    change(data)
    with pytest.raises(UpgradingError, match="robustness.toml is inconsistent"):
        robustness_choices.choices_from_data(data)


# ---------------------------------------------------------------------------------------------------------
# The table: computed by the study's own functions
# ---------------------------------------------------------------------------------------------------------


def test_the_table_has_every_claim_under_every_specification_once(table):
    """Every specification but the missing-code bounds, which the simulated sheets (no code not reported) lack."""
    ids = [c.id for c in load_register().claims]
    names = [s.name for s in robustness_choices.specifications() if s.missing == COMPLETE]
    assert len(names) == 14
    assert table.attrs["missing"] == (
        "first coding: every outcome code reported, so no bounds; "
        "second coding: every outcome code reported, so no bounds"
    )
    assert list(table.columns) == list(robustness.COLUMNS)
    assert list(table["id"]) == [i for i in ids for _ in names]
    assert list(table["specification"]) == names * len(ids)
    assert table.groupby("id")["primary"].sum().eq(1).all()
    assert set(table["verdict"]) <= set(robustness.CELL_VERDICTS)
    assert list(robustness.COLUMNS[2:7]) == ["coding", "model", "link", "proportional_odds", "missing"]
    for spec in robustness_choices.specifications():
        rows = table[table["specification"] == spec.name]
        for column in robustness.COLUMNS[2:7]:
            assert rows.empty or (rows[column] == getattr(spec, column)).all(), (spec.name, column)


@pytest.mark.slow
def test_the_relaxed_specification_is_partial_odds_on_each_coding(first, second, table):
    """On the simulated sheets no nominal test both rejects and leaves a decidable relaxed fit: every cell says
    why (tested on sheets where it does in test_partial_odds.py)."""
    for coding, sheet in (("first", first), ("second", robustness.second_coding(first, second).cases)):
        expected = partial_odds.relaxed_rows(sheet, load_register(), 0.05)
        cells = table[table["specification"] == f"{coding} / no pooling / relaxed where rejected"]
        assert list(cells["verdict"]) == [r["verdict"] for r in expected]
        assert [n.split("; ")[-1] for n in cells["note"]] == [r["note"] for r in expected]
        assert not cells["decided"].any() and cells["estimate"].isna().all()


@pytest.mark.slow
def test_the_table_does_not_depend_on_the_number_of_workers(first, second):
    one = robustness.robustness_table(first, second, choices=CLAIMS_CHECK_ONLY)
    two = robustness.robustness_table(first, second, choices=CLAIMS_CHECK_ONLY, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    assert one.attrs == two.attrs


@pytest.mark.slow
def test_a_kept_table_is_read_back_only_for_the_same_sheets(first, second, table, tmp_path, monkeypatch):
    """`cache=True` (notebook 06): the first call computes and keeps the table, attrs included; the same sheets read
    it back; a changed sheet computes anew."""
    from upgrading import paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    made = []
    monkeypatch.setattr(robustness, "_table", _counting(robustness._table, made))
    options = {"choices": CLAIMS_CHECK_ONLY}
    expected = table[table["specification"].isin(["first / no pooling", "second / no pooling"])]
    kept = robustness.robustness_table(first, second, cache=True, **options)
    pd.testing.assert_frame_equal(kept, expected.reset_index(drop=True))
    assert kept.attrs == table.attrs and len(made) == 1  # computed
    again = robustness.robustness_table(first, second, cache=True, **options)
    pd.testing.assert_frame_equal(again, kept)
    assert again.attrs == table.attrs and len(made) == 1  # read back: nothing computed
    changed = first.copy()
    changed.attrs = dict(first.attrs)
    changed.loc[0, "product_upgrading"] = 3 - int(changed.loc[0, "product_upgrading"])
    monkeypatch.setattr(robustness, "_specification_rows", _refuse)
    with pytest.raises(RuntimeError, match="computed anew"):
        robustness.robustness_table(changed, second, cache=True, **options)
    with pytest.raises(RuntimeError, match="computed anew"):  # other choices: another table
        robustness.robustness_table(first, second, cache=True)


def _counting(function, calls):
    def counted(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return counted


@pytest.mark.slow
def test_a_table_made_anew_reads_notebook_04s_kept_pooled_fits_of_the_first_coding_only(
    first, second, table, tmp_path, monkeypatch
):
    """`cache=True` (notebook 06), the table not kept: the first coding's partial pooling at the declared prior is
    decided on the fits notebook 04 kept (`pooling.pooled_fits(cache=True)`, not fitted again), every other pooled
    specification (another prior, the second coding) is fitted, and the rows are those of the table computed
    outright (`cache=False`) and of notebook 06's."""
    from upgrading import paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    form = claims.pooled_claim_forms()[0]  # the claims about one form: one fit per specification
    register = load_register()
    register = register.with_claims(c for c in register.claims if c.outcome == form)
    pooling.pooled_fits(first, [form], cache=True)  # as notebook 04 keeps it
    kept = {p.name: p.read_bytes() for p in (tmp_path / "data" / "interim").glob("pooled_fit_*")}
    assert len(kept) == 1
    fitted = []
    monkeypatch.setattr(pooling, "fit_form", _counting(pooling.fit_form, fitted))
    pooled = ("partial pooling", "partial pooling x2")
    choices = dataclasses.replace(
        CLAIMS_CHECK_ONLY, model=tuple(robustness_choices.load_choices().model_choice(m) for m in pooled)
    )
    made = robustness.robustness_table(first, second, choices=choices, register=register, cache=True)
    # the second coding at the declared prior, and both codings at twice its scale: fitted; the first coding at
    # the declared prior: read
    declared = pooling.load_priors()
    assert len(fitted) == 3 and not [a for a in fitted if a[0] is first and a[2] == declared]
    ids = [c.id for c in register.claims]
    assert (made["verdict"] != robustness.NOT_APPLICABLE).any()
    first_only = dataclasses.replace(choices, coding=choices.coding[:1], model=choices.model[:1])
    outright = robustness.robustness_table(first, choices=first_only, register=register)  # fitted, nothing kept
    assert len(fitted) == 4
    pd.testing.assert_frame_equal(
        made[made["specification"] == "first / partial pooling"].reset_index(drop=True),
        outright.reset_index(drop=True),
    )
    for spec in ("first / partial pooling", "second / partial pooling", "first / partial pooling x2"):
        expected = table[(table["specification"] == spec) & table["id"].isin(ids)]
        pd.testing.assert_frame_equal(
            made[made["specification"] == spec].reset_index(drop=True), expected.reset_index(drop=True)
        )
    # notebook 04's kept fits stay as they were, for notebook 05 (and the test suite's reruns) to read
    assert {p.name: p.read_bytes() for p in (tmp_path / "data" / "interim").glob("pooled_fit_*")} == kept


def _refuse(*args, **kwargs):
    raise RuntimeError("computed anew")


@pytest.mark.slow
def test_the_table_runs_no_permutation_test_and_the_claims_check_without_one_differs_only_there(first, monkeypatch):
    """The permutation cross-check decides nothing and the table does not show it: `claims.evaluate` without it
    gives every other column of the claims check exactly, and no specification of the table runs it."""
    full = claims.evaluate(first, n_resamples=RESAMPLES)
    monkeypatch.setattr(claims_table, "permutation_association", _refuse)
    bare = claims.evaluate(first, with_cross_check=False)
    permutation = ["permutation_tau_b", "permutation_p", "permutation_method"]
    assert bare[permutation].isna().all().all() and full["permutation_p"].notna().any()
    pd.testing.assert_frame_equal(bare.drop(columns=permutation), full.drop(columns=permutation))
    # every no-pooling specification (each link), in this process (_refuse raises if one runs it)
    unpooled = dataclasses.replace(CLAIMS_CHECK_ONLY, link=robustness_choices.load_choices().link)
    built = robustness.robustness_table(first, choices=unpooled, n_jobs=1)
    assert set(built["link"]) == {c.name for c in unpooled.link} and len(unpooled.link) >= 3
    primary = built[built["primary"]]
    assert list(primary["verdict"]) == list(full["verdict"])


@pytest.mark.slow
def test_the_primary_specification_is_the_claims_check(first, table):
    expected = _by_id(claims.evaluate(first, n_resamples=RESAMPLES), "verdict")
    primary = table[table["primary"]]
    assert (primary["specification"] == PRIMARY).all()
    pd.testing.assert_series_equal(_column(table, PRIMARY), expected, check_names=False)


def test_the_second_coders_no_pooling_specification_is_the_claims_check_on_their_sheet(second, table):
    checked = claims.evaluate(second, n_resamples=RESAMPLES)
    pd.testing.assert_series_equal(_column(table, "second / no pooling"), _by_id(checked, "verdict"), check_names=False)
    estimates = _column(table, "second / no pooling", "estimate").astype(float)
    np.testing.assert_allclose(estimates, _by_id(checked, "estimate").astype(float), rtol=1e-12)
    notes = table.loc[table["coding"] == "second", "note"]
    assert notes.str.contains("50 of 50 cases").all() and table.attrs["second_coder_cases"] == 50
    # the second coder coded every case: no first coder's cases to name
    assert table.attrs["second_coding"] == "the second coder's coding of 50 of 50 cases"
    assert not notes.str.contains("did not code").any()


@pytest.mark.slow
def test_the_pooled_specification_at_the_declared_prior_is_notebook_05s_pooled_verdict(first, table):
    pooled = claims.add_pooled_verdicts(claims.evaluate(first, n_resamples=RESAMPLES), pooling.pooled_fits(first))
    pd.testing.assert_series_equal(
        _column(table, "first / partial pooling"), _by_id(pooled, "verdict_pooled"), check_names=False
    )
    np.testing.assert_allclose(
        _column(table, "first / partial pooling", "estimate").astype(float),
        _by_id(pooled, "pooled_estimate").astype(float),
        rtol=1e-12,
    )
    applicable = pooled["verdict_pooled"] != claims.POOLED_NOT_APPLICABLE
    assert 0 < applicable.sum() < len(pooled)
    for spec in ("first / partial pooling x0.5", "first / partial pooling x2"):
        moved = _column(table, spec, "estimate").astype(float) - _column(table, "first / partial pooling", "estimate")
        assert (moved[applicable.to_numpy()].abs() > 1e-6).all(), f"{spec} must be fitted at its own prior"
        assert (_column(table, spec)[~applicable.to_numpy()] == robustness.NOT_APPLICABLE).all()
    # and each factor goes with its own prior: the x0.5 row is the fit at half the declared tau scale
    priors = pooling.load_priors()
    half = dataclasses.replace(priors, tau_scale=0.5 * priors.tau_scale)
    form = claims.pooled_claim_forms()[0]
    at_half = pooling.pooled_fits(first, [form], priors=half)
    checked = claims.add_pooled_verdicts(claims.evaluate(first, n_resamples=RESAMPLES), at_half)
    of_form = (checked["outcome"] == form).to_numpy() & applicable.to_numpy()
    np.testing.assert_allclose(
        _column(table, "first / partial pooling x0.5", "estimate").astype(float)[of_form],
        _by_id(checked, "pooled_estimate").astype(float)[of_form],
        rtol=1e-12,
    )


@pytest.mark.slow
@pytest.mark.parametrize("link, factor", [("probit", 0.5513288954217921), ("cloglog", 0.7071067811865476)])
def test_a_link_specification_is_the_claims_check_under_that_link(first, table, link, factor):
    """Every model fitted under the link (the same slopes and intervals as notebook 04's link-robustness table,
    which fits one model at a time), decided by the same rule with each margin carried to the link's latent scale
    (sqrt(3)/pi for the probit, 1/sqrt(2) for the cloglog)."""
    spec = f"first / no pooling / {link}"
    checked = claims.evaluate(first, n_resamples=RESAMPLES, link=link)
    pd.testing.assert_series_equal(_column(table, spec), _by_id(checked, "verdict"), check_names=False)
    margins = {c.id: c.margin * factor for c in load_register().claims}
    np.testing.assert_allclose(_by_id(checked, "margin").astype(float), pd.Series(margins), rtol=1e-12)
    assert checked["odds_ratio"].isna().all()  # a probit or cloglog slope is not a log odds ratio
    assert table.loc[table["specification"] == spec, "note"].str.contains(f"{link} latent scale").all()
    links = load_link_robustness(first, link)
    cells = checked[checked["id"].isin(links.index) & (checked["fit"] != claims.NOT_ESTIMABLE)]
    assert len(cells) > 10
    for column, reference in (("estimate", "estimate"), ("ci_low", "conf_low"), ("ci_high", "conf_high")):
        np.testing.assert_allclose(
            cells[column].astype(float), links.loc[cells["id"], reference].astype(float), rtol=1e-6, err_msg=column
        )


def load_link_robustness(first: pd.DataFrame, link: str) -> pd.DataFrame:
    """Notebook 04's link-robustness rows under `link`, indexed by the id of the group-slope claim they are."""
    register = load_register()
    rows = probabilities.link_robustness_table(first, links=(link,))
    rows = rows[rows["link"] == link].set_index(["form", "sectoral_group", "predictor"])
    ids = {}
    for claim in register.claims:
        slope = claims.group_slope_claim(claim, register)
        if slope is not None and (claim.outcome, *slope) in rows.index:
            ids[claim.id] = rows.loc[(claim.outcome, *slope)]
    return pd.DataFrame(ids).T


def _sheet_with(tmp_path, cells: dict, name: str) -> pd.DataFrame:
    """The simulated sheet as a user writes one, with `cells` ({(row, column): text}) replaced, read and validated
    as every sheet is (`load_cases`)."""
    raw = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False)
    for (row, column), text in cells.items():
        raw.loc[row, column] = text
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return load_cases(path)


def test_cases_with_a_predictor_not_reported_are_named_as_left_out_under_every_specification(tmp_path):
    """The bounds fill outcome codes only: cases whose governance (so leader_driven) or collective efficiency (not
    derivable from a component also not reported) is not reported stay out of every model, and the table's
    `missing` note says how many."""
    cells = {(2, "governance"): "NR", (9, "governance"): "not reported", (4, "joint_actions"): "NR"}
    cells |= {(4, "collective_efficiency"): "NR"}
    sheet = _sheet_with(tmp_path, cells, "predictors_nr.csv")
    assert robustness.missing_predictor_cases(sheet) == (
        "; 1 case with collective_efficiency not reported and 2 with governance not reported, left out of every "
        "model under every specification (the bounds fill outcome codes only)"
    )  # the sheet's column (governance), not the derived leader_driven, and the clause said once
    governance_only = _sheet_with(tmp_path, {(2, "governance"): "NR"}, "governance_nr.csv")
    assert robustness.missing_predictor_cases(governance_only) == (
        "; 1 case with governance not reported, left out of every model under every specification (the bounds "
        "fill outcome codes only)"
    )
    assert robustness.missing_predictor_cases(load_cases(SIMULATED_SHEET)) == ""


@pytest.mark.slow
def test_missing_outcome_codes_get_both_bounds_each_the_claims_check_on_that_coding(tmp_path):
    """Outcome codes not reported: the complete-case primary is the claims check on the sheet; each bound is the
    claims check on the sheet a user would write with those cells coded 0 (or 3), built here from the text, not by
    the code under test; the user's cases are not modified."""
    cells = {(row, "product_upgrading"): "NR" for row in (0, 7, 14, 21, 28, 35)}
    cells |= {(3, "functional_upgrading"): "not reported"}
    sheet = _sheet_with(tmp_path, cells, "with_nr.csv")
    before = sheet.copy()
    choices = robustness_choices.load_choices()
    unpooled = dataclasses.replace(choices, model=(choices.model_choice("no pooling"),))  # pooled fits: tested above
    built = robustness.robustness_table(sheet, choices=unpooled)
    pd.testing.assert_frame_equal(sheet, before)
    assert robustness.missing_outcome_codes(sheet) == 7
    assert built.attrs["missing"] == "first coding: 7 outcome codes not reported"
    assert len(dict.fromkeys(built["specification"])) == 6  # three links, proportional odds relaxed, two bounds
    primary = claims.evaluate(sheet, n_resamples=RESAMPLES)
    pd.testing.assert_series_equal(_column(built, PRIMARY), _by_id(primary, "verdict"), check_names=False)
    product = [c.id for c in load_register().claims if c.outcome == "product_upgrading"]
    process = [c.id for c in load_register().claims if c.outcome == "process_upgrading"]
    for value, code in (("missing at lowest", "0"), ("missing at highest", "3")):
        spec = f"first / no pooling / {value}"
        coded = claims.evaluate(_sheet_with(tmp_path, dict.fromkeys(cells, code), f"{code}.csv"), n_resamples=RESAMPLES)
        pd.testing.assert_series_equal(_column(built, spec)[product], _by_id(coded, "verdict")[product],
                                       check_names=False)  # fmt: skip
        np.testing.assert_allclose(_column(built, spec, "estimate")[product].astype(float),
                                   _by_id(coded, "estimate")[product].astype(float), rtol=1e-12)  # fmt: skip
        rows = built[built["specification"] == spec]
        assert (rows["missing"] == value).all() and (rows["model"] == "no pooling").all()
        filled = rows[rows["id"].isin(product)]
        assert filled["note"].str.contains("outcome codes not reported set to the").all()
        # every process code is reported: the bound would be the complete-case analysis again, so it is not one
        # more specification that agrees with the primary (it would make a label look better supported)
        unfilled = rows[rows["id"].isin(process)]
        assert (unfilled["verdict"] == "not applicable").all() and not unfilled["decided"].astype(bool).any()
        assert unfilled["note"].str.startswith("every process_upgrading code of the claim's cases").all()
        assert not unfilled["note"].str.contains("set to the").any()
    low = _column(built, "first / no pooling / missing at lowest", "estimate").astype(float)
    high = _column(built, "first / no pooling / missing at highest", "estimate").astype(float)
    assert (low[product] != high[product]).all()  # each bound refitted on its own coding


def test_margins_are_carried_to_a_link_with_a_latent_sd_only():
    register = load_register()
    assert claims.register_on_link(register, "logit") is register
    with pytest.raises(UpgradingError, match="cauchit link has no latent standard deviation"):
        claims.register_on_link(register, "cauchit")


def test_an_unreliable_pooled_fit_gets_the_verdict_and_note_of_the_claims_check(first, monkeypatch):
    """A posterior that cannot be vouched for: each cell says what `claims.pooled_verdict` says of it."""

    def unreliable(cases, forms=None, priors=None, settings=None, fast=False, cache=False):
        return {form: pooling.PooledFit(form, None, "planted for the test") for form in forms}

    monkeypatch.setattr(pooling, "pooled_fits", unreliable)
    choices = robustness_choices.load_choices()
    pooled_only = dataclasses.replace(
        choices,
        coding=choices.coding[:1],
        model=(choices.model_choice("partial pooling"),),
        proportional_odds=choices.proportional_odds[:1],
        missing=choices.missing[:1],
    )
    built = robustness.robustness_table(first, choices=pooled_only)  # no primary here: no summary is asked for
    register = load_register()
    fits = unreliable(first, claims.pooled_claim_forms(register))
    expected = [claims.pooled_verdict(register.claim(i), register, fits) for i in built["id"]]
    assert list(built["verdict"]) == [e["verdict_pooled"] for e in expected]
    decided = built[built["verdict"] != robustness.NOT_APPLICABLE]
    assert len(decided) and (decided["note"] == fits["product_upgrading"].status).all()
    assert decided["estimate"].isna().all()


def _changed_verdict(first: pd.DataFrame):
    """A case, outcome and code whose change moves some claim's no-pooling verdict: found by search (the claims
    check's own decision path on each candidate), not by knowing the data."""
    register = load_register()
    before = claims.decide(register, claims.prepare(first))["verdict"].to_numpy()
    for c, claim in enumerate(register.claims):
        if before[c] == "inconclusive" or claims.group_slope_claim(claim, register) is None:
            continue
        group, _ = claims.group_slope_claim(claim, register)
        rows = first.index[first["sectoral_group"].astype(str) == group]
        for row in rows:
            code = 0 if first.at[row, claim.outcome] >= 2 else 3
            changed = first.copy()
            changed.attrs = dict(first.attrs)
            changed.at[row, claim.outcome] = code
            after = claims.decide(register, claims.prepare(changed))["verdict"].to_numpy()
            if after[c] != before[c]:
                return changed, claim, after[c]
    pytest.fail("no single code change moves a decisive verdict of a group-slope claim")


@pytest.mark.slow
def test_every_verdict_is_computed_not_copied(first, table):
    changed, claim, verdict = _changed_verdict(first)
    moved = robustness.robustness_table(changed)
    assert set(moved["coding"]) == {"first"}  # no second coder: its specifications are absent, not stubbed
    assert _column(moved, PRIMARY)[claim.id] == verdict != _column(table, PRIMARY)[claim.id]
    register = load_register()
    same_form = [c.id for c in register.claims if c.outcome == claim.outcome]
    other_form = [c.id for c in register.claims if c.outcome != claim.outcome]
    for spec in dict.fromkeys(moved["specification"]):
        now, then = _column(moved, spec, "estimate").astype(float), _column(table, spec, "estimate").astype(float)
        assert not np.allclose(now[claim.id], then[claim.id], rtol=1e-9), spec  # refitted on the changed sheet
        assert (now[same_form] != then[same_form]).any(), spec
        np.testing.assert_allclose(now[other_form], then[other_form], rtol=1e-9, err_msg=spec)


def _second_sheet(tmp_path, edit) -> pd.DataFrame:
    """A second coder's sheet as a user writes one: the simulated second coder's CSV, edited, then read and
    validated as every sheet is (`load_cases`)."""
    raw = pd.read_csv(SECOND_CODER_SHEET, dtype=str, keep_default_na=False)
    path = tmp_path / "second_coder.csv"
    edit(raw).to_csv(path, index=False)
    return load_cases(path)


@pytest.mark.slow
def test_a_second_coder_of_some_cases_gives_those_cases_whole_and_the_first_coder_the_rest(first, tmp_path):
    """Every case the second coder coded is taken as they coded it, a code they did not report included (as
    reliability counts it); every other case is the first coder's. So each case stays valid under the codebook."""
    group_industry = first.drop_duplicates("sectoral_group").set_index("sectoral_group")["industry"].astype(str)

    def edit(raw):
        part = raw.iloc[::3].copy()  # 17 of the 50 cases
        part.iloc[0, part.columns.get_loc("governance")] = "NR"  # not reported by the second coder
        moved = next(g for g in group_industry.index if g != part.iloc[1]["sectoral_group"])
        part.iloc[1, [part.columns.get_loc("sectoral_group"), part.columns.get_loc("industry")]] = [
            moved,
            group_industry[moved],
        ]  # another group, with an industry of that group
        return part

    subsample = _second_sheet(tmp_path, edit)
    merged = robustness.second_coding(first, subsample)
    assert (merged.from_second, merged.total) == (len(subsample), len(first))
    got = merged.cases.set_index(merged.cases["case_id"].astype(str))
    columns = [*load_codebook().columns, "leader_driven"]
    theirs = subsample.set_index(subsample["case_id"].astype(str))
    mine = first.set_index(first["case_id"].astype(str)).drop(index=theirs.index)
    pd.testing.assert_frame_equal(got.loc[theirs.index, columns], theirs[columns], check_categorical=False)
    pd.testing.assert_frame_equal(
        got.loc[mine.index, columns], mine[columns], check_categorical=False, check_dtype=False
    )
    assert pd.isna(got.loc[theirs.index[0], "governance"])  # not reported: as the second coder has it

    built = robustness.robustness_table(first, subsample, choices=CLAIMS_CHECK_ONLY)
    assert built.attrs["second_coder_cases"] == len(subsample)
    assert built.loc[built["coding"] == "second", "note"].str.contains(f"{len(subsample)} of {len(first)} cases").all()
    assert built.attrs["second_coding"].endswith(", the first coder's for the cases the second coder did not code")
    checked = claims.evaluate(merged.cases, n_resamples=RESAMPLES)
    pd.testing.assert_series_equal(_column(built, "second / no pooling"), _by_id(checked, "verdict"), check_names=False)
    assert robustness.robustness_summary(built).attrs["second_coder_cases"] == len(subsample)


@pytest.mark.slow
def test_the_second_coding_of_a_full_second_sheet_with_codes_not_reported_is_that_sheet(first, tmp_path):
    """`claims --robustness`'s second / no pooling is `claims --coding <second coder's sheet>`, also where the
    second coder did not report some codes."""

    def edit(raw):
        raw.loc[raw.index[::5], "governance"] = "NR"
        return raw

    gaps = _second_sheet(tmp_path, edit)
    merged = robustness.second_coding(first, gaps)
    columns = [*load_codebook().columns, "leader_driven"]
    pd.testing.assert_frame_equal(merged.cases[columns], gaps[columns], check_categorical=False)
    built = robustness.robustness_table(first, gaps, choices=CLAIMS_CHECK_ONLY)
    checked = claims.evaluate(gaps, n_resamples=RESAMPLES)
    assert (checked["n"] < len(first)).any()  # the codes not reported are left out, as the claims check does
    pd.testing.assert_series_equal(_column(built, "second / no pooling"), _by_id(checked, "verdict"), check_names=False)


def test_a_second_coder_with_cases_the_first_does_not_hold_is_refused(first, second):
    extra = second.head(3).assign(case_id=["X-1", "X-2", "X-3"])
    with pytest.raises(UpgradingError, match="X-1, X-2, X-3"):
        robustness.second_coding(first, extra)


# ---------------------------------------------------------------------------------------------------------
# The summary: a display of sensitivity
# ---------------------------------------------------------------------------------------------------------


def _synthetic(verdicts: dict[str, str], default: str = "consistent", codings=None, undecided=()) -> pd.DataFrame:
    """A table of one claim: `default` everywhere except the specifications named in `verdicts`; those named in
    `undecided` could not decide it (no fit, an unreliable posterior)."""
    specs = robustness_choices.specifications(codings=codings)
    return pd.DataFrame(
        {
            "id": "CLAIM",
            "specification": [s.name for s in specs],
            "coding": [s.coding for s in specs],
            "model": [s.model for s in specs],
            "link": [s.link for s in specs],
            "proportional_odds": [s.proportional_odds for s in specs],
            "missing": [s.missing for s in specs],
            "primary": [s.primary for s in specs],
            "verdict": [verdicts.get(s.name, default) for s in specs],
            "decided": [verdicts.get(s.name, default) != robustness.NOT_APPLICABLE and s.name not in undecided
                        for s in specs],
        }
    )  # fmt: skip


SECOND = [s.name for s in robustness_choices.specifications() if s.coding == "second"]
POOLED = [s.name for s in robustness_choices.specifications() if s.model != "no pooling"]
NOT_LOGIT = [s.name for s in robustness_choices.specifications() if s.link != "logit"]
BOUNDS = [s.name for s in robustness_choices.specifications() if s.missing != COMPLETE]
RELAXED = [s.name for s in robustness_choices.specifications() if s.proportional_odds != "assumed"]


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        ({}, "robust"),
        (dict.fromkeys(SECOND, "inconclusive"), "depends on coding (second)"),
        ({"second / no pooling": "contradicted"}, "depends on coding (second)"),
        (dict.fromkeys(POOLED, robustness.NOT_APPLICABLE), "robust"),
        (dict.fromkeys(POOLED + SECOND + NOT_LOGIT + BOUNDS + RELAXED, robustness.NOT_APPLICABLE),
         "not assessed: only the primary specification decides it"),
        (dict.fromkeys(POOLED, robustness.NOT_APPLICABLE) | {"second / no pooling": "inconclusive"},
         "depends on coding (second)"),
        ({"first / partial pooling x0.5": "inconclusive", "second / partial pooling x0.5": "inconclusive"},
         "depends on model (partial pooling x0.5)"),
        (dict.fromkeys(SECOND, "inconclusive") | {"first / partial pooling x0.5": "inconclusive"},
         "depends on coding (second), model (partial pooling x0.5)"),
        ({"second / partial pooling": "contradicted"},
         "depends on coding (second) together with model (partial pooling)"),
        ({"first / no pooling / cloglog": "inconclusive"}, "depends on link (cloglog)"),
        (dict.fromkeys(NOT_LOGIT, "inconclusive"), "depends on link (probit, cloglog)"),
        ({"second / no pooling / probit": "inconclusive"}, "depends on coding (second) together with link (probit)"),
        ({"first / no pooling / missing at highest": "contradicted"}, "depends on missing (missing at highest)"),
        ({"second / no pooling / relaxed where rejected": "inconclusive"},
         "depends on coding (second) together with proportional_odds (relaxed where rejected)"),
        ({"first / partial pooling x0.5": "inconclusive", "second / no pooling / cloglog": "inconclusive"},
         "depends on model (partial pooling x0.5); coding (second) together with link (cloglog)"),
        ({"second / no pooling / cloglog": "inconclusive", "second / partial pooling": "inconclusive"},
         "depends on coding (second) together with model (partial pooling); coding (second) together with link "
         "(cloglog)"),
    ],
)  # fmt: skip
def test_the_label_names_the_choices_that_change_the_verdict(verdicts, expected):
    table = _synthetic(verdicts)
    assert robustness.robustness_summary(table)["label"].tolist() == [expected]
    shuffled = table.sample(frac=1.0, random_state=3)  # the label does not depend on the rows' order
    assert robustness.robustness_summary(shuffled)["label"].tolist() == [expected]


@pytest.mark.parametrize("order", [1, -1])
def test_a_change_only_two_choices_together_make_names_both_in_either_row_order(order):
    """Second coding with pooling at the declared prior, and second coding with x2, change the verdict; neither
    the second coding nor either prior does alone: both choices are named, with both values, in any row order."""
    table = _synthetic({"second / partial pooling": "inconclusive", "second / partial pooling x2": "inconclusive"})
    label = robustness.robustness_summary(table.iloc[::order])["label"].iloc[0]
    assert label == "depends on coding (second) together with model (partial pooling, partial pooling x2)"


def test_values_that_change_a_verdict_only_in_some_combinations_are_named_combination_by_combination():
    """With a third coding, the second coding changes the verdict only with the x2 prior and the third only with
    the declared prior: naming "coding (second, third) together with model (partial pooling, partial pooling x2)"
    would claim four combinations where two change it, so each is named on its own."""
    table = _synthetic({"second / partial pooling x2": "inconclusive"})
    third = table[table["coding"] == "second"].assign(
        coding="third", specification=lambda t: t["specification"].str.replace("second", "third")
    )
    third["verdict"] = third["specification"].map({"third / partial pooling": "inconclusive"}).fillna("consistent")
    label = robustness.robustness_summary(pd.concat([table, third], ignore_index=True))["label"].iloc[0]
    assert label == (
        "depends on coding (second) together with model (partial pooling x2); "
        "coding (third) together with model (partial pooling)"
    )


def test_a_value_whose_own_specification_could_not_decide_is_not_said_to_change_the_verdict_only_together():
    """ "x together with y" says neither value changes the verdict alone; where y's own specification (the primary
    but for y) could not decide the claim, that is not known, and the label marks y so."""
    undecided = _synthetic({"second / partial pooling": "contradicted"}, undecided=["first / partial pooling"])
    assert robustness.robustness_summary(undecided)["label"].tolist() == [
        "depends on coding (second) together with model (partial pooling; alone: not decided)"
    ]
    decided = _synthetic({"second / partial pooling": "contradicted"})  # both alone decide: only together
    assert robustness.robustness_summary(decided)["label"].tolist() == [
        "depends on coding (second) together with model (partial pooling)"
    ]


def test_cells_that_cannot_decide_are_counted_and_left_out_of_the_label_which_says_how_many_decide():
    """A claim robust where decided, but with cells that could not decide it, says by how many of the other
    specifications that apply to it: "robust" alone would read as robust under all of them."""
    unreliable = [s for s in POOLED if s.startswith("second")]
    table = _synthetic(dict.fromkeys(unreliable, "inconclusive"), undecided=unreliable)
    row = robustness.robustness_summary(table).iloc[0]
    others = len(table) - 1
    label = f"robust (decided by {others - len(unreliable)} of the {others} other specifications)"
    assert (row["label"], row[robustness.NOT_DECIDED]) == (label, len(unreliable))
    assert robustness.is_robust(pd.Series([label, "robust", "depends on link (cloglog)"])).tolist() == [1, 1, 0]
    not_applying = _synthetic(dict.fromkeys(unreliable, robustness.NOT_APPLICABLE))  # left out, not counted
    assert robustness.robustness_summary(not_applying)["label"].iloc[0] == "robust"
    primary_undecided = _synthetic({}, undecided=["first / no pooling"])
    assert robustness.robustness_summary(primary_undecided)["label"].iloc[0].startswith("not assessed")


def test_the_summary_counts_every_verdict_and_ignores_cells_that_cannot_decide(table):
    not_applicable = dict.fromkeys(POOLED + NOT_LOGIT + BOUNDS + RELAXED, robustness.NOT_APPLICABLE)
    synthetic = _synthetic(not_applicable, default="contradicted", codings=["first"])
    row = robustness.robustness_summary(synthetic).iloc[0]
    assert (row["primary_verdict"], row["contradicted"], row["not applicable"], row["label"]) == (
        "contradicted",
        1,
        8,
        "not assessed: only the primary specification decides it",
    )
    summary = robustness.robustness_summary(table)
    assert summary["id"].tolist() == [c.id for c in load_register().claims]
    for _, claim in summary.iterrows():
        cells = table[table["id"] == claim["id"]]
        counts = cells["verdict"].value_counts()
        assert all(claim[v] == counts.get(v, 0) for v in robustness.CELL_VERDICTS)
        decided = cells.loc[cells["decided"].astype(bool), "verdict"]
        if claim["label"].startswith("not assessed"):
            assert len(decided) < 2
        else:
            assert (
                robustness.is_robust(pd.Series([claim["label"]])).iloc[0] == (decided == claim["primary_verdict"]).all()
            )
    with pytest.raises(UpgradingError, match="exactly one"):
        robustness.robustness_summary(_synthetic({}).assign(primary=True))


# ---------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------


def _recording(monkeypatch, table):
    """Replace the table's computation (tested above, on the same sheets) by the module's table, recording the
    sheets the command passes to it: the command line tests test what the command does with it."""
    calls = []

    def recorded(cases, second=None, **options):
        calls.append((cases, second))
        return table if second is not None else table[table["coding"] == "first"].reset_index(drop=True)

    monkeypatch.setattr(robustness, "robustness_table", recorded)
    return calls


def test_cli_robustness_prints_the_summary_and_writes_the_table(tmp_path, table, first, second, monkeypatch, capsys):
    calls = _recording(monkeypatch, table)
    out = tmp_path / "robustness.csv"
    assert main(["claims", "--robustness", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    ((cases, coded_twice),) = calls  # the simulated sheet, and the simulated second coder with it
    assert cases["case_id"].tolist() == first["case_id"].tolist() and coded_twice.equals(second)
    assert "SIMULATED DATA" in printed and "display of sensitivity, not a new test" in printed
    assert f"missing codes: {table.attrs['missing']}" in printed
    written = pd.read_csv(out)
    assert list(written.columns) == ["data", *robustness.COLUMNS]  # the exhibit's columns
    assert (written["data"] == "simulated").all()
    assert written.groupby("id")["primary"].sum().eq(1).all()
    assert len(written) == len(table) and (written["verdict"].to_numpy() == table["verdict"].to_numpy()).all()
    summary = robustness.robustness_summary(table)
    robust = int(robustness.is_robust(summary["label"]).sum())
    assert f"robust: {robust} of {len(summary)} claims" in printed
    assert all(f"{i}" in printed and lab in printed for i, lab in zip(summary["id"], summary["label"]))


def test_cli_robustness_on_a_users_sheet_without_a_second_coder_has_the_first_coding_only(
    tmp_path, table, monkeypatch, capsys
):
    calls = _recording(monkeypatch, table)
    out = tmp_path / "robustness.csv"
    assert main(["claims", "--robustness", "--coding", str(SIMULATED_SHEET), "--out", str(out)]) == 0
    assert calls[0][1] is None  # a user's sheet: no simulated second coder beside it
    assert "no second coder: first coding only" in capsys.readouterr().out
    assert set(pd.read_csv(out)["coding"]) == {"first"}


def test_cli_refuses_a_bad_second_coder_sheet_as_it_refuses_a_bad_coding_sheet(tmp_path, capsys):
    bad = tmp_path / "bad_second_coder.csv"
    frame = pd.read_csv(SECOND_CODER_SHEET)
    frame.loc[3, "product_upgrading"] = 4
    frame.to_csv(bad, index=False)
    assert main(["claims", "--robustness", "--coding", str(SIMULATED_SHEET), "--second-coder", str(bad)]) != 0
    refused = capsys.readouterr().err
    assert "bad_second_coder.csv" in refused
    assert main(["claims", "--coding", str(bad)]) != 0
    as_coding = capsys.readouterr().err
    problems = [line for line in refused.splitlines() if line.startswith("  - ")]
    assert problems and problems == [line for line in as_coding.splitlines() if line.startswith("  - ")]


def test_cli_second_coder_needs_a_first_coding(capsys):
    assert main(["claims", "--robustness", "--second-coder", str(SECOND_CODER_SHEET)]) != 0
    assert "--coding" in capsys.readouterr().err


def test_cli_second_coder_needs_robustness(capsys):
    assert main(["claims", "--second-coder", str(SECOND_CODER_SHEET)]) != 0
    assert "--robustness" in capsys.readouterr().err


def test_a_second_coder_who_coded_a_case_twice_is_refused_by_name(first, second):
    twice = pd.concat([second.head(3), second.iloc[[1]]], ignore_index=True)
    with pytest.raises(UpgradingError, match=str(second["case_id"].iloc[1])):
        robustness.second_coding(first, twice)


def test_cli_reads_the_second_coders_worksheet_of_a_workbook(tmp_path, table, monkeypatch, capsys):
    calls = _recording(monkeypatch, table)
    workbook = tmp_path / "second_coder.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        pd.DataFrame({"note": ["the coding is on the next worksheet"]}).to_excel(writer, sheet_name="readme")
        pd.read_csv(SECOND_CODER_SHEET).to_excel(writer, sheet_name="second coding", index=False)
    args = ["claims", "--robustness", "--coding", str(SIMULATED_SHEET), "--second-coder", str(workbook)]
    assert main([*args, "--second-coder-sheet", "second coding"]) == 0
    assert calls[0][1]["case_id"].tolist() == pd.read_csv(SECOND_CODER_SHEET)["case_id"].tolist()
    capsys.readouterr()
    assert main(["claims", "--robustness", "--second-coder-sheet", "second coding"]) != 0
    assert "--second-coder" in capsys.readouterr().err


def test_the_reading_counts_cells_that_could_not_decide_apart_from_those_that_do_not_apply(table):
    """The summary's `not decided` and the notebook's sentence count the cells whose specification applies but could
    not decide; the specifications that do not apply (pooling for a claim not about one group's slope, proportional
    odds relaxed where not rejected: the two the sentence names, and no other) are counted as such."""
    from upgrading.study import narrative_robustness

    summary = robustness.robustness_summary(table)
    undecided = int((~table["decided"].astype(bool) & (table["verdict"] != robustness.NOT_APPLICABLE)).sum())
    inapplicable = int((table["verdict"] == robustness.NOT_APPLICABLE).sum())
    assert inapplicable > 0 and summary[robustness.NOT_DECIDED].sum() == undecided
    assert summary[robustness.NOT_APPLICABLE].sum() == inapplicable
    text = narrative_robustness.robustness_reading(table, summary, labelled_cases(True))
    assert f"{undecided} cells could not decide their claim" in text
    assert f"and {inapplicable} are specifications that do not apply to theirs" in text
    inapplicable_cells = table[table["verdict"] == robustness.NOT_APPLICABLE]
    pooled = inapplicable_cells["model"].str.startswith("partial pooling")
    unrejected = inapplicable_cells["note"].str.contains("not rejected", regex=False)
    assert (pooled | unrejected).all() and pooled.any() and unrejected.any()
    assert "proportional odds relaxed where the nominal test does not reject it" in text
