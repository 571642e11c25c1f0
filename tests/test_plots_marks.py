"""The figures' shared marks (`study.plots_marks`): a reason read from a table's notes, each part once; text
wrapped to the width it has and shortened with an ellipsis; a large odds ratio written compactly."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from upgrading.study import plots_marks as marks  # noqa: E402


def _fits(width):
    return lambda line: len(line) <= width


def test_a_reason_shared_by_several_rows_is_written_once():
    """A panel's rows (one per upgrading level) repeat the reasons they share: each part is said once, without
    the complete-case count."""
    notes = [
        "upgrading level 2, 3 never coded: no row for them; complete cases: 4 of 12 (8 with a variable not reported)",
        "upgrading level 2, 3 never coded: no row for them; no case of this group is at level 1",
        None,
    ]
    assert (
        marks.reason(notes) == "upgrading level 2, 3 never coded: no row for them; no case of this group is at level 1"
    )
    assert marks.reason(["complete cases: 4 of 12 (8 with a variable not reported)"]) == ""


def test_wrap_breaks_between_words_and_shortens_a_word_too_long_for_a_line():
    assert marks.wrap("one case in this group", _fits(12)) == ["one case in", "this group"]
    lines = marks.wrap("collinear with C(sectoral_group)[T.complex_product_systems]", _fits(16))
    assert lines == ["collinear with", "C(sectoral_grou" + marks.ELLIPSIS]
    assert all(len(line) <= 16 for line in lines)


def test_shorten_and_fit_lines_end_in_an_ellipsis_only_where_text_is_left_out():
    assert marks.shorten("moves with collective efficiency", _fits(20)) == "moves with" + marks.ELLIPSIS
    assert marks.shorten("abcdefgh", _fits(4)) == "abc" + marks.ELLIPSIS
    text = "leader-driven governance moves with collective efficiency in the 5 complete cases"
    assert marks.fit_lines(text, _fits(30), 5) == marks.wrap(text, _fits(30))  # fits whole: no ellipsis
    cut = marks.fit_lines(text, _fits(30), 2)
    assert len(cut) == 2 and cut[-1].endswith(marks.ELLIPSIS) and all(len(line) <= 30 for line in cut)
    assert " ".join(cut).removesuffix(marks.ELLIPSIS) in text


@pytest.mark.parametrize(
    ("value", "written"),
    [(0.004, "0.00"), (2.5, "2.50"), (816.43, "816.43"), (5957.15, "5.96e3"), (24253801.91, "2.43e7"),
     (float("inf"), "inf")],
)  # fmt: skip
def test_compact_writes_a_large_odds_ratio_in_three_significant_digits(value, written):
    assert marks.compact(value) == written


def test_fitted_text_stays_inside_its_box_and_its_axes():
    """Drawn, a long text is wrapped to its box's width and shortened to its height; a box that reaches past the
    axes is cut to them (the text moves inside); the text as given is kept."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_ylim(-0.2, 3.2)
    long = " ".join(["leader-driven governance moves with collective efficiency"] * 4)
    rows = {y: marks.fitted_text(ax, 0.02, y, long, (0.02, y - 0.48, 0.98, y + 0.48), va="center",
                                 transform=ax.get_yaxis_transform(), fontsize=7) for y in (0, 3)}  # fmt: skip
    fig.draw_without_rendering()
    for y, text in rows.items():
        drawn, band = text.get_window_extent(), ax.transData.transform([(0, y - 0.48), (0, y + 0.48)])[:, 1]
        assert ax.bbox.x0 <= drawn.x0 and drawn.x1 <= ax.bbox.x1 and ax.bbox.y0 <= drawn.y0 <= drawn.y1 <= ax.bbox.y1
        assert band[0] - 0.5 <= drawn.y0 and drawn.y1 <= band[1] + 0.5
        assert text.get_text().endswith(marks.ELLIPSIS) and "\n" in text.get_text() and text.whole == long
    short = marks.fitted_text(ax, 0.5, 1.5, "one case in this group", (0.1, 1, 0.9, 2), ha="center",
                              va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    fig.draw_without_rendering()
    assert short.get_text() == "one case in this group" and short.get_position() == (0.5, 1.5)
    plt.close(fig)
