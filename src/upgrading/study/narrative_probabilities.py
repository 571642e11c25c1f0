"""The sentences of notebook 04 that read the models in probabilities: marginal effects, the nominal test of
proportional odds, and the links' robustness check. Every number is read from a result table (see `narrative`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .models import parse_term
from .narrative import (
    models_not_fitted,
    not_estimable,
    reasons_counted,
    series,
    simulated_caveat,
    whole_models,
    words,
)
from .probabilities import UNREACHED
from .reasons import reason_of
from .settings import HIGH_UPGRADING, KEY_PREDICTORS
from .wording import p_value, sentence


def _points(value: float) -> str:
    """Percentage points, whole; an end within half a point of 0 keeps its sign visible ('+0.3', '-<0.1'), so that an
    interval said to exclude zero is not printed as starting at +0."""
    points = 100 * value
    if points == 0:
        return "+0"
    whole = f"{points:+.0f}"
    if whole not in ("+0", "-0"):  # decided on the printed number: format rounds half to even, so 0.5 reads "+0"
        return whole
    return f"{points:+.1f}" if abs(points) >= 0.05 else f"{'+' if points > 0 else '-'}<0.1"


def _not_read(count: int) -> str:
    return "it is not read as an effect" if count == 1 else "they are not read as effects"


def _ratio(value: float) -> str:
    """An odds ratio with two decimals, or two significant digits below 0.01 (never a bare 0.00)."""
    return f"{value:.2f}" if value >= 0.01 else f"{value:.2g}"


def _effect_sentence(row) -> str:
    interval = f"95% interval {_points(row.conf_low)} to {_points(row.conf_high)}, {row.method}"
    if pd.notna(getattr(row, "odds_ratio_slope", np.nan)):  # the slope it comes from, with its own interval
        interval += (
            f"; its slope's odds ratio {_ratio(row.odds_ratio_slope)}, 95% interval {_ratio(row.or_conf_low_slope)} "
            f"to {_ratio(row.or_conf_high_slope)}"
        )
    if row.predictor == "collective_efficiency":  # an average derivative, not the change over a whole level
        return (
            f"in {words(row.sectoral_group)}, the probability of {words(row.form)} at level {HIGH_UPGRADING} or above "
            f"{'rises' if row.estimate >= 0 else 'falls'} with collective efficiency at on average "
            f"**{100 * abs(row.estimate):.0f} percentage points per level** (the slope at each cluster's own level; "
            f"{interval})"
        )
    return (
        f"in {words(row.sectoral_group)}, a leader-driven cluster (against one that is not) is on average "
        f"**{100 * abs(row.estimate):.0f} percentage points** {'more' if row.estimate >= 0 else 'less'} likely to "
        f"show {words(row.form)} at level {HIGH_UPGRADING} or above ({interval})"
    )


def _slope_agrees(effects: pd.DataFrame, slopes: pd.DataFrame) -> pd.Series:
    """Whether each effect's slope (`slopes`: the by-group model's key rows of `models.estimates_table`, with the
    interval the reported fit gives: Wald for ML, profile for Jeffreys) has an interval that excludes zero on the
    effect's side."""
    keys = ["form", "sectoral_group", "predictor"]
    bounds = slopes.drop_duplicates(keys).set_index(keys)[["conf_low", "conf_high"]].add_suffix("_slope")
    joined = effects.join(bounds, on=keys)
    return ((joined["estimate"] > 0) & (joined["conf_low_slope"] > 0)) | (
        (joined["estimate"] < 0) & (joined["conf_high_slope"] < 0)
    )


def _with_slopes(effects: pd.DataFrame, slopes: pd.DataFrame) -> pd.DataFrame:
    """`effects` with their slope's odds ratio and its interval (`*_slope`), where `slopes` has them."""
    keys = ["form", "sectoral_group", "predictor"]
    columns = [c for c in ("odds_ratio", "or_conf_low", "or_conf_high") if c in slopes]
    if len(columns) < 3:
        return effects
    return effects.join(slopes.drop_duplicates(keys).set_index(keys)[columns].add_suffix("_slope"), on=keys)


