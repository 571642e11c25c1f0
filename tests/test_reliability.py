import krippendorff
import numpy as np
import pandas as pd
import pytest

from upgrading.study import reliability
from upgrading.study.coding import load_cases
from upgrading.errors import UpgradingError
from upgrading.compendium.paths import DATA_RAW


@pytest.fixture(scope="module")
def codings():
    return (load_cases(DATA_RAW / "coding_sheet_simulated.csv"),
            load_cases(DATA_RAW / "coding_sheet_simulated_second_coder.csv"))


def test_alpha_matches_the_library_with_the_right_metric(codings):
    first, second = codings
    table = reliability.reliability_table(first, second, n_boot=50).set_index("variable")
    direct = krippendorff.alpha(reliability_data=np.vstack([first["product_upgrading"], second["product_upgrading"]]),
                                level_of_measurement="ordinal")
    assert table.loc["product_upgrading", "alpha"] == pytest.approx(direct, abs=1e-12)
    assert table.loc["governance", "metric"] == "nominal"
    assert table.loc["sectoral_group", "alpha"] == 1.0
    assert (table["ci_low"] <= table["alpha"] + 1e-12).all() and (table["alpha"] <= table["ci_high"] + 1e-12).all()


def test_nominal_alpha_does_not_depend_on_category_names():
    a = pd.Series(["market", "network", "hierarchy", "market", "network"])
    b = pd.Series(["market", "hierarchy", "hierarchy", "market", "network"])
    renamed = {"market": "z", "network": "a", "hierarchy": "m"}
    one = reliability.alpha(reliability._codes(a, b, "nominal"), "nominal")
    two = reliability.alpha(reliability._codes(a.map(renamed), b.map(renamed), "nominal"), "nominal")
    assert one == pytest.approx(two)


def test_disagreements_count_every_difference(codings):
    first, second = codings
    listed = reliability.disagreements(first, second)
    table = reliability.reliability_table(first, second, n_boot=10)
    assert len(listed) == table["disagreements"].sum() > 0
    row = listed.iloc[0]
    assert str(first.set_index("case_id").at[row.case_id, row.variable]) == row.first_coder


def test_bootstrap_is_reproducible(codings):
    first, second = codings
    one = reliability.reliability_table(first, second, n_boot=100, seed=1)
    two = reliability.reliability_table(first, second, n_boot=100, seed=1)
    pd.testing.assert_frame_equal(one, two)


def test_codings_of_different_cases_are_refused(codings):
    first, second = codings
    with pytest.raises(UpgradingError, match="only the first coder has SIM-50"):
        reliability.pair_up(first, second.iloc[:-1])


def test_a_degenerate_bootstrap_interval_is_named_not_silent():
    import pandas as pd

    from upgrading.study.reliability import reliability_table

    first = load_cases(DATA_RAW / "coding_sheet_simulated.csv")
    table = reliability_table(first, first.copy(), n_boot=50).set_index("variable")
    assert (table["alpha"] == 1).all()
    assert table["note"].str.startswith("degenerate interval").all(), table["note"]
    second = load_cases(DATA_RAW / "coding_sheet_simulated_second_coder.csv")
    noisy = reliability_table(first, second, n_boot=50).set_index("variable")
    assert noisy.loc["intersectoral_upgrading", "note"] == ""
    assert isinstance(noisy, pd.DataFrame)
