"""The sentences the notebooks print: every number in them is read from a result table, never typed.

Each builder takes the table a notebook has just computed and returns Markdown text; a notebook cell displays
it. Keeping them here leaves the notebooks to read as a paper (a sentence of narrative, a call, its result) and
lets tests check the sentences against hand counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .settings import ALPHA_TENTATIVE, POWER_TARGET


def words(code: str) -> str:
    """A code as prose: `process_upgrading` -> 'process upgrading'."""
    return str(code).replace("_", " ")


def series(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def span(values: Iterable[float], fmt: str = ".2f", dash: str = "–") -> str:
    """'low–high' of some values as formatted, or one number when both ends print the same."""
    values = pd.Series(list(values), dtype=float)
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return low if low == high else f"{low}{dash}{high}"


def count_span(values: Iterable[int]) -> str:
    """'9 to 18', or '12' when all are equal (e.g. cases per group)."""
    values = [int(v) for v in values]
    return str(min(values)) if min(values) == max(values) else f"{min(values)} to {max(values)}"


def shown_rows(shown: int, total: int, written: Sequence[str]) -> str:
    """Where the full table is, for a notebook that displays only part of it."""
    where = " and ".join(f"`{p}`" for p in written) if written else "its exhibit"
    part = f"The {shown} rows shown are a selection of {total}" if shown < total else f"All {total} rows are shown"
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
    """Cases in all and per sectoral group (`by_group`: `descriptives.cases_by_group`)."""
    return (
        f"The sheet holds **{len(cases)} cases** in {len(by_group)} sectoral groups: "
        + "; ".join(f"{row.sectoral_group} {row.cases}" for row in by_group.itertuples())
        + "."
    )


def mistakes_summary(mistakes) -> str:
    """The mistakes planted in the validation demonstration (`coding.TYPICAL_MISTAKES`)."""
    return (
        f"The copy carries {len(mistakes)} typical mistakes, one per row: "
        + series(f"{m.description} (`{m.column}`)" for m in mistakes)
        + ". The report:"
    )


def reliability_summary(alphas: pd.DataFrame, tentative: float = ALPHA_TENTATIVE) -> str:
    """Range of alpha and of exact agreement, and which variables' intervals reach below `tentative`."""
    lowest = alphas.loc[alphas["alpha"].idxmin()]
    below = alphas.loc[alphas["ci_low"] < tentative, "variable"].tolist()
    return (
        f"Alpha ranges from {alphas['alpha'].min():.2f} ({lowest['variable']}) to {alphas['alpha'].max():.2f}; "
        f"exact agreement from {alphas['exact_agreement'].min():.0%} to {alphas['exact_agreement'].max():.0%}. "
        + (
            f"The interval of {', '.join(below)} reaches below {tentative}, so conclusions resting on "
            f"{'it' if len(below) == 1 else 'them'} should be read with care."
            if below
            else f"Every interval lies above {tentative}."
        )
    )


def disagreements_summary(differences: pd.DataFrame) -> str:
    """How many disagreements over how many cases."""
    return f"{len(differences)} disagreements over {differences['case_id'].nunique()} cases."


# 03 · descriptives -----------------------------------------------------------------------------------------


def group_sizes(cases: pd.DataFrame) -> str:
    """'9 to 18 cases per group' as counted on the sheet."""
    sizes = cases["sectoral_group"].astype(str).value_counts()
    return f"{count_span(sizes)} cases per group"


def upgrading_summary(upgrading: pd.DataFrame, cases: pd.DataFrame) -> str:
    """Highest and lowest mean score over all cases (`upgrading`: `descriptives.upgrading_by_group`)."""
    overall = upgrading[upgrading["sectoral_group"] == "all"].set_index("form")
    top, bottom = overall["mean"].idxmax(), overall["mean"].idxmin()
    return (
        ("In the simulated sheet, a" if cases.attrs.get("simulated") else "A")
        + f"cross all {int(overall['cases'].iloc[0])} cases, {words(top)} has the highest mean score "
        f"({overall.loc[top, 'mean']:.2f}) and {words(bottom)} the lowest ({overall.loc[bottom, 'mean']:.2f}). "
        f"With {group_sizes(cases)}, a difference of a few tenths between group means is within what "
        "sampling alone produces; the ordered-logit models of `04_models` put intervals on such differences."
    )


