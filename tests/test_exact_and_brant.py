"""Exact permutation tests of Kendall's tau-b against the R references in tests/reference/ (copies of
../shared/reference/, tolerance from its README: Kendall p 1e-12)."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from upgrading.ordinal.diagnostics import (
    _s_of_rows,
    kendall_null_distribution,
    permutation_association,
)

REFERENCE = Path(__file__).parent / "reference"
KENDALL = json.loads((REFERENCE / "kendall_exact_ref.json").read_text())

# ---------------------------------------------------------------------------------------------------------
# Kendall's tau-b, exact null
# ---------------------------------------------------------------------------------------------------------


def _kendall_case(name):
    cases = pd.read_csv(REFERENCE / "kendall_cases.csv")
    case = cases[cases["case"] == name]
    assert case["x"].tolist() == KENDALL["cases"][name]["x"] and case["y"].tolist() == KENDALL["cases"][name]["y"]
    return case["x"].to_numpy(), case["y"].to_numpy()


@pytest.mark.parametrize("name", sorted(KENDALL["cases"]))
def test_exact_kendall_matches_every_reference_case(name):
    ref = KENDALL["cases"][name]
    x, y = _kendall_case(name)
    result = permutation_association(x, y)
    assert result["method"] == f"exact ({ref['n_arrangements']:,} distinct arrangements)"
    assert result["arrangements"] == ref["n_arrangements"] and result["S"] == ref["S"] and result["draws"] == 0
    for ours, theirs in [("tau_b", "tau_b"), ("p_ge", "p_ge"), ("p_le", "p_le"), ("p_value", "p_two_sided_abs"),
                         ("p_two_sided_doubled", "p_two_sided_doubled")]:
        assert abs(result[ours] - ref[theirs]) <= 1e-12, (ours, result[ours], ref[theirs])
    null = kendall_null_distribution(x, y)  # the whole null, as integers
    assert null.support.tolist() == ref["null_distribution"]["S"]
    assert null.counts == ref["null_distribution"]["count"]
    assert null.count(null.support >= ref["S"]) == ref["count_ge"]
    assert null.count(np.abs(null.support) >= abs(ref["S"])) == ref["count_abs_ge"]


def _brute_force(x, y):
    """All n! permutations of y (each distinct arrangement appears prod(m_v!) times): P(|S| >= |s|), P(S >= s)."""
    perms = np.array(list(itertools.permutations(y)), dtype=float)
    sims = _s_of_rows(np.asarray(x, float), perms)
    s = _s_of_rows(np.asarray(x, float), np.asarray(y, float)[None])[0]
    return np.mean(np.abs(sims) >= abs(s)), np.mean(sims >= s), np.mean(sims <= s)


@pytest.mark.parametrize("seed", range(4))
def test_exact_null_equals_brute_force_whichever_variable_the_programme_runs_over(seed):
    """Random small cases, one variable with few tied levels and the other continuous or tied, both orders,
    so that the programme runs over x in one and over y in the other (the count conversion is exercised)."""
    rng = np.random.default_rng(seed)
    n = 7
    tied = rng.integers(0, 3, n).astype(float)
    other = rng.normal(size=n).round(1) if seed % 2 else rng.integers(0, 4, n).astype(float)
    for x, y in ((tied, other), (other, tied)):
        result = permutation_association(x, y)
        p_abs, p_ge, p_le = _brute_force(x, y)
        assert result["p_value"] == pytest.approx(p_abs, abs=1e-12)
        assert result["p_ge"] == pytest.approx(p_ge, abs=1e-12) and result["p_le"] == pytest.approx(p_le, abs=1e-12)
        assert result["arrangements"] == math.factorial(n) // math.prod(
            math.factorial(c) for c in np.unique(y, return_counts=True)[1])
        assert result["tau_b"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_two_sided_definitions_differ_with_ties_and_each_is_reported():
    """tied_n10: the doubled one-sided p is below P(|T| >= |t|); synthetic_n12_asym_ties: above."""
    low = permutation_association(*_kendall_case("tied_n10"))
    high = permutation_association(*_kendall_case("synthetic_n12_asym_ties"))
    assert low["p_two_sided_doubled"] < low["p_value"] and high["p_two_sided_doubled"] > high["p_value"]


@pytest.mark.parametrize("n", [9, 14, 18, 20])
def test_study_sized_groups_are_exact(n):
    """Four-level scores in groups of up to 20 (the 18-case group has ~7.7e8 distinct arrangements)."""
    rng = np.random.default_rng(n)
    x, y = np.resize([0, 1, 2, 3], n), rng.permutation(np.resize([0, 1, 2, 3], n))
    result = permutation_association(x, y)
    assert result["method"].startswith("exact") and result["draws"] == 0 and result["mc_se"] == 0
    null = kendall_null_distribution(x, y)
    assert sum(null.counts) == result["arrangements"]
    assert sum(s * c for s, c in zip(null.support.tolist(), null.counts)) == 0  # E(S) = 0 under the null


def test_monte_carlo_branch_is_labelled_seeded_and_close_to_exact():
    x, y = _kendall_case("synthetic_n12")
    exact = permutation_association(x, y)
    runs = [permutation_association(x, y, n_resamples=4999, seed=7, max_cells=0) for _ in range(2)]
    mc = runs[0]
    assert runs[0] == runs[1]
    se = math.sqrt(mc["p_value"] * (1 - mc["p_value"]) / 4999)
    assert mc["draws"] == 4999 and mc["mc_se"] == pytest.approx(se)
    assert mc["method"] == f"Monte Carlo (4,999 draws, MC SE {se:.2g})"
    assert abs(mc["p_value"] - exact["p_value"]) < 4 * se + 1 / 5000
    assert mc["tau_b"] == exact["tau_b"] and mc["arrangements"] == exact["arrangements"]


def test_a_test_without_variance_says_why_instead_of_a_number():
    result = permutation_association([0, 1, 2, 3, 1], [2, 2, 2, 2, 2])
    assert np.isnan(result["p_value"]) and np.isnan(result["tau_b"]) and result["method"] == "not computed"
    assert result["reason"] == "undefined: y has no variance"
