"""Exact permutation tests of Kendall's tau-b and the Brant test, against the R references in tests/reference/
(copies of ../shared/reference/, tolerances from its README: Kendall p 1e-12; Brant chi2 1e-6 relative, p 1e-8)."""

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET
from scipy import special, stats

from upgrading.ordinal import OrderedLogit
from upgrading.ordinal.diagnostics import (
    _s_of_rows,
    brant_test,
    kendall_null_distribution,
    permutation_association,
)

REFERENCE = Path(__file__).parent / "reference"
KENDALL = json.loads((REFERENCE / "kendall_exact_ref.json").read_text())
BRANT = json.loads((REFERENCE / "brant_ref.json").read_text())
# patsy spellings of the reference formulas (R's `a * b` is patsy's too; factors need C())
BRANT_FORMULAS = {"soup": "SURENESS ~ C(PROD) * C(DAY) + C(GENDER)", "sim_inter40": "y ~ x1 * C(f) + x2"}

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
    result = permutation_association(x, y, 9999, seed=2005)
    assert result["method"] == f"exact ({ref['n_arrangements']:,} distinct arrangements)"
    assert result["arrangements"] == ref["n_arrangements"] and result["S"] == ref["S"] and result["draws"] == 0
    for ours, theirs in [
        ("tau_b", "tau_b"),
        ("p_ge", "p_ge"),
        ("p_le", "p_le"),
        ("p_value", "p_two_sided_abs"),
        ("p_two_sided_doubled", "p_two_sided_doubled"),
    ]:
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


@pytest.mark.parametrize("x, y", [([0.0, 1.0], [1.0, 3.0]), ([2.0, 1.0], [1.0, 3.0]), ([0.0, 1.0], [2.0, 2.0])])
def test_two_cases_are_tested_exactly_and_one_case_is_not(x, y):
    """Two cases have two arrangements, both as extreme: p = 1, as the enumeration gives it (not refused); a
    variable without variance still has no tau; one case has no association to test."""
    result = permutation_association(x, y, 9999, seed=2005)
    if len(set(y)) == 1:
        assert result["reason"] == "undefined: y has no variance" and np.isnan(result["p_value"])
    else:
        p_abs, p_ge, p_le = _brute_force(x, y)
        assert (result["p_value"], result["p_ge"], result["p_le"]) == (p_abs, p_ge, p_le)
        assert result["p_value"] == 1.0 and result["reason"] == "" and result["method"].startswith("exact (2 ")
        assert result["tau_b"] == stats.kendalltau(x, y).statistic
    one = permutation_association([1.0], [2.0], 9999, seed=2005)
    assert one["reason"] == "one case: no association to test" and np.isnan(one["p_value"])


