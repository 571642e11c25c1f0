"""Why a number is missing, in the study's words: the reasons the tables' `note` columns give (no cases in a group,
a variable not reported in any of its cases, one case, a constant predictor or outcome), the complete-case count
every row of a complete-case analysis carries, and how the two are told apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ordinal.design import NO_VARIANCE
from .codebook import load_codebook
from .term_words import collinear_words, parse_term, term_words

#: Why a group's term or test has no number when the sheet has no case of the group.
NO_CASES = "no cases in this group"


#: How a table's note begins the part that says how many cases a complete-case analysis used.
COMPLETE_CASES = "complete cases: "


def complete_cases_note(used: int, cases: int) -> str:
    """How many cases a complete-case analysis used ('' when it used them all)."""
    if used == cases:
        return ""
    return f"{COMPLETE_CASES}{used} of {cases} ({cases - used} with a variable not reported)"


def reason_of(note: str) -> str:
    """A row's note without its complete-case count (`add_note` joins the two with '; '): why a number is
    missing, or ''."""
    return "; ".join(part for part in str(note).split("; ") if part and not part.startswith(COMPLETE_CASES))


def coded_variable(column: str) -> str:
    """The coded variable a model's column is made from, to name what a case does not report: the codebook's
    sources of a column derived from the sheet (`[derived.leader_driven]`: governance), governance for the textual
    claims' governance-form indicators (`is_<form>`); a column of the sheet is itself."""
    cb = load_codebook()
    if column in cb.columns:
        return column
    if column in cb.derived:
        return " and ".join(cb.derived[column]["from"])
    if column.startswith("is_") and column[3:] in cb.governance_levels:
        return "governance"
    return column


def no_cases_reason(group: str, sheet: pd.DataFrame | None) -> str:
    """Why an analysis has no case of `group` ("all": of the sheet): the sheet has none ("no cases in this group"),
    or none of the group's cases on the sheet has every one of `sheet`'s columns coded (complete-case analysis),
    naming the columns none of them reports. `sheet`: the sheet's cases before complete cases were taken, on the
    analysis's columns (None: the sheet is not known, and the group is said to have no cases)."""
    every = group == "all"
    members = None if sheet is None else sheet if every else sheet[sheet["sectoral_group"].astype(str) == group]
    if members is None or members.empty:
        return NO_CASES
    whose = "the sheet's" if every else "this group's"
    where = f"{whose} one case" if len(members) == 1 else f"any of {whose} {len(members)} cases"
    silent = dict.fromkeys(coded_variable(c) for c in members if members[c].isna().all())
    if silent:
        return f"{' and '.join(silent)} not reported in {where}"
    of = "on the sheet" if every else "of this group"
    return f"no case {of} has every variable of the model coded ({len(members)} on the sheet)"


def study_reason(
    term: str, reason: str, cases: pd.DataFrame, form: str | None = None, sheet: pd.DataFrame | None = None
) -> str:
    """The estimator's reason for leaving a term out, in the study's words where the term is a group's, and a
    collinear term in plain words (`collinear_words`; `form`: the model's form of upgrading, named if given).
    `cases`: the cases the model used; `sheet`: the sheet's cases on the model's columns before complete cases were
    taken, to tell a group with no case on the sheet from one whose cases do not report a variable of the model."""
    group, predictor = parse_term(term)
    if group == "all" and predictor.startswith("sectoral_group:"):  # a group's shift
        shifted = predictor.split(":", 1)[1]
        if not (cases["sectoral_group"].astype(str) == shifted).any():
            return no_cases_reason(shifted, sheet)
    if group == "all" and term.startswith("is_") and term[3:] in load_codebook().group_codes:
        size = int((cases["sectoral_group"].astype(str) == term[3:]).sum())  # a group against the others
        if size == 0:
            return no_cases_reason(term[3:], sheet)
        if size == len(cases):
            return "every case is in this group: no other group to compare it with"
    if group == "all" and reason.startswith(NO_VARIANCE):  # name what does not vary (the reason names no column)
        return f"{term_words(term)} does not vary ({reason[len(NO_VARIANCE) :]}"
    if group == "all":
        return collinear_words(term, reason, cases, form)
    size = int((cases["sectoral_group"].astype(str) == group).sum())
    if size == 0:
        return no_cases_reason(group, sheet)
    if size == 1:
        members = 0 if sheet is None else int((sheet["sectoral_group"].astype(str) == group).sum())
        if members > 1:  # the others do not report a variable of the model
            return f"one case of this group has every variable of the model coded ({members} on the sheet)"
        return "one case in this group"
    if predictor in cases and cases.loc[cases["sectoral_group"].astype(str) == group, predictor].nunique() == 1:
        return f"{predictor} constant in the group"
    return collinear_words(term, reason, cases, form)


def constant_outcome_note(form: str, outcome: pd.Series) -> str:
    """Where every case of a group is at one level of `form` (`outcome`: the group's codes in the fit), the note of
    its slopes: they rest on no variation of the group's own outcome (the permutation test has none to test); ''
    otherwise."""
    levels = outcome.dropna().unique()
    if len(levels) != 1:
        return ""
    return (
        f"{form} constant in the group (every case at {int(levels[0])}): the slope rests on no variation of the "
        "group's own outcome"
    )


def association_reason(reason: str, predictor: str) -> str:
    """A permutation test's reason in the study's words: x is the predictor, y the form of upgrading."""
    if reason == "undefined: y has no variance":
        return "outcome constant in the group"
    if reason == "undefined: x has no variance":
        return f"{predictor} constant in the group"
    return reason


def add_note(table: pd.DataFrame, note: str) -> pd.DataFrame:
    """`note` appended to every row's `note` ('; ' between), where it is not empty."""
    if not note:
        return table
    current = table["note"].fillna("").astype(str) if "note" in table else pd.Series("", index=table.index)
    table["note"] = np.where(current == "", note, current + "; " + note)
    return table
