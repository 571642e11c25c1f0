"""The sentences of notebook 07 (the design analysis): every number in them is read from a result table, never
typed (see `narrative`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .narrative import series, span, words
from .narrative_models import odds_ratio_margin
from .settings import POWER_TARGET

# 07 · design analysis --------------------------------------------------------------------------------------


def design_summary(params: dict, replicates: int, cases: Sequence[int], effect_scales: Sequence[float]) -> str:
    """The documented generator's group proportions and effect sizes, and the size of the Monte Carlo study."""
    sizes = params["group_sizes"]
    effect = params["outcome"]["effect_size"]
    cells = len(cases) * len(effect_scales)
    return (
        f"Sheets are drawn with the groups in the documented proportions ({' : '.join(map(str, sizes.values()))}"
        f", {series(words(g) for g in sizes)}) and documented effect sizes (scale 1) of "
        f"{effect['collective_efficiency']} log-odds per level of collective efficiency and "
        f"{effect['leader_driven']} log-odds for leader-driven governance. This run: {replicates:,} replicates "
        f"in each of {cells} design cells ({len(cases)} numbers of cases, {series(map(str, cases))}; "
        f"{len(effect_scales)} effect scales, {series(f'{s:g}' for s in effect_scales)}), "
        f"{replicates * cells:,} simulated sheets in all."
    )


def reaching(frame: pd.DataFrame, target: float = POWER_TARGET, plural: bool = True, where: str = "") -> str:
    """Whether and from how many cases `p_right` reaches `target`, as a predicate ('reach a right verdict in at
    least 80% of replicates in every group from 100 cases'; '... at none of the numbers of cases studied')."""
    hits = frame[frame["p_right"] >= target]["n_cases"]
    if len(hits):
        verb = "reach" if plural else "reaches"
        return f"{verb} a right verdict in at least {target:.0%} of replicates{where} from {hits.min()} cases"
    verb = "reach" if plural else "reaches"
    return (
        f"{verb} a right verdict in at least {target:.0%} of replicates{where} at none of the numbers of cases "
        f"studied (up to {frame['n_cases'].max()})"
    )


def power_reading(summary: pd.DataFrame, register, base_cases: int, target: float = POWER_TARGET) -> str:
    """What the design can and cannot detect, from the power table at the documented effects (scale 1).

    `base_cases`: the study's own number of cases (the nearest number studied if it was not); `register`: the
    claims register whose margins and equivalence level the sentences quote.
    """
    margin = odds_ratio_margin(register)
    documented = summary[summary["effect_scale"] == 1.0]
    per_group = documented[documented["scope"] != "pooled"]
    pooled = documented[documented["scope"] == "pooled"]
    largest = int(summary["n_cases"].max())
    studied = sorted(summary["n_cases"].unique())
    base_cases = int(min(studied, key=lambda n: (abs(n - base_cases), n)))  # the study's size, or the nearest run
    base = per_group[per_group["n_cases"] == base_cases]
    most = per_group[per_group["n_cases"] == largest]
    pos_group = per_group[per_group["kind"] == "positive"].groupby("n_cases")["p_right"].min().reset_index()
    pos_pooled = pooled[pooled["kind"] == "positive"]
    null_most = most[most["kind"] == "neutral"]
    return (
        f"- **At {base_cases} cases with the documented effects**, a per-group claim gets the right verdict in "
        f"{span(base['p_right'])} of replicates (by group and kind) and a wrong one in {span(base['p_wrong'])}; the "
        f"rest are inconclusive. Maximum likelihood is separated in {span(base['p_separated'])} of these fits at "
        f"{base_cases} cases and in {span(most['p_separated'])} at {largest}.\n"
        f"- **Positive per-group claims** {reaching(pos_group, target, where=' in every group')} (documented "
        f"effects); the **pooled** positive claim {reaching(pos_pooled, target, plural=False)}.\n"
        f"- **Neutral claims** are the hardest: showing that an effect is absent needs its "
        f"{register.levels.equivalence_level:.0%} interval inside the "
        f"declared margin (odds ratio {margin}), which per group is reached in {span(null_most['p_right'])} of "
        f"replicates even at {largest} cases.\n"
        f"- Wrong verdicts: at most {summary['p_wrong'].max():.3f} of verdicts in any design cell, so with this "
        f"design an *inconclusive* verdict, not a wrong one, is the usual failure; for most per-group claims it is "
        f"the expected outcome at about {base_cases} cases, and no evidence against them."
    )


# 07 · partial pooling in the design analysis ---------------------------------------------------------------


