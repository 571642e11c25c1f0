"""Marks the figures share: an estimate with its interval that ends in an arrow where it reaches past the axis,
and the reason a row or panel has no number, read from its table's `note`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .models import reason_of


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