@pytest.mark.parametrize("seed", range(4))
def test_exact_null_equals_brute_force_whichever_variable_the_programme_runs_over(seed):
    """Random small cases, one variable with few tied levels and the other continuous or tied, both orders,
    so that the programme runs over x in one and over y in the other (the count conversion is exercised)."""
    rng = np.random.default_rng(seed)
    n = 7
    tied = rng.integers(0, 3, n).astype(float)
    other = rng.normal(size=n).round(1) if seed % 2 else rng.integers(0, 4, n).astype(float)
    for x, y in ((tied, other), (other, tied)):
        result = permutation_association(x, y, 9999, seed=2005)
        p_abs, p_ge, p_le = _brute_force(x, y)
        assert result["p_value"] == pytest.approx(p_abs, abs=1e-12)
        assert result["p_ge"] == pytest.approx(p_ge, abs=1e-12) and result["p_le"] == pytest.approx(p_le, abs=1e-12)
        assert result["arrangements"] == math.factorial(n) // math.prod(
            math.factorial(c) for c in np.unique(y, return_counts=True)[1]
        )
        assert result["tau_b"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_two_sided_definitions_differ_with_ties_and_each_is_reported():
    """tied_n10: the doubled one-sided p is below P(|T| >= |t|); synthetic_n12_asym_ties: above."""
    low = permutation_association(*_kendall_case("tied_n10"), 9999, seed=2005)
    high = permutation_association(*_kendall_case("synthetic_n12_asym_ties"), 9999, seed=2005)
    assert low["p_two_sided_doubled"] < low["p_value"] and high["p_two_sided_doubled"] > high["p_value"]


@pytest.mark.parametrize("n", [9, 14, 18, 20])
def test_study_sized_groups_are_exact(n):
    """Four-level scores in groups of up to 20 (the 18-case group has ~7.7e8 distinct arrangements)."""
    rng = np.random.default_rng(n)
    x, y = np.resize([0, 1, 2, 3], n), rng.permutation(np.resize([0, 1, 2, 3], n))
    result = permutation_association(x, y, 9999, seed=2005)
    assert result["method"].startswith("exact") and result["draws"] == 0 and result["mc_se"] == 0
    null = kendall_null_distribution(x, y)
    assert sum(null.counts) == result["arrangements"]
    assert sum(s * c for s, c in zip(null.support.tolist(), null.counts)) == 0  # E(S) = 0 under the null


def test_monte_carlo_branch_is_labelled_seeded_and_close_to_exact():
    x, y = _kendall_case("synthetic_n12")
    exact = permutation_association(x, y, 9999, seed=2005)
    runs = [permutation_association(x, y, n_resamples=4999, seed=7, max_cells=0) for _ in range(2)]
    mc = runs[0]
    assert runs[0] == runs[1]
    se = math.sqrt(mc["p_value"] * (1 - mc["p_value"]) / 4999)
    assert mc["draws"] == 4999 and mc["mc_se"] == pytest.approx(se)
    assert mc["method"] == f"Monte Carlo (4,999 draws, MC SE {se:.2g})"
    assert abs(mc["p_value"] - exact["p_value"]) < 4 * se + 1 / 5000
    assert mc["tau_b"] == exact["tau_b"] and mc["arrangements"] == exact["arrangements"]


def test_a_test_without_variance_says_why_instead_of_a_number():
    result = permutation_association([0, 1, 2, 3, 1], [2, 2, 2, 2, 2], 9999, seed=2005)
    assert np.isnan(result["p_value"]) and np.isnan(result["tau_b"]) and result["method"] == "not computed"
    assert result["reason"] == "undefined: y has no variance"


# ---------------------------------------------------------------------------------------------------------
# Brant test
# ---------------------------------------------------------------------------------------------------------


def _r_name(name: str) -> str:
    """patsy's column name in R's spelling, interaction parts sorted: C(f)[T.02_v] -> f02_v."""
    parts = [re.sub(r"^C\((\w+)(?:,[^)]*)?\)\[(?:T\.)?(.*)\]$", r"\1\2", part) for part in name.split(":")]
    return ":".join(sorted(parts))


@pytest.fixture(scope="module")
def brant_tables():
    """Each reference model fitted once (soup has 1847 rows)."""
    tables = {}
    for name, formula in BRANT_FORMULAS.items():
        data = pd.read_csv(REFERENCE / BRANT["tests"][name]["data"])
        tables[name] = brant_test(OrderedLogit.from_formula(formula, data).fit(warn=False))
    return tables


@pytest.mark.parametrize("name", sorted(BRANT_FORMULAS))
def test_brant_per_column_and_omnibus_match_r(name, brant_tables):
    ref, table = BRANT["tests"][name], brant_tables[name]
    columns = table[table["scope"] == "column"].set_index(table["term"][table["scope"] == "column"].map(_r_name))
    expected = {_r_name(k): v for k, v in ref["per_column"].items()}
    assert sorted(columns.index) == sorted(expected)
    checks = [(columns.loc[k], v) for k, v in expected.items()]
    checks.append((table[table["scope"] == "omnibus"].iloc[0], ref["omnibus"]))
    for row, want in checks:
        assert row["df"] == want["df"] and row["note"] == ""
        assert abs(row["chi2"] / want["chi2"] - 1) <= 1e-6
        assert abs(row["p_value"] - want["p"]) <= 1e-8


@pytest.mark.parametrize("name", sorted(BRANT_FORMULAS))
def test_brant_variable_of_one_column_is_that_columns_test(name, brant_tables):
    """Every term of the reference models has one column: its variable row must equal its column row."""
    table = brant_tables[name]
    columns, variables = table[table["scope"] == "column"], table[table["scope"] == "variable"]
    assert len(variables) == len(columns) and (variables["columns"] == 1).all()
    by_term = variables.set_index("term")
    for row in columns.itertuples():  # by name (levels removed): terms and columns are not in one order
        twin = by_term.loc[re.sub(r"\[[^\]]*\]", "", row.term)]
        assert (twin["chi2"], twin["df"], twin["p_value"]) == (row.chi2, row.df, row.p_value)


def _independent_brant(data: pd.DataFrame, y: str, X: np.ndarray, columns: list[int]) -> float:
    """Brant's Wald statistic for `columns` jointly, from statsmodels' binary GLM fits (an independent fitter)
    and the stacked covariance Cov(b_m, b_l) = I_m^-1 X' diag(pi_l (1 - pi_m)) X I_l^-1, l >= m."""
    import statsmodels.api as sm

    X1 = np.column_stack([np.ones(len(X)), X])
    cuts = sorted(data[y].unique())[:-1]
    fits = [
        sm.GLM((data[y] > c).astype(float).to_numpy(), X1, family=sm.families.Binomial()).fit(tol=1e-14) for c in cuts
    ]
    pis = [special.expit(X1 @ f.params) for f in fits]
    inv = [np.linalg.inv(X1.T @ (X1 * (pi * (1 - pi))[:, None])) for pi in pis]
    M = len(cuts)
    cov = np.block(
        [
            [inv[m] @ X1.T @ (X1 * (pis[max(m, l)] * (1 - pis[min(m, l)]))[:, None]) @ inv[l] for l in range(M)]
            for m in range(M)
        ]
    )
    q = X1.shape[1]
    pick = np.concatenate([m * q + 1 + np.asarray(columns) for m in range(M)])
    b = np.concatenate([f.params for f in fits])[pick]
    V = cov[np.ix_(pick, pick)]
    k = len(columns)
    D = np.hstack([np.tile(np.eye(k), (M - 1, 1)), -np.eye(k * (M - 1))])  # beta_1 - beta_m, m = 2..M
    diff = D @ b
    return float(diff @ np.linalg.solve(D @ V @ D.T, diff))


@pytest.mark.slow
def test_brant_per_variable_tests_factors_jointly_and_ignores_the_reference_level():
    """Multi-column terms: a 5-column factor and a 2x2-column interaction, checked against an independent
    computation, and unchanged (unlike the per-column tests) when the factor's reference level changes."""
    data = pd.read_csv(REFERENCE / "soup.csv")
    formula = "SURENESS ~ C(PRODID) + C(SOUPFREQ) * C(DAY)"
    fit = OrderedLogit.from_formula(formula, data).fit(warn=False)
    table = brant_test(fit)
    variables = table[table["scope"] == "variable"].set_index("term")
    assert variables.loc["C(PRODID)", "columns"] == 5 and variables.loc["C(PRODID)", "df"] == 20
    assert variables.loc["C(SOUPFREQ):C(DAY)", "columns"] == 2 and variables.loc["C(SOUPFREQ):C(DAY)", "df"] == 8
    names = list(fit.slopes.index)
    X = fit.design.X
    for term in ("C(PRODID)", "C(SOUPFREQ):C(DAY)"):
        index = [k for k, c in enumerate(names) if re.sub(r"\[[^\]]*\]", "", c) == term]
        independent = _independent_brant(data, "SURENESS", X, index)
        assert variables.loc[term, "chi2"] == pytest.approx(independent, rel=1e-6)
    omnibus = table[table["scope"] == "omnibus"].iloc[0]
    assert omnibus["chi2"] == pytest.approx(_independent_brant(data, "SURENESS", X, list(range(len(names)))), rel=1e-6)
    other = brant_test(
        OrderedLogit.from_formula("SURENESS ~ C(PRODID, Treatment('04_4')) + C(SOUPFREQ) * C(DAY)", data).fit(
            warn=False
        )
    )
    moved = other[other["scope"] == "variable"].set_index("term")
    assert moved.loc["C(PRODID, Treatment('04_4'))", "chi2"] == pytest.approx(
        variables.loc["C(PRODID)", "chi2"], rel=1e-7
    )
    assert other[other["scope"] == "omnibus"]["chi2"].iloc[0] == pytest.approx(omnibus["chi2"], rel=1e-7)
    col_before = table[table["scope"] == "column"]["chi2"].to_numpy()
    col_after = other[other["scope"] == "column"]["chi2"].to_numpy()
    assert not np.allclose(np.sort(col_before), np.sort(col_after), rtol=1e-3)  # per-column tests do move


# ---------------------------------------------------------------------------------------------------------
# What the study's tables say
# ---------------------------------------------------------------------------------------------------------


def test_study_exact_tests_table_is_exact_in_every_group_and_says_so():
    from upgrading.study import models
    from upgrading.study.coding import load_cases

    cases = load_cases(SIMULATED_SHEET)
    table = models.exact_tests_table(cases)
    assert (table["method"] == [f"exact ({a:,} distinct arrangements)" for a in table["arrangements"]]).all()
    assert (table["draws"] == 0).all() and (table["reason"] == "").all()
    for row in table.itertuples():
        y = cases.loc[cases["sectoral_group"].astype(str) == row.sectoral_group, row.outcome]
        counts = y.value_counts().to_numpy()
        assert row.arrangements == math.factorial(len(y)) // math.prod(math.factorial(int(c)) for c in counts)
        assert 0 < row.p_value <= 1 and row.p_two_sided_doubled == min(1, 2 * min(row.p_ge, row.p_le))


def test_claims_cross_check_names_its_method():
    from upgrading.study import claims
    from upgrading.study.coding import load_cases

    register = claims.load_register()
    one = register.with_claims([register.claim("CE-PRODUCT-TRAD")])
    row = claims.evaluate(load_cases(SIMULATED_SHEET), one).iloc[0]
    assert row["permutation_method"].startswith("exact (") and 0 < row["permutation_p"] <= 1