def marginal_effects_summary(effects: pd.DataFrame, cases: pd.DataFrame, slopes: pd.DataFrame) -> str:
    """Per form, the key predictors' average marginal effects on P(upgrading >= HIGH_UPGRADING) whose 95% interval
    excludes zero, in percentage points; how many are estimated and how many are not. An effect is read only where
    its slope's own interval (`slopes`: Wald for ML, profile for the Jeffreys-penalised fit of separated data) also
    excludes zero, so that no effect is read that the claims check would call inconclusive: a delta-method interval
    linearises the probability and can exclude zero where the slope's interval does not."""
    high = effects[effects["level"] == f">={HIGH_UPGRADING}"]
    unread = high[_slope_unread(high, slopes)]  # its slope has an estimate the estimates reading does not read
    high = high.drop(index=unread.index)
    missing = effects[effects["estimate"].isna()].drop_duplicates(["form", "sectoral_group", "predictor"])
    excludes = high[(high["conf_low"] > 0) | (high["conf_high"] < 0)]
    unsupported = excludes[~_slope_agrees(excludes, slopes)]
    notes = excludes["note"].fillna("") if "note" in excludes else pd.Series("", index=excludes.index)
    unreached = excludes[notes.str.contains(UNREACHED, regex=False)]  # also after the fit's notes (complete cases)
    unreached = unreached.drop(index=unsupported.index, errors="ignore")
    clear = excludes.drop(index=unsupported.index.union(unreached.index))
    counted = (
        "the one group-specific average marginal effect"
        if len(high) == 1
        else f"the {len(high)} group-specific average marginal effects"
    )
    its = "its" if len(clear) == 1 else "their"
    text = (  # counted as read, not as "have a 95% interval that excludes zero": those not read below have one too
        f"Read in probabilities: of {counted} on the probability of upgrading at level {HIGH_UPGRADING} or above, "
        f"**{len(clear)}** {'is read as an effect' if len(clear) == 1 else 'are read as effects'}, {its} 95% "
        f"interval excluding zero as {its} slope's own interval does"
        if len(high)
        else "Read in probabilities: no group-specific average marginal effect on the probability of upgrading at "
        f"level {HIGH_UPGRADING} or above is estimated on this sheet"
    )
    if len(clear):
        text += ": " + "; ".join(_effect_sentence(r) for r in _with_slopes(clear, slopes).itertuples()) + "."
        text += (
            " A delta-method interval linearises the probability around the estimate; with few cases it can claim "
            "more precision than the slope it comes from, so each effect is given with its slope's odds ratio and "
            "interval."
        )
    else:
        text += "."
    if len(unsupported):
        text += (
            f" {len(unsupported)} more {'excludes' if len(unsupported) == 1 else 'exclude'} zero on the delta-method "
            "interval only: the slope's own interval (Wald for ML, profile for a Jeffreys-penalised fit of "
            f"separated data) includes zero, so {_not_read(len(unsupported))} ("
            + series(
                f"{words(r.predictor)} on {words(r.form)} in {words(r.sectoral_group)}"
                for r in unsupported.itertuples()
            )
            + ")."
        )
    if len(unreached):
        text += (
            f" {len(unreached)} more {'excludes' if len(unreached) == 1 else 'exclude'} zero where no case of the "
            f"group is at level {HIGH_UPGRADING} or above: the model's probability there rests on the thresholds the "
            f"groups share, not on the group's cases, so {_not_read(len(unreached))} ("
            + series(
                f"{words(r.predictor)} on {words(r.form)} in {words(r.sectoral_group)}" for r in unreached.itertuples()
            )
            + ")."
        )
    text += _widths(high)
    if len(missing):
        text += (
            f" {len(missing)} effect{'' if len(missing) == 1 else 's'} cannot be estimated on this sheet (the "
            "table's `note` says why)."
        )
    return (
        text
        + _unread_slopes(unread, slopes)
        + _without_high(effects, pd.concat([high, unread]))
        + simulated_caveat(cases)
    )


