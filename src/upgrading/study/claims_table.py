"""The claims check's table for one sheet (notebook 05, `upgrading claims`): each claim's verdicts beside the
numbers a reader checks them against (intervals, odds ratio, p-values, notes) and the within-group permutation
test as a model-free cross-check. The verdicts themselves come from `claims.decisions`, the one decision path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ordinal import DesignFit, association_seed, complete_rows, formula_columns, permutation_association
from .codebook import load_codebook
from .reasons import association_reason, constant_outcome_note, no_cases_reason, study_reason
from .register import Claim, Register
from .settings import KEY_PREDICTORS, PERMUTATION_SEED, PERMUTATIONS

#: Counts of the other groups or governance forms in words, for a claim's note ("against the other three groups").
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
#: Predictors whose claims get the within-group permutation test as a cross-check (0-3 scores and 0/1).
CROSS_CHECKED = (*KEY_PREDICTORS, "joint_actions")
COLUMNS = (
    "id",
    "kind",
    "sectoral_group",
    "outcome",
    "predictor",
    "published_wording",
    "expected",
    "margin",
    "fit",
    "n",
    "estimate",
    "std_error",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "ci90_low",
    "ci90_high",
    "test",
    "p_value",
    "p_consistent",
    "p_consistent_holm",
    "p_contradicted",
    "p_contradicted_holm",
    "verdict",
    "verdict_holm",
    "permutation_tau_b",
    "permutation_p",
    "permutation_method",
    "term",
    "subset",
    "source",
    "note",
)


def verdict_table(
    register: Register,
    data: pd.DataFrame,
    fits: dict,
    decided: pd.DataFrame,
    n_resamples: int | None = None,
    with_cross_check: bool = True,
) -> pd.DataFrame:
    """One row per claim of `register` on one sheet: `decided` (its rows of `claims.decisions_frame`) with the
    intervals of each claim's fit (Wald for maximum likelihood, profile penalised likelihood for a Jeffreys fit),
    notes, and (`with_cross_check`) the permutation cross-check."""
    n_resamples = PERMUTATIONS if n_resamples is None else n_resamples
    intervals = _intervals(register, fits)
    rows = []
    for claim, decision in zip(register.claims, decided.itertuples(index=False)):
        row = _claim_columns(claim)
        fit = fits[claim.fit_key(register.cell_model)][0]
        if decision.fit == "not estimable":
            reason = unestimable_reason(claim, decision.note, fit, data, register)
            rows.append(row | {"fit": "not estimable", "note": reason, "verdict": "inconclusive"})
            continue
        row |= _decided_columns(decision, intervals[claim.id], fit)
        used = _used(claim, data, register)
        constant = (
            constant_outcome_note(
                claim.outcome, used.loc[used["sectoral_group"] == claim.sectoral_group, claim.outcome]
            )
            if claim.formula == "cell"  # a group's slope in the by-group model
            else ""
        )
        row["note"] = "; ".join(n for n in (claim_note(claim, used), constant, *intervals[claim.id][2]) if n)
        row |= cross_check(claim, data, n_resamples) if with_cross_check else {}
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("p_value", "p_consistent", "p_contradicted"):
        if column not in table:
            table[column] = np.nan
    for column in ("p_consistent_holm", "p_contradicted_holm", "verdict_holm"):
        table[column] = decided[column].to_numpy()
    if "n" in table:
        table["n"] = table["n"].astype("Int64")  # a count, also where a claim that cannot be tested has none
    return table.reindex(columns=list(COLUMNS))


def _used(claim: Claim, data: pd.DataFrame, register: Register) -> pd.DataFrame:
    """The cases a claim is decided on: those of its subset with every variable of its model (complete cases)."""
    model = claim.model(register.cell_model)
    subset = data if claim.subset == "all" else data[data["sectoral_group"] == claim.subset]
    return subset[complete_rows(model, subset)]


def unestimable_reason(claim: Claim, note: str, fit, data: pd.DataFrame, register: Register) -> str:
    """Why a claim cannot be tested, in the study's words: a group with no case on the sheet is told from one whose
    cases do not report a variable of the claim's model (complete-case analysis)."""
    model = claim.model(register.cell_model)
    sheet = data[list(dict.fromkeys(["sectoral_group", *formula_columns(model, data)]))]  # before complete cases
    if isinstance(fit, str) and note.startswith("no cases"):  # no case to fit: say whether the sheet has none, or
        return no_cases_reason(claim.subset, sheet)  # which variable none of them reports
    if isinstance(fit, str) and not claim.term.startswith("is_"):  # the whole fit failed: its own reason stands
        return note
    return study_reason(claim.term, note, _used(claim, data, register), claim.outcome, sheet)