def governance_summary(governance: pd.DataFrame, levels: Sequence[str]) -> str:
    """Empty and sparse group-by-governance cells (`governance`: `descriptives.governance_by_group`)."""
    cells = governance.melt(id_vars="sectoral_group", value_vars=list(levels))
    empty = cells[cells["value"] == 0]
    sparse = int(cells["value"].between(1, 2).sum())
    return (
        f"{len(empty)} of the {len(cells)} group-by-governance cells {'is' if len(empty) == 1 else 'are'} empty"
        + (f" ({', '.join(f'{r.variable} in {r.sectoral_group}' for r in empty.itertuples())})" if len(empty) else "")
        + f", and {sparse} hold only one or two cases. Models that estimate a governance effect inside each "
        "group therefore use the two-way `leader_driven` contrast, and must watch for separation "
        "(see `04_models`)."
    )


# 04 · models -----------------------------------------------------------------------------------------------


def not_estimable(table: pd.DataFrame, what: str, reason_column: str = "note") -> str:
    """' N <what> cannot be estimated on this sheet (reasons).' for rows without a number, or ''."""
    reasons = table[reason_column].fillna("").astype(str) if reason_column in table else pd.Series(dtype=str)
    reasons = reasons[reasons.str.len() > 0]
    if reasons.empty:
        return ""
    counts = reasons.value_counts(sort=False)
    noun = what[:-1] if len(reasons) == 1 and what.endswith("s") else what
    return (
        f" {len(reasons)} {noun} cannot be estimated on this sheet ("
        + "; ".join(f"{reason}: {k}" for reason, k in counts.items())
        + ")."
    )


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
    if defined == 0:
        brant = (
            f"The Brant test of proportional odds cannot be computed for any fit{why}, so proportional odds "
            "cannot be tested on these data, and the models rest on that assumption untested."
        )
    elif defined < len(diagnostics):
        brant = (
            f"The Brant test of proportional odds is defined for {defined} of {len(diagnostics)} fits; not for "
            f"the others{why}."
        )
    else:
        brant = "The Brant test is defined for every fit; its p-values are in the diagnostics exhibit."
    return text + " " + brant + not_estimable(skipped, "models")


def estimates_summary(key: pd.DataFrame, cases: pd.DataFrame) -> str:
    """Group-specific slopes whose 95% interval excludes zero (`key`: the by-group rows of the key predictors)."""
    skipped = key[key["note"].fillna("").astype(str).str.len() > 0] if "note" in key else key.iloc[:0]
    key = key.drop(index=skipped.index)
    excluding = key[(key["conf_low"] > 0) | (key["conf_high"] < 0)]
    return (
        f"Of the {len(key)} estimated group-specific slopes, **{len(excluding)}** have a 95% interval that "
        "excludes zero"
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
        + not_estimable(skipped, "group-specific slopes")
        + f" With {group_sizes(cases)} most intervals are wide; the design analysis of how often such a "
        "design detects an effect of a given size is a separate question from these estimates."
        + (
            " On the simulated sheet these are properties of data generated from the documented assumptions, "
            "not findings about Latin American clusters."
            if cases.attrs.get("simulated")
            else ""
        )
    )


def sign_changes(loo: pd.DataFrame) -> pd.DataFrame:
    """Rows of a leave-one-out table whose range crosses zero."""
    return loo[(loo["loo_min"] < 0) & (loo["loo_max"] > 0)]


def leave_one_out_design(loo: pd.DataFrame, cases: pd.DataFrame) -> str:
    """How many refits each slope's range rests on, as recorded in the leave-one-out table."""
    loo = loo[loo["refits"].notna()]
    if loo.empty:
        return "No slope can be refitted on this sheet."
    most_skipped = int(loo["refits_failed"].max())
    return (
        f"Each key slope is refitted once without each of the {len(cases)} cases; "
        f"{count_span(loo['refits'])} of those refits per slope could be fitted"
        + (
            f", the others (at most {most_skipped} per slope) being skipped, as recorded per model: "
            + "; ".join(sorted({s for s in loo["skipped"].fillna("") if s}))
            + "."
            if most_skipped
            else "."
        )
    )


