"""The sentences of notebook 06 (robustness of verdicts): every number in them is read from the robustness table
and its summary, never typed, and simulated data are said to be simulated."""

from __future__ import annotations

import pandas as pd

from .power_rates import NO_CASES
from .robustness import NOT_APPLICABLE, NOT_DECIDED, SENSITIVITY, is_robust
from .robustness_choices import CHOICE_COLUMNS, Choices
from .verdicts import DECISIVE
from .wording import sentence


def choices_table(choices: Choices) -> pd.DataFrame:
    """The declared choices, one row per value: choice, value, whether it is the primary one, and its reason."""
    rows = [
        {
            "choice": kind,
            "value": c.name,
            "primary": c.name == choices.primary[kind],
            "reason": " ".join(c.reason.split()),
        }
        for kind in CHOICE_COLUMNS
        for c in getattr(choices, kind)
    ]
    return pd.DataFrame(rows)


def codings_note(table: pd.DataFrame) -> str:
    """The codings behind the robustness table, as sentences for its exhibit's note: each coding's codes not
    reported, and how many cases hold the second coder's codes."""
    second = table.attrs.get("second_coding", "no second coder: the first coding only")
    return " ".join(sentence(part) + "." for part in (table.attrs["missing"], second))


def verdicts_by_specification(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims each specification gives each verdict (rows in table order), and of them how many it could
    not decide (`not decided`: counted among the verdicts as the claims check reports them, inconclusive)."""
    order = list(dict.fromkeys(table["specification"]))
    counts = pd.crosstab(table["specification"], table["verdict"]).reindex(order)
    undecided = ~table["decided"].astype(bool) & (table["verdict"] != NOT_APPLICABLE)
    counts[f"of which {NOT_DECIDED}"] = undecided.groupby(table["specification"]).sum().reindex(order).astype(int)
    counts.columns.name = None
    return counts


def _choices_named(depends: pd.Series) -> str:
    """How many "depends on" labels name each choice as changing the verdict alone (the part before any ';'),
    and how many name it only in a set that changes it together with another."""
    # "; " between the parts, not inside a value's parentheses ("coding (second; alone: not decided) together with")
    parts = depends.str.removeprefix("depends on ").str.split(r"; (?![^(]*\))", regex=True)
    alone = parts.map(lambda p: "" if " together with " in p[0] else p[0])
    together = parts.map(lambda p: "; ".join(x for x in p if " together with " in x))
    counts = []
    for what in ("alone", "only together with another"):
        named = {}
        for c in CHOICE_COLUMNS:
            in_alone = alone.str.contains(f"{c} (", regex=False)
            # only together: named in a set, and not also named alone by the same label
            hits = in_alone if what == "alone" else together.str.contains(f"{c} (", regex=False) & ~in_alone
            named[c] = int(hits.sum())
        named = ", ".join(f"{c.replace('_', ' ')} {k}" for c, k in named.items() if k)
        if named:
            counts.append(f"{what}: {named}")
    return "claims whose label names each choice " + "; ".join(counts) if counts else ""


def _depending(count: int, moved: str) -> str:
    """'N depend on some choice (which)'."""
    return f"{count} {'depends' if count == 1 else 'depend'} on some choice" + (f" ({moved})" if moved else "")


def _bounds_inapplicable(table: pd.DataFrame) -> bool:
    """Whether some missing-code bound does not apply to its claim (the claim's cases report every code of its
    outcome, `robustness._unbounded`)."""
    bounds = table["missing"] != "complete cases" if "missing" in table else pd.Series(False, index=table.index)
    return bool((bounds & (table["verdict"] == NOT_APPLICABLE)).any())


def robustness_reading(
    table: pd.DataFrame, summary: pd.DataFrame, cases: pd.DataFrame, second: pd.DataFrame | None = None
) -> str:
    """What the summary shows: how many claims keep their verdict under every specification that decides them,
    which choices move the others, and how many cells could not decide; then how to read it, with the caveat of
    simulated data where the first coding (`cases`) or the second (`second`, whose specifications are in `table`)
    is simulated."""
    n_specs = table["specification"].nunique()
    labels = summary["label"]
    robust = int(is_robust(labels).sum())
    depends = labels[labels.str.startswith("depends on")]
    unassessed = int(labels.str.startswith("not assessed").sum())
    moved = _choices_named(depends)
    decisive = summary.loc[summary["primary_verdict"].isin(DECISIVE), "label"]
    undecided, inapplicable = int(summary[NOT_DECIDED].sum()), int(summary[NOT_APPLICABLE].sum())
    text = (
        f"Each of the {len(summary)} claims was decided under {n_specs} specifications. {robust} "
        f"{'keeps' if robust == 1 else 'keep'} the primary verdict under every specification that decides "
        f"{'it' if robust == 1 else 'them'} (robust); "
        + (_depending(len(depends), moved) if len(depends) else "none depends on any choice")
        + f"; {unassessed} could not be assessed. {_decisive(decisive)} {undecided} "
        f"{'cell' if undecided == 1 else 'cells'} could not decide {'its' if undecided == 1 else 'their'} claim (no "
        "fit, an unreliable posterior, a proportional-odds test that cannot be made), and "
        f"{inapplicable} {'is a specification' if inapplicable == 1 else 'are specifications'} that "
        f"{'does' if inapplicable == 1 else 'do'} not apply to {'its claim' if inapplicable == 1 else 'theirs'} "
        "(partial pooling for a claim that is not about one group's slope; proportional odds relaxed where the "
        "nominal test does not reject it, so there is nothing to relax"
        + (
            "; a missing-code bound where the claim's cases report every code of its outcome, so there is nothing to "
            "bound"
            if _bounds_inapplicable(table)
            else ""
        )
        + "); both are counted, and left out of the labels. "
        f"{SENSITIVITY}"
    )
    if cases.attrs.get("simulated"):
        sheet = (
            "a sheet generated with the signs of the source's table"
            if cases.attrs.get("generated")
            else "this sheet, labelled simulated"
        )
        text += (
            f" **On simulated data** these labels show how the method behaves on {sheet}"
            + (
                ", and how much the second coding's disagreements move the verdicts"
                if (table["coding"] == "second").any()
                else ""
            )
            + "; they are not findings about Latin American clusters."
        )
    elif second is not None and second.attrs.get("simulated") and (table["coding"] == "second").any():
        text += (
            " **The second coding is simulated**: the specifications decided on it show how the method behaves on "
            "simulated codes; they are not findings about Latin American clusters."
        )
    return text


def _decisive(labels: pd.Series) -> str:
    """How many of the claims with a decisive primary verdict (`labels`: their robustness labels) are robust, in
    words that fit 0, 1 or more; the one such claim is said to depend on a choice or not to be assessed, as its
    label says, not merely 'not robust'."""
    robust = int(is_robust(labels).sum())
    if len(labels) == 0:
        return "No claim has a decisive primary verdict (consistent or contradicted)."
    if len(labels) == 1:
        label = labels.iloc[0]
        verdict = (
            "robust"
            if robust
            else "not assessed"
            if label.startswith("not assessed")
            else "not robust (it depends on some choice)"
        )
        return f"The one claim whose primary verdict is decisive (consistent or contradicted) is {verdict}."
    return (
        f"Of the {len(labels)} claims whose primary verdict is decisive (consistent or contradicted), "
        f"{robust or 'none'} {'is' if robust == 1 else 'are'} robust."
    )


def design_reading(summary: pd.DataFrame) -> str:
    """What the design's rates beside each verdict say: the range of right and wrong rates over the claims the
    design analysis scores, for the decisive primary verdicts."""
    scored = summary[summary["p_right"].notna()]
    unscored = _unscored_decisive(summary)
    if scored.empty:
        return "The design analysis scores none of these claims, so no design rates are shown." + unscored
    empty = scored["design_note"].fillna("").str.contains(NO_CASES, regex=False)
    absent, scored = int(empty.sum()), scored[~empty]
    left_out = (
        f" ({absent} more {'is' if absent == 1 else 'are'} about a group with no cases on this sheet, which no "
        "replicate can decide, and left out of these ranges)"
        if absent
        else ""
    )
    if scored.empty:
        return (
            f"The design analysis scores {absent} of the {len(summary)} claims, all about groups with no cases on "
            "this sheet, which no replicate can decide." + unscored
        )
    decisive = scored[scored["primary_verdict"].isin(DECISIVE)]
    text = (
        f"The design analysis (no pooling, the claims check's own rule, on sheets simulated from the documented "
        f"generator) scores {len(scored)} of the {len(summary)} claims{left_out}: for their kind and group it gets "
        f"a verdict right in {scored['p_right'].min():.2f}-{scored['p_right'].max():.2f} of replicates and wrong in "
        f"{scored['p_wrong'].min():.2f}-{scored['p_wrong'].max():.2f}."
    )
    if len(decisive) == 1:  # one claim: its own rate, not "the 1 of them ... at most"
        wrong = decisive["p_wrong"].iloc[0]
        text += (
            " For the one of them with a decisive primary verdict, the rate of wrong verdicts for such a claim is "
            + (f"{wrong:.3f}." if wrong > 0 else "0 (no replicate gave one).")
            + " This rate is a property of the design under the generator's assumptions, not the probability that "
            "the verdict is wrong."
        )
    elif not decisive.empty:
        text += (
            f" For the {len(decisive)} of them with a decisive primary verdict, the rate of wrong verdicts for such "
            + (
                f"claims is at most {decisive['p_wrong'].max():.3f}."
                if decisive["p_wrong"].max() > 0
                else "claims is 0 (no replicate gave one)."
            )
            + " These rates are properties of the design under "
            "the generator's assumptions, not the probability that a given verdict is wrong."
        )
    return (
        text
        + unscored
        + (
            " The design's sheets have this sheet's number of cases in each sectoral group, every code reported and "
            "the generator's codes otherwise: where this sheet cannot test a claim (codes not reported, a predictor "
            "that does not vary in the group), the design's sheets may still, so the rates are those of the sheet's "
            "shape, not of its codes."
        )
    )


def _unscored_decisive(summary: pd.DataFrame) -> str:
    """' k decisive primary verdicts are on claims the design analysis does not score (ids), so no rate is shown
    beside them.' or '': the reading of the rates must not leave a decisive verdict unmentioned because it has none."""
    decisive = summary["primary_verdict"].isin(DECISIVE)
    unscored = summary[decisive & summary["p_right"].isna()]
    if unscored.empty:
        return ""
    one = len(unscored) == 1
    return (
        f" {len(unscored)} decisive primary verdict{' is' if one else 's are'} on "
        f"{'a claim' if one else 'claims'} the design analysis does not score ({', '.join(unscored['id'])}), so no "
        f"rate is shown beside {'it' if one else 'them'}."
    )
