"""The sentences the notebooks print: every number in them is read from a result table, never typed.

Each builder takes the table a notebook has just computed and returns Markdown text; a notebook cell displays
it. Keeping them here leaves the notebooks to read as a paper (a sentence of narrative, a call, its result) and
lets tests check the sentences against hand counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from .codebook import load_codebook
from .reasons import reason_of
from .reliability import differences_by_variable
from .settings import ALPHA_TENTATIVE
from .term_words import LEADER_DRIVEN_WORDS
from .wording import percent_of, series


def words(code: str) -> str:
    """A code as prose: `process_upgrading` -> 'process upgrading'; the derived predictor `leader_driven` as
    'leader-driven governance' (its codebook words; 'leader driven' alone named no variable)."""
    return LEADER_DRIVEN_WORDS if code == "leader_driven" else str(code).replace("_", " ")


def span(values: Iterable[float], fmt: str = ".2f", dash: str = "–") -> str:
    """'low–high' of some values as formatted, or one number when both ends print the same."""
    values = pd.Series(list(values), dtype=float)
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return low if low == high else f"{low}{dash}{high}"


def count_span(values: Iterable[int]) -> str:
    """'9 to 18', or '12' when all are equal (e.g. cases per group)."""
    values = [int(v) for v in values]
    return str(min(values)) if min(values) == max(values) else f"{min(values)} to {max(values)}"


def reasons_counted(reasons: Iterable[str]) -> str:
    """'k × reason; ...' for each distinct reason, in first-seen order: the one way a narrative counts reasons."""
    counts = pd.Series(list(reasons), dtype=object).value_counts(sort=False)
    return "; ".join(f"{k} × {reason}" for reason, k in counts.items())


def not_estimable(table: pd.DataFrame, what: str, reason_column: str = "note") -> str:
    """' N <what> cannot be estimated on this sheet (reasons).' for `table`, the rows without a number, or ''. A
    note's complete-case count is not a reason, and is left out."""
    if table.empty:
        return ""
    notes = table[reason_column] if reason_column in table else pd.Series("", index=table.index)
    reasons = notes.fillna("").map(reason_of).replace("", "reason not recorded")
    noun = what[:-1] if len(reasons) == 1 and what.endswith("s") else what
    return f" {len(reasons)} {noun} cannot be estimated on this sheet ({reasons_counted(reasons)})."


def not_read(unread: pd.DataFrame) -> str:
    """' k more group-specific slopes have an estimate that is not read (reasons).' or ''."""
    if unread.empty:
        return ""
    one = len(unread) == 1
    return (
        f" {len(unread)} more group-specific slope{'' if one else 's'} {'has' if one else 'have'} an estimate that "
        f"is not read ({reasons_counted(unread['note'].fillna('').map(reason_of))})."
    )


def whole_models(table: pd.DataFrame) -> pd.Series:
    """The rows of a model table that stand for a whole model that could not be fitted (no predictor: one row per
    form and model, with the reason), not for one of its slopes: a narrative counts them as models, never as
    slopes."""
    if "predictor" not in table:
        return pd.Series(False, index=table.index)
    return table["predictor"].fillna("").astype(str).eq("")


def models_not_fitted(rows: pd.DataFrame, model: str = "by-group", under: str = "") -> str:
    """' For <forms> the <model> model cannot be fitted [under ...] on this sheet (k × reason), so none
    of its slopes is estimated.' for the rows that stand for whole models (`whole_models`; one per form, or per form
    and link), or ''."""
    if rows.empty:
        return ""
    rows = rows.assign(reason=rows["note"].fillna("").map(reason_of).replace("", "reason not recorded"))
    rows = rows.drop_duplicates(["form", "reason"])
    forms = list(dict.fromkeys(rows["form"]))
    one = len(forms) == 1
    return (
        f" For {series(words(f) for f in forms)} the {model} model cannot be fitted"
        + (f" {under}" if under else "")
        + " on this sheet "
        f"({reasons_counted(rows['reason'])}), so none of {'its' if one else 'their'} slopes is estimated."
    )


def on_the_sheet(cases: pd.DataFrame) -> str:
    """How a sentence about simulated data opens: the compendium's own sheet is "the simulated sheet"; a sheet its
    user labels simulated is "this sheet, labelled simulated" (`coding.from_generator`)."""
    return "On the simulated sheet" if cases.attrs.get("generated") else "On this sheet, labelled simulated,"


