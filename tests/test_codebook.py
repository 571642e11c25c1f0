import itertools

import numpy as np
import pandas as pd
import pytest

from upgrading.errors import UpgradingError
from upgrading.study.codebook import codebook_table, collective_efficiency, load_codebook, parse, sectoral_groups_table


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
