"""The partially pooled ordered logit: agreement with NUTS reference posteriors (tests/reference/pooling, made by
make_pooling_ref.py there) under the study's priors and tolerance, determinism, the statsmodels-shaped API, priors
from a user's TOML, PSIS, bad input."""

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upgrading.errors import UpgradingError
from upgrading.ordinal import PoolingPriors, PoolingSettings, PoolingWarning, partially_pooled
from upgrading.ordinal.multilevel_inputs import FAST
from upgrading.ordinal.psis import psis
from upgrading.study.pooling import TOLERANCE, load_priors

REFERENCE = Path(__file__).parent / "reference" / "pooling"
OUTCOMES = ["product_upgrading", "process_upgrading", "functional_upgrading", "intersectoral_upgrading"]
LEVELS = [0, 1, 2, 3]
#: the model of MODEL.md: the references were computed with the study's priors
MODEL = dict(group="sectoral_group", varying=["collective_efficiency", "leader_driven"], priors=load_priors())


def _fit(data, outcome, **options):
    return partially_pooled(data, outcome, **(MODEL | options), levels=LEVELS)


def _reference(outcome: str) -> dict:
    return json.loads((REFERENCE / f"sheet_simulated__{outcome}.json").read_text(encoding="utf-8"))


def _sheet() -> pd.DataFrame:
    """The reference sheet as MODEL.md builds it: groups in codebook order, leader_driven from governance."""
    df = pd.read_csv(REFERENCE / "sheet_simulated.csv")
    df["sectoral_group"] = pd.Categorical(df["sectoral_group"], categories=_reference(OUTCOMES[0])["groups"])
    df["leader_driven"] = df["governance"].isin(["quasi_hierarchy", "hierarchy"]).astype(int)
    return df


@pytest.fixture(scope="module")
def sheet() -> pd.DataFrame:
    return _sheet()


@pytest.fixture(scope="module")
def fits(sheet):
    """Each outcome fitted once, with the default (reported) settings."""
    return {o: _fit(sheet, o) for o in OUTCOMES}


@pytest.mark.slow
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_agrees_with_nuts_reference(fits, outcome):
    """The declared bar (`study.pooling.TOLERANCE`) for every reported quantity and parameter: mean and the 5% and
    95% quantiles in posterior SDs, the SD relative, P(> 0) absolute."""
    result = fits[outcome]
    assert result.ok, result.status
    table = result.posterior_summary()
    ref = _reference(outcome)["parameters"]
    assert set(table.index) == set(ref)
    problems = []
    for name, r in ref.items():
        ours, sd = table.loc[name], r["sd"]
        checks = {
            "mean": abs(ours["mean"] - r["mean"]) / sd / TOLERANCE["mean"],
            "sd": abs(ours["sd"] / sd - 1) / TOLERANCE["sd"],
            "q05": abs(ours["q05"] - r["q05"]) / sd / TOLERANCE["q05"],
            "q95": abs(ours["q95"] - r["q95"]) / sd / TOLERANCE["q95"],
        }
        if "p_positive" in r:
            checks["p_positive"] = abs(ours["p_positive"] - r["p_positive"]) / TOLERANCE["p_positive"]
        problems += [f"{name} {k}: {v:.2f} x tolerance" for k, v in checks.items() if v > 1]
    assert not problems, problems


def test_deterministic(sheet):
    """Same input, same floats: no state outside the fixed seed."""
    a = _fit(sheet, "product_upgrading", fast=True).posterior_summary()
    b = _fit(sheet, "product_upgrading", fast=True).posterior_summary()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_results_api(fits):
    result = fits["product_upgrading"]
    table = result.posterior_summary()
    groups = _reference("product_upgrading")["groups"]
    summaries = ["mean", "sd", "q025", "q05", "q50", "q95", "q975", "p_positive"]
    assert list(table.columns) == summaries + [f"mcse_{s}" for s in summaries]
    assert (table[[f"mcse_{s}" for s in summaries[:-1]]] > 0).all().all()
    assert table["mcse_p_positive"].notna().sum() == table["p_positive"].notna().sum()
    assert list(table.index[:4]) == ["mu_beta", "mu_gamma", "tau_beta", "tau_gamma"]
    assert f"beta[{groups[0]}]" in table.index and f"delta[{groups[0]}]" not in table.index
    assert table.loc["theta[1]", "mean"] < table.loc["theta[2]", "mean"] < table.loc["theta[3]", "mean"]
    assert table["p_positive"].notna().sum() == 2 * len(groups)
    assert np.all(table["q025"] <= table["q05"]) and np.all(table["q95"] <= table["q975"])
    pd.testing.assert_series_equal(result.params, table["mean"], check_names=False)
    ci = result.conf_int()
    assert list(ci.columns) == [0, 1]
    np.testing.assert_allclose(ci[0], table["q025"])
    tidy = result.tidy()
    assert list(tidy["term"]) == list(table.index) and set(tidy["status"]) == {"ok"}
    text = result.summary().as_text()
    assert "Partially pooled ordered logit" in text and "k-hat" in text and "HalfNormal(1)" in text
    assert result.diagnostics["k_hat"] <= 0.7


