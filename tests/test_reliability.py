import krippendorff
import numpy as np
import pandas as pd
import pytest
from helpers import SECOND_CODER_SHEET, SIMULATED_SHEET

from upgrading.errors import UpgradingError
from upgrading.study import reliability
from upgrading.study.coding import load_cases


@pytest.fixture(scope="module")
def codings():
    return (
        load_cases(SIMULATED_SHEET),
        load_cases(SECOND_CODER_SHEET),
    )


def test_alpha_matches_the_library_with_the_right_metric(codings):
    first, second = codings
    table = reliability.reliability_table(first, second, n_boot=50).set_index("variable")
    direct = krippendorff.alpha(
        reliability_data=np.vstack([first["product_upgrading"], second["product_upgrading"]]),
        level_of_measurement="ordinal",
    )
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
    assert (table["pairs"] == table["cases"]).all() and "code_vs_not_reported" not in table  # every code reported
    row = listed.iloc[0]
    assert str(first.set_index("case_id").at[row.case_id, row.variable]) == row.first_coder


def test_the_counts_match_the_agreement_rate_when_a_coder_did_not_report_codes(codings):
    """Governance of 30 double-coded cases: 27 pairs coded by both, one of them differing; the first coder did not
    report one case's governance, the second two (one where the first did not either). Agreement is over the 27
    pairs, `disagreements` counts the 1 pair that differs, and the 2 codes against "not reported" are counted
    apart (both are still listed for the coders to reconcile)."""
    first, second = (coding.iloc[:30].copy() for coding in codings)
    second["governance"] = first["governance"].to_numpy()
    other = "market" if first.at[5, "governance"] != "market" else "network"
    second.loc[5, "governance"] = other  # a pair that differs
    first.loc[[7, 9], "governance"] = None  # the first coder did not report two cases ...
    second.loc[[9, 11], "governance"] = None  # ... the second two: case 9 by neither, 7 and 11 by one only
    table = reliability.reliability_table(first, second, n_boot=20).set_index("variable")
    row = table.loc["governance"]
    assert (row["cases"], row["pairs"], row["disagreements"]) == (30, 27, 1)
    assert (row["not_reported"], row["code_vs_not_reported"]) == (3, 2)
    assert row["exact_agreement"] == pytest.approx(1 - row["disagreements"] / row["pairs"])
    a, b = reliability.pair_up(first, second)
    pairable = reliability._codes(a["governance"], b["governance"], "nominal")
    assert (~np.isnan(pairable).any(axis=0)).sum() == row["pairs"]  # alpha's data: the pairs
    listed = reliability.disagreements(first, second)
    counts = reliability.differences_by_variable(listed)
    assert counts.loc["governance"].to_dict() == {"disagreements": 1, "code_vs_not_reported": 2}
    assert (counts["disagreements"] == table.loc[counts.index, "disagreements"]).all()
    assert (counts["code_vs_not_reported"] == table.loc[counts.index, "code_vs_not_reported"]).all()


def test_bootstrap_is_reproducible(codings):
    first, second = codings
    one = reliability.reliability_table(first, second, n_boot=100, seed=1)
    two = reliability.reliability_table(first, second, n_boot=100, seed=1)
    pd.testing.assert_frame_equal(one, two)


def test_a_second_coder_case_the_first_coding_lacks_is_refused_by_name(codings):
    first, second = codings
    extra = second.iloc[:3].assign(case_id=["NEW-1", "NEW-2", "SIM-03"])
    with pytest.raises(UpgradingError, match="coded 2 cases that the first coding does not hold: NEW-1, NEW-2"):
        reliability.pair_up(first, extra)
    with pytest.raises(UpgradingError, match="NEW-1"):
        reliability.reliability_table(first, extra, n_boot=5)
    with pytest.raises(UpgradingError, match="none of the first coding's cases"):
        reliability.double_coding(first, second.iloc[:0])


def test_a_double_coded_subsample_gives_alpha_on_the_overlap(codings):
    first, second = codings
    sub = second.iloc[::5].sample(frac=1, random_state=0)  # a fifth of the cases, in another order
    coverage = reliability.double_coding(first, sub)
    assert coverage.double_coded == tuple(first["case_id"].iloc[::5])
    assert len(coverage.coded_once) == 40 and coverage.cases == 50
    assert coverage.sentence().startswith("10 of the 50 cases (20%) were coded by both coders")
    assert "SIM-02" in coverage.sentence() and "SIM-01," not in coverage.sentence()
    # 5 of 50 is 10%; of 40 cases 1 is 2.5%, written "3%" (Python's format would write "2%")
    assert reliability.double_coding(first, second.iloc[::10]).sentence().startswith("5 of the 50 cases (10%)")
    fewer = reliability.double_coding(first.iloc[:40], second.iloc[:1])
    assert fewer.sentence().startswith("1 of the 40 cases (3%) were coded by both coders")
    table = reliability.reliability_table(first, sub, n_boot=200).set_index("variable")
    assert (table["cases"] == 10).all() and (table["first_coder_cases"] == 50).all()
    # krippendorff's own handling of missing codes: the second coder's row is NaN where they did not code
    codes = sub.set_index("case_id")["product_upgrading"].reindex(first["case_id"]).to_numpy(dtype=float)
    direct = krippendorff.alpha(
        reliability_data=np.vstack([first["product_upgrading"].to_numpy(float), codes]), level_of_measurement="ordinal"
    )
    assert table.loc["product_upgrading", "alpha"] == pytest.approx(direct, abs=1e-12)
    # the bootstrap resamples the double-coded cases: the same table as for the first coding cut to them
    overlap = first[first["case_id"].isin(sub["case_id"])]
    same = reliability.reliability_table(overlap, sub, n_boot=200).set_index("variable")
    pd.testing.assert_frame_equal(table.drop(columns="first_coder_cases"), same.drop(columns="first_coder_cases"))
    listed = reliability.disagreements(first, sub)
    assert set(listed["case_id"]) <= set(sub["case_id"]) and len(listed) == table["disagreements"].sum()