def simulated_caveat(cases: pd.DataFrame) -> str:
    """The sentence that ends a reading on simulated data: of the compendium's own simulated sheet, that its numbers
    are properties of data generated from the documented assumptions; of a sheet a user labels simulated, only
    that they are not findings (it was not generated here); "" for a real coding."""
    if not cases.attrs.get("simulated"):
        return ""
    if cases.attrs.get("generated"):
        return (
            " On the simulated sheet these are properties of data generated from the documented assumptions, not "
            "findings about Latin American clusters."
        )
    return f" {on_the_sheet(cases)} they are not findings about Latin American clusters."


def shown_rows(shown: int, total: int, written: Sequence[str]) -> str:
    """Where the full table is, for a notebook that displays only part of it."""
    where = " and ".join(f"`{p}`" for p in written) if written else "its exhibit"
    if not shown:
        return f"The full table ({total} rows) is {where}."
    rows = "1 row shown is" if shown == 1 else f"{shown} rows shown are"
    part = f"The {rows} a selection of {total}" if shown < total else f"All {total} rows are shown"
    return f"{part}; the full table is {where}."


# 01 · codebook ---------------------------------------------------------------------------------------------


def codebook_summary(table: pd.DataFrame, likert) -> str:
    """The sheet's columns by block, and the one scale every score uses (`likert`: the codebook's scale)."""
    blocks = table.groupby("block", sort=False)["column"].apply(lambda c: ", ".join(f"`{x}`" for x in c))
    return (
        f"The sheet has **{len(table)} columns** in {len(blocks)} blocks: "
        + "; ".join(f"{block} ({cols})" for block, cols in blocks.items())
        + ". "
        + f"All scores use one scale, {likert.source.split(', ', 1)[1]}. {likert.note}"
    )


def groups_summary(codebook) -> str:
    """How many groups and industries the codebook lists, and what that means for a coding sheet."""
    n_industries = sum(len(g.all_industries) for g in codebook.sectoral_groups)
    return (
        f"The {len(codebook.sectoral_groups)} groups cover {n_industries} industries. A coding sheet may give "
        "a case only an industry listed for its group; a case in another industry needs the codebook extended "
        "first, with its source, so that the extension is visible in review."
    )


# 02 · coding sheet -----------------------------------------------------------------------------------------


def sheet_summary(cases: pd.DataFrame, by_group: pd.DataFrame) -> str:
    """Cases in all and per sectoral group (`by_group`: `descriptives.cases_by_group`), and the codebook's groups
    the sheet has no case of: the descriptive tables leave them out, the models and claims keep their rows."""
    absent = [g for g in load_codebook().group_codes if g not in set(by_group["sectoral_group"].astype(str))]
    missing = (
        f" The sheet has no case of {series(absent)}: the descriptive tables leave "
        f"{'it' if len(absent) == 1 else 'them'} out, and the models and claims keep "
        f"{'its' if len(absent) == 1 else 'their'} rows with that reason."
        if absent
        else ""
    )
    return (
        f"The sheet holds **{len(cases)} cases** in {len(by_group)} sectoral group{'' if len(by_group) == 1 else 's'}: "
        + "; ".join(f"{row.sectoral_group} {row.cases}" for row in by_group.itertuples())
        + "."
        + missing
    )


def mistakes_summary(mistakes) -> str:
    """The mistakes planted in the validation demonstration (`coding.TYPICAL_MISTAKES`)."""
    return (
        f"The copy carries {len(mistakes)} typical mistakes, one per row: "
        + series(f"{m.description} (`{m.column}`)" for m in mistakes)
        + ". The report:"
    )


def missing_summary(
    not_reported: pd.DataFrame, left_out: pd.DataFrame, cases: pd.DataFrame, double_coded: bool = True
) -> str:
    """How much the sheet does not report, per variable and group, and how many cases each form's models use
    (reliability named among the analyses only where there is a second coding, `double_coded`)."""
    if not_reported.empty:
        return (
            f"Every code is reported on this sheet: every analysis uses all {len(cases)} cases (a code a case "
            "study does not report may be left empty or written `NR`; the analyses then use the cases coded on "
            "their variables)."
        )
    overall = not_reported[not_reported["sectoral_group"] == "all"]
    parts = []
    for row in overall.itertuples():
        groups = not_reported[(not_reported["variable"] == row.variable) & (not_reported["sectoral_group"] != "all")]
        where = series(f"{words(g.sectoral_group)} {g.not_reported}" for g in groups.itertuples() if g.not_reported)
        share = percent_of(row.not_reported, row.cases)
        parts.append(f"{words(row.variable)} in {row.not_reported} of {row.cases} cases ({share}; {where})")
    per_form = left_out.groupby("form", sort=False)["case_id"].nunique()
    used = series(f"{words(f)} {len(cases) - int(per_form.get(f, 0))}" for f in load_codebook().upgrading_forms)
    analyses = ["descriptives", *(["reliability"] if double_coded else []), "permutation tests"]
    return (
        "**Not reported**: " + "; ".join(parts) + ". Every analysis uses the cases coded on its variables "
        f"(complete cases): the models of each form, of {len(cases)} cases, use {used} (the cases left out, and "
        f"why, are listed below); {series(analyses)} use, variable by variable, the cases coded on it, and every "
        "table says how many it used."
    )


