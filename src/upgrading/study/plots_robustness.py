"""The robustness figure (notebook 06): every claim's verdict under every declared specification, as a grid.

A specification curve for verdicts (a "multiverse" display: Steegen et al. 2016; Simonsohn, Simmons & Nelson
2020): one row per claim, one column per specification, each cell coloured by the verdict that specification
gives; the primary specification (the claims check itself) is outlined, cells whose specification could not
decide the claim are hatched, and each row ends with its summary label. A display of sensitivity, not a test.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .plots import VERDICT_COLOURS

#: The colour of each verdict a cell can have ("not applicable": the specification does not decide such claims).
CELL_COLOURS = {
    **{v: VERDICT_COLOURS[v] for v in ("consistent", "contradicted", "inconclusive")},
    "not applicable": "#ffffff",
}
#: The summary label, shortened for the end of a row.
SHORT_LABELS = (("robust", "robust"), ("depends on", "depends"), ("not assessed", "not assessed"))


def short_label(label: str) -> str:
    return next((short for prefix, short in SHORT_LABELS if label.startswith(prefix)), label)


def specification_grid(table: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """The grid of `robustness.robustness_table` (claims x specifications, in the table's order) with each claim's
    label from `robustness.robustness_summary`."""
    claims = list(dict.fromkeys(table["id"]))
    specs = list(dict.fromkeys(table["specification"]))
    cells = table.set_index(["id", "specification"])
    labels = summary.set_index("id")["label"]
    fig, ax = plt.subplots(figsize=(2.6 + 0.42 * len(specs), 3.4 + 0.27 * len(claims)))  # room for the labels
    for r, claim in enumerate(claims):
        for c, spec in enumerate(specs):
            cell = cells.loc[(claim, spec)]
            decided = bool(cell["decided"]) or cell["verdict"] == "not applicable"
            ax.add_patch(
                plt.Rectangle(
                    (c, r),
                    1,
                    1,
                    facecolor=CELL_COLOURS[cell["verdict"]],
                    edgecolor="#bbbbbb",
                    linewidth=0.4,
                    hatch=None if decided else "////",
                )
            )
        ax.text(len(specs) + 0.2, r + 0.5, short_label(labels[claim]), va="center", fontsize=7)
    primary = [c for c, spec in enumerate(specs) if bool(cells.xs(spec, level="specification")["primary"].iloc[0])]
    for c in primary:
        ax.add_patch(plt.Rectangle((c, 0), 1, len(claims), fill=False, edgecolor="black", linewidth=1.6))
    ax.set_xlim(0, len(specs) + 2.2)
    ax.set_ylim(len(claims), 0)
    ax.set_xticks([c + 0.5 for c in range(len(specs))])
    ax.set_xticklabels(specs, rotation=60, ha="right", fontsize=7)
    ax.set_yticks([r + 0.5 for r in range(len(claims))])
    ax.set_yticklabels(claims, fontsize=7)
    for c in primary:
        ax.get_xticklabels()[c].set_fontweight("bold")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=colour, edgecolor="#bbbbbb") for colour in CELL_COLOURS.values()]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="#e0e0e0", edgecolor="#bbbbbb", hatch="////"))
    handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=1.6))
    ax.legend(
        handles,
        [*CELL_COLOURS, "could not decide", "primary (the claims check)"],
        loc="lower center",
        bbox_to_anchor=(0.45, 1.0),
        ncol=3,
        frameon=False,
        fontsize=7,
    )
    fig.tight_layout()
    return fig