def _widths(high: pd.DataFrame) -> str:
    """How wide the effects' intervals are: the widest, and how many reach beyond +-100 percentage points."""
    if high.empty:
        return ""
    widest = high.loc[(high["conf_high"] - high["conf_low"]).idxmax()]
    text = (
        f" Intervals are wide at these group sizes: the widest spans "
        f"{100 * (widest['conf_high'] - widest['conf_low']):.0f} percentage points "
        f"({words(widest['predictor'])} on {words(widest['form'])} in {words(widest['sectoral_group'])})."
    )
    beyond = high[(high["conf_low"] < -1) | (high["conf_high"] > 1)]
    if len(beyond):
        text += (
            f" The intervals are delta-method (Wald) intervals on the probability scale; {len(beyond)} of them "
            f"{'reaches' if len(beyond) == 1 else 'reach'} beyond ±100 percentage points, which no change in a "
            "probability can: there they say only that the effect is very uncertain."
        )
    return text


def _slope_unread(effects: pd.DataFrame, slopes: pd.DataFrame) -> pd.Series:
    """Whether each effect's slope has an estimate that is not read (its note gives a reason: a constant outcome, a
    fit that did not converge), as notebook 04's estimates reading counts it apart."""
    if "note" not in slopes or effects.empty:
        return pd.Series(False, index=effects.index)
    keys = ["form", "sectoral_group", "predictor"]
    reasons = slopes.drop_duplicates(keys).set_index(keys)["note"].fillna("").map(reason_of).rename("slope_reason")
    joined = effects.join(reasons, on=keys)
    return joined["slope_reason"].fillna("").ne("")


def _unread_slopes(unread: pd.DataFrame, slopes: pd.DataFrame) -> str:
    """' k more effects are not read, as their slope is not (reasons).' or ''."""
    if unread.empty:
        return ""
    keys = ["form", "sectoral_group", "predictor"]
    reasons = unread.join(slopes.drop_duplicates(keys).set_index(keys)["note"].rename("slope_note"), on=keys)
    one = len(unread) == 1
    return (
        f" {len(unread)} more effect{'' if one else 's'} {'is' if one else 'are'} not read, as "
        f"{'its slope is' if one else 'their slopes are'} not ("
        + reasons_counted(reasons["slope_note"].fillna("").map(reason_of))
        + ")."
    )


def _without_high(effects: pd.DataFrame, high: pd.DataFrame) -> str:
    """The estimated effects that have no row on P(upgrading >= HIGH_UPGRADING) because no case the form's model
    uses is at that level or above (the probability is 0 throughout), counted and named by form, or ''."""
    keys = ["form", "sectoral_group", "predictor"]
    estimated = effects[effects["estimate"].notna()].drop_duplicates(keys)
    absent = estimated[~estimated.set_index(keys).index.isin(high.set_index(keys).index)]
    if absent.empty:
        return ""
    forms = list(dict.fromkeys(absent["form"]))
    one = len(absent) == 1
    return (
        f" {len(absent)} more effect{'' if one else 's'} {'is' if one else 'are'} estimated on each level only, not on "
        f"the probability of upgrading at level {HIGH_UPGRADING} or above, and {'is' if one else 'are'} not counted "
        f"above: no case that the model of {series(words(f) for f in forms)} uses is at level {HIGH_UPGRADING} or "
        "above, so that probability is 0 throughout."
    )


def _tested(diagnostics: pd.DataFrame, predictor: str) -> pd.DataFrame:
    return diagnostics[diagnostics[f"nominal_{predictor}_p"].notna()]


def _separated_share(tested: pd.DataFrame, predictor: str) -> str:
    """How many of the tests that do not reject were made on separated nominal fits (the nominal fit nests the
    model, so it is separated wherever the model is), whose statistic is a supremum and tells little either way.
    Named as the nominal fits: the sentence beside it counts the models' own fits, most of which are not separated."""
    separated = tested[f"nominal_{predictor}_note"].fillna("").str.contains("separated").sum()
    if not separated:
        return ""
    which = "the one test" if len(tested) == 1 else "all" if separated == len(tested) else f"{separated} of them"
    fits = "a separated nominal fit" if separated == 1 else "separated nominal fits"
    return f"; {which} made on {fits}, whose statistic is at its supremum and tells little either way"


