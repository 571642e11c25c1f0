"""Figures of the models read in probabilities (notebook 04): predicted probability curves and average marginal
effects by sectoral group. Builders return a matplotlib Figure; `exhibits.save_figure` saves it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import plots_marks as marks
from .codebook import load_codebook
from .plots import SCORE_PALETTE, form_label, group_labels
from .settings import HIGH_UPGRADING


def predicted_probability_curves(table: pd.DataFrame) -> plt.Figure:
    """One panel per form (rows) and sectoral group (columns): the predicted probability of each upgrading level
    across collective efficiency, with its interval as a band; a panel without numbers says why."""
    cb = load_codebook()
    forms, groups = list(dict.fromkeys(table["form"])), list(cb.group_codes)
    levels = cb.variable(forms[0]).scale.levels if forms else ()
    colours = sns.color_palette(SCORE_PALETTE, len(levels) + 1)[1:]
    fig, axes = plt.subplots(len(forms), len(groups), figsize=(2.6 * len(groups), 2.1 * len(forms) + 0.9),
                             sharex=True, sharey=True, squeeze=False)  # fmt: skip
    for r, form in enumerate(forms):
        for c, group in enumerate(groups):
            ax = axes[r, c]
            sub = table[(table["form"] == form) & (table["sectoral_group"] == group)]
            if sub["probability"].isna().all():
                note = marks.reason(sub["note"]) or "not estimated"
                marks.fitted_text(ax, 0.5, 0.5, note, (0.04, 0.04, 0.96, 0.96), ha="center", va="center",
                                  transform=ax.transAxes, **marks.REASON_STYLE)  # fmt: skip
            for level, colour in zip(levels, colours):
                line = sub[sub["level"] == level].sort_values("collective_efficiency")
                if line.empty or line["probability"].isna().all():
                    continue
                x = line["collective_efficiency"].astype(float)
                ax.fill_between(x, line["conf_low"], line["conf_high"], color=colour, alpha=0.12, linewidth=0)
                ax.plot(x, line["probability"], "-o", color=colour, markersize=3, linewidth=1.4, label=str(level))
            if r == 0:
                ax.set_title(group_labels([group])[0], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{form_label(form)}\nprobability", fontsize=8)
            if r == len(forms) - 1:
                ax.set_xlabel("collective efficiency", fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_xticks(range(4))
            ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], color=colour, marker="o", markersize=3) for colour in colours]
    heading = (
        "Predicted probability of each upgrading level by collective efficiency (not leader-driven)\n"
        "model with group-specific slopes, reported fit; bands: 95% delta-method intervals"
    )
    marks.heading_and_legend(fig, heading, handles, [str(level) for level in levels], title="upgrading level",
                             ncol=len(levels), fontsize=8, title_fontsize=8)  # fmt: skip
    return fig


def marginal_effects_forest(table: pd.DataFrame) -> plt.Figure:
    """Average marginal effects on P(upgrading >= HIGH_UPGRADING) per sectoral group: rows are the key predictors,
    columns the forms; filled markers maximum likelihood, open markers the Jeffreys-penalised fit. An interval that
    reaches past +-1 (a delta-method interval can) is drawn to the axis's edge with an arrow; a group row without
    an estimate says why (the table's `note`)."""
    cb = load_codebook()
    high = table[table["level"] == f">={HIGH_UPGRADING}"]
    forms, groups = list(dict.fromkeys(table["form"])), list(cb.group_codes)
    predictors = [("collective_efficiency", "Collective efficiency\n(per level)"),
                  ("leader_driven", "Leader-driven governance\n(0 -> 1)")]  # fmt: skip
    fig, axes = plt.subplots(len(predictors), len(forms), figsize=(3.1 * len(forms), 5.2), sharey=True,
                             sharex=True, squeeze=False)  # fmt: skip
    for r, (predictor, title) in enumerate(predictors):
        for c, form in enumerate(forms):
            ax = axes[r, c]
            sub = high[(high["form"] == form) & (high["predictor"] == predictor)].set_index("sectoral_group")
            blank = {}
            for y, group in enumerate(groups[::-1]):
                if group not in sub.index or pd.isna(sub.loc[group, "estimate"]):  # its reason is on a row of no level
                    blank[y] = marks.reason(marks.notes_of(table, form=form, predictor=predictor, sectoral_group=group))
                    continue
                row = sub.loc[group]
                marks.estimate_with_interval(ax, y, row["estimate"], row["conf_low"], row["conf_high"], (-1, 1),
                                             colour="#2c7fb8", line_colour="#555555",
                                             open_marker=row["method"] != "ml")  # fmt: skip
            marks.say_why_blank(ax, blank, len(groups))
            marks.keep_every_row(ax, len(groups))
            ax.axvline(0, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlim(-1, 1)
            ax.set_yticks(range(len(groups)), group_labels(groups[::-1]))
            if r == 0:
                ax.set_title(form_label(form), fontsize=10)
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            if r == len(predictors) - 1:
                ax.set_xlabel(f"change in P(level >= {HIGH_UPGRADING})", fontsize=8)
            ax.tick_params(labelsize=8)
    fig.suptitle(
        f"Average marginal effects on the probability of upgrading at level {HIGH_UPGRADING} or above, by group\n"
        "over each group's cases; 95% delta-method intervals; filled: ML, open: Jeffreys-penalised",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
