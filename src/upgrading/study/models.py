"""The study's models, end to end: for each form of upgrading, a pooled model and a model with a
collective-efficiency and a leader-driven slope per sectoral group; ML with a separation check, the
Jeffreys-penalised fit reported wherever ML is separated; tidy estimates, diagnostics, leave-one-out ranges and
within-group permutation tests (exact where enumerable).

Any sheet that validates runs: terms that cannot be estimated on it (a group with no cases or one case, a
predictor constant within a group) are left out of the fit and keep their row with the reason, and a model that
cannot be fitted at all (an outcome with one observed level) keeps one row saying why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UpgradingError
from ..ordinal import (
    CumulativeLink,
    CumulativeLinkResults,
    brant_test,
    complete_rows,
    formula_columns,
    group_association_tests,
    leave_one_out,
)
from ..ordinal.interpretation import nominal_refit
from .codebook import load_codebook
from .reasons import (
    NO_CASES,
    add_note,
    association_reason,
    complete_cases_note,
    constant_outcome_note,
    no_cases_reason,
    study_reason,
)
from .settings import KEY_PREDICTORS, PERMUTATION_SEED, PERMUTATIONS
from .term_words import parse_term, reference_notes

MODELS = {
    "pooled": "{form} ~ collective_efficiency + C(governance) + C(sectoral_group)",
    "by_group": "{form} ~ C(sectoral_group) + C(sectoral_group):collective_efficiency"
    " + C(sectoral_group):leader_driven",
    # one collective-efficiency and one leader-driven slope for every group, a shift per group: complete pooling,
    # the tau -> 0 limit of the partially pooled model (`study.pooling`, notebook 04's pooling comparison)
    "complete_pooling": "{form} ~ C(sectoral_group) + collective_efficiency + leader_driven",
}
#: the models of notebook 04's estimates, diagnostics and leave-one-out tables
TABLE_MODELS = ("pooled", "by_group")
REPORTED_LABELS = {False: "ml", True: "jeffreys"}


def formula(model: str, form: str) -> str:
    """The formula of one of the study's models (`MODELS`) for one form of upgrading. The only place the
    formulas are written: notebook 04's tables, the claims register's table cells (`cell_model`) and the design
    analysis all use them."""
    return MODELS[model].format(form=form)


@dataclass
class ModelFit:
    """The ML and the Jeffreys-penalised fit of one model of one form, or why the model could not be fitted."""

    form: str
    model: str
    ml: CumulativeLinkResults | None
    jeffreys: CumulativeLinkResults | None
    reasons: dict[str, str]  # term -> why it is not estimated on this sheet
    error: str = ""
    left_out: tuple[str, ...] = ()  # case ids without one of the model's variables (complete-case analysis)
    cases: int = 0  # cases of the sheet

    @property
    def cases_used(self) -> int:
        return self.cases - len(self.left_out)

    @property
    def complete_note(self) -> str:
        """'' when every case has the model's variables, else how many it used."""
        return complete_cases_note(self.cases_used, self.cases)

    @property
    def estimated(self) -> bool:
        return self.ml is not None

    @property
    def separated(self) -> bool:
        return self.estimated and self.ml.separation.separated

    @property
    def reported(self) -> CumulativeLinkResults | None:
        """The fit the compendium reports: ML, or the Jeffreys-penalised fit where ML does not exist."""
        return self.jeffreys if self.separated else self.ml

    @property
    def reported_label(self) -> str:
        return REPORTED_LABELS[self.separated] if self.estimated else "not estimable"


def fit_models(cases: pd.DataFrame, forms=None, models=TABLE_MODELS, link: str = "logit") -> list[ModelFit]:
    """ML and Jeffreys-penalised fits of each of `models` (default: notebook 04's tables' models) for every form
    of upgrading, on any valid sheet; with the logit link (the study's model) or another of R clm's links. Each
    model uses the cases that have all its variables coded (complete-case analysis); `left_out` names the others."""
    forms = forms or load_codebook().upgrading_forms
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation is reported in the tables, not as warnings
        for form in forms:
            for model in models:
                fits.append(_fit_model(cases, form, model, link))
    return fits