def claim_note(claim: Claim, used: pd.DataFrame) -> str:
    """The register's note of a claim with its `{others}` filled from the cases it was decided on (`used`): the
    other sectoral groups (a group indicator) or governance forms (a governance indicator) among them. With all of
    the codebook's others present it reads "the other three groups"; otherwise it names those present, so that a
    sheet without some of them is not told of three."""
    if "{others}" not in claim.note:
        return claim.note
    cb = load_codebook()
    grouped = claim.predictor == "sectoral_group_indicator"
    levels, column = (cb.group_codes, "sectoral_group") if grouped else (cb.governance_levels, "governance")
    kind = "group" if grouped else "form"
    others = [x for x in levels if x != claim.term.removeprefix("is_")]
    present = [x for x in others if (used[column].astype(str) == x).any()]
    if len(present) == len(others):
        return claim.note.format(others=f"the other {NUMBER_WORDS.get(len(others), len(others))} {kind}s")
    names = present[0] if len(present) == 1 else ", ".join(present[:-1]) + " and " + present[-1]
    only = f"the only other {kind}" if len(present) == 1 else f"the only other {kind}s"
    return claim.note.format(others=f"{names}, {only} among the cases used")


def _claim_columns(claim: Claim) -> dict:
    return {
        "id": claim.id,
        "kind": claim.kind,
        "sectoral_group": claim.sectoral_group,
        "outcome": claim.outcome,
        "predictor": claim.predictor,
        "term": claim.term,
        "published_wording": claim.wording,
        "expected": claim.expected,
        "margin": claim.margin,
        "subset": claim.subset,
        "source": claim.source,
    }


def _decided_columns(decision, interval, fit: DesignFit) -> dict:
    ci, ci_equivalence, _ = interval
    return {
        "fit": decision.fit,
        "n": int(decision.n),
        "estimate": float(decision.estimate),
        "std_error": float(decision.std_error),
        "odds_ratio": float(np.exp(decision.estimate)) if fit.fits.batch.link.name == "logit" else np.nan,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "ci90_low": ci_equivalence[0],
        "ci90_high": ci_equivalence[1],
        "test": "penalised likelihood ratio" if fit.penalised else "Wald",
        "p_value": float(decision.p_value),
        "p_consistent": float(decision.p_consistent),
        "p_contradicted": float(decision.p_contradicted),
        "verdict": decision.verdict,
    }


def _intervals(register: Register, fits: dict) -> dict[str, tuple]:
    """{claim id: (1 - alpha interval, 1 - equivalence_alpha interval, notes)} of each claim decided on a fit: the
    fit's Wald intervals (maximum likelihood) or profile penalised-likelihood intervals (Jeffreys), every claim
    term of a fit profiled in one batch per level."""
    levels = register.levels
    by_key: dict = {}
    for claim in register.claims:
        by_key.setdefault(claim.fit_key(register.cell_model), []).append(claim)
    out = {}
    for key, claims in by_key.items():
        fit = fits[key][0]
        if isinstance(fit, str):
            continue
        results = fit.results()
        terms = [c.term for c in claims if c.term in results.design.names]
        interval = results.profile_conf_int if fit.penalised else results.conf_int
        ci = interval(levels.alpha, terms) if terms else None
        ci_equivalence = interval(levels.equivalence_alpha, terms) if terms else None
        for claim in claims:
            if claim.term not in terms:
                continue
            notes = _interval_notes(results, claim.term, levels) if fit.penalised else ()
            out[claim.id] = (tuple(ci.loc[claim.term]), tuple(ci_equivalence.loc[claim.term]), notes)
    return out


def _interval_notes(results, term: str, levels) -> tuple[str, ...]:
    """Why a profile interval of `term` has no number at an end: each reason once, naming the intervals (95%, 90%)
    it holds for, so that a note does not repeat itself or leave the reader to guess which interval it means."""
    found: dict[str, list[str]] = {}
    for alpha in (levels.alpha, levels.equivalence_alpha):
        if note := results.interval_note(term, alpha):
            found.setdefault(note, []).append(f"{1 - alpha:.0%}")
    return tuple(
        f"{note} ({' and '.join(which)} interval{'s' if len(which) > 1 else ''})" for note, which in found.items()
    )


def cross_check(claim: Claim, data: pd.DataFrame, n_resamples: int) -> dict:
    """Kendall's tau-b between the claim's predictor and outcome within its sectoral group, with its permutation
    p-value (exact where enumerable), for claims on a 0-3 or 0/1 predictor whose group has cases: the test of
    notebook 04's exact-tests table (on the cases with both codes), with the same Monte Carlo draws where any are
    needed."""
    groups = data["sectoral_group"].astype(str)
    if claim.predictor not in CROSS_CHECKED or claim.sectoral_group not in set(groups):
        return {}
    group = data.loc[groups == claim.sectoral_group, [claim.predictor, claim.outcome]].dropna()
    seed = association_seed(PERMUTATION_SEED, claim.sectoral_group, claim.outcome, claim.predictor)
    exact = permutation_association(group[claim.predictor], group[claim.outcome], n_resamples, seed=seed)
    return {
        "permutation_tau_b": exact["tau_b"],
        "permutation_p": exact["p_value"],  # P(|T| >= |t|): exact, or Monte Carlo as the method says
        "permutation_method": association_reason(exact["reason"], claim.predictor) or exact["method"],
    }
