"""The partially pooled fit on small and uneven sheets: right, or it says it is not.

Four small sheets of our own (tests/reference/pooling/sheet_*.csv: two and three cases per group, a constant-outcome
group beside a group of two, an outcome level never observed), each with a NUTS reference made by
make_pooling_ref.py there. Checked: agreement with NUTS within the declared tolerance or an "unreliable" status;
Monte Carlo standard errors that match the spread of estimates over seeds; the
accuracy rule and the fit's improvement when it misses it; the constant-group note. (The same status under five
seeds: test_pooling_seeds.py, a module of its own so that the test workers share the load.)"""

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upgrading.ordinal import ACCURACY, PoolingSettings, partially_pooled
from upgrading.study.pooling import TOLERANCE, errors, load_priors

REFERENCE = Path(__file__).parent / "reference" / "pooling"
SMALL = ["sheet_two_per_group", "sheet_three_per_group", "sheet_constant_group", "sheet_unobserved_middle"]
GROUPS = ["traditional_manufacturing", "natural_resource_based", "complex_product_systems", "specialised_suppliers"]
MODEL = dict(group="sectoral_group", varying=["collective_efficiency", "leader_driven"], priors=load_priors())


def _sheet(name: str) -> pd.DataFrame:
    """A reference sheet as MODEL.md builds it: groups in codebook order (those present), leader_driven."""
    df = pd.read_csv(REFERENCE / f"{name}.csv")
    df["sectoral_group"] = pd.Categorical(df["sectoral_group"], [g for g in GROUPS if g in set(df["sectoral_group"])])
    df["leader_driven"] = df["governance"].isin(["quasi_hierarchy", "hierarchy"]).astype(int)
    return df


def _fit(df: pd.DataFrame, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return partially_pooled(df, "product_upgrading", **MODEL, levels=[0, 1, 2, 3], **options)


def _errors(result, reference: dict) -> list[str]:
    """Every reported quantity outside the tolerance: its worst error over the parameters, in units of it."""
    worst = errors(result.posterior_summary(), reference["parameters"])
    return [f"{k}: {v / TOLERANCE[k]:.2f} x tolerance" for k, v in worst.items() if v > TOLERANCE[k]]


@pytest.fixture(scope="module")
def fits():
    return {name: _fit(_sheet(name)) for name in SMALL}


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL)
def test_small_sheets_agree_with_nuts(fits, name):
    reference = json.loads((REFERENCE / f"{name}__product_upgrading.json").read_text(encoding="utf-8"))
    assert reference["diagnostics"]["divergences"] == 0 and reference["diagnostics"]["max_r_hat"] < 1.01
    result = fits[name]
    assert result.ok, result.status  # each of these sheets has a posterior the method can reach
    assert not _errors(result, reference)


@pytest.mark.slow
def test_an_unobserved_middle_level_is_fitted_in_the_gap_coordinates(fits):
    """No case at level 1: the thresholds' conditional mode lies on the ordering boundary (no grid point could be
    fitted there); in (theta_1, log gaps), where the draws are made, every grid point has an interior mode."""
    result = fits["sheet_unobserved_middle"]
    assert result.ok and result.diagnostics["unusable_grid_points"] == 0
    assert any("never observed" in note for note in result.notes)


def test_a_constant_group_is_noted_with_what_informs_it(fits):
    notes = fits["sheet_constant_group"].notes
    # all at a middle level (2): bounded on both sides; all at the lowest (0): on one side only, the prior decides
    assert any("'natural_resource_based': every case has product_upgrading = 2" in n for n in notes)
    assert any("'complex_product_systems'" in n and "driven by its prior" in n for n in notes)
    assert not any("every case has" in n for n in fits["sheet_unobserved_middle"].notes)