def _fit_model(cases: pd.DataFrame, form: str, model: str, link: str) -> ModelFit:
    text = formula(model, form)
    used = complete_rows(text, cases)
    data = cases[used]
    sheet = {"left_out": tuple(cases.loc[~used, "case_id"].astype(str)), "cases": len(cases)}
    sheet_columns = cases[formula_columns(text, cases)]  # the sheet before complete cases, for the reasons
    try:
        ordinal_model = CumulativeLink.from_formula(text, data, aliased="drop", link=link)
    except UpgradingError as error:  # no complete case on a sheet with cases: name the variable none reports
        why = no_cases_reason("all", sheet_columns) if data.empty and len(cases) else str(error)
        return ModelFit(form, model, None, None, {}, f"not estimable: {why}", **sheet)
    reasons = {
        term: study_reason(term, why, data, form, sheet_columns) for term, why in ordinal_model.design.aliased.items()
    }
    ml, jeffreys = ordinal_model.fit(warn=False), ordinal_model.fit("jeffreys", warn=False)
    return ModelFit(form, model, ml, jeffreys, reasons, **sheet)


def _split_terms(table: pd.DataFrame, at: int = 3) -> None:
    parts = table["term"].map(parse_term)
    table.insert(at, "sectoral_group", [p[0] for p in parts])
    table.insert(at + 1, "predictor", [p[1] for p in parts])


#: The numeric columns of an estimates row, empty (with the reason in `note`) where the model is not estimable.
ESTIMATE_NUMBERS = (
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "conf_low",
    "conf_high",
    "odds_ratio",
    "or_conf_low",
    "or_conf_high",
)


def estimates_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Tidy estimates of the reported fits, with the term split into sectoral group and predictor; a term or
    model that cannot be estimated keeps a row whose `note` says why."""
    tables = []
    for fit in fits:
        if not fit.estimated:
            table = pd.DataFrame(
                {"term": [""], **{column: [np.nan] for column in ESTIMATE_NUMBERS}, "method": ["not estimable"]}
            ).assign(note=fit.error)
        else:
            table = fit.reported.tidy()
            left_out = table["term"].isin(fit.reasons)
            table.loc[left_out, "note"] = table["term"].map(fit.reasons)
            constant = pd.Series(_constant_outcome_notes(fit, table["term"]), dtype=object)
            one_level = table["term"].isin(constant.index)  # an estimated slope of a group whose outcome is one level
            table.loc[one_level, "note"] = table.loc[one_level, "term"].map(constant)
            against = pd.Series(reference_notes(table["term"], fit.reasons, fit.reported.model.data), dtype=object)
            shifted = table["term"].isin(against.index)  # a level measured against another than the reference
            table.loc[shifted, "note"] = table.loc[shifted, "term"].map(against)
            # a term the fit left out has no estimate, interval or test: its row says so, as claims_verdicts' does
            table.loc[left_out & table["estimate"].isna(), ["method", "interval", "test"]] = "not estimable"
            if not fit.reported.converged:  # never a quietly wrong estimate (the reported fit: ML or Jeffreys)
                unflagged = table["note"].fillna("") == ""
                table.loc[unflagged, "note"] = f"the {fit.reported_label} fit did not converge: estimate unreliable"
        table.insert(0, "model", fit.model)
        table.insert(0, "form", fit.form)
        _split_terms(table)
        table["ml_separated"] = fit.separated
        tables.append(add_note(table, fit.complete_note))
    return pd.concat(tables, ignore_index=True)


def _constant_outcome_notes(fit: ModelFit, terms: pd.Series) -> dict[str, str]:
    """{term: note} for the estimated key slopes of groups whose outcome is one level among the fit's cases."""
    data = fit.reported.model.data
    groups = data["sectoral_group"].astype(str)
    notes = {}
    for term in terms:
        group, predictor = parse_term(term)
        if group != "all" and predictor in KEY_PREDICTORS and term not in fit.reasons:
            notes[term] = constant_outcome_note(fit.form, data.loc[groups == group, fit.form])
    return {term: note for term, note in notes.items() if note}


#: The diagnostics table's columns, in order, whether or not any model could be estimated.
DIAGNOSTICS_COLUMNS = (
    "form", "model", "cases", "slopes", "ml_separated", "separated_terms", "reported",
    "brant_chi2", "brant_df", "brant_p", "brant_note",
    *(f"nominal_{predictor}_{part}" for predictor in KEY_PREDICTORS for part in ("lr", "df", "p", "note")),
    "ml_hessian_condition", "ml_converged", "jeffreys_converged", "max_abs_jeffreys_minus_ml", "note",
)  # fmt: skip