def leave_one_out_summary(by_group: pd.DataFrame) -> str:
    """How many group-specific slopes change sign when a single case is left out."""
    estimated = by_group[by_group["refits"].notna()]
    return (
        f"{len(sign_changes(estimated))} of the {len(estimated)} estimated group-specific slopes change sign "
        "when a single case is left out."
        + not_estimable(by_group[by_group["refits"].isna()], "group-specific slopes")
        + " The sign changes:"
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
    computed = exact[exact["n"].astype(float) > 0]
    return f"The {len(exact)} tests cover groups of {count_span(computed['n'])} cases; p-values: " + series(parts) + "."


# 05 · claims -----------------------------------------------------------------------------------------------


def odds_ratio_margin(register) -> str:
    """The declared margins of a claims register as odds ratios ('1.5'; several if it declares several)."""
    values = sorted({f"{np.exp(float(m)):.2g}" for m in register.margins.values()})
    return " or ".join(values)


def verdicts_summary(verdicts: pd.DataFrame, counts: pd.DataFrame, register, cases: pd.DataFrame) -> str:
    """Raw and Holm-adjusted verdict counts, and why null claims are rarely consistent at this size."""
    cells = verdicts[verdicts["kind"] == "table cell"]
    null_claims = verdicts[verdicts["expected"] == "null"]
    margin = odds_ratio_margin(register)
    return (
        f"Of the {len(verdicts)} claims ({len(cells)} table cells, {len(verdicts) - len(cells)} textual), "
        f"{counts.loc['consistent', 'raw']} are consistent with the data, {counts.loc['contradicted', 'raw']} "
        f"contradicted and {counts.loc['inconclusive', 'raw']} inconclusive before adjustment; after Holm's "
        f"adjustment over one family of {2 * len(verdicts)} tests (the test for 'consistent' and the test for "
        f"'contradicted' of every claim): {counts.loc['consistent', 'holm']} consistent, "
        f"{counts.loc['contradicted', 'holm']} contradicted, {counts.loc['inconclusive', 'holm']} inconclusive. "
        f"None of the {len(null_claims)} 'neutral'/'none' claims can be consistent unless its "
        f"{register.levels.equivalence_level:.0%} interval fits "
        f"inside an odds ratio of 1/{margin} to {margin}, which {group_sizes(cases)} rarely allows: at this "
        "sample size 'inconclusive' is the expected verdict for a true null, not evidence against the source."
    )


def simulated_reading(cases: pd.DataFrame) -> str:
    """How to read the verdicts: on the simulated sheet they test the pipeline, not the source."""
    if not cases.attrs.get("simulated"):
        return "These verdicts are computed on the coded sheet named above."
    return (
        "**Reading on simulated data.** The simulated sheet was generated with the signs of this very table, "
        "so every 'consistent' verdict is the pipeline recovering a relation that was built in, and every "
        f"'inconclusive' verdict for a relation that was built in shows what {len(cases)} cases cannot resolve. "
        "A 'contradicted' verdict is a chance result of the simulation (or of sparse cells), not a finding. "
        "How often each verdict should be expected under the simulation's assumptions is a question for a "
        "design analysis (`06_power`), not for this table."
    )


# 06 · design analysis --------------------------------------------------------------------------------------


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


def first_n_reaching(frame: pd.DataFrame, column: str = "p_right", target: float = POWER_TARGET) -> str:
    """The smallest number of cases at which `column` reaches `target`, as prose ('from 100 cases')."""
    hits = frame[frame[column] >= target]["n_cases"]
    if len(hits):
        return f"from {hits.min()} cases"
    return f"at no number of cases studied (up to {frame['n_cases'].max()})"


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
        f"- **Positive per-group claims** reach a right verdict in at least {target:.0%} of replicates in every "
        f"group {first_n_reaching(pos_group, target=target)} (documented effects); the **pooled** positive "
        f"claim {first_n_reaching(pos_pooled, target=target)}.\n"
        f"- **Neutral claims** are the hardest: showing that an effect is absent needs its "
        f"{register.levels.equivalence_level:.0%} interval inside the "
        f"declared margin (odds ratio {margin}), which per group is reached in {span(null_most['p_right'])} of "
        f"replicates even at {largest} cases.\n"
        f"- Wrong verdicts: at most {summary['p_wrong'].max():.3f} of verdicts in any design cell, so with this "
        f"design an *inconclusive* verdict, not a wrong one, is the usual failure; for most per-group claims it is "
        f"the expected outcome at about {base_cases} cases, and no evidence against them."
    )


# 04 · partial pooling --------------------------------------------------------------------------------------


