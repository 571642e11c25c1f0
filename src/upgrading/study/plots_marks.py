"""Marks the figures share: an estimate with its interval that ends in an arrow where it reaches past the axis,
and the reason a row or panel has no number, read from its table's `note`."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd

from .models import reason_of

#: How the reason on a row without an estimate is written (grey, small: it stands in for the missing mark).
REASON_STYLE = {"fontsize": 7, "color": "#555555"}


def estimate_with_interval(ax, y, estimate, low, high, limits, *, colour, line_colour=None, marker="o", size=6,
                           open_marker=False, linewidth=1.2, linestyle="-", arrow_size=5) -> None:  # fmt: skip
    """An estimate (`marker`) and its interval (a line) at height `y`, kept within `limits` (low, high): an end
    that reaches past the axis is drawn to its edge and ends in an arrow. The line and arrows are `line_colour`
    (default `colour`); an open marker is white inside."""
    lo_lim, hi_lim = limits
    line_colour = line_colour or colour
    ax.plot(np.clip([low, high], lo_lim, hi_lim), [y, y], color=line_colour, linewidth=linewidth, linestyle=linestyle)
    ax.plot(np.clip(estimate, lo_lim, hi_lim), y, marker, markersize=size, color=colour,
            markerfacecolor="white" if open_marker else colour)  # fmt: skip
    for edge, value, arrow in ((lo_lim, low, "<"), (hi_lim, high, ">")):
        if (arrow == "<" and value <= lo_lim) or (arrow == ">" and value >= hi_lim):
            ax.plot(edge, y, arrow, color=line_colour, markersize=arrow_size)


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken between words (a longer word keeps its own line)."""
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + ([current] if current else [])


def reason(notes: Iterable) -> str:
    """The distinct reasons among a table's `notes` ('; ' between), each without its complete-case count (a count
    of cases used is no reason a number is missing); '' where they give none."""
    parts = [reason_of(note) for note in notes if isinstance(note, str)]
    return "; ".join(dict.fromkeys(part for part in parts if part))


def say_why_blank(ax, reasons: dict[int, str], rows: int, width: int = 46) -> None:
    """Write on each blank row of a forest (`reasons`: row height -> its reason, '' where the table gives none)
    why it has no estimate, at the left of the axis; a panel whose `rows` are all blank without a reason says
    'not estimable' once, in its middle."""
    if len(reasons) == rows and not any(reasons.values()):
        ax.text(0.5, 0.5, "not estimable", transform=ax.transAxes, ha="center", fontsize=8, color="grey")
        return
    for y, why in reasons.items():
        ax.text(0.02, y, "\n".join(wrap(why or "not estimated", width)), va="center", ha="left",
                transform=ax.get_yaxis_transform(), **REASON_STYLE)  # fmt: skip


def keep_every_row(ax, rows: int) -> None:
    """The y-axis of a forest with `rows` rows at 0 .. rows - 1 as autoscaling draws it when every row has a mark
    (the style's margin), so that a blank first or last row, and the reason written on it, stay inside."""
    pad = mpl.rcParams["axes.ymargin"] * (rows - 1) or 0.5
    ax.set_ylim(-pad, rows - 1 + pad)


def notes_of(table: pd.DataFrame, **where) -> list:
    """The `note` column of the rows of `table` where each named column equals its value."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    return list(table.loc[mask, "note"]) if "note" in table else []


def heading_and_legend(fig, heading: str, handles, labels, *, heading_size: float = 10, **legend) -> None:
    """A figure's heading, its legend right under it and the panels right under that, whatever the number of the
    heading's lines and the figure's height: each is placed where the one above it ends, as drawn, not at a guessed
    fraction of the figure (which left an empty band on a tall figure)."""
    pad = 4 / (fig.get_figheight() * fig.dpi)  # 4 pixels, as a fraction of the figure's height
    title = fig.suptitle(heading, fontsize=heading_size, y=0.995, va="top")
    fig.draw_without_rendering()
    below_title = title.get_window_extent().y0 / fig.bbox.height - pad
    key = fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, below_title), frameon=False, **legend)
    fig.tight_layout()  # margins and gaps between panels; the top is set below
    fig.draw_without_rendering()
    height = fig.bbox.height
    above_panels = max(ax.get_tightbbox().y1 for ax in fig.axes) / height - fig.subplotpars.top  # their titles
    fig.subplots_adjust(top=key.get_window_extent().y0 / height - pad - above_panels)