def pooling_power_reading(comparison: pd.DataFrame) -> str:
    """What partial pooling gains in right verdicts and costs in wrong ones, per kind of claim, over all groups
    (`power.compare_pooling`), as properties of the design."""
    rows = comparison[comparison["scope"] == "all groups"]
    lines = []
    for (n, scale), cell in rows.groupby(["n_cases", "effect_scale"], observed=True):
        parts = []
        for kind in [k for k in ("positive", "neutral", "negative") if (cell["kind"] == k).any()]:
            of_kind = cell[cell["kind"] == kind]
            no = of_kind[of_kind["method"].str.startswith("no pooling")].iloc[0]
            partial = of_kind[of_kind["method"].str.startswith("partial pooling")].iloc[0]
            parts.append(
                f"{kind} claims right {no['p_right']:.2f} → {partial['p_right']:.2f} "
                f"(± {2 * partial['mcse_right']:.2f}), wrong {no['p_wrong']:.3f} → {partial['p_wrong']:.3f} "
                f"(± {2 * partial['mcse_wrong']:.3f})"
            )
        lines.append(
            f"- **{n} cases, {scale:g} × the documented effects**, no pooling → partial pooling: "
            + "; ".join(parts)
            + f" ({int(cell['replicates'].min())} replicates; ± two Monte Carlo "
            "standard errors of the partially pooled share)."
        )
    unreliable = rows["p_unreliable"].max()
    lines.append(
        f"- Partially pooled posteriors flagged unreliable (counted inconclusive): at most "
        f"{unreliable:.3f} of verdicts. These are operating characteristics of the design and of the two "
        "methods under the documented generator, in which some groups truly differ from the others: where "
        "partial pooling adds wrong verdicts, shrinkage has pulled such a group toward the rest."
    )
    return "\n".join(lines)


def fast_accuracy(settings, agreement: pd.DataFrame, fits: dict | None = None) -> str:
    """The fast setting of the partially pooled posterior, the draws its fits took to pass the accuracy rule, and its
    measured accuracy against the NUTS references."""
    text = (
        f"Fast setting: grid step {settings.grid_step:g} on log tau, {settings.draws:,} importance draws to start, "
        "raised (and the grid refined) until each fit passes the accuracy rule"
    )
    used = [f.result.settings.draws for f in (fits or {}).values() if f.result is not None]
    text += f" (on the simulated sheet: {span_of(used)} draws). " if used else ". "
    if agreement.empty:
        return text + "Its accuracy could not be measured here (the NUTS references were not found)."
    worst = {k: agreement[f"{k}_error"].max() for k in ("mean", "sd", "q05", "q95", "p_positive")}
    return text + (
        f"Against the NUTS references of the same model on the simulated sheet ({len(agreement)} forms), "
        f"its largest errors are {worst['mean']:.3f} posterior SD for a mean, {worst['q05']:.3f} and "
        f"{worst['q95']:.3f} SD for the 5% and 95% quantiles, {worst['sd']:.1%} for an SD and "
        f"{worst['p_positive']:.3f} for a P(> 0), at most "
        f"{agreement['worst_x_tolerance'].max():.2f} times the tolerance the default setting is held to; "
        "an interval end off by that much moves a verdict only when it lies that close to 0 or to the "
        "margin."
    )


def rule_change(changes: pd.DataFrame, shown: int = 6) -> str:
    """Which rates of the power table moved when the design analysis began to score notebook 05's own rule, and by
    how much: the moves larger than twice their Monte Carlo SE, the largest first."""
    clear = changes[changes["z"].abs() > 2]
    total = len(changes)
    lines = [
        f"Of the {total} rates (right, wrong and inconclusive in each scope, kind of claim and design cell), "
        f"**{len(clear)}** moved by more than twice their Monte Carlo SE; the rest are within Monte Carlo noise of "
        "their earlier values."
    ]
    for r in clear.head(shown).itertuples():
        lines.append(
            f"- {words(r.scope)}, {r.kind} claims, {r.n_cases} cases, effect scale {r.effect_scale:g}: "
            f"P({r.rate}) {r.before:.3f} -> {r.after:.3f} ({r.change:+.3f}, MC SE {r.mcse_change:.3f})"
        )
    return "\n".join(lines)


def span_of(values: list[int]) -> str:
    """'16,000' or '16,000 to 64,000'."""
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


# 07 · coding error in the design analysis ------------------------------------------------------------------