@pytest.mark.slow
def test_monte_carlo_errors_match_the_spread_over_seeds():
    """An outside check of the MCSE formulas: the SD of each estimate over independent seeds (one attempt each, so
    the draws are the only thing that changes) against the MCSE each fit reports, within a factor of two."""
    df = _sheet("sheet_constant_group")
    names = ["beta[traditional_manufacturing]", "gamma[complex_product_systems]", "tau_beta"]
    estimates, mcse = [], []
    for seed in range(12):
        result = _fit(df, settings=PoolingSettings(grid_step=0.6, draws=8000, seed=seed, max_attempts=1))
        summary = result.posterior_summary().loc[names]
        estimates.append(summary[["mean", "q05", "q95"]].to_numpy())
        mcse.append(result.mcse(names)[["mean", "q05", "q95"]].to_numpy())
    ratio = np.std(estimates, axis=0, ddof=1) / np.mean(mcse, axis=0)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


@pytest.mark.slow
def test_a_fit_that_misses_the_rule_improves_itself_until_it_passes():
    df = _sheet("sheet_three_per_group")
    first = _fit(df, settings=PoolingSettings(draws=4000, max_attempts=1))
    assert not first.ok and "accuracy rule is not met after 1 attempt" in first.status
    improved = _fit(df, settings=PoolingSettings(draws=4000))
    assert improved.ok and len(improved.attempts) > 1
    assert improved.attempts[0]["problems"] and not improved.attempts[-1]["problems"]
    assert improved.settings.draws > 4000 and improved.diagnostics["attempts"] == len(improved.attempts)


def test_the_rule_holds_every_summary_to_half_its_tolerance_and_accepts_three_quarters_at_the_end():
    names = ["a", "b"]
    sd = np.array([1.0, 2.0])
    mcse = pd.DataFrame(0.01, index=names, columns=["mean", "sd", "q025", "q05", "q50", "q95", "q975", "p_positive"])
    assert all((v <= 1).all() for v in ACCURACY.scaled_mcse(mcse, sd).values())
    mcse.loc["b", "q95"] = 0.6 * ACCURACY.quantile * 2.0  # 0.6 of the tolerance, in b's posterior SDs
    scaled = ACCURACY.scaled_mcse(mcse, sd)
    assert scaled["q95 quantile"]["b"] == pytest.approx(1.2)  # misses the stopping bound (half the tolerance)
    assert ACCURACY.scaled_mcse(mcse, sd, final=True)["q95 quantile"]["b"] == pytest.approx(0.8)  # accepted
    mcse.loc["a", "p_positive"] = 0.8 * ACCURACY.p_positive
    assert ACCURACY.scaled_mcse(mcse, sd, final=True)["P(> 0)"]["a"] > 1  # beyond three quarters: flagged


@pytest.mark.slow
def test_the_caller_says_which_parameters_the_rule_covers(fits):
    df = _sheet("sheet_two_per_group")
    slopes = [f"{s}[{g}]" for s in ("beta", "gamma") for g in GROUPS]
    result = _fit(df, reported=slopes)
    assert result.covered == slopes and set(result.reported()) > set(slopes)
    strict = dataclasses.replace(ACCURACY, mcse_share=1e-6)  # every summary misses: the worst named is covered
    problems = result.accuracy_problems(strict)
    assert problems and all(any(f" of {name} is " in p for name in slopes) for p in problems)
    assert not any("tau_" in p or "mu_" in p for p in problems)


