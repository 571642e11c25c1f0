"""Shares of cases in sentences: whole percents from the two counts, exact halves up."""

import pytest

from upgrading.study.wording import percent_of


@pytest.mark.parametrize(
    ("count", "total", "written"),
    [(2, 80, "3%"), (3, 200, "2%"), (7, 200, "4%"), (1, 8, "13%"), (1, 3, "33%"), (2, 3, "67%"), (0, 5, "0%"),
     (5, 5, "100%"), (10, 50, "20%")],
)  # fmt: skip
def test_a_share_is_a_whole_percent_with_halves_up(count, total, written):
    assert percent_of(count, total) == written


def test_python_format_would_round_an_exact_half_to_even_and_the_helper_does_not():
    # what the helper is for: the format gives 2.5% as "2%" (both 2 of 80 and 5 of 200); an odd half such as 1.5%
    # reads the same either way, so it would not show the difference
    for count, total in ((2, 80), (5, 200), (1, 40)):
        assert f"{count / total:.0%}" == "2%" and percent_of(count, total) == "3%"


def test_a_share_of_no_cases_is_refused():
    with pytest.raises(ValueError, match="positive total"):
        percent_of(0, 0)
