"""The simulated sheet: reproducible, labelled, faithful to the source's signs, and valid."""

import numpy as np
import pytest
from scipy import stats

from upgrading import package_data
from upgrading.errors import UpgradingError
from upgrading.paths import DATA_RAW
from upgrading.study import simulate
from upgrading.study.coding import load_cases


def test_rerunning_the_simulator_reproduces_the_committed_files(tmp_path):
    for path in simulate.write_simulated(tmp_path):
        assert path.read_bytes() == (DATA_RAW / path.name).read_bytes(), path.name


def test_sheet_is_labelled_synthetic_and_valid():
    sheet = simulate.simulate_first_coder()
    assert len(sheet) == 50 == sum(simulate.load_parameters()["group_sizes"].values())
    assert sheet["case_id"].str.fullmatch(r"SIM-\d\d").all()
    assert (sheet["coding_source"] == "simulated").all()
    cases = load_cases(DATA_RAW / simulate.FIRST_CODER_FILE)
    assert cases.attrs["simulated"]


def test_effects_take_their_signs_from_the_source_table():
    params = simulate.load_parameters()
    assert simulate.effect(params, "collective_efficiency", "product_upgrading", "traditional_manufacturing") > 0
    assert simulate.effect(params, "collective_efficiency", "functional_upgrading", "traditional_manufacturing") == 0
    assert simulate.effect(params, "collective_efficiency", "process_upgrading", "complex_product_systems") == 0
    assert simulate.effect(params, "leader_driven", "functional_upgrading", "traditional_manufacturing") < 0
    assert simulate.effect(params, "leader_driven", "product_upgrading", "specialised_suppliers") == 0
    assert simulate.effect(params, "leader_driven", "intersectoral_upgrading", "traditional_manufacturing") == 0


def test_a_large_simulation_recovers_the_signs():
    params = package_data.thaw(simulate.load_parameters())
    params["group_sizes"] = {g: 1500 for g in params["group_sizes"]}
    sheet = simulate.simulate_first_coder(params)
    trad = sheet[sheet["sectoral_group"] == "traditional_manufacturing"]
    cops = sheet[sheet["sectoral_group"] == "complex_product_systems"]
    assert stats.spearmanr(trad["collective_efficiency"], trad["product_upgrading"])[0] > 0.2
    assert abs(stats.spearmanr(cops["collective_efficiency"], cops["product_upgrading"])[0]) < 0.08
    leader = trad["governance"].isin(["quasi_hierarchy", "hierarchy"])
    assert trad.loc[leader, "functional_upgrading"].mean() < trad.loc[~leader, "functional_upgrading"].mean() - 0.3


def test_governance_counts_are_allocated_exactly():
    assert simulate.allocate(9, [0.10, 0.10, 0.35, 0.45]) == [1, 1, 3, 4]
    assert sum(simulate.allocate(18, [0.35, 0.10, 0.45, 0.10])) == 18


def test_second_coder_disagrees_at_the_documented_rate_and_rederives_ce():
    params = package_data.thaw(simulate.load_parameters())
    params["group_sizes"] = {g: 2000 for g in params["group_sizes"]}
    first = simulate.simulate_first_coder(params)
    second = simulate.simulate_second_coder(first, params)
    rate = (first["product_upgrading"] != second["product_upgrading"]).mean()
    assert abs(rate - params["second_coder"]["ordinal"]) < 0.02
    assert ((first["product_upgrading"] - second["product_upgrading"]).abs() <= 1).all()
    assert ((second["external_economies"] + second["joint_actions"] + 1) // 2 == second["collective_efficiency"]).all()
    assert (first["sectoral_group"] == second["sectoral_group"]).all()


def test_inconsistent_parameters_are_refused_with_every_problem():
    params = package_data.thaw(simulate.load_parameters())
    params["governance_mix"]["specialised_suppliers"] = [0.5, 0.5, 0.5, 0.0]
    del params["wording_to_sign"]["Often negative"]
    with pytest.raises(UpgradingError) as err:
        simulate.check_parameters(params)
    assert "governance_mix.specialised_suppliers" in str(err.value) and "Often negative" in str(err.value)


def test_ordinal_cut_points():
    assert simulate.ordinal_scores(np.array([-9, -1, 0.5, 9]), [-1.5, 0, 1.5]).tolist() == [0, 1, 2, 3]


def test_cli_refuses_to_overwrite_raw_data_with_another_seed(tmp_path, capsys):
    from upgrading.compendium.cli import main

    before = (DATA_RAW / simulate.FIRST_CODER_FILE).read_bytes()
    assert main(["simulate", "--seed", "7"]) == 2
    assert "--seed needs --out" in capsys.readouterr().err
    assert (DATA_RAW / simulate.FIRST_CODER_FILE).read_bytes() == before
    assert main(["simulate", "--seed", "7", "--out", str(tmp_path)]) == 0
    assert (tmp_path / simulate.FIRST_CODER_FILE).read_bytes() != before


def test_a_users_invented_sheet_is_labelled_simulated_where_its_source_says_so():
    """A sheet invented to try the compendium is marked by a `coding_source` starting with 'simulated' (any case,
    any words after it): its exhibits are then labelled simulated; a real source is not."""
    from upgrading.study.coding import is_simulated

    cases = load_cases(DATA_RAW / simulate.FIRST_CODER_FILE)
    assert is_simulated(cases.assign(coding_source="Simulated: invented test cases"))
    assert is_simulated(cases.assign(coding_source=["Author (2003)"] * 49 + [" simulated"]))
    assert not is_simulated(cases.assign(coding_source="Author (2003), case study"))