def nominal_summary(diagnostics: pd.DataFrame, alpha: float = 0.05) -> str:
    """Where the nominal test of each key predictor could be computed, whether it rejects proportional odds, and
    why it could not elsewhere; the models that cannot be fitted are counted apart, as models, with their reasons
    (their rows hold no test to make)."""
    reported = diagnostics.get("reported", pd.Series("", index=diagnostics.index))
    unfitted = reported.eq("not estimable")
    skipped, diagnostics = diagnostics[unfitted], diagnostics[~unfitted]
    text = "**Proportional odds, by the nominal (partial proportional odds) likelihood-ratio test**: "
    if diagnostics.empty:
        return (
            text
            + "no model can be fitted on this sheet, so the test is made in none."
            + not_estimable(skipped, "models")
        )
    parts, reasons = [], []
    for predictor in KEY_PREDICTORS:
        parts.append(_nominal_part(diagnostics, predictor, alpha))
        notes = diagnostics.loc[diagnostics[f"nominal_{predictor}_p"].isna(), f"nominal_{predictor}_note"]
        reasons += [n for n in notes.fillna("") if n and n != "not in this model"]
    text += "; ".join(parts) + "."
    if reasons:
        counts = pd.Series(reasons).value_counts(sort=False)
        text += " Where it has no number: " + "; ".join(f"{reason} ({k})" for reason, k in counts.items()) + "."
    return (
        text
        + not_estimable(skipped, "models")
        + (
            " With a slope per group the nominal fit gives each group's predictor its own threshold-specific "
            "effects; at this size an upgrading level is often empty within a group, and that fit then sits at a "
            "boundary. The complete-pooling model (one slope per predictor) is the one in which the assumption can "
            "be tested here."
        )
    )


def _nominal_part(diagnostics: pd.DataFrame, predictor: str, alpha: float) -> str:
    """The clause of `nominal_summary` for one key predictor, over the fitted models (`diagnostics`)."""
    tested = _tested(diagnostics, predictor)
    rejected = tested[tested[f"nominal_{predictor}_p"] < alpha]
    where = series(f"{words(r.form)} ({r.model})" for r in tested.itertuples()) or "no model"
    holding = (diagnostics[f"nominal_{predictor}_note"].fillna("") != "not in this model").sum()
    if not len(tested):  # nothing to read: say so once (the reasons follow the sentence)
        fits = "the one fit with it" if holding == 1 else f"any of the {holding} fits with it"
        return f"for {words(predictor)} the test could not be computed in {fits}"
    return (
        f"for {words(predictor)} the test is computed in {len(tested)} of the {holding} fits with it ({where}) and "
        + (
            f"rejects proportional odds at {alpha:g} in {len(rejected)}: "
            + series(
                f"{words(r.form)} ({r.model}, p = {p_value(getattr(r, f'nominal_{predictor}_p'))}"
                + (
                    ", separated: a statistic at its supremum, its p-value less trustworthy"
                    if "separated" in str(getattr(r, f"nominal_{predictor}_note"))
                    else ""
                )
                + ")"
                for r in rejected.itertuples()
            )  # fmt: skip
            if len(rejected)
            else f"rejects it in none (smallest p = {tested[f'nominal_{predictor}_p'].min():.2f}"
            + _separated_share(tested, predictor)
            + ")"
        )
    )


def _threshold_slopes(effects: pd.Series) -> str:
    """A predictor's slope at each threshold, grouped by its model term: 'lower|upper.term' names, so that a model
    with one slope per sectoral group names the group of each run of thresholds (without it the runs of four groups
    read as one list of twelve slopes)."""
    runs: dict[str, list[str]] = {}
    for name, value in effects.items():
        threshold, term = str(name).split(".", 1)
        runs.setdefault(term, []).append(f"{threshold} {value:+.2f}")
    parts = []
    for term, values in runs.items():
        group = parse_term(term)[0]
        parts.append(", ".join(values) if group == "all" else f"{words(group)} ({', '.join(values)})")
    return ", ".join(parts)


