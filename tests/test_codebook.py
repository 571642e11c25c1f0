import itertools

import numpy as np
import pandas as pd
import pytest

from upgrading.errors import UpgradingError
from upgrading.study.codebook import (
    codebook_table,
    collective_efficiency,
    load_codebook,
    not_reported_table,
    parse,
    sectoral_groups_table,
)


def test_codebook_has_the_study_design():
    cb = load_codebook()
    assert cb.upgrading_forms == (
        "product_upgrading",
        "process_upgrading",
        "functional_upgrading",
        "intersectoral_upgrading",
    )
    assert cb.governance_levels == ("market", "network", "quasi_hierarchy", "hierarchy")
    assert cb.group_codes == (
        "traditional_manufacturing",
        "natural_resource_based",
        "complex_product_systems",
        "specialised_suppliers",
    )
    assert cb.block("collective efficiency") == ("external_economies", "joint_actions", "collective_efficiency")
    for name in cb.upgrading_forms + cb.block("collective efficiency"):
        assert cb.variable(name).allowed == (0, 1, 2, 3)


def test_industries_follow_table_1():
    cb = load_codebook()
    assert cb.group("traditional_manufacturing").industries == ("Textile and garments", "Footwear", "Furniture", "Tile")
    assert cb.group("specialised_suppliers").industries == ("Software",)
    everything = [i for g in cb.sectoral_groups for i in g.all_industries]
    assert len(everything) == len(set(everything)), "an industry may belong to one group only"


def test_every_variable_names_its_source():
    for row in codebook_table().itertuples():
        assert row.source and row.definition, row.column


def test_the_codebook_exhibit_says_how_to_write_a_code_not_reported():
    """The codebook a user reads (figures/codebook.md) says, per column, how to write a code the case study does
    not report, as the template's own table does."""
    table = codebook_table().set_index("column")
    assert table.loc["case_id", "if_not_reported"] == table.loc["coding_source", "if_not_reported"] == "required"
    assert table.loc["governance", "if_not_reported"] == "an empty cell, NR or 'not reported' (any case)"
    assert table["if_not_reported"].tolist() == not_reported_table()["write"].tolist()


def test_collective_efficiency_rule_is_rounded_half_up_mean():
    for ee, ja in itertools.product(range(4), repeat=2):
        expected = int(np.floor((ee + ja) / 2 + 0.5))
        assert collective_efficiency(ee, ja) == expected == collective_efficiency(ja, ee)
    series = collective_efficiency(pd.Series([0, 1, 3]), pd.Series([0, 2, 2]))
    assert series.tolist() == [0, 2, 3]


def test_unknown_names_are_reported_with_the_alternatives():
    cb = load_codebook()
    with pytest.raises(KeyError, match="governance"):
        cb.variable("governnace")
    with pytest.raises(KeyError, match="specialised_suppliers"):
        cb.group("software")


def test_inconsistent_codebook_is_refused_with_every_problem():
    bad = """
version = "x"
[scales.s]
levels = [0, 1]
labels = ["a"]
[[variables]]
name = "a"
kind = "ordinal"
scale = "nope"
block = "b"
label = "A"
definition = "d"
source = "s"
[[variables]]
name = "b"
kind = "weird"
block = "b"
label = "B"
definition = "d"
source = "s"
[derived.c]
from = ["zzz"]
[categories]
"""
    with pytest.raises(UpgradingError) as err:
        parse(bad)
    message = str(err.value)
    for fragment in ("unknown scale 'nope'", "kind 'weird'", "unknown variables ['zzz']", "2 levels but 1 labels"):
        assert fragment in message


def test_sectoral_groups_table_is_complete():
    table = sectoral_groups_table()
    assert table["number"].tolist() == [1, 2, 3, 4]
    assert table.notna().all().all()


def test_not_reported_is_declared_once_and_each_variable_says_whether_it_may_be_missing():
    cb = load_codebook()
    assert cb.missing_spellings == ("NR", "not reported")
    required = {v.name for v in cb.variables if not v.may_be_missing}
    assert required == {"case_id", "sectoral_group", "industry", "coding_source"}
    assert set(cb.may_be_missing) == set(cb.columns) - required
    assert cb.not_reported.rule and cb.not_reported.why
    table = not_reported_table(cb)
    assert list(table["column"]) == list(cb.columns)
    assert dict(zip(table["column"], table["may_be_not_reported"]))["industry"] == "no"
    assert "NR or 'not reported'" in dict(zip(table["column"], table["write"]))["governance"]


@pytest.mark.parametrize("written", ["NR", "nr", " NR ", "not reported", " Not Reported ", "NOT REPORTED"])
def test_the_declared_spellings_match_in_any_case_with_surrounding_spaces(written):
    nr = load_codebook().not_reported
    assert nr.matches(written) and nr.suggestion(written) is None


NR_HINT = "did you mean 'NR' (not reported)?"


@pytest.mark.parametrize(
    "written, hint",
    [(w, NR_HINT) for w in ("N/R", "n.r.", "n.a.", "NA", "na", "N/A", "-", "?", "None", "unknown")]
    + [("not-reported", "did you mean 'not reported'?"), ("not_reported", "did you mean 'not reported'?")],
)
def test_near_misses_are_not_read_as_not_reported_but_suggest_a_declared_spelling(written, hint):
    nr = load_codebook().not_reported
    assert not nr.matches(written)
    assert nr.suggestion(written) == hint


@pytest.mark.parametrize("written", ["", "  ", "2", "high", "market", "Footwear", 3, None])
def test_other_values_are_neither_not_reported_nor_near_misses(written):
    nr = load_codebook().not_reported
    assert not nr.matches(written) and nr.suggestion(written) is None


MINIMAL = """
version = "x"
[scales.s]
levels = [0, 1]
labels = ["a", "b"]
[[variables]]
name = "id"
kind = "identifier"
block = "b"
label = "Id"
definition = "d"
source = "s"
may_be_missing = {id_missing}
[[variables]]
name = "score"
kind = "ordinal"
scale = "s"
block = "b"
label = "Score"
definition = "d"
source = "s"
may_be_missing = {score_missing}
[[categories.sectoral_group]]
code = "g"
number = 1
label = "G"
short_label = "G"
industries = ["I"]
case_industries = []
learning_pattern = "p"
pavitt_pattern = "p"
description = ["d"]
source = "s"
"""


def test_a_codebook_without_missing_declares_every_variable_required():
    cb = parse(MINIMAL.format(id_missing="false", score_missing="false"))
    assert cb.missing_spellings == () and cb.may_be_missing == ()
    assert cb.not_reported.suggestion("N/R") is None


def test_inconsistent_declarations_of_not_reported_are_refused():
    with pytest.raises(UpgradingError) as err:
        parse(MINIMAL.format(id_missing="true", score_missing='"yes"'))
    assert "an identifier may not be missing" in str(err.value) and "must be true or false" in str(err.value)
    with pytest.raises(UpgradingError, match="declares no spellings"):
        parse(MINIMAL.format(id_missing="false", score_missing="true"))
    clash = MINIMAL.format(id_missing="false", score_missing="true") + '[missing]\nspellings = ["1", " NR"]\n'
    with pytest.raises(UpgradingError) as err:
        parse(clash)
    assert "without surrounding spaces" in str(err.value) and "['1'] is both a code and a spelling" in str(err.value)
    fine = MINIMAL.format(id_missing="false", score_missing="true") + '[missing]\nspellings = ["NR"]\n'
    assert parse(fine).may_be_missing == ("score",)
