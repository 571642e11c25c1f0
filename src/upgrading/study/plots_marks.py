"""Marks the figures share: an estimate with its interval that ends in an arrow where it reaches past the axis,
the reason a row or panel has no number, read from its table's `note`, and text kept inside its panel or cell
(`FittedText`: wrapped to the width it has, shortened with an ellipsis where it needs more lines than fit)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .reasons import reason_of

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


#: What ends a text shortened to fit its box.
ELLIPSIS = "…"


def wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """`text` in lines that each `fits`, broken between words; a word too long for a line of its own is shortened
    with an ellipsis (`shorten`)."""
    lines, current = [], ""
    for word in text.split():
        joined = f"{current} {word}" if current else word
        if fits(joined):
            current = joined
            continue
        if current:
            lines.append(current)
        current = word if fits(word) else shorten(word, fits)
    return lines + ([current] if current else [])


def shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text` cut, after its last whole word where it can be, to what `fits` with an ellipsis at its end."""
    text = text.rstrip()
    while text:
        shortened = text.rstrip(" ,;:") + ELLIPSIS
        if fits(shortened):
            return shortened
        text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
    return ELLIPSIS


def fit_lines(text: str, fits: Callable[[str], bool], most: int) -> list[str]:
    """`text` wrapped to lines that `fits` (`wrap`), at most `most` of them (at least one): where some are left
    out, the last one kept ends in an ellipsis."""
    lines = wrap(text, fits)
    if len(lines) <= most:
        return lines
    kept = lines[: max(most, 1)]
    return kept[:-1] + [shorten(kept[-1], fits)]


class FittedText(Text):
    """A text kept inside its `box` (x0, y0, x1, y1 in the text's own coordinates, clipped to its axes): wrapped,
    as drawn, to the box's width, in the first of `sizes` (font sizes) at which it fits whole, else the last, and
    shortened with an ellipsis where its lines outgrow the box's height. Fitted at each draw, to the axes as laid
    out, and left out of the layout (it stays inside its axes); `whole` keeps the text as given, `anchor` its
    place (it moves only as far as it must to stay inside the box: `nudge`)."""

    def __init__(self, x, y, text: str, box, sizes=(), **style):
        super().__init__(x, y, text, parse_math=False, **style)
        self.whole, self.box, self.sizes = str(text), tuple(box), tuple(sizes) or (self.get_fontsize(),)
        self.anchor = (x, y)
        self.set_in_layout(False)

    def extent_allowed(self) -> Bbox:
        """The box in display coordinates, within the axes."""
        (x0, y0), (x1, y1) = np.sort(self.get_transform().transform([self.box[:2], self.box[2:]]), axis=0)
        box = Bbox.from_extents(x0, y0, x1, y1)
        return (Bbox.intersection(box, self.axes.bbox) or box) if self.axes else box

    def nudge(self, box: Bbox, renderer) -> None:
        """Move the text, as drawn, up or down to inside the box where it reaches past its top or bottom (where the
        axes cut a row's band)."""
        drawn = self.get_window_extent(renderer)
        shift = min(0.0, box.y1 - drawn.y1) or max(0.0, box.y0 - drawn.y0)
        if shift:
            x, y = self.get_transform().transform(self.anchor)
            self.set_position(self.get_transform().inverted().transform((x, y + shift)))

    def fit(self, renderer) -> None:
        """Set the text, and its size, to what fits the box (`fit_lines`), and its place (`nudge`)."""
        box = self.extent_allowed()
        self.set_position(self.anchor)
        for size in self.sizes:
            self.set_fontsize(size)
            font = self.get_fontproperties().copy()

            def fits(line: str, font=font) -> bool:
                return renderer.get_text_width_height_descent(line, font, ismath=False)[0] <= box.width

            lines = wrap(self.whole, fits)
            most = len(lines)
            while most > 1 and self.height_of(lines[:most], renderer) > box.height:
                most -= 1
            if most == len(lines):
                break
        self.set_text("\n".join(fit_lines(self.whole, fits, most)))
        self.nudge(box, renderer)

    def height_of(self, lines: list[str], renderer) -> float:
        """The height, as drawn, of `lines` in this text's style."""
        self.set_text("\n".join(lines))
        return self.get_window_extent(renderer).height

    def draw(self, renderer) -> None:
        if self.get_visible() and self.axes is not None:
            self.fit(renderer)
        super().draw(renderer)


def compact(value: float) -> str:
    """A number for a small cell: two decimals below 1000 (as before), else three significant digits in
    scientific notation without its '+' and leading zeros (24253801.91 -> '2.43e7'; infinity 'inf')."""
    if not np.isfinite(value) or abs(value) < 1000:
        return f"{value:.2f}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def fitted_text(ax, x, y, text: str, box, *, sizes=(), **style) -> FittedText:
    """`FittedText` added to `ax` (in data coordinates unless `style` gives a `transform`), unclipped as `ax.text`
    leaves a text (it fits inside; a text that fits draws as `ax.text` would draw it)."""
    style.setdefault("transform", ax.transData)
    added = ax.add_artist(FittedText(x, y, text, box, sizes=sizes, **style))
    added.set_clip_path(None)  # add_artist clips to the axes' patch (a box, for a rectangle); ax.text does not
    added.set_clip_box(None)
    return added


def reason(notes: Iterable) -> str:
    """The distinct reasons among a table's `notes` ('; ' between), each without its complete-case count (a count
    of cases used is no reason a number is missing); '' where they give none. A note of several reasons counts
    each once (the rows of one panel often share some)."""
    parts = [part for note in notes if isinstance(note, str) for part in reason_of(note).split("; ")]
    return "; ".join(dict.fromkeys(part for part in parts if part))


def say_why_blank(ax, reasons: dict[int, str], rows: int) -> None:
    """Write on each blank row of a forest (`reasons`: row height -> its reason, '' where the table gives none)
    why it has no estimate, at the left of the axis, inside the row's band (`FittedText`); a panel whose `rows` are
    all blank without a reason says 'not estimable' once, in its middle."""
    if len(reasons) == rows and not any(reasons.values()):
        ax.text(0.5, 0.5, "not estimable", transform=ax.transAxes, ha="center", fontsize=8, color="grey")
        return
    for y, why in reasons.items():
        fitted_text(ax, 0.02, y, why or "not estimated", (0.02, y - 0.48, 0.98, y + 0.48), va="center", ha="left",
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