def test_the_model_is_stated_by_the_caller(sheet):
    """The estimator knows nothing of the study: group column, varying predictors and priors have no defaults."""
    with pytest.raises(TypeError):
        partially_pooled(sheet, "product_upgrading", levels=LEVELS)
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(PoolingPriors))


def test_priors_from_a_users_toml(tmp_path):
    """A user's own priors file, shaped like the study's, read from its path; every scale must be positive."""
    path = tmp_path / "my_priors.toml"
    path.write_text(
        "[priors.mu]\nsd = 1.5\n[priors.tau]\nscale = 0.5\n[priors.delta]\nsd = 2\n[priors.theta]\nsd = 4\n",
        encoding="utf-8",
    )
    assert PoolingPriors.from_toml(path) == PoolingPriors(mu_sd=1.5, tau_scale=0.5, delta_sd=2.0, threshold_sd=4.0)
    with pytest.raises(UpgradingError, match="positive"):
        dataclasses.replace(load_priors(), mu_sd=0)


@pytest.mark.slow
def test_explicit_priors_are_used(sheet):
    tight_tau = dataclasses.replace(load_priors(), tau_scale=0.1)
    tight = _fit(sheet, "product_upgrading", fast=True, priors=tight_tau).posterior_summary()
    wide = _fit(sheet, "product_upgrading", fast=True).posterior_summary()
    assert tight.loc["tau_beta", "mean"] < 0.5 * wide.loc["tau_beta", "mean"]


def test_fast_mode_is_close(fits, sheet):
    """The coarse setting for simulation studies: within twice the declared tolerance of the default one here."""
    fast = _fit(sheet, "product_upgrading", settings=FAST).posterior_summary()
    full = fits["product_upgrading"].posterior_summary()
    assert np.max(np.abs(fast["mean"] - full["mean"]) / full["sd"]) < 2 * TOLERANCE["mean"]
    assert np.max(np.abs(fast["sd"] / full["sd"] - 1)) < 2 * TOLERANCE["sd"]


def test_psis_weights_and_khat():
    rng = np.random.default_rng(1)
    w, k = psis(np.zeros(1000))
    np.testing.assert_allclose(w, 1e-3)
    assert k < 0.5
    _, k_heavy = psis(np.log(rng.pareto(1 / 0.9, 4000) + 1))  # ratios with a tail index of 0.9
    assert k_heavy > 0.7
    w, k = psis(rng.normal(size=4000) * 0.5)
    assert abs(w.sum() - 1) < 1e-12 and k < 0.5


# -- bad input -------------------------------------------------------------------------------------------------


def _quiet_fit(data, outcome="product_upgrading", **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PoolingWarning)
        return _fit(data, outcome, fast=True, **options)


def test_one_group_fits_with_a_note(sheet):
    one = sheet[sheet["sectoral_group"] == "traditional_manufacturing"]
    result = _quiet_fit(one)
    assert any("one group present" in n for n in result.notes)
    assert not any(n.startswith("delta[") for n in result.names)
    assert "one group present" in result.summary().as_text()


def test_group_with_one_case_fits_with_a_note(sheet):
    drop = sheet.index[(sheet["sectoral_group"] == "specialised_suppliers")][1:]
    result = _quiet_fit(sheet.drop(drop))
    assert any("'specialised_suppliers' has one case" in n for n in result.notes)


def test_unobserved_outcome_level_fits_with_a_note(sheet):
    data = sheet.assign(y=sheet["intersectoral_upgrading"].clip(upper=2))
    result = _quiet_fit(data, "y")
    assert any("[3] never observed" in n for n in result.notes)
    assert "theta[3]" in result.names and result.k_hat < 0.7


def test_unreliable_approximation_is_flagged_not_passed_off(sheet):
    with warnings.catch_warnings(record=True) as caught:  # the grid's edge, and here the accuracy rule too
        warnings.simplefilter("always")
        edge = _fit(sheet, "product_upgrading", settings=PoolingSettings(tau_range=(0.003, 0.05), draws=1000))
    assert any(issubclass(w.category, PoolingWarning) and "edge" in str(w.message) for w in caught)
    assert not edge.ok and set(edge.tidy()["status"]) == {edge.status}
    assert "WARNING" in edge.summary().as_text()
    with warnings.catch_warnings(record=True) as caught:  # k-hat, and here the grid's edge too
        warnings.simplefilter("always")
        poor = _fit(
            sheet, "intersectoral_upgrading", settings=PoolingSettings(grid_step=3.0, proposal_df=None, draws=1000)
        )
    assert any(issubclass(w.category, PoolingWarning) and "k-hat" in str(w.message) for w in caught)
    assert not poor.ok and "k-hat" in poor.posterior_summary().attrs["status"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns="leader_driven"), "not in the data"),
        (lambda d: d.assign(collective_efficiency=d["collective_efficiency"].where(d.index > 0)), "missing values"),
        (lambda d: d.assign(product_upgrading=2), "single observed level"),
        (lambda d: d.assign(product_upgrading=d["product_upgrading"] + 3), "outside its levels"),
        (lambda d: d.assign(leader_driven=1), "no variance"),
        (lambda d: d.assign(leader_driven=d["governance"]), "numeric"),
    ],
)
def test_bad_input_names_the_reason(sheet, change, message):
    with pytest.raises(UpgradingError, match=message):
        _fit(change(sheet.copy()), "product_upgrading", fast=True)
