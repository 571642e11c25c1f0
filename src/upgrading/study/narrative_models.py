"""The sentences of notebooks 04 (models, partial pooling) and 05 (claims): every number in them is read from a
result table, never typed (see `narrative`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..ordinal import ACCURACY
from .narrative import (
    count_span,
    group_sizes,
    models_not_fitted,
    not_estimable,
    not_read,
    on_the_sheet,
    series,
    simulated_caveat,
    span,
    whole_models,
    words,
)
from .reasons import reason_of
from .settings import KEY_PREDICTORS, NO_SIGN

# 04 · models -----------------------------------------------------------------------------------------------


def separation_summary(diagnostics: pd.DataFrame) -> str:
    """Separated fits, their conditioning, and whether the Brant test could be computed."""
    skipped = diagnostics[diagnostics["reported"] == "not estimable"]
    diagnostics = diagnostics[diagnostics["reported"] != "not estimable"]
    if diagnostics.empty:
        return "No model can be fitted on this sheet." + not_estimable(skipped, "models")
    diagnostics = diagnostics.assign(ml_separated=diagnostics["ml_separated"].astype(bool))
    separated = diagnostics[diagnostics["ml_separated"]]
    condition = diagnostics["ml_hessian_condition"].astype(float)
    finite = condition[np.isfinite(condition) & ~diagnostics["ml_separated"]]
    text = f"Maximum likelihood is separated in **{len(separated)} of {len(diagnostics)}** fits" + (
        f" ({', '.join(f'{r.form} {r.model}' for r in separated.itertuples())})" if len(separated) else ""
    )
    if len(separated) and np.isinf(condition[diagnostics["ml_separated"]]).all():
        text += (
            "; at a separated fit the information matrix vanishes along the separating direction, so its "
            "condition number is reported as infinite and the diverging terms have no finite standard error, "
            "which a convergence flag alone would not show."
        )
    elif len(separated):
        text += (
            f"; their Hessian condition numbers (up to {condition[diagnostics['ml_separated']].max():.1e}) "
            "show what an unchecked optimiser would have reported as a converged fit with finite standard "
            "errors."
        )
    else:
        text += "."
    if len(finite):
        text += f" {'The other' if len(separated) else 'The'} fits' condition numbers are at most {finite.max():.1e}."
    defined = int(diagnostics["brant_p"].notna().sum())
    notes = diagnostics.get("brant_note", pd.Series("", index=diagnostics.index)).fillna("").astype(str)
    reasons = sorted({n for n in notes[diagnostics["brant_p"].isna()] if n})
    why = " (" + "; ".join(reasons) + ")" if reasons else ""
    nominal = [f"nominal_{p}_p" for p in KEY_PREDICTORS if f"nominal_{p}_p" in diagnostics]
    if defined == 0 and diagnostics[nominal].notna().any().any():  # the nominal tests below do test it
        brant = (
            f"The Brant test of proportional odds cannot be computed for any fit{why}, so it cannot test the "
            "assumption on these data; the nominal tests below ask it of each key predictor alone."
        )
    elif defined == 0:
        brant = (
            f"The Brant test of proportional odds cannot be computed for any fit{why}, nor can the nominal tests "
            "below, so proportional odds cannot be tested on these data, and the models rest on that assumption "
            "untested."
        )
    elif defined < len(diagnostics):
        brant = (
            f"The Brant test of proportional odds is defined for {defined} of {len(diagnostics)} fits; not for "
            f"the others{why}."
        )
    else:
        brant = "The Brant test is defined for every fit; its p-values are in the diagnostics exhibit."
    return text + " " + brant + _brant_rejections(diagnostics) + not_estimable(skipped, "models")


def _brant_rejections(diagnostics: pd.DataFrame, level: float = 0.05) -> str:
    """Where the (omnibus) Brant test is defined: the fits in which it rejects proportional odds, or none."""
    defined = diagnostics[diagnostics["brant_p"].notna()]
    if defined.empty:
        return ""
    rejects = defined[defined["brant_p"].astype(float) < level]
    if rejects.empty:
        return f" Where it is defined, it rejects proportional odds in none of the fits at the {level:.0%} level."
    listed = "; ".join(f"{words(r.form)}, {words(r.model)} (p = {r.brant_p:.2g})" for r in rejects.itertuples())
    return (
        f" Where it is defined, it rejects proportional odds at the {level:.0%} level in {len(rejects)} of "
        f"{len(defined)} fits: {listed}. It tests every term at once and is liberal in small samples; the nominal "
        "tests below ask the same of each key predictor alone."
    )


def estimates_summary(by_group: pd.DataFrame, cases: pd.DataFrame) -> str:
    """Group-specific slopes whose 95% interval excludes zero (`by_group`: the by-group model's rows of the estimates
    table, or its key predictors' rows); the slopes with no number, those with a number that is not read (an
    unreliable fit, a constant outcome) and the forms whose model cannot be fitted are counted apart, each with its
    reasons."""
    unfitted = by_group[whole_models(by_group)]
    key = by_group[by_group["predictor"].isin(KEY_PREDICTORS)]
    missing = key[key["estimate"].isna()]
    unread = key[key["estimate"].notna() & (key["note"].fillna("").map(reason_of) != "")]
    key = key.drop(index=missing.index.union(unread.index))
    excluding = key[(key["conf_low"] > 0) | (key["conf_high"] < 0)]
    if key.empty:
        found = "No group-specific slope can be read on this sheet."
    else:
        found = (
            f"Of the {len(key)} estimated group-specific slopes, **{len(excluding)}** "
            f"{'has' if len(excluding) == 1 else 'have'} a 95% interval that excludes zero"
            + (
                ": "
                + "; ".join(
                    f"{words(r.predictor)} on {words(r.form)} in {words(r.sectoral_group)} "
                    f"(OR {r.odds_ratio:.2f}, {r.or_conf_low:.2f}-{r.or_conf_high:.2f}, {r.method})"
                    for r in excluding.itertuples()
                )
                if len(excluding)
                else ""
            )
            + "."
        )
    return (
        found
        + not_estimable(missing, "group-specific slopes")
        + not_read(unread)
        + models_not_fitted(unfitted)
        + (
            f" With {group_sizes(cases)} most intervals are wide; the design analysis of how often such a "
            "design detects an effect of a given size is a separate question from these estimates."
            if len(key)
            else ""
        )
        + simulated_caveat(cases)
    )


def sign_changes(loo: pd.DataFrame) -> pd.DataFrame:
    """Rows of a leave-one-out table whose range crosses zero (beyond `NO_SIGN` on both sides)."""
    return loo[(loo["loo_min"] < -NO_SIGN) & (loo["loo_max"] > NO_SIGN)]


def leave_one_out_design(loo: pd.DataFrame, cases: pd.DataFrame) -> str:
    """How many refits each slope's range rests on, which were skipped and why (per model), and how many ranges
    leave out only some of the cases that inform their slope, as recorded in the leave-one-out table."""
    loo = loo[loo["refits"].notna()]
    if loo.empty:
        return "No slope can be refitted on this sheet."
    most_skipped = int(loo["refits_failed"].max())
    used = loo["refits"] + loo["refits_failed"]
    each = (
        f"each of the {len(cases)} cases"
        if (used == len(cases)).all()
        else f"each case its model uses ({count_span(used)} cases, the others not having its variables coded)"
    )
    skipped = loo[loo["refits_failed"] > 0].drop_duplicates(["form", "model"])
    partial = loo["note"].fillna("").str.contains("the range leaves out")
    return (
        f"Each key slope is refitted once without {each}; "
        f"{count_span(loo['refits'])} of those refits per slope could be fitted"
        + (
            f", the others (at most {most_skipped} per slope) being skipped: "
            + "; ".join(
                f"{words(r.form)}, {r.model.replace('_', '-')} model: "
                + ", ".join(f"{k} × {why}" for k, why in (part.split(": ", 1) for part in r.skipped.split("; ")))
                for r in skipped.itertuples()
            )
            + "."
            if most_skipped
            else "."
        )
        + (
            (
                " 1 slope's range therefore leaves out only some, or none, of its own group's cases (its `note` says"
                if partial.sum() == 1
                else f" {int(partial.sum())} slopes' ranges therefore leave out only some, or none, "
                "of their own group's cases (their `note` says"
            )
            + " how many): a range says nothing about a case it never left out (and a skipped "
            "refit leaves out no case of any group: the groups of a model share its thresholds)."
            if partial.any()
            else ""
        )
    )


def leave_one_out_summary(by_group: pd.DataFrame) -> str:
    """How many group-specific slopes change sign when a single case is left out."""
    estimated = by_group[by_group["refits"].notna()]
    unfitted = whole_models(by_group)
    changes = len(sign_changes(estimated))
    return (
        (
            f"{changes or 'None'} of the {len(estimated)} estimated group-specific slopes "
            f"{'changes' if changes == 1 else 'change'} sign when a single case is left out."
            if len(estimated)
            else "No group-specific slope is estimated on this sheet, so none is refitted without a case."
        )
        + not_estimable(by_group[by_group["refits"].isna() & ~unfitted], "group-specific slopes")
        + models_not_fitted(by_group[unfitted])
        + (" The sign changes:" if changes else "")
    )


def exact_tests_summary(exact: pd.DataFrame) -> str:
    """How the permutation p-values were computed, as recorded in the exact-tests table."""
    method = exact["method"].astype(str)
    enumerated = exact[method.str.startswith("exact")]
    sampled = exact[method.str.lower().str.contains("monte carlo")]
    other = exact[~exact.index.isin(enumerated.index.union(sampled.index))]
    parts = []
    if len(enumerated):
        arrangements = enumerated["arrangements"].astype(float)
        parts.append(
            f"{len(enumerated)} exact, counting every distinct arrangement of the form's scores "
            f"({span(arrangements, ',.0f', ' to ')} arrangements)"
        )
    if len(sampled):
        parts.append(
            f"{len(sampled)} by Monte Carlo ({span(sampled['draws'].astype(float), ',.0f', ' to ')} "
            "seeded random permutations)"
        )
    if len(other):
        reasons = sorted({str(r) for r in other.get("reason", pd.Series(dtype=str)).fillna("") if str(r)})
        parts.append(f"{len(other)} not computed" + (f" ({'; '.join(reasons)})" if reasons else ""))
    return _exact_tests_cover(exact) + "; p-values: " + series(parts) + "."


def _exact_tests_cover(exact: pd.DataFrame) -> str:
    """'The 32 tests cover groups of 9 to 18 cases', the tests on a group with no cases (a sheet without that
    group) counted apart: not 'The 32 tests cover groups of 14 to 18 cases' when 16 are on groups with none."""
    with_cases = exact[exact["n"].astype(float) > 0]
    empty = len(exact) - len(with_cases)
    if not empty:
        return f"The {len(exact)} tests cover groups of {count_span(with_cases['n'])} cases"
    if with_cases.empty:
        return f"{'The test is' if empty == 1 else f'All {empty} tests are'} on a group with no cases"
    covered = "covers a group" if len(with_cases) == 1 else "cover groups"
    return (
        f"Of the {len(exact)} tests, {len(with_cases)} {covered} of {count_span(with_cases['n'])} cases and "
        f"{empty} {'is' if empty == 1 else 'are'} on a group with no cases"
    )


# 05 · claims -----------------------------------------------------------------------------------------------


def odds_ratio_margin(register) -> str:
    """The declared margins of a claims register as odds ratios ('1.5'; several if it declares several)."""
    values = sorted({f"{np.exp(float(m)):.2g}" for m in register.margins.values()})
    return " or ".join(values)


def verdicts_summary(verdicts: pd.DataFrame, counts: pd.DataFrame, register, cases: pd.DataFrame) -> str:
    """Raw and Holm-adjusted verdict counts, and why null claims are rarely consistent at this size."""
    cells = verdicts[verdicts["kind"] == "table cell"]
    null_claims = verdicts[verdicts["expected"] == "null"]
    null_tested = null_claims[null_claims["fit"] != "not estimable"]
    untested = int((verdicts["fit"] == "not estimable").sum())
    return (
        f"Of the {len(verdicts)} claims ({len(cells)} table cells, {len(verdicts) - len(cells)} textual), "
        f"{counts.loc['consistent', 'raw']} {'is' if counts.loc['consistent', 'raw'] == 1 else 'are'} consistent "
        f"with the data, {counts.loc['contradicted', 'raw']} "
        f"contradicted and {counts.loc['inconclusive', 'raw']} inconclusive before adjustment"
        + (
            f" ({untested} of them because the claim cannot be tested on this sheet: no estimate, the reason in the "
            "table's `note`)"
            if untested
            else ""
        )
        + f"; after Holm's adjustment over one family of {2 * len(verdicts)} tests (the test for 'consistent' and "
        "the test for 'contradicted' of every claim"
        + (
            f"; the {2 * untested} tests of the {untested} claim{'' if untested == 1 else 's'} that cannot be tested "
            "count as p = 1, rejecting nothing"
            if untested
            else ""
        )  # fmt: skip
        + f"): {counts.loc['consistent', 'holm']} consistent, "
        f"{counts.loc['contradicted', 'holm']} contradicted, {counts.loc['inconclusive', 'holm']} inconclusive. "
        + _null_claims(null_claims, null_tested, register, cases)
    )


def _null_claims(null_claims: pd.DataFrame, tested: pd.DataFrame, register, cases: pd.DataFrame) -> str:
    """Why a 'neutral'/'none' claim that can be tested is rarely consistent at this size."""
    if tested.empty:
        return f"None of the {len(null_claims)} 'neutral'/'none' claims can be tested on this sheet."
    which = (
        f"None of the {len(tested)} 'neutral'/'none' claims" if len(tested) > 1 else "The one 'neutral'/'none' claim"
    ) + (f" that can be tested here (of {len(null_claims)})" if len(tested) < len(null_claims) else "")
    verb = "can be" if len(tested) > 1 else "cannot be"  # "None of the 9 ... can be", "The one ... cannot be"
    return (
        f"{which} {verb} consistent unless its {register.levels.equivalence_level:.0%} interval fits inside an odds "
        f"ratio of 1/{odds_ratio_margin(register)} to {odds_ratio_margin(register)}, which {group_sizes(cases)} "
        "rarely allows: at this sample size 'inconclusive' is the expected verdict for a true null, not evidence "
        "against the source."
    )


def simulated_reading(cases: pd.DataFrame) -> str:
    """How to read the verdicts: on the simulated sheet they test the pipeline, not the source."""
    if not cases.attrs.get("simulated"):
        return "These verdicts are computed on the coded sheet named above."
    if not cases.attrs.get("generated"):
        return (
            "**Reading on a sheet labelled simulated.** Its rows are not a real coding (their `coding_source` says "
            "simulated), so these verdicts show how the check behaves on this sheet; none is a finding about Latin "
            "American clusters, for or against the source. How often each verdict should be expected is a question "
            "for a design analysis (`07_power`), not for this table."
        )
    return (
        "**Reading on simulated data.** The simulated sheet was generated with the signs of this very table, "
        "so every 'consistent' verdict is the pipeline recovering a relation that was built in, and every "
        f"'inconclusive' verdict for a relation that was built in shows what {len(cases)} cases cannot resolve. "
        "A 'contradicted' verdict is a chance result of the simulation (or of sparse cells), not a finding. "
        "How often each verdict should be expected under the simulation's assumptions is a question for a "
        "design analysis (`07_power`), not for this table."
    )


# 04 · partial pooling --------------------------------------------------------------------------------------


def pooling_method(settings, priors, n_groups: int, grid_points: int | None) -> str:
    """How the partially pooled posterior is computed, with the settings and priors the notebook used."""
    groups = (
        f"lets each of the {n_groups} groups' collective-efficiency and leader-driven slopes vary around a common "
        "mean with between-group SDs tau (one per predictor), estimated from the data."
        if n_groups != 1
        else "lets each group's collective-efficiency and leader-driven slopes vary around a common mean with "
        "between-group SDs tau (one per predictor). This sheet has one sectoral group, so the data cannot tell its "
        "slopes from the common mean, and say almost nothing about tau: its posterior stays close to its prior."
    )
    return (
        f"For each form, the partially pooled ordered logit {groups} Its posterior is computed without a Markov chain: "
        f"(1) on a grid{'' if grid_points is None else f' of {grid_points} points'} over (log tau_beta, log "
        f"tau_gamma), step {settings.grid_step:g}, "
        "every conditional mode and curvature of the other parameters comes from one batched Newton solve of "
        "the ordered-logit engine; (2) a Laplace approximation weights the grid points; (3) "
        f"{settings.draws:,} draws (to start) from that mixture (seed {settings.seed}) are reweighted to the exact "
        "posterior "
        "by Pareto-smoothed importance sampling. The grid's modes are found in the coordinates the draws use "
        "(the first threshold and the logs of the gaps between thresholds), where a mode exists even when an "
        "upgrading level is never observed. Every reported posterior mean, quantile and probability has a Monte "
        "Carlo standard error from the importance weights (the `mcse_*` columns of `pooling_slopes` and "
        f'`pooling_tau`), and a fit is "ok" only under the declared accuracy rule: k-hat under its '
        f"threshold, an effective sample size of at least {ACCURACY.ess_min:,.0f}, and every Monte Carlo SE at most "
        f"{ACCURACY.mcse_share:.0%} of the tolerance to which the method is checked against NUTS. A fit that misses "
        "it improves itself (more draws, then a finer grid and a heavier-tailed proposal); one that after its last "
        f"attempt still has an MCSE above {ACCURACY.accept_share:.0%} of the tolerance, or whose hyperparameters' "
        "mass reaches the grid's edge, is reported as unreliable, its numbers withheld. Priors "
        "(`src/upgrading/data/pooling.toml`, each with its reason; "
        f"edit and rerun): mu ~ Normal(0, {priors.mu_sd:g}), tau ~ HalfNormal({priors.tau_scale:g}), group "
        f"shifts ~ Normal(0, {priors.delta_sd:g}), thresholds ~ Normal(0, {priors.threshold_sd:g}) in order."
    )


def pooling_validation(agreement: pd.DataFrame) -> str:
    """The agreement with the NUTS references, as measured on this sheet (`pooling.reference_agreement`)."""
    text = (
        "**Validation.** The method was checked against NumPyro NUTS runs of the same model on the simulated "
        "sheet (4 chains of 5,000 draws, `tests/reference/pooling/`): every posterior mean within 0.1 "
        "posterior SD, every SD within 10%, the 5% and 95% quantiles within 0.15 SD and every P(> 0) within "
        "0.03 (`tests/test_pooling.py`). "
    )
    if agreement.empty:
        return text + (
            "This sheet is not the one the references were computed on, so the check cannot be repeated "
            "here; the k-hat and grid-edge flags below are the guard."
        )
    worst = agreement.loc[agreement["worst_x_tolerance"].idxmax()]
    return text + (
        f"Measured on this sheet, the largest error of any reported quantity is "
        f"{worst['worst_x_tolerance']:.2f} times its tolerance ({words(worst['form'])}); "
        f"{int((agreement['worst_x_tolerance'] <= 1).sum())} of {len(agreement)} forms pass."
    )


def _excludes_zero(frame: pd.DataFrame) -> pd.Series:
    return (frame["conf_low"] > 0) | (frame["conf_high"] < 0)


def _tau_prior(tau_scale: float, margin: float, one_group: bool = False) -> str:
    """The HalfNormal(tau_scale) prior's median and P(tau > margin): what the posterior is when the data say
    nothing about the between-group SD (few groups; with `one_group`, nothing at all)."""
    median = tau_scale * stats.norm.ppf(0.75)
    above = 2 * stats.norm.sf(margin / tau_scale)
    reading = (
        "with one sectoral group the data say almost nothing about how much groups' slopes differ, so the "
        "posterior stays close to this prior"
        if one_group
        else "a posterior close to these says that the data, from few groups, say little about how much the "
        "groups' slopes differ"
    )
    return (
        f" Under its HalfNormal({tau_scale:g}) prior alone, a between-group SD has median {median:.2f} and P(tau > "
        f"{margin:.3f}) = {above:.2f}: {reading}."
    )


def pooling_summary(slopes: pd.DataFrame, tau: pd.DataFrame, cases: pd.DataFrame, tau_scale: float) -> str:
    """What partial pooling changes: intervals excluding zero and their widths under no and partial pooling, the
    between-group SDs' posteriors beside their prior (HalfNormal(`tau_scale`)), and any fit that is not
    reliable."""
    no = slopes[slopes["method"] == "no pooling"].reset_index(drop=True)
    partial = slopes[slopes["method"] == "partial pooling"].reset_index(drop=True)
    both = no["estimate"].notna() & partial["estimate"].notna()
    ratio = ((partial["conf_high"] - partial["conf_low"]) / (no["conf_high"] - no["conf_low"]))[both]
    ok = tau[tau["status"] == "ok"]
    bad = tau[tau["status"] != "ok"].drop_duplicates("form")
    one_group = cases["sectoral_group"].astype(str).nunique() == 1
    why = (
        "with one sectoral group on the sheet there is no other group to borrow strength from: the partially "
        "pooled slopes differ from no pooling's only through the model's priors (the figure)"
        if one_group
        else "because each group borrows strength from the others, and its estimates are pulled toward the common "
        "mean (the figure)"
    )
    text = (
        f"Of the {int(both.sum())} group slopes estimated both ways, **{int(_excludes_zero(no[both]).sum())}** "
        f"have a 95% interval excluding zero without pooling and **{int(_excludes_zero(partial[both]).sum())}** "
        f"with partial pooling; partial pooling's intervals are {span(ratio.quantile([0.5]))} times as wide "
        f"as no pooling's at the median (range {span(ratio, '.2f', ' to ')}), {why}."
        if both.any()  # else no width to compare (no 'nan times as wide')
        else "No group slope is estimated both without pooling and with partial pooling on this sheet, so their "
        "intervals cannot be compared (`pooling_slopes`' notes say why)."
    )
    if len(ok):
        text += (
            f" The between-group SDs' posterior medians range over {span(ok['q50'], '.2f', ' to ')} log odds, "
            f"with 90% intervals reaching from {ok['q05'].min():.2f} to {ok['q95'].max():.2f}: P(tau > margin "
            f"{ok['margin'].iloc[0]:.3f}) is {span(ok['p_above_margin'], '.2f', ' to ')} (near 1 would say "
            "the groups' slopes differ by more than the smallest effect that matters, near 0 that they do not)."
            + _tau_prior(tau_scale, float(ok["margin"].iloc[0]), one_group)
        )
    if len(bad):
        text += (
            " Not reported (unreliable or not estimable): "
            + "; ".join(f"{words(r.form)} ({r.status})" for r in bad.itertuples())
            + "."
        )
    if cases.attrs.get("simulated"):
        text += (
            f" {on_the_sheet(cases)} these numbers demonstrate the method; they are not findings about Latin "
            "American clusters."
        )
    return text