def test_mass_the_correction_moves_to_the_grids_edge_is_counted():
    """The edge check counts the importance-corrected mass in the boundary cells, not only the Laplace weights'."""
    from upgrading.ordinal.multilevel import _draws_edge_mass

    log_tau = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 1.0], [1.0, 1.0]])
    draws = np.array([[0.1, 0.5], [0.6, 0.1], [1.2, 0.8]])  # tau_beta: the lowest cell, the middle, the highest
    edge = _draws_edge_mass(draws, np.array([0.7, 0.2, 0.1]), log_tau, step=0.5, width=0.5)
    assert edge["tau_beta low"] == pytest.approx(0.7) and edge["tau_beta high"] == pytest.approx(0.1)
    assert edge["tau_gamma low"] == pytest.approx(0.2) and edge["tau_gamma high"] == pytest.approx(0.1)
    # on a grid twice as fine the edge region keeps its width: two cells of each end, the same mass here
    fine = np.array([[x, 0.0] for x in (0.0, 0.25, 0.5, 0.75, 1.0)])
    again = _draws_edge_mass(draws, np.array([0.7, 0.2, 0.1]), fine, step=0.25, width=0.5)
    assert again["tau_beta low"] == pytest.approx(0.7) and again["tau_beta high"] == pytest.approx(0.1)


@pytest.mark.parametrize("n_levels, unobserved", [(2, None), (4, None), (4, 2), (5, 1)])
def test_the_log_likelihood_over_case_patterns_is_the_sum_over_cases(n_levels, unobserved):
    """The importance weights' log-likelihood sums each distinct (predictor row, level) once, times its count, and
    takes each middle level's threshold-gap term once per level: the same number as the engine's per-case log
    probabilities (`likelihood.log_probability`), summed case by case; two levels, and a level no case has."""
    from upgrading.ordinal import multilevel_density
    from upgrading.ordinal.likelihood import log_probability

    rng = np.random.default_rng(7 + n_levels)
    X = rng.integers(0, 3, size=(40, 3)).astype(float)  # few distinct rows, so patterns repeat
    observed = [k for k in range(n_levels) if k != unobserved]
    y = rng.choice(observed, size=40)
    alpha = np.sort(rng.normal(0, 2, size=(25, n_levels - 1)), axis=1)
    coef = rng.normal(0, 1, size=(25, 3))
    patterns = multilevel_density.Patterns.of(X, y, n_levels)
    assert len(patterns.y) < len(y) and patterns.count.sum() == len(y)
    ext = np.concatenate([np.full((25, 1), -np.inf), alpha, np.full((25, 1), np.inf)], axis=1)
    eta = coef @ X.T
    per_case = log_probability(ext[:, y + 1] - eta, ext[:, y] - eta).sum(axis=1)
    np.testing.assert_allclose(multilevel_density.log_likelihood(alpha, coef, patterns), per_case, rtol=1e-12)


def test_unordered_or_tied_thresholds_get_no_weight_and_no_warning():
    from upgrading.ordinal import multilevel, multilevel_density
    from upgrading.ordinal.multilevel_inputs import prepare

    df = _sheet("sheet_three_per_group")
    d = prepare(df, "product_upgrading", "sectoral_group", MODEL["varying"], levels=[0, 1, 2, 3])
    sampler = multilevel._Sampler(d, MODEL["priors"], 0.6)
    x = np.zeros((3, sampler.lay.q))
    x[:, : sampler.lay.T] = [[-1.0, 0.0, 1.0], [-1.0, 1.0, 0.5], [-1.0, 0.0, 0.0]]  # ordered, swapped, tied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        joint = multilevel_density.log_joint(x, np.zeros((3, 2)), sampler.patterns, sampler.lay, MODEL["priors"])
    assert np.isfinite(joint[0]) and joint[1] == -np.inf and joint[2] == -np.inf


@pytest.mark.slow
def test_an_attempt_with_more_draws_keeps_the_draws_it_has():
    """Draws come in seeded blocks: a later attempt from the same proposal adds blocks to the ones it has, so its
    first draws are the earlier attempt's, and only the added blocks are made."""
    from upgrading.ordinal import multilevel
    from upgrading.ordinal.multilevel_inputs import DRAW_BLOCK, prepare

    df = _sheet("sheet_three_per_group")
    d = prepare(df, "product_upgrading", "sectoral_group", MODEL["varying"], levels=[0, 1, 2, 3])
    sampler = multilevel._Sampler(d, MODEL["priors"], 0.6)
    few = sampler.posterior(PoolingSettings(grid_step=0.6, draws=3 * DRAW_BLOCK))
    more = sampler.posterior(PoolingSettings(grid_step=0.6, draws=5 * DRAW_BLOCK))
    assert len(sampler.blocks[1]) == 5
    np.testing.assert_array_equal(more.draws[: 3 * DRAW_BLOCK], few.draws)
    fresh = multilevel._Sampler(d, MODEL["priors"], 0.6).posterior(PoolingSettings(grid_step=0.6, draws=5 * DRAW_BLOCK))
    np.testing.assert_array_equal(fresh.draws, more.draws)
    np.testing.assert_array_equal(fresh.weights, more.weights)


