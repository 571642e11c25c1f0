"""Model terms and the estimator's reasons about them in the study's words: a term's group and predictor
(`parse_term`), and a 'collinear with <column names>' reason as a sentence naming the form, the group and the
predictors (`collinear_words`), for the tables' notes, the figures and the narrative."""

from __future__ import annotations

import re

import pandas as pd

from .codebook import load_codebook


def parse_term(term: str) -> tuple[str, str]:
    """(sectoral group or 'all', predictor) of a model term, e.g. C(sectoral_group)[x]:leader_driven."""
    m = re.fullmatch(r"C\(sectoral_group\)\[(?:T\.)?([^\]]+)\]:(\w+)", term)
    if m:
        return m.group(1), m.group(2)
    m = re.fullmatch(r"C\((\w+)\)\[(?:T\.)?([^\]]+)\]", term)
    if m:
        return ("all", f"{m.group(1)}:{m.group(2)}")
    return "all", term


#: The derived predictor leader_driven in words (the codebook derives it; it has no label of its own).
LEADER_DRIVEN_WORDS = "leader-driven governance"

#: How the estimator begins the reason of a column that is a combination of the thresholds and earlier columns.
COLLINEAR = "collinear with "


def collinear_words(term: str, reason: str, cases: pd.DataFrame, form: str | None = None) -> str:
    """A 'collinear with <column names>' reason in words naming the form, the group and the predictors, e.g. 'on
    process upgrading, leader-driven governance moves with collective efficiency in the 5 complete cases of
    complex product systems' (`cases`: the model's; the group's shift is implied by 'cases of'); other reasons
    unchanged."""
    if not reason.startswith(COLLINEAR):
        return reason
    group, predictor = parse_term(term)
    partners = [] if reason == COLLINEAR + "the thresholds" else reason[len(COLLINEAR) :].split(", ")
    named, columns = [], [form, predictor]
    for partner in partners:
        other, variable = parse_term(partner)
        if group != "all" and other == "all" and variable == f"sectoral_group:{group}":
            continue  # the group's own shift: 'in the cases of the group' says it
        named.append(predictor_words(variable) if other == group else term_words(partner))
        columns.append(variable)
    used = cases[[c for c in columns if c in cases]].notna().all(axis=1)
    if group != "all":
        used &= cases["sectoral_group"].astype(str) == group
    subject = predictor_words(predictor) if group != "all" else term_words(term)
    verb = "moves with " + " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
    where = f"in the {int(used.sum())} complete cases" + (f" of {group_words(group)}" if group != "all" else "")
    on = f"on {form_words(form)}, " if form else ""
    return f"{on}{subject} {verb if named else 'does not vary'} {where}"


def reference_notes(terms, reasons: dict, data: pd.DataFrame) -> dict[str, str]:
    """{term: note} for the estimated levels of a factor whose reference level (the codebook's first) has no case
    among a fit's cases (`data`): such a level is measured against the level the estimator left out as collinear
    with the thresholds, not against the reference that the term's name implies (`reasons`: the left-out terms)."""
    cb = load_codebook()
    notes = {}
    for factor, levels in (("sectoral_group", cb.group_codes), ("governance", cb.governance_levels)):
        if factor not in data or (data[factor].astype(str) == levels[0]).any():
            continue
        own = {}  # this factor's level terms (a group's shift, a form of governance) and their levels
        for term in terms:
            group, predictor = parse_term(term)
            if group == "all" and predictor.startswith(f"{factor}:"):
                own[term] = predictor.split(":", 1)[1]
        instead = [
            level for term, level in own.items() if term in reasons and (data[factor].astype(str) == level).any()
        ]
        if len(instead) != 1:
            continue
        against, reference = (predictor_words(f"{factor}:{level}") for level in (instead[0], levels[0]))
        for term in own:
            if term not in reasons:
                notes[term] = (
                    f"measured against {against}, not against the reference {reference}, which has no case in this fit"
                )
    return notes


def group_words(code: str) -> str:
    """A sectoral group as prose: its label, lower case ('complex product systems')."""
    label = load_codebook().group(code).label
    return label[:1].lower() + label[1:]


def form_words(form: str) -> str:
    """A form of upgrading as prose: 'process upgrading'."""
    return load_codebook().variable(form).label.lower()


def predictor_words(name: str) -> str:
    """A predictor as prose: its codebook label, lower case; leader_driven (derived) 'leader-driven governance', a
    claim's indicator of a form of governance (is_market) 'market governance'."""
    if name == "leader_driven":
        return LEADER_DRIVEN_WORDS
    variable, _, level = name.partition(":")
    cb = load_codebook()
    governance = {c.code: c.label.lower() for c in cb.variable("governance").categories}
    if name.startswith("is_") and name[3:] in governance:  # a claim's indicator of one form of governance
        return f"{governance[name[3:]]} governance"
    if variable in cb.columns:
        label = cb.variable(variable).label.lower()
        if level:
            categories = {c.code: c.label.lower() for c in cb.variable(variable).categories}
            return f"{label} {categories.get(level, level.replace('_', ' '))}"
        return label
    return name.replace("_", " ").replace(":", " ")


def term_words(term: str) -> str:
    """A model term as prose: a group's slope 'collective efficiency in specialised suppliers', a group's shift
    'being in specialised suppliers', a pooled term its predictor's words."""
    group, predictor = parse_term(term)
    if group != "all":
        return f"{predictor_words(predictor)} in {group_words(group)}"
    if predictor.startswith("sectoral_group:"):
        return f"being in {group_words(predictor.split(':', 1)[1])}"
    return predictor_words(predictor)
