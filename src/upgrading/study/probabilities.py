"""The study's models read in probabilities, as papers with ordered logits report them (notebook 04): the predicted
probability of each upgrading level across collective efficiency in each sectoral group, the average marginal
effects of the key predictors within each group, the nominal (partial proportional odds) test of each key
predictor, and the key slopes under other links.

All from the reported fit of each model (ML, or Jeffreys-penalised where ML is separated), with delta-method
standard errors on that fit's covariance (`ordinal.interpretation`). A slope the sheet cannot estimate (a group
with no cases, a predictor constant in the group) gets a row saying why, never a number; so does a prediction that
would need such a slope, and only such a prediction.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .codebook import load_codebook
from .models import ModelFit, fit_models, parse_term
from .reasons import NO_CASES, reason_of
from .settings import HIGH_UPGRADING, KEY_PREDICTORS, NO_SIGN, ROBUSTNESS_LINKS
from .wording import series

PREDICTION_COLUMNS = [
    "form", "sectoral_group", "collective_efficiency", "leader_driven", "level", "probability", "std_error",
    "conf_low", "conf_high", "method", "note",
]  # fmt: skip
EFFECT_COLUMNS = [
    "form", "sectoral_group", "predictor", "effect", "level", "estimate", "std_error", "conf_low", "conf_high",
    "cases", "method", "note",
]  # fmt: skip
#: What each key predictor's average marginal effect is (the codebook's scales: collective efficiency 0-3,
#: leader-driven 0/1).
EFFECT_KINDS = {
    "collective_efficiency": "average derivative per level",
    "leader_driven": "average change 0 -> 1",
}


def _by_group_fits(fits: list[ModelFit]) -> list[ModelFit]:
    return [fit for fit in fits if fit.model == "by_group"]


def _unestimable(fit: ModelFit, group: str, predictors=KEY_PREDICTORS) -> str:
    """Why a group's key slopes cannot be read from this fit ('' when they can)."""
    if not fit.estimated:
        return fit.error
    if not fit.reported.converged:
        return f"the {fit.reported_label} fit did not converge"
    reasons = [why for term, why in fit.reasons.items() if parse_term(term)[0] == group and parse_term(term)[1]
               in predictors]  # fmt: skip
    return "; ".join(dict.fromkeys(reasons))


def _fit_note(fit: ModelFit) -> str:
    """The notes every row of a fit carries: the upgrading levels no case used by the fit has (the model has no
    threshold for them, so they have no row: each probability and effect is of the levels it has), and how many
    cases it used."""
    used = [int(level) for level in fit.reported.design.levels]
    scale = load_codebook().variable(fit.form).scale.levels
    unused = [int(level) for level in scale if int(level) not in used]
    absent = (
        f"upgrading level{'' if len(unused) == 1 else 's'} {series(unused)} never coded on {fit.form} among the cases "
        f"used: the model has levels {series(used)} only, so no row for {'it' if len(unused) == 1 else 'them'}"
        if unused
        else ""
    )
    return "; ".join(n for n in (absent, fit.complete_note) if n)


#: How `_unreached`'s note begins: a row at a level no case of its group used by the fit takes (it may follow the
#: fit's own notes in a row's `note`, so find it anywhere in the note, not only at its start).
UNREACHED = "no case of this group is at level"


def _unreached(members: pd.DataFrame, form: str, level: str) -> str:
    """A row's note where no case of its group used by the fit is at `level` (a level '0'-'3', or '>=k'): the
    model gives the group a probability there from the thresholds all groups share, not from its own cases."""
    observed = members[form].dropna().astype(int)
    if level.startswith(">="):
        if (observed >= int(level[2:])).any():
            return ""
        where = f"{level[2:]} or above"
    else:
        if (observed == int(level)).any():
            return ""
        where = level
    return f"{UNREACHED} {where} on {form}: its probability rests on the thresholds the groups share"


def _with_unreached(notes: pd.Series, members: pd.DataFrame, form: str, levels) -> pd.Series:
    """Each row's note, with `_unreached`'s where its level is one the group's cases never take."""
    extra = pd.Series([_unreached(members, form, str(level)) for level in levels], index=notes.index)
    return pd.Series(
        ["; ".join(part for part in (n, e) if part) for e, n in zip(extra, notes.fillna(""))], index=notes.index
    )