def coding_error_model_reading(calibrations: pd.DataFrame, reason: str) -> str:
    """The erring coder that the measured alphas calibrate (`coding_error.calibrations`; the first `alpha_at` is the
    measured point estimates): whom the alphas are read as comparing and why (`reason`), the rates solved to alpha,
    the calibration's check, the derived variables' alphas, the rates of each other calibration, and every note of
    a rate that could not be solved to its alpha."""
    at = list(dict.fromkeys(calibrations["alpha_at"]))
    solved = calibrations[calibrations["coding_error_rate"].notna() & (calibrations["note"] == "")]
    coders = int(calibrations["coders_in_error"].iloc[0])
    whom = "two coders who each err independently" if coders == 2 else "one erring coder against the true codes"
    text = f"The measured alphas are read as {whom} (`coders_in_error = {coders}`: {reason})."
    point = solved[solved["alpha_at"] == at[0]]
    if len(point):
        low, high = point.loc[point["coding_error_rate"].idxmin()], point.loc[point["coding_error_rate"].idxmax()]
        gap = (solved["model_alpha"] - solved["target_alpha"]).abs().max()
        text += (
            f" Solved to the alphas, the erring coder moves a code one step with probability "
            f"{low['coding_error_rate']:.3f} ({words(low['variable'])}) to {high['coding_error_rate']:.3f} "
            f"({words(high['variable'])}); at every rate solved to an alpha, the model's alpha is within {gap:.4f} "
            "of it."
        )
    calibration = calibrations[calibrations["alpha_at"] == at[0]]
    derived = calibration[calibration["variable"].isin(["collective_efficiency", "leader_driven"])]
    checks = [
        f"{words(r.variable)} {r.model_alpha:.3f} (measured: {r.measured_alpha:.3f})"
        for r in derived.itertuples()
        if pd.notna(r.model_alpha)
    ]
    if checks:
        text += (
            " Re-derived from their recoded parts, the derived variables then have alpha "
            + series(checks)
            + ": how far the model's one-step moves reproduce what the coders did to them."
        )
    for other in at[1:]:
        rates = solved[solved["alpha_at"] == other]["coding_error_rate"]
        if len(rates):
            text += (
                f" With every alpha at the {other} (a pessimistic scenario, all at once), the rates solved to alpha "
                f"are {span(rates, '.3f')}."
            )
    unsolved = calibrations[calibrations["coding_error_rate"].notna() & (calibrations["note"] != "")]
    for r in unsolved.itertuples():
        rate = f"rate {r.coding_error_rate:.3f}"
        text += f"\n- **Not solved to alpha**, {words(r.variable)} ({r.alpha_at}): {r.note}; {rate}."
    return text


def coding_error_reading(comparison: pd.DataFrame) -> str:
    """What coding at the measured reliability costs (`power_coding_error.costs_of_coding_error`, paired on the same
    replicates): per design cell, at the measured alphas (the first `alpha_at`), the pooled claims and every
    per-group claim at once, each kind, right and wrong shares without → with coding error, with two paired Monte
    Carlo standard errors; then, for each calibration, the largest loss of right verdicts of a directional
    (positive or negative) claim that is larger than two of its standard errors."""
    rows = comparison[comparison["scope"].isin(["pooled", "all groups"])]
    calibrations = list(dict.fromkeys(rows["alpha_at"]))
    lines = []
    point = rows[rows["alpha_at"] == calibrations[0]]
    for (n, scale), cell in point.groupby(["n_cases", "effect_scale"], observed=True):
        parts = [
            f"{'pooled' if r.scope == 'pooled' else 'per-group'} {r.kind} claims right {r.p_right:.3f} → "
            f"{r.p_right_coding_error:.3f} ({r.change_right:+.3f} ± {2 * r.mcse_change_right:.3f}), wrong "
            f"{r.p_wrong:.3f} → {r.p_wrong_coding_error:.3f}"
            for r in cell.itertuples()
        ]
        lines.append(
            f"- **{n} cases, {scale:g} × the documented effects** ({int(cell['replicates'].min())} replicates), true "
            f"codes → codes with error at the alphas' {calibrations[0]} (changes ± two paired Monte Carlo standard "
            "errors): " + "; ".join(parts) + "."
        )
    for alpha_at in calibrations:
        lines.append(f"- **What the measured reliability costs, at the alphas' {alpha_at}**: " + _largest_loss(
            rows[rows["alpha_at"] == alpha_at]))  # fmt: skip
    lines.append(
        "Changes are paired differences on the same sheets, coded with and without error; a change within two Monte "
        "Carlo standard errors is not told apart from none. Coding error is expected to attenuate the estimated "
        "slopes toward zero: where it lowers the wrong verdicts of a neutral claim, that is attenuation, not a "
        "benefit of error. The cost is that of the declared error model at the alphas named."
    )
    return "\n".join(lines)


def _largest_loss(rows: pd.DataFrame) -> str:
    """The largest relative loss of right verdicts of a directional claim among those beyond two MC SEs."""
    directional = rows[rows["kind"].isin(["positive", "negative"]) & (rows["p_right"] > 0)]
    clear = directional[-directional["change_right"] > 2 * directional["mcse_change_right"]]
    if not len(clear):
        return (
            "no loss of right verdicts of a positive or negative claim is larger than two Monte Carlo standard errors."
        )
    worst = clear.loc[(-clear["change_right"] / clear["p_right"]).idxmax()]
    scope = "the pooled" if worst["scope"] == "pooled" else "the per-group"
    return (
        "of the losses of right verdicts larger than two Monte Carlo standard errors, the largest relative one is "
        f"that of {scope} {worst['kind']} claims at {worst['n_cases']} cases and {worst['effect_scale']:g} × the "
        f"documented effects: {worst['p_right']:.3f} → {worst['p_right_coding_error']:.3f} "
        f"({worst['change_right']:+.3f} ± {2 * worst['mcse_change_right']:.3f}), "
        f"{-worst['change_right'] / worst['p_right']:.0%} of their right verdicts (a point estimate)."
    )