def test_all_cases_double_coded(codings):
    first, second = codings
    coverage = reliability.double_coding(first, second)
    assert coverage.coded_once == () and coverage.sentence() == "All 50 cases were coded by both coders."


def test_a_degenerate_bootstrap_interval_is_named_not_silent():
    import pandas as pd

    from upgrading.study.reliability import reliability_table

    first = load_cases(SIMULATED_SHEET)
    table = reliability_table(first, first.copy(), n_boot=50).set_index("variable")
    assert (table["alpha"] == 1).all()
    assert table["note"].str.startswith("degenerate interval").all(), table["note"]
    second = load_cases(SECOND_CODER_SHEET)
    noisy = reliability_table(first, second, n_boot=50).set_index("variable")
    assert noisy.loc["intersectoral_upgrading", "note"] == ""
    assert isinstance(noisy, pd.DataFrame)


def _alpha_by_the_package(counts, domain, level):
    """krippendorff.alpha itself, one resample at a time; NaN where it is undefined (as `alpha_from_counts`)."""
    if np.count_nonzero(counts.sum(axis=0)) < 2 or not (counts.sum(axis=1) >= 2).any():
        return np.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 where the pairable codes hold one value
        return float(krippendorff.alpha(value_counts=counts, value_domain=list(domain), level_of_measurement=level))


@pytest.mark.slow
@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_the_batched_bootstrap_gives_every_resample_the_packages_alpha_bit_for_bit(level):
    """Sheets of 1 to 150 cases, 2 to 10 values (over 8: the package per resample), two to four coders (four give
    coincidences in thirds, not exact in binary, so the order of the sums matters), codes not reported, agreement
    from none to full, and resamples in which alpha is undefined: each resample's alpha is krippendorff.alpha's,
    exactly."""
    rng = np.random.default_rng(20261205)
    compared = undefined = 0
    for _ in range(150):
        n, values = int(rng.integers(1, 151)), int(rng.integers(2, 11))
        data = rng.integers(0, values, size=(int(rng.integers(2, 5)), n)).astype(float)
        agree = rng.random(n) < rng.random()
        data[1:, agree] = data[0, agree]
        data[rng.random(data.shape) < 0.3 * rng.random()] = np.nan
        domain = np.unique(data[~np.isnan(data)])
        if len(domain) < 2:
            continue
        counts = reliability.value_counts(data, domain)
        draws = rng.integers(0, n, size=(40, n))
        expected = np.array([_alpha_by_the_package(counts[idx], domain, level) for idx in draws])
        batched = reliability.bootstrap_alphas(counts, domain, level, draws)
        assert np.array_equal(batched, expected, equal_nan=True), (n, values)
        compared += len(draws)
        undefined += int(np.isnan(expected).sum())
    assert compared > 4000 and undefined > 0  # undefined resamples were met, and are NaN on both sides


def test_the_reliability_table_is_the_package_alpha_on_every_resample(codings):
    """The table's interval is the percentiles of the package's alpha over the seeded resamples."""
    first, second = codings
    table = reliability.reliability_table(first, second, n_boot=200).set_index("variable")
    a, b = reliability.pair_up(first, second)
    draws = np.random.default_rng(reliability.BOOTSTRAP_SEED).integers(0, len(a), size=(200, len(a)))
    for variable, level in reliability.reliability_variables().items():
        data = reliability._codes(a[variable], b[variable], level)
        domain = np.unique(data[~np.isnan(data)])
        counts = reliability.value_counts(data, domain)
        boots = np.array([_alpha_by_the_package(counts[idx], domain, level) for idx in draws])
        boots = boots[~np.isnan(boots)]
        low, high = (1 - 0.95) / 2, 1 - (1 - 0.95) / 2  # the table's percentiles, computed as it computes them
        assert table.loc[variable, "ci_low"] == np.quantile(boots, low), variable
        assert table.loc[variable, "ci_high"] == np.quantile(boots, high), variable