def _group_rows(cases: pd.DataFrame, group: str, fit: ModelFit | None = None) -> pd.DataFrame:
    """A group's cases; with `fit`, those the fit used (complete cases of its model)."""
    if fit is not None and fit.estimated:
        cases = fit.ml.model.data
    return cases[cases["sectoral_group"].astype(str) == group]


def _grid(cases: pd.DataFrame, group: str, levels) -> pd.DataFrame:
    """One row per collective-efficiency level in `group`, not leader-driven."""
    return pd.DataFrame(
        {
            "sectoral_group": pd.Categorical([group] * len(levels), dtype=cases["sectoral_group"].dtype),
            "collective_efficiency": list(levels),
            "leader_driven": 0,
        }
    )


def _needs_left_out(fit: ModelFit, grid: pd.DataFrame) -> list[str]:
    """The columns the fit left out (`fit.reasons`) whose slope a prediction at `grid` would need.

    `get_prediction` ignores a left-out column, i.e. predicts as if its slope were 0. On the cases the column is
    exactly what the kept columns and the thresholds make it (that is why it was left out), so a grid row where it
    is that too is predicted right whatever the slope; elsewhere the prediction is not defined. So leader_driven = 0
    needs no slope in a group with no leader-driven case (the column is 0 there, as on the grid), and needs it in a
    group whose every case is leader-driven (there the column equals the group's own column, which is 1)."""
    design = fit.reported.model.design
    if not design.aliased:
        return []
    every = replace(design, names=[n for n in design.design_info.column_names if n != "Intercept"], Z=None)
    cases, rows = (np.column_stack([np.ones(len(frame)), every.exog(frame)[0]])
                   for frame in (fit.reported.model.data, grid))  # fmt: skip
    kept = [0] + [1 + every.names.index(n) for n in design.names]  # the thresholds' constant, the kept columns
    needed = []
    for term in design.aliased:
        column = 1 + every.names.index(term)
        made_of, *_ = np.linalg.lstsq(cases[:, kept], cases[:, column], rcond=None)
        if not np.allclose(rows[:, kept] @ made_of, rows[:, column], atol=1e-9 * max(1.0, np.abs(rows).max())):
            needed.append(term)
    return needed


def _prediction_reason(fit: ModelFit, group: str, members: pd.DataFrame, grid: pd.DataFrame) -> str:
    """Why a group's predictions at `grid` cannot be made ('' when they can): the fit's own failure, no cases, or
    the reasons of the left-out slopes they would need (`_needs_left_out`), named with their term where a slope
    is not the group's own."""
    why = _unestimable(fit, group, predictors=())  # no predictor: only why the whole fit cannot be read
    if why or not len(members):  # no case of the group in the fit: the reason its slopes were left out
        return why or _unestimable(fit, group) or NO_CASES
    reasons = [fit.reasons[t] if parse_term(t)[0] == group else f"{t}: {fit.reasons[t]}"
               for t in _needs_left_out(fit, grid)]  # fmt: skip
    return "; ".join(dict.fromkeys(reasons))