def test_an_improved_attempt_is_sized_by_the_shortfall_and_refines_the_grid_last():
    from upgrading.ordinal.multilevel_inputs import DRAW_BLOCK

    base = PoolingSettings(grid_step=0.6, draws=16000)
    second = base.improved(base, 1.3, attempt=1)  # 1.25 x 1.3 = 1.625 times the draws, in whole blocks
    assert second.draws == 26000 and second.draws % DRAW_BLOCK == 0 and second.grid_step == 0.6
    assert base.improved(base, 1.01, attempt=1).draws == 24000  # at least 1.5 times
    assert base.improved(base, 100.0, attempt=1).draws == 16 * 16000  # at most sixteen times the settings' draws
    third = base.improved(second, 1.3, attempt=2)
    assert third.grid_step == 0.6 and third.draws > second.draws
    fourth = base.improved(third, 1.3, attempt=3)  # the draws were raised twice: a finer grid, heavier tails
    assert (fourth.grid_step, fourth.proposal_df) == (0.3, 4.0)
    assert base.improved(base, None, attempt=1).grid_step == 0.3  # k-hat failed: more draws will not fix it
    capped = base.improved(base, 20.0, attempt=1)  # at the cap after one attempt: the next refines the grid
    assert capped.draws == 16 * 16000 and base.improved(capped, 1.3, attempt=2).grid_step == 0.3
    assert base.improved(fourth, 1.3, attempt=4).grid_step == 0.3  # a refined grid is not refined again


def test_a_change_of_any_setting_but_the_counts_gives_a_new_proposal():
    """Draws are reused only from the same proposal: every settings field except the numbers of draws and of
    attempts is part of the key that draws are kept under."""
    from upgrading.ordinal import multilevel

    base = PoolingSettings()
    changed = {"grid_step": 0.5, "tau_range": (0.01, 4.0), "seed": 1, "proposal_df": None, "stop_at_acceptance": True}
    assert set(changed) | {"draws", "max_attempts"} == {f.name for f in dataclasses.fields(base)}
    key = multilevel.proposal_settings(base)
    for name, value in changed.items():
        assert multilevel.proposal_settings(dataclasses.replace(base, **{name: value})) != key, name
    assert multilevel.proposal_settings(dataclasses.replace(base, draws=64000, max_attempts=2)) == key


def test_a_parameters_monte_carlo_errors_do_not_depend_on_what_else_is_asked(fits):
    """Each parameter's MCSEs are computed on their own and kept: asked alone, with others, or again, the same
    numbers bit for bit (tables, the accuracy rule and each group slope ask for different sets)."""
    result = fits["sheet_constant_group"]
    name = "beta[traditional_manufacturing]"
    result._mcse.clear()
    alone = result.mcse([name]).loc[name].to_numpy()
    result._mcse.clear()
    everything = result.mcse().loc[name].to_numpy()
    assert np.array_equal(alone, everything, equal_nan=True)
    assert np.array_equal(result.mcse([name, "tau_beta"]).loc[name].to_numpy(), alone, equal_nan=True)
    assert list(result.mcse(["tau_beta", name]).index) == ["tau_beta", name]
    assert result.mcse([]).shape == (0, len(everything))  # nothing asked: an empty table of the same columns