def diagnostics_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Per model: separation, Brant test, the nominal test of each key predictor, Hessian condition, convergence,
    and how far the penalty moves ML."""
    rows = []
    for fit in fits:
        if not fit.estimated:
            rows.append(
                {"form": fit.form, "model": fit.model, "reported": fit.reported_label, "note": fit.error}
                | {f"nominal_{predictor}_note": "model not estimable" for predictor in KEY_PREDICTORS}
            )
            continue
        brant_rows = brant_test(fit.ml)
        brant = brant_rows[brant_rows["scope"] == "omnibus"].iloc[0]
        finite = np.isfinite(fit.ml.slopes.to_numpy())
        shift = np.abs(fit.jeffreys.slopes.to_numpy() - fit.ml.slopes.to_numpy())[finite]
        left_out = "; ".join(f"{term}: {why}" for term, why in fit.reasons.items())
        rows.append(
            {
                "form": fit.form,
                "model": fit.model,
                "cases": int(fit.ml.nobs),
                "slopes": len(fit.ml.slopes),
                "ml_separated": fit.separated,
                "separated_terms": "; ".join(t for t in fit.ml.separation.terms if not t.startswith("threshold")),
                "reported": fit.reported_label,
                "brant_chi2": brant["chi2"],
                "brant_df": int(brant["df"]),
                "brant_p": brant["p_value"],
                "brant_note": brant["note"],
                **nominal_columns(fit),
                "ml_hessian_condition": fit.ml.hessian_condition,
                "ml_converged": fit.ml.converged,
                "jeffreys_converged": fit.jeffreys.converged,
                "max_abs_jeffreys_minus_ml": float(shift.max()) if shift.size else np.nan,
                "note": "; ".join(n for n in (f"left out: {left_out}" if left_out else "", fit.complete_note) if n),
            }
        )
    table = pd.DataFrame(rows).reindex(columns=DIAGNOSTICS_COLUMNS)
    for predictor in KEY_PREDICTORS:
        if f"nominal_{predictor}_df" in table:
            table[f"nominal_{predictor}_df"] = table[f"nominal_{predictor}_df"].astype("Int64")
    return table


def _key_term(fit: ModelFit, predictor: str) -> str | None:
    """The model term that carries `predictor`'s slope(s) (None if the model has none)."""
    terms = fit.ml.design.design_info.term_names
    return next((t for t in terms if predictor in t.split(":") or t == predictor), None)


def nominal_columns(fit: ModelFit) -> dict:
    """For the diagnostics table: each key predictor's nominal test (LR statistic, df, p, note) on the ML fit."""
    out = {}
    for predictor in KEY_PREDICTORS:
        term = _key_term(fit, predictor)
        row = {"lr_stat": np.nan, "df": pd.NA, "p_value": np.nan, "note": "not in this model"}
        if term is not None:
            try:
                row = fit.ml.nominal_test([term]).iloc[0].to_dict()
            except UpgradingError as error:
                row["note"] = str(error)
        out |= {
            f"nominal_{predictor}_lr": row["lr_stat"],
            f"nominal_{predictor}_df": row["df"],
            f"nominal_{predictor}_p": row["p_value"],
            f"nominal_{predictor}_note": row["note"],
        }
    return out