def partial_proportional_odds_summary(nominal_fits: dict, diagnostics: pd.DataFrame | None = None) -> str:
    """What the partial-proportional-odds fit shows where proportional odds is rejected: the predictor's
    slope at each threshold (`nominal_fits`: `models.partial_proportional_odds`), per sectoral group where the model
    has a slope per group; an infinite slope is named as such (the nominal fit is separated). `diagnostics`: the
    table the tests are in, to tell "no test rejects" from "no test could be computed"."""
    if not nominal_fits:
        tested = diagnostics is None or any(len(_tested(diagnostics, p)) for p in KEY_PREDICTORS)
        if not tested:
            return "No nominal test could be computed on this sheet, so no partial-proportional-odds fit is reported."
        return "No nominal test rejects proportional odds, so no partial-proportional-odds fit is reported."
    infinite = any(not np.isfinite(value) for effects in nominal_fits.values() for value in effects)
    return (
        "Where proportional odds is rejected, the partial-proportional-odds fit gives: "
        + "; ".join(
            f"{words(form)} ({model}), {words(predictor)}: {_threshold_slopes(effects)}"
            for (form, model, predictor), effects in nominal_fits.items()
        )
        + " (the slope at each threshold, log-odds scale; proportional odds would repeat one value"
        + (
            "; ±inf: the nominal fit is separated, so that threshold's slope has no finite estimate and the "
            "others are not a reliable picture of how the slope varies"
            if infinite
            else ""
        )
        + ")."
    )


def links_summary(links: pd.DataFrame) -> str:
    """How many key slopes keep their sign and their interval's relation to zero under each other link."""
    unfitted = whole_models(links)
    others = links[(links["link"] != "logit") & ~unfitted]
    parts = []
    for link, rows in others.groupby("link", sort=False):
        compared = rows[rows["agrees_with_logit"].notna()]
        differ = compared[~compared["agrees_with_logit"].astype(bool)]
        parts.append(
            (
                f"under the {link} link {len(compared) - len(differ)} of {len(compared)} key slopes keep the logit's "
                "sign and its interval's relation to zero"
                if len(compared)
                else f"under the {link} link no key slope can be compared with the logit's"
            )
            + (
                " (not: "
                + series(
                    f"{words(r.predictor)} on {words(r.form)} in {words(r.sectoral_group)}" for r in differ.itertuples()
                )
                + ")"  # fmt: skip
                if len(differ)
                else ""
            )
            + _not_compared(rows[rows["agrees_with_logit"].isna()])
        )
    not_fitted = _models_not_fitted_under(links[unfitted], list(dict.fromkeys(links["link"])))
    if not parts:
        return ("**Links.**" + not_fitted) if not_fitted else "No other link was fitted."
    return "**Links.** " + sentence("; ".join(parts)) + "." + not_fitted


def _models_not_fitted_under(rows: pd.DataFrame, links: list[str]) -> str:
    """`models_not_fitted` for the rows that stand for whole models: once where the same models fail under every
    one of `links`, else per link."""
    if rows.empty:
        return ""
    failed = {link: frozenset(zip(part["form"], part["note"].fillna(""))) for link, part in rows.groupby("link")}
    if set(failed) == set(links) and len(set(failed.values())) == 1:
        return models_not_fitted(rows, under="under any link")
    return "".join(
        models_not_fitted(part, under=f"under the {link} link") for link, part in rows.groupby("link", sort=False)
    )


def _not_compared(rows: pd.DataFrame) -> str:
    """' (k more not compared: reasons)' for a link's key slopes without a comparison with the logit, or ''."""
    if rows.empty:
        return ""
    notes = rows["note"].fillna("").astype(str).map(reason_of)  # a complete-case count is no reason
    return f" ({len(rows)} more not compared: {reasons_counted(notes.replace('', 'no comparison recorded'))})"