def reliability_summary(alphas: pd.DataFrame, tentative: float = ALPHA_TENTATIVE) -> str:
    """Range of alpha and of exact agreement, and which variables' intervals reach below `tentative`."""
    lowest = alphas.loc[alphas["alpha"].idxmin()]
    below = alphas.loc[alphas["ci_low"] < tentative, "variable"].tolist()
    return (
        f"Alpha ranges from {alphas['alpha'].min():.2f} ({lowest['variable']}) to {alphas['alpha'].max():.2f}; "
        f"exact agreement from {alphas['exact_agreement'].min():.0%} to {alphas['exact_agreement'].max():.0%}. "
        + (
            (
                f"The interval of {below[0]} reaches below {tentative}, so conclusions resting on it"
                if len(below) == 1
                else f"The intervals of {series(below)} reach below {tentative}, so conclusions resting on them"
            )
            + " should be read with care."
            if below
            else f"Every interval lies above {tentative}."
        )
        + _fewer_pairs(alphas)
    )


def _fewer_pairs(alphas: pd.DataFrame) -> str:
    """Which variables' alpha and agreement rest on fewer pairs than the double-coded cases, or ''."""
    if "not_reported" not in alphas or not (alphas["not_reported"] > 0).any():
        return ""
    fewer = alphas[alphas["not_reported"] > 0]
    pairs = "; ".join(f"{r.variable} {r.pairs} of {r.cases}" for r in fewer.itertuples())
    against = int(fewer["code_vs_not_reported"].sum())
    return (
        f" For {len(fewer)} variable{'s' * (len(fewer) > 1)} a coder did not report a code in some double-coded "
        f"cases, so alpha, agreement and `disagreements` rest on fewer pairs (`pairs`: {pairs}); in {against} of "
        f"those cases the other coder gave a code (`code_vs_not_reported`), listed with the disagreements but not "
        "counted among them."
    )


def disagreements_summary(differences: pd.DataFrame) -> str:
    """How many disagreements over how many cases, and apart from them the codes against 'not reported'
    (`differences`: `reliability.disagreements`)."""
    counts = differences_by_variable(differences).sum()
    differing, against = int(counts.get("disagreements", 0)), int(counts.get("code_vs_not_reported", 0))
    cases = differences["case_id"].nunique()
    if not against:
        return f"{differing} disagreements over {cases} cases."
    return (
        f"{len(differences)} differences over {cases} cases: {differing} disagreement{'s' * (differing != 1)} "
        f'(two codes that differ) and {against} code{"s" * (against != 1)} against "not reported".'
    )


# 03 · descriptives -----------------------------------------------------------------------------------------


def one_group(cases: pd.DataFrame) -> bool:
    """Whether every case of the sheet is in one sectoral group (no other group to compare it with or borrow from)."""
    return "sectoral_group" in cases and cases["sectoral_group"].astype(str).nunique() == 1


def group_sizes(cases: pd.DataFrame) -> str:
    """'9 to 18 cases per group' as counted on the sheet ('15 cases in one sectoral group' on a sheet of one)."""
    sizes = cases["sectoral_group"].astype(str).value_counts()
    if len(sizes) == 1:
        return f"{sizes.iloc[0]} {'case' if sizes.iloc[0] == 1 else 'cases'} in one sectoral group"
    return f"{count_span(sizes)} cases per group"


def sheet_size(cases: pd.DataFrame) -> str:
    """'50 cases, 9 to 18 cases per group', or '18 cases, all in one sectoral group' (not '18 cases, 18 cases in
    one sectoral group')."""
    if cases["sectoral_group"].astype(str).nunique() == 1:
        return f"{len(cases)} {'case' if len(cases) == 1 else 'cases'}, all in one sectoral group"
    return f"{len(cases)} cases, {group_sizes(cases)}"