def partial_proportional_odds(fits: list[ModelFit], diagnostics: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Where a key predictor's nominal test rejects proportional odds at `alpha`: the ML fit with that predictor's
    term nominal, as the predictor's slope at each threshold (minus its threshold-specific effect, so that it reads
    as the proportional-odds slope does). Keyed by (form, model, predictor)."""
    by_model = {(fit.form, fit.model): fit for fit in fits}
    out = {}
    for row in diagnostics.itertuples():
        for predictor in KEY_PREDICTORS:
            p_value = getattr(row, f"nominal_{predictor}_p", np.nan)
            if pd.isna(p_value) or p_value >= alpha:
                continue
            fit = by_model[(row.form, row.model)]
            nominal, _ = nominal_refit(fit.ml, [_key_term(fit, predictor)])
            names = nominal.model.design.nominal_parameter_names
            out[(row.form, row.model, predictor)] = -nominal.params[names]
    return out


#: The numeric columns of a leave-one-out row, empty (with the reason in `note`) where the model is not estimable.
LOO_NUMBERS = ("estimate", "loo_min", "loo_max", "refits", "refits_failed")


def _untested_cases(term: str, fit: ModelFit, left_out: np.ndarray) -> str:
    """Where a slope's range leaves out only some of the cases that inform it (a group's slope: the group's cases;
    a slope of all groups: every case), the refits without the others skipped, how many: the range says nothing
    about a case it never left out."""
    group = parse_term(term)[0]
    data = fit.reported.model.data
    own = np.ones(len(data), dtype=bool) if group == "all" else (data["sectoral_group"].astype(str) == group).to_numpy()
    cases, refitted = int(own.sum()), int(own[left_out].sum())
    if refitted == cases:
        return ""
    whose = "the" if group == "all" else "this group's"
    if not refitted:
        return (
            f"the range leaves out none of {whose} {cases} cases (their refits skipped): it says nothing about "
            "their influence"
        )
    return (
        f"the range leaves out only {refitted} of {whose} {cases} cases (the refits without the other "
        f"{cases - refitted} skipped)"
    )


#: The note of a leave-one-out range with an infinite end.
SEPARATED_REFIT = "without one of its cases the data are separated: that refit's maximum-likelihood slope is infinite"


def leave_one_out_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Range of every key slope of the reported fits when each case is left out in turn."""
    tables = []
    for fit in fits:
        if not fit.estimated:
            table = pd.DataFrame({"term": [""], **{column: [np.nan] for column in LOO_NUMBERS}, "skipped": [""]})
            table["note"] = fit.error
        else:
            table = leave_one_out(fit.reported)
            table["note"] = np.where(table["refits"] == 0, "no refit could be estimated (" + table["skipped"] + ")", "")
            left_out = table.attrs.pop("left_out")
            table["note"] = [
                note or _untested_cases(term, fit, left_out) for note, term in zip(table["note"], table["term"])
            ]
            infinite = np.isinf(table["loo_min"].astype(float)) | np.isinf(table["loo_max"].astype(float))
            table.loc[infinite] = add_note(table.loc[infinite].copy(), SEPARATED_REFIT)
            if fit.reasons:
                table = pd.concat(
                    [table, pd.DataFrame({"term": list(fit.reasons), "note": list(fit.reasons.values())})],
                    ignore_index=True,
                )
        table.insert(0, "reported", fit.reported_label)
        table.insert(0, "model", fit.model)
        table.insert(0, "form", fit.form)
        parts = table["term"].map(parse_term)
        table["sectoral_group"] = [p[0] for p in parts]
        table["predictor"] = [p[1] for p in parts]
        kept = table[table["predictor"].isin(KEY_PREDICTORS) | (table["term"] == "")].copy()
        tables.append(add_note(kept, fit.complete_note))
    table = pd.concat(tables, ignore_index=True)
    return table.astype({"refits": "Int64", "refits_failed": "Int64"})  # counts, also beside a slope without any


def exact_tests_table(
    cases: pd.DataFrame, n_resamples: int = PERMUTATIONS, seed: int = PERMUTATION_SEED
) -> pd.DataFrame:
    """Within each sectoral group, permutation tests of each form with collective efficiency and with
    leader-driven governance (Kendall's tau-b, x fixed and the form permuted).

    Exact: every distinct arrangement of the form's scores is counted (`arrangements`), so `method` reads
    "exact (N distinct arrangements)"; only a group too large to enumerate would get `n_resamples` seeded
    Monte Carlo draws, labelled with their number and MC standard error (`draws`, `mc_se`). `p_value` is
    two-sided as P(|T| >= |t|); `p_two_sided_doubled` = min(1, 2 min(p_ge, p_le)) differs from it under ties.
    A test that cannot be computed has NaNs and a `reason`.
    """
    cb = load_codebook()
    table = group_association_tests(cases, cb.upgrading_forms, KEY_PREDICTORS, "sectoral_group", n_resamples, seed)
    if not table["missing"].any():  # `missing`: cases of the group without both codes, shown only where there are
        table = table.drop(columns="missing")
    present = set(cases["sectoral_group"].astype(str))
    absent = [
        {
            "sectoral_group": g,
            "outcome": form,
            "predictor": predictor,
            "n": 0,
            "method": "not computed",
            "reason": NO_CASES,
        }
        for g in cb.group_codes
        if g not in present
        for form in cb.upgrading_forms
        for predictor in KEY_PREDICTORS
    ]
    if absent:
        table = pd.concat([table, pd.DataFrame(absent)], ignore_index=True)
    table["reason"] = [  # in the study's words
        no_cases_reason(g, cases[["sectoral_group", form, pred]])
        if r.startswith("no cases")  # none on the sheet, or none with both codes
        else association_reason(r, pred)
        for r, g, form, pred in zip(table["reason"], table["sectoral_group"], table["outcome"], table["predictor"])
    ]
    for column in ("n", "arrangements", "draws"):  # counts: integers also beside a test without them (NaN)
        if column in table and pd.to_numeric(table[column]).fillna(0).abs().max() < 2**62:
            table[column] = pd.to_numeric(table[column]).astype("Int64")
    order = {g: k for k, g in enumerate(cb.group_codes)}
    return table.sort_values("sectoral_group", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
