"""Figures a reader would rather look at than read. Each builder returns a matplotlib Figure.

Built with seaborn on the house style (`exhibits.use_deterministic_style`); saving, with the data's
provenance at the foot, is `exhibits.save_figure`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from . import plots_marks as marks
from .codebook import load_codebook
from .pooling import prior_driven
from .settings import ALPHA_RELIABLE, ALPHA_TENTATIVE, POWER_TARGET

SCORE_PALETTE = "YlGnBu"


def group_labels(codes: Iterable[str]) -> list[str]:
    cb = load_codebook()
    return [cb.group(c).label if c != "all" else "All cases" for c in codes]


def form_label(form: str) -> str:
    return load_codebook().variable(form).label


def upgrading_distribution(table: pd.DataFrame) -> plt.Figure:
    """One panel per form of upgrading: the share of cases at each score 0-3, per sectoral group."""
    cb = load_codebook()
    forms = list(dict.fromkeys(table["form"]))
    colours = sns.color_palette(SCORE_PALETTE, 4)
    fig, axes = plt.subplots(1, len(forms), figsize=(3.2 * len(forms), 3.4), sharey=True)
    for ax, form in zip(np.atleast_1d(axes), forms):
        sub = table[table["form"] == form].iloc[::-1]
        counts = sub[[f"score_{k}" for k in range(4)]].to_numpy(dtype=float)
        totals = counts.sum(axis=1, keepdims=True)  # 0 where a group reports no score of this form: no bar, n=0
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        left = np.zeros(len(sub))
        for k in range(4):
            ax.barh(
                group_labels(sub["sectoral_group"]),
                shares[:, k],
                left=left,
                color=colours[k],
                edgecolor="white",
                linewidth=0.5,
                label=f"{k} {cb.scales['likert_0_3'].labels[k]}",
            )
            left += shares[:, k]
        for y, n in enumerate(sub["cases"]):
            ax.text(1.01, y, f"n={n}", va="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_title(form_label(form), fontsize=10)
        ax.set_xlabel("share of cases")
    # one legend for the figure, under the panels: a legend hung from the first panel would count as that panel's
    # margin, and the layout would open that gap between every two panels
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="score", loc="lower center", bbox_to_anchor=(0.5, 0.02), ncol=4, fontsize=8,
               frameon=False)  # fmt: skip
    fig.suptitle("Upgrading scores by sectoral group", fontsize=11)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


#: How the cases whose value is not reported are drawn: a grey segment after the reported ones.
NOT_REPORTED_COLOUR = "#bdbdbd"


def governance_mix(table: pd.DataFrame) -> plt.Figure:
    """Stacked bars: the number of cases in each governance form, per sectoral group, and a grey segment for the
    cases whose governance is not reported (the table's `not_reported`, where it has any), so that each bar
    counts all the group's cases."""
    cb = load_codebook()
    levels = list(cb.governance_levels)
    labels = [c.label for c in cb.variable("governance").categories]
    colours = sns.color_palette("Set2", len(levels))
    if "not_reported" in table and table["not_reported"].any():
        levels, labels, colours = [*levels, "not_reported"], [*labels, "Not reported"], [*colours, NOT_REPORTED_COLOUR]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    rows = table.iloc[::-1]
    left = np.zeros(len(rows))
    for level, label, colour in zip(levels, labels, colours):
        ax.barh(
            group_labels(rows["sectoral_group"]),
            rows[level],
            left=left,
            color=colour,
            label=label,
            edgecolor="white",
            linewidth=0.5,
        )
        left += rows[level].to_numpy()
    ax.set_xlabel("number of cases")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # a count: whole numbers only
    ax.set_title("Value-chain governance by sectoral group", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def collective_efficiency_heatmap(table: pd.DataFrame) -> plt.Figure:
    """Heatmap: number of cases at each level of collective efficiency, per sectoral group, and a grey column of
    the cases whose collective efficiency is not reported where there are any, so each row counts all its cases."""
    from matplotlib.colors import ListedColormap

    cb = load_codebook()
    columns = [f"collective_efficiency_{k}" for k in range(4)]
    labels = [f"{k} {cb.scales['likert_0_3'].labels[k]}" for k in range(4)]
    missing = "not_reported_collective_efficiency"
    if missing in table and table[missing].any():
        columns, labels = [*columns, missing], [*labels, "not reported"]
    body = table.set_index("sectoral_group")[columns].astype(int)
    body.index = group_labels(body.index)
    body.columns = labels
    fig, ax = plt.subplots(figsize=(6 + 0.9 * (len(columns) - 4), 3.2))
    scored = np.zeros(body.shape, dtype=bool)
    scored[:, :4] = True
    sns.heatmap(body, annot=True, fmt="d", cmap=SCORE_PALETTE, cbar=False, linewidths=0.5, ax=ax, mask=~scored)
    if len(columns) > 4:
        grey = ListedColormap([NOT_REPORTED_COLOUR])
        sns.heatmap(body, annot=True, fmt="d", cmap=grey, cbar=False, linewidths=0.5, ax=ax, mask=scored)
    ax.set_xlabel("collective efficiency")
    ax.set_ylabel("")
    ax.set_title("Collective efficiency by sectoral group (number of cases)", fontsize=11)
    fig.tight_layout()
    return fig


def reliability_intervals(table: pd.DataFrame) -> plt.Figure:
    """Krippendorff's alpha per variable with its bootstrap interval, and the usual benchmarks (dotted: tentative
    conclusions, 0.667; dashed: reliable, 0.8)."""
    rows = table.iloc[::-1]
    labels = [load_codebook().variable(v).label + f" ({m})" for v, m in zip(rows["variable"], rows["metric"])]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    y = np.arange(len(rows))
    ax.errorbar(
        rows["alpha"],
        y,
        xerr=[rows["alpha"] - rows["ci_low"], rows["ci_high"] - rows["alpha"]],
        fmt="o",
        color="#2c7fb8",
        ecolor="#7fcdbb",
        capsize=3,
    )
    for cut, style in ((ALPHA_TENTATIVE, ":"), (ALPHA_RELIABLE, "--")):
        ax.axvline(cut, color="grey", linestyle=style, linewidth=0.8)
    lowest = rows["ci_low"].min()  # NaN only where no alpha is defined
    ax.set_xlim(min(0.0, float(lowest) - 0.05) if pd.notna(lowest) else 0.0, 1.02)
    for k in np.flatnonzero(rows["alpha"].isna().to_numpy()):  # a row is never left blank: it says why
        ax.text(0.02, y[k], "alpha undefined (see the table's note)", va="center", fontsize=8, color="grey",
                transform=ax.get_yaxis_transform())  # fmt: skip
    ax.set_yticks(y, labels)
    ax.set_xlabel("Krippendorff's alpha (95% bootstrap interval)")
    ax.set_title("Inter-coder reliability", fontsize=11)
    fig.tight_layout()
    return fig


def odds_ratio_forest(estimates: pd.DataFrame) -> plt.Figure:
    """Odds ratios with intervals per sectoral group: rows are predictors, columns forms of upgrading.

    Filled markers are maximum-likelihood estimates; open markers are penalised estimates (any `method` other
    than 'ml': the Jeffreys-penalised, Firth-type fit), reported
    where the ML fit is separated. Intervals that reach past the axis are drawn to its edge with an arrow. A group
    row without an estimate says why (the table's `note`).
    """
    cb = load_codebook()
    forms = [form for form in cb.upgrading_forms if form in set(estimates["form"])] or list(cb.upgrading_forms)
    predictors = [
        ("collective_efficiency", "Collective efficiency (per level)"),
        ("leader_driven", "Leader-driven governance"),
    ]
    groups = list(cb.group_codes)
    lo_lim, hi_lim = 1 / 200, 200
    fig, axes = plt.subplots(len(predictors), len(forms), figsize=(3.1 * len(forms), 5.2), sharey=True, squeeze=False)
    for r, (predictor, title) in enumerate(predictors):
        for c, form in enumerate(forms):
            ax = axes[r, c]
            sub = estimates[(estimates["form"] == form) & (estimates["predictor"] == predictor)]
            blank = {}
            for y, group in enumerate(groups[::-1]):
                rows = sub[sub["sectoral_group"] == group]
                if rows.empty or pd.isna(rows["odds_ratio"].iloc[0]):
                    blank[y] = marks.reason(rows.get("note", []))
                    continue
                row = rows.iloc[0]
                marks.estimate_with_interval(ax, y, row["odds_ratio"], row["or_conf_low"], row["or_conf_high"],
                                             (lo_lim, hi_lim), colour="#2c7fb8", line_colour="#555555",
                                             open_marker=row["method"] != "ml")  # fmt: skip
            marks.say_why_blank(ax, blank, len(groups))
            marks.keep_every_row(ax, len(groups))
            ax.axvline(1, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_xlim(lo_lim, hi_lim)
            ax.minorticks_off()  # hundreds of log-scale minor ticks cost seconds and add nothing here
            ax.set_yticks(range(len(groups)), group_labels(groups[::-1]))
            if r == 0:
                ax.set_title(form_label(form), fontsize=10)
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            ax.set_xlabel("odds ratio (log scale)", fontsize=8)
            ax.tick_params(labelsize=8)
    fig.suptitle(
        "Odds ratios by sectoral group (model with group-specific slopes; 95% intervals)\n"
        "filled: maximum likelihood (Wald); open: Jeffreys-penalised (profile), where ML is separated",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


#: How a cell of the claims grid names a penalised fit (plain maximum likelihood is not named).
PENALISED_LABELS = {"jeffreys": " (Jeffreys)", "br": " (bias-reduced)"}
VERDICT_COLOURS = {
    "consistent": "#a6dba0",
    "contradicted": "#f4a582",
    "inconclusive": "#e0e0e0",
    "not estimable": "#ffffff",
}


def _grid_cell(ax, c: int, r: int, row: pd.Series) -> None:
    """One cell of the claims grid: the raw verdict's colour, the published wording, the odds ratio with its
    interval, and both verdicts; a claim the sheet cannot test is white, with the reason instead of a number."""
    untested = row.get("fit") == "not estimable"
    ax.add_patch(
        plt.Rectangle(
            (c + 0.03, r + 0.04),
            0.94,
            0.92,
            facecolor=VERDICT_COLOURS["not estimable" if untested else row["verdict"]],
            edgecolor="#bbbbbb" if untested else "white",
        )
    )
    ax.text(c + 0.5, r + 0.15, "published:", ha="center", va="center", fontsize=7, color="#444444")
    ax.text(c + 0.5, r + 0.32, row["published_wording"], ha="center", va="center", fontsize=8.5, weight="bold")
    box = (c + 0.05, r + 0.42, c + 0.95, r + 0.68)  # between the wording and the verdict: the text wraps inside
    if pd.notna(row.get("estimate")):
        odds = (marks.compact(np.exp(row[k])) for k in ("estimate", "ci_low", "ci_high"))
        marks.fitted_text(ax, c + 0.5, r + 0.55, "OR {} [{}, {}]{}".format(*odds, PENALISED_LABELS.get(row["fit"], "")),
                          box, ha="center", va="center", fontsize=8)  # fmt: skip
    elif untested:  # the reason, wrapped to the cell (smaller where it needs more than two lines)
        why = f"not estimable: {marks.reason([row.get('note')]) or 'no estimate'}"
        marks.fitted_text(ax, c + 0.5, r + 0.55, why, box, sizes=(7, 6), ha="center", va="center", linespacing=1.1)
    ax.text(
        c + 0.5,
        r + 0.78,
        "cannot be tested on this sheet" if untested else f"{row['verdict']} (Holm: {row['verdict_holm']})",
        ha="center",
        va="center",
        fontsize=8,
        style="italic",
    )


def claims_grid(table: pd.DataFrame) -> plt.Figure:
    """The source's table of sectoral patterns, cell by cell, beside the verdict the data give each cell.

    Rows: predictor x form of upgrading; columns: sectoral groups. Each cell shows the published wording,
    the estimated odds ratio with its 95% interval, and the raw and Holm-adjusted verdicts; its colour is
    the raw verdict.
    """
    cb = load_codebook()
    cells = table[table["kind"] == "table cell"]
    rows = list(dict.fromkeys(zip(cells["predictor"], cells["outcome"])))  # the table's rows, in register order
    row_labels = {
        "collective_efficiency": "Collective efficiency",
        "leader_driven": "Global buyers'/leaders'\noperations",
    }
    groups = list(cb.group_codes)
    fig, ax = plt.subplots(figsize=(13, 8.2))
    ax.set_xlim(-1.6, len(groups))
    ax.set_ylim(len(rows), -0.7)
    ax.axis("off")
    for c, group in enumerate(groups):
        ax.text(c + 0.5, -0.35, cb.group(group).label, ha="center", va="center", fontsize=10, weight="bold")
    for r, (predictor, form) in enumerate(rows):
        ax.text(
            -0.05,
            r + 0.5,
            f"{row_labels[predictor]}\n→ {form_label(form).lower()}",
            ha="right",
            va="center",
            fontsize=9,
        )
        for c, group in enumerate(groups):
            match = cells[
                (cells["predictor"] == predictor) & (cells["outcome"] == form) & (cells["sectoral_group"] == group)
            ]
            if match.empty:
                continue
            _grid_cell(ax, c, r, match.iloc[0])
    shown = ["consistent", "contradicted", "inconclusive"]
    shown += ["not estimable"] if (cells["fit"] == "not estimable").any() else []
    handles = [
        plt.Rectangle(
            (0, 0), 1, 1, facecolor=VERDICT_COLOURS[v], **({"edgecolor": "#bbbbbb"} if v == "not estimable" else {})
        )
        for v in shown
    ]
    ax.legend(
        handles,
        shown,
        loc="upper center",
        bbox_to_anchor=(0.55, 0.0),
        ncol=len(shown),
        frameon=False,
        fontsize=9,
        title="colour: raw verdict",
    )
    ax.set_title(
        "Published pattern (Patterns of Learning and Upgrading Across Sectoral Groups) against the verdict of the data",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def power_curves(summary: pd.DataFrame) -> plt.Figure:
    """Design analysis (notebook 07): share of right (solid) and wrong (dotted) verdicts by number of cases.

    Rows: kind of claim; columns: pooled claims and each sectoral group's table cells; colour: effect size as a
    multiple of the documented one. Bars: +-2 Monte Carlo standard errors. Empty panels: no claim of that kind.
    """
    cb = load_codebook()
    scopes = ["pooled", *cb.group_codes]
    kinds = ["positive", "neutral", "negative"]
    scales = sorted(summary["effect_scale"].unique())
    colours = dict(zip(scales, sns.color_palette("viridis", len(scales))))
    fig, axes = plt.subplots(len(kinds), len(scopes), figsize=(14, 8.5), sharex=True, sharey=True)
    for r, kind in enumerate(kinds):
        for c, scope in enumerate(scopes):
            ax = axes[r, c]
            part = summary[(summary["kind"] == kind) & (summary["scope"] == scope)]
            if part.empty:
                ax.text(
                    0.5,
                    0.5,
                    "no claim\nof this kind",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                    color="#777777",
                )
            for scale in scales:
                line = part[part["effect_scale"] == scale].sort_values("n_cases")
                if line.empty:
                    continue
                ax.errorbar(
                    line["n_cases"],
                    line["p_right"],
                    yerr=2 * line["mcse_right"],
                    color=colours[scale],
                    marker="o",
                    markersize=3,
                    linewidth=1.4,
                    capsize=2,
                    label=f"{scale:g} x documented",
                )
                ax.plot(line["n_cases"], line["p_wrong"], color=colours[scale], linestyle=":", linewidth=1.2)
            ax.set_xscale("log")
            ax.set_xticks(sorted(summary["n_cases"].unique()))
            ax.set_xticklabels([str(n) for n in sorted(summary["n_cases"].unique())])
            ax.minorticks_off()
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(POWER_TARGET, color="#bbbbbb", linewidth=0.8, zorder=0)
            if r == 0:
                ax.set_title("Pooled (all groups)" if scope == "pooled" else cb.group(scope).label, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{kind} claims\nshare of verdicts", fontsize=9)
            if r == len(kinds) - 1:
                ax.set_xlabel("number of cases", fontsize=9)
    handles, labels = [], []
    for ax in axes.flat:
        h, lab = ax.get_legend_handles_labels()
        for handle, label in zip(h, lab):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    handles.append(plt.Line2D([], [], color="#555555", linestyle=":"))
    labels.append("wrong verdict (dotted)")
    marks.heading_and_legend(
        fig, "Design analysis: how often the claims check returns the right verdict", handles, labels,
        heading_size=11, ncol=len(labels), fontsize=9, title_fontsize=9,
        title="solid: right verdict (bars: +-2 Monte Carlo s.e.); colour: effect size",
    )  # fmt: skip
    return fig


#: marker and colour of each pooling method in the shrinkage figure (notebook 04)
POOLING_STYLE = {
    "no pooling": ("o", "#2c7fb8"),
    "partial pooling": ("D", "#d95f0e"),
    "complete pooling": ("s", "#636363"),
}
#: marker and colour of a partially pooled slope the group's own cases cannot identify (drawn open, dotted interval)
PRIOR_DRIVEN_STYLE = ("D", "#9e9e9e")


def pooling_shrinkage(slopes: pd.DataFrame, limit: float = 6.0) -> plt.Figure:
    """Each sectoral group's slope (log odds ratio, 95% interval) under no, partial and complete pooling: rows are
    predictors, columns forms of upgrading (`slopes`: `pooling.slopes_table`). Open circles: Jeffreys-penalised
    no-pooling fits (ML separated). Grey open diamonds on a dotted interval: partially pooled slopes the group's own
    cases cannot identify (`pooling.prior_driven`), set by the priors and the other groups. Intervals past
    +-`limit` end in an arrow; a missing marker has a reason in the table (no cases in the group, or an unreliable
    posterior)."""
    cb = load_codebook()
    forms = list(dict.fromkeys(slopes["form"]))
    predictors = [
        ("collective_efficiency", "Collective efficiency (per level)"),
        ("leader_driven", "Leader-driven governance"),
    ]
    groups = list(cb.group_codes)
    shown = slopes["estimate"].notna() & slopes["method"].eq("partial pooling")
    unidentified = bool((shown & prior_driven(slopes["note"])).any())
    extra = 0.25 * unidentified  # inches for the title's line on such slopes, said only where the sheet has one
    height = 5.6 + extra
    fig, axes = plt.subplots(len(predictors), len(forms), figsize=(3.1 * len(forms), height), sharey=True,
                             squeeze=False)  # fmt: skip
    for r, (predictor, title) in enumerate(predictors):
        for c, form in enumerate(forms):
            ax = axes[r, c]
            _slope_panel(ax, slopes[(slopes["form"] == form) & (slopes["predictor"] == predictor)], groups, limit)
            ax.axvline(0, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlim(-limit * 1.05, limit * 1.05)
            ax.set_yticks(range(len(groups)), group_labels(groups[::-1]))
            if r == 0:
                ax.set_title(form_label(form), fontsize=10)
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            ax.set_xlabel("slope (log odds ratio)", fontsize=8)
            ax.tick_params(labelsize=8)
    handles = [plt.Line2D([], [], marker=m, color=col, linewidth=1.1) for m, col in POOLING_STYLE.values()]
    labels = list(POOLING_STYLE)
    heading = (
        "Slopes by sectoral group under no, partial and complete pooling (95% intervals)\n"
        "no pooling: by-group fit (open: Jeffreys-penalised where ML is separated); partial: posterior "
        "mean and credible interval"
    )
    if unidentified:  # the figure of a sheet without such a slope is unchanged
        marker, colour = PRIOR_DRIVEN_STYLE
        handles.append(plt.Line2D([], [], marker=marker, color=colour, markerfacecolor="white", linestyle=":"))
        labels.append("partial pooling, not identified by the group's own cases")
        heading += (
            "\ngrey open diamonds: slopes a group's own cases cannot identify, set by the priors and the other groups"
        )
    marks.heading_and_legend(fig, heading, handles, labels, ncol=len(labels), fontsize=9)
    return fig


def _slope_panel(ax, sub: pd.DataFrame, groups: list[str], limit: float) -> None:
    """One panel of `pooling_shrinkage`: each group's slope under each pooling method, one above the other."""
    offsets = dict(zip(POOLING_STYLE, (0.22, 0.0, -0.22)))
    for y, group in enumerate(groups[::-1]):
        for method, (marker, colour) in POOLING_STYLE.items():
            row = sub[(sub["sectoral_group"] == group) & (sub["method"] == method)]
            if row.empty or pd.isna(row["estimate"].iloc[0]):
                continue
            row = row.iloc[0]
            style = {"open_marker": method == "no pooling" and row["fit"] != "ml"}
            if method == "partial pooling" and prior_driven(pd.Series([row["note"]])).iloc[0]:
                marker, colour = PRIOR_DRIVEN_STYLE
                style = {"open_marker": True, "linestyle": ":"}
            marks.estimate_with_interval(ax, y + offsets[method], row["estimate"], row["conf_low"], row["conf_high"],
                                         (-limit, limit), colour=colour, marker=marker, size=5, linewidth=1.1,
                                         arrow_size=4, **style)  # fmt: skip