def predicted_probabilities_table(fits: list[ModelFit], cases: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per form, sectoral group and collective-efficiency level 0-3 (not leader-driven): the predicted probability of
    each upgrading level under the by-group model's reported fit, with its delta-method SE and 1 - alpha interval
    (on the log-odds scale of the probability, so it stays within 0 and 1)."""
    cb = load_codebook()
    levels = cb.variable("collective_efficiency").scale.levels
    frames = []
    for fit in _by_group_fits(fits):
        for group in cb.group_codes:
            grid = _grid(cases, group, levels)
            why = _prediction_reason(fit, group, _group_rows(cases, group, fit), grid)
            if why:
                frames.append(pd.DataFrame([{"form": fit.form, "sectoral_group": group, "note": why}]))
                continue
            table = fit.reported.get_prediction(grid).summary_frame(alpha)
            members = _group_rows(cases, group, fit)
            frames.append(
                pd.DataFrame(
                    {
                        "form": fit.form,
                        "sectoral_group": group,
                        "collective_efficiency": grid["collective_efficiency"].to_numpy()[table["row"]],
                        "leader_driven": 0,
                        "level": table["level"],
                        "probability": table["predicted"],
                        "std_error": table["se"],
                        "conf_low": table["ci_low"],
                        "conf_high": table["ci_high"],
                        "method": fit.reported_label,
                        "note": _with_unreached(pd.Series(_fit_note(fit), index=table.index), members, fit.form,
                                                table["level"]).to_numpy(),
                    }
                )
            )  # fmt: skip
    return _typed(pd.concat(frames, ignore_index=True).reindex(columns=PREDICTION_COLUMNS),
                  ["collective_efficiency", "leader_driven", "level"])  # fmt: skip


def _typed(table: pd.DataFrame, integers: list[str]) -> pd.DataFrame:
    for column in integers:
        table[column] = table[column].astype("Int64")
    table["note"] = table["note"].fillna("")
    return table


def _effect_rows(fit: ModelFit, group: str, rows: pd.DataFrame, alpha: float) -> list[dict]:
    """The key predictors' average marginal effects over one group's cases: on each level and on P(>= high)."""
    effects = fit.reported.get_margeff(rows)
    parts = [effects.summary_frame(alpha)]
    if max(fit.reported.design.levels) >= HIGH_UPGRADING:  # else no case reaches it: P(>= it) is 0 throughout
        parts.append(effects.at_least(HIGH_UPGRADING, alpha))
    table = pd.concat(parts, ignore_index=True)
    table = table[table["term"].isin(KEY_PREDICTORS)]
    return [
        {
            "form": fit.form,
            "sectoral_group": group,
            "predictor": r.term,
            "effect": EFFECT_KINDS[r.term],
            "level": str(r.level),
            "estimate": r.estimate,
            "std_error": r.std_error,
            "conf_low": r.conf_low,
            "conf_high": r.conf_high,
            "cases": len(rows),
            "method": fit.reported_label,
            "note": "; ".join(part for part in (_fit_note(fit), _unreached(rows, fit.form, str(r.level))) if part),
        }
        for r in table.itertuples()
    ]


def marginal_effects_table(fits: list[ModelFit], cases: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per form and sectoral group, the average marginal effects of collective efficiency (per level) and of
    leader-driven governance (0 -> 1) on the probability of each upgrading level and of upgrading >= HIGH_UPGRADING,
    averaged over the group's own cases, from the by-group model's reported fit (Wald intervals on the probability
    scale)."""
    rows: list[dict] = []
    for fit in _by_group_fits(fits):
        for group in load_codebook().group_codes:
            members = _group_rows(cases, group, fit)
            notes = {p: _unestimable(fit, group, (p,)) or ("" if len(members) else NO_CASES) for p in KEY_PREDICTORS}
            computed = _effect_rows(fit, group, members, alpha) if not all(notes.values()) else []
            for predictor, why in notes.items():
                if why:
                    rows.append({"form": fit.form, "sectoral_group": group, "predictor": predictor,
                                 "effect": EFFECT_KINDS[predictor], "cases": len(members), "note": why})  # fmt: skip
                else:
                    rows += [r for r in computed if r["predictor"] == predictor]
    return _typed(pd.DataFrame(rows).reindex(columns=EFFECT_COLUMNS), ["cases"])


# ---------------------------------------------------------------------------------------------------------
# Links as a robustness check
# ---------------------------------------------------------------------------------------------------------

LINK_COLUMNS = [
    "form", "sectoral_group", "predictor", "link", "method", "estimate", "conf_low", "conf_high",
    "excludes_zero", "sign", "agrees_with_logit", "note",
]  # fmt: skip


def _key_slopes(cases: pd.DataFrame, link: str, forms) -> list[dict]:
    """The key slopes of the by-group model's reported fit under `link`, with the interval the estimates table
    gives it (Wald for ML, profile for the Jeffreys-penalised fit), or why there is none."""
    rows = []
    for fit in fit_models(cases, forms, models=("by_group",), link=link):
        base = {"form": fit.form, "link": link, "method": fit.reported_label}
        if not fit.estimated:
            rows.append(base | {"sectoral_group": "", "predictor": "", "note": fit.error})
            continue
        reported = fit.reported
        names = [name for name in reported.design.names if parse_term(name)[1] in KEY_PREDICTORS]
        ci = reported.profile_conf_int(cols=names) if fit.separated else reported.conf_int(cols=names)
        unconverged = "" if reported.converged else f"the {fit.reported_label} fit did not converge"
        for name in names:
            group, predictor = parse_term(name)
            note = unconverged or (reported.interval_note(name) if fit.separated else "")
            note = "; ".join(n for n in (note, fit.complete_note) if n)
            rows.append(base | {"sectoral_group": group, "predictor": predictor, "estimate": reported.params[name],
                                "conf_low": ci.loc[name, 0], "conf_high": ci.loc[name, 1], "note": note})  # fmt: skip
        for term, why in fit.reasons.items():
            group, predictor = parse_term(term)
            if predictor in KEY_PREDICTORS:
                rows.append(base | {"sectoral_group": group, "predictor": predictor, "note": why})
    return rows


def slope_sign(estimates: pd.Series) -> pd.Series:
    """'+', '-' or '0' (within `NO_SIGN` of 0: rounding, not a direction) for each estimate; NaN where there is none."""
    return np.sign(estimates.where(estimates.abs() >= NO_SIGN, 0.0).where(estimates.notna())).map(
        {1.0: "+", -1.0: "-", 0.0: "0"}
    )


def link_robustness_table(cases: pd.DataFrame, links=ROBUSTNESS_LINKS, forms=None) -> pd.DataFrame:
    """The by-group model's key slopes under the logit and each of `links`, each with the reported fit's rule (ML,
    Jeffreys-penalised where ML is separated) and interval (Wald for ML, profile for the penalised fit): the sign,
    whether the 95% interval excludes zero, and whether both agree with the logit's. Slopes are on each link's own
    latent scale (a probit slope is about 1/1.7 of a logit one), so only signs and intervals are compared."""
    rows = [row for link in ("logit", *links) for row in _key_slopes(cases, link, forms)]
    table = pd.DataFrame(rows).reindex(columns=LINK_COLUMNS)  # every column, also where no slope has a number
    table[["estimate", "conf_low", "conf_high"]] = table[["estimate", "conf_low", "conf_high"]].astype(float)
    finite = table["conf_low"].notna() & table["conf_high"].notna()
    table["excludes_zero"] = ((table["conf_low"] > 0) | (table["conf_high"] < 0)).where(finite)
    table["sign"] = slope_sign(table["estimate"])
    keys = ["form", "sectoral_group", "predictor"]
    logit = table[table["link"] == "logit"].set_index(keys)[["sign", "excludes_zero", "note"]]
    joined = table.join(logit.add_suffix("_logit"), on=keys)
    agrees = (joined["sign"] == joined["sign_logit"]) & (joined["excludes_zero"] == joined["excludes_zero_logit"])
    table["agrees_with_logit"] = agrees.where(joined["excludes_zero"].notna() & joined["excludes_zero_logit"].notna())
    table["note"] = table["note"].fillna("")
    # a slope with an interval under this link whose logit slope has none: say why it is not compared
    unmatched = joined["excludes_zero"].notna() & joined["excludes_zero_logit"].isna() & (table["link"] != "logit")
    why = joined["note_logit"].fillna("").map(reason_of).replace("", "no estimate recorded")
    said = "the logit's slope has no 95% interval to compare with (" + why + ")"
    table.loc[unmatched, "note"] = (said + "; " + table["note"]).str.rstrip("; ")[unmatched]
    # a slope estimated under this link without an interval: say that the missing interval is this link's own
    own = table["estimate"].notna() & table["excludes_zero"].isna() & (table["link"] != "logit")
    table.loc[own, "note"] = ("the " + table["link"] + " slope has no 95% interval: " + table["note"])[own]
    return table.reindex(columns=LINK_COLUMNS).reset_index(drop=True)


def links_by_slope(links: pd.DataFrame) -> pd.DataFrame:
    """`link_robustness_table` as one row per key slope (predictor, sectoral group, in the codebook's order, a slope
    no link estimates kept empty) and one column per form and link: notebook 04's display."""
    table = links.pivot_table(
        index=["predictor", "sectoral_group"], columns=["form", "link"], values="estimate", sort=False
    )
    groups = load_codebook().group_codes
    rows = [
        (p, g)
        for p in KEY_PREDICTORS
        for g in groups
        if ((links["predictor"] == p) & (links["sectoral_group"] == g)).any()
    ]
    return table.reindex(pd.MultiIndex.from_tuples(rows, names=["predictor", "sectoral_group"]))