def pooling_method(settings, priors, n_groups: int, grid_points: int) -> str:
    """How the partially pooled posterior is computed, with the settings and priors the notebook used."""
    return (
        f"For each form, the partially pooled ordered logit lets each of the {n_groups} groups' "
        "collective-efficiency and leader-driven slopes vary around a common mean with between-group SDs "
        "tau (one per predictor), estimated from the data. Its posterior is computed without a Markov chain: "
        f"(1) on a grid of {grid_points} points over (log tau_beta, log tau_gamma), step {settings.grid_step:g}, "
        "every conditional mode and curvature of the other parameters comes from one batched Newton solve of "
        "the ordered-logit engine; (2) a Laplace approximation weights the grid points; (3) "
        f"{settings.draws:,} draws from that mixture (seed {settings.seed}) are reweighted to the exact posterior "
        "by Pareto-smoothed importance sampling, whose k-hat says whether the correction can be trusted. A fit "
        "whose k-hat is too high or whose hyperparameters' mass reaches the grid's edge is reported as "
        "unreliable, its numbers withheld. Priors (`src/upgrading/data/pooling.toml`, each with its reason; "
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


def pooling_summary(slopes: pd.DataFrame, tau: pd.DataFrame, cases: pd.DataFrame) -> str:
    """What partial pooling changes: intervals excluding zero and their widths under no and partial pooling, the
    between-group SDs' posteriors, and any fit that is not reliable."""
    no = slopes[slopes["method"] == "no pooling"].reset_index(drop=True)
    partial = slopes[slopes["method"] == "partial pooling"].reset_index(drop=True)
    both = no["estimate"].notna() & partial["estimate"].notna()
    ratio = ((partial["conf_high"] - partial["conf_low"]) / (no["conf_high"] - no["conf_low"]))[both]
    ok = tau[tau["status"] == "ok"]
    bad = tau[tau["status"] != "ok"].drop_duplicates("form")
    text = (
        f"Of the {int(both.sum())} group slopes estimated both ways, **{int(_excludes_zero(no[both]).sum())}** "
        f"have a 95% interval excluding zero without pooling and **{int(_excludes_zero(partial[both]).sum())}** "
        f"with partial pooling; partial pooling's intervals are {span(ratio.quantile([0.5]))} times as wide "
        f"as no pooling's at the median (range {span(ratio, '.2f', ' to ')}), because each group borrows "
        "strength from the others, and its estimates are pulled toward the common mean (the figure)."
    )
    if len(ok):
        text += (
            f" The between-group SDs' posterior medians range over {span(ok['q50'], '.2f', ' to ')} log odds, "
            f"with 90% intervals reaching from {ok['q05'].min():.2f} to {ok['q95'].max():.2f}: P(tau > margin "
            f"{ok['margin'].iloc[0]:.3f}) is {span(ok['p_above_margin'], '.2f', ' to ')} (near 1 would say "
            "the groups' slopes differ by more than the smallest effect that matters, near 0 that they do not)."
        )
    if len(bad):
        text += (
            " Not reported (unreliable or not estimable): "
            + "; ".join(f"{words(r.form)} ({r.status})" for r in bad.itertuples())
            + "."
        )
    if cases.attrs.get("simulated"):
        text += (
            " On the simulated sheet these numbers demonstrate the method; they are not findings about Latin "
            "American clusters."
        )
    return text


# 05 · claims, pooled verdicts ------------------------------------------------------------------------------


def pooled_verdicts_summary(verdicts: pd.DataFrame, cases: pd.DataFrame) -> str:
    """How the partially pooled verdicts compare with the no-pooling ones on the group-slope claims."""
    slope = verdicts[verdicts["verdict_pooled"] != "not applicable"]
    same = slope["verdict"] == slope["verdict_pooled"]
    raw = slope["verdict"].value_counts()
    pooled = slope["verdict_pooled"].value_counts()
    differ = slope[~same]

    def counts(c):
        return ", ".join(f"{int(c.get(v, 0))} {v}" for v in ("consistent", "contradicted", "inconclusive"))

    text = (
        f"Of the {len(slope)} claims that are a group's slope, the no-pooling fit gives {counts(raw)}; the "
        f"partially pooled posterior, by the same rule, gives {counts(pooled)}. The two agree on {int(same.sum())}"
        + ("; they differ on " if len(differ) else ".")
        + "; ".join(f"{r.id} {r.verdict} → {r.verdict_pooled}" for r in differ.itertuples())
        + ("." if len(differ) else "")
        + " Partial pooling narrows a group's interval by borrowing from the other groups, which can turn an "
        "inconclusive verdict into a decided one, and pulls a group toward the others, which can hide a "
        "group that truly differs; `06_power` measures both tendencies as properties of the design."
    )
    if cases.attrs.get("simulated"):
        text += " On the simulated sheet neither column is a finding about Latin American clusters."
    return text


# 06 · partial pooling in the design analysis ---------------------------------------------------------------


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


def fast_accuracy(settings, agreement: pd.DataFrame) -> str:
    """The fast setting of the partially pooled posterior and its measured accuracy against the NUTS references."""
    text = f"Fast setting: grid step {settings.grid_step:g} on log tau, {settings.draws:,} importance draws. "
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