def _two(value: float) -> str:
    """Two decimals as the notebook's tables show them (`DataFrame.round(2)`: 1.775 is 1.78), not as Python's
    format rounds the binary float (1.77)."""
    return f"{pd.Series([value]).round(2).iloc[0]:.2f}"


def upgrading_summary(upgrading: pd.DataFrame, cases: pd.DataFrame) -> str:
    """Highest and lowest mean score over all cases (`upgrading`: `descriptives.upgrading_by_group`)."""
    overall = upgrading[upgrading["sectoral_group"] == "all"].set_index("form")
    top, bottom = overall["mean"].idxmax(), overall["mean"].idxmin()
    return (
        ("In the simulated sheet, a" if cases.attrs.get("simulated") else "A")
        + f"cross all {len(cases)} cases, {words(top)} has the highest mean score "
        f"({_two(overall.loc[top, 'mean'])}) and {words(bottom)} the lowest ({_two(overall.loc[bottom, 'mean'])})"
        + (
            f" (each mean over the cases coded on that form: {count_span(overall['cases'])})"
            if (overall["cases"] != len(cases)).any()
            else ""
        )
        + ". "
        f"With {group_sizes(cases)}, these are descriptive means, not tests: the ordered-logit models of "
        + (
            "`04_models` put intervals on the relations within that group (with one group on the sheet, no model "
            "compares groups)."
            if one_group(cases)
            else "`04_models` put intervals on differences between groups."
        )
    )


def governance_summary(governance: pd.DataFrame, levels: Sequence[str]) -> str:
    """Empty and sparse group-by-governance cells (`governance`: `descriptives.governance_by_group`). A group none of
    whose cases reports its governance is said to be so, its cells left out of the counts: they are empty because
    the codes are not reported, not because the group lacks a form."""
    silent = governance[governance["cases"] == 0] if "cases" in governance else governance.iloc[:0]
    if len(silent) == len(governance):
        missing = int(silent["not_reported"].sum()) if "not_reported" in silent else 0
        return (
            f"No case on the sheet reports its governance ({missing} not reported), so every group-by-governance "
            "cell is empty and no governance effect can be estimated (the models, claims and tests say so on their "
            "rows)."
        )
    governance = governance.drop(index=silent.index)
    cells = governance.melt(id_vars="sectoral_group", value_vars=list(levels))
    empty = cells[cells["value"] == 0]
    sparse = int(cells["value"].between(1, 2).sum())
    how_many = f"{len(empty)} of the" if len(empty) else "None of the"
    return (
        f"{how_many} {len(cells)} group-by-governance cells {'are' if len(empty) > 1 else 'is'} empty"
        + (f" ({', '.join(f'{r.variable} in {r.sectoral_group}' for r in empty.itertuples())})" if len(empty) else "")
        + f", and {sparse or 'none'} {'hold' if sparse > 1 else 'holds'} only one or two cases. Models that estimate a "
        "governance effect inside each "
        "group therefore use the two-way `leader_driven` contrast, and must watch for separation "
        "(see `04_models`)." + _no_contrast(governance) + _silent_groups(silent)
    )


def _silent_groups(silent: pd.DataFrame) -> str:
    """The groups none of whose cases reports its governance (`governance_summary`), or ''."""
    if silent.empty:
        return ""
    one = len(silent) == 1
    return (
        f" No case in {' or '.join(silent['sectoral_group'])} reports its governance "
        f"({series(map(str, silent['not_reported']))} not reported), so {'its' if one else 'their'} cells, left "
        "out of these counts, are empty for that reason, and no governance effect can be estimated "
        f"{'there' if one else 'in those groups'} (the models, claims and tests say so on their rows)."
    )


def _no_contrast(governance: pd.DataFrame) -> str:
    """The groups in which `leader_driven` does not vary: no governance effect can be estimated inside them."""
    share = governance.set_index("sectoral_group")["share_leader_driven"]
    parts = [
        f"{'every' if value == 1 else 'no'} case in {group} is leader-driven"
        for group, value in share.items()
        if value in (0, 1)
    ]
    if not parts:
        return ""
    return (
        " "
        + series(parts)[0].upper()
        + series(parts)[1:]
        + ", so no governance effect can be estimated "
        + ("there" if len(parts) == 1 else "in those groups")
        + " (the models, claims and tests say so on their rows)."
    )
