"""Batches of replicate fits against one fit per replicate, and the design analysis (power study) built on them."""

import numpy as np
import pandas as pd
import pytest

from upgrading.ordinal import Batch, OrderedLogit, build_design, fit_replicates, newton
from upgrading.ordinal.engine import information, loglik, start_values
from upgrading.ordinal.separation import linear_program
from upgrading.study import claims, models, power, simulate
from upgrading.study.codebook import load_codebook

CELL_MODEL = claims.load_register()["cell_model"]


def _sheet(cases: dict, outcomes: dict) -> pd.DataFrame:
    """A replicate's arrays as the cases data frame `coding.load_cases` would give."""
    cb = load_codebook()
    frame = pd.DataFrame(
        {
            "sectoral_group": pd.Categorical(np.array(cb.group_codes)[cases["group"]], categories=cb.group_codes),
            "governance": pd.Categorical(
                np.array(cb.governance_levels)[cases["governance"]], categories=cb.governance_levels
            ),
            "collective_efficiency": cases["collective_efficiency"],
            "leader_driven": cases["leader_driven"],
        }
    )
    for form, values in outcomes.items():
        frame[form] = values
    return frame


def _replicates(n_cases: int, count: int, seed: int = 7) -> list[pd.DataFrame]:
    data = power.simulate_chunk(power.replicate_seeds(seed, 1, count)[0], n_cases, 1.0)
    return [
        _sheet({k: v[r] for k, v in data["cases"].items()}, {k: v[r] for k, v in data["per_group"].items()})
        for r in range(count)
    ]


def _designs(n_cases: int, count: int, form: str = "product_upgrading") -> list:
    designs = []
    for sheet in _replicates(n_cases, count):
        try:
            design = build_design(models.formula(CELL_MODEL, form), sheet)
        except Exception:  # not estimable: covered by test_estimable_matches_build_design
            continue
        if design.n_levels == 4:
            designs.append(design)
    return designs


@pytest.fixture(scope="module")
def designs_50():
    return _designs(50, 60)


def _single(design, penalty=None):
    return OrderedLogit(design).fit(penalty, warn=False)


def test_replicate_fits_agree_with_one_fit_per_replicate(designs_50):
    """One batch (problems leave the iterations at different times) against a batch of one per replicate."""
    results = fit_replicates(Batch.stack(designs_50))
    separated = 0
    for r, design in enumerate(designs_50):
        ml = _single(design)
        assert bool(ml.separation.separated) == bool(results.separated[r]), r
        reference = _single(design, "jeffreys") if ml.separation.separated else ml
        separated += ml.separation.separated
        np.testing.assert_allclose(results.theta[r], reference.theta, atol=1e-6, rtol=0)
        np.testing.assert_allclose(results.bse[r], reference.bse[design.names].to_numpy(), atol=1e-6, rtol=1e-6)
    assert 0 < separated < len(designs_50)  # both paths were exercised


def test_early_stopped_ml_gives_the_same_flags_and_fits(designs_50):
    batch = Batch.stack(designs_50)
    full, early = fit_replicates(batch), fit_replicates(batch, ml_max_iter=3)
    np.testing.assert_array_equal(full.separated, early.separated)
    np.testing.assert_allclose(full.theta, early.theta, atol=1e-6)


def test_batch_evaluation_is_the_evaluation_of_each_problem(designs_50):
    batch = Batch.stack(designs_50[:5])
    rng = np.random.default_rng(3)
    theta = start_values(batch)
    theta[:, batch.n_levels - 1 :] = rng.normal(0, 0.4, (batch.size, batch.X.shape[2]))
    ll, grad, H = loglik(theta, batch)
    info, _, pgrad = information(theta, batch, penalty_gradient=True)
    for r, design in enumerate(designs_50[:5]):
        one = Batch.of(design)
        ll1, grad1, H1 = loglik(theta[r : r + 1], one)
        info1, _, pgrad1 = information(theta[r : r + 1], one, penalty_gradient=True)
        assert ll[r] == pytest.approx(ll1[0], abs=1e-10)
        np.testing.assert_allclose(grad[r], grad1[0], atol=1e-10)
        np.testing.assert_allclose(H[r], H1[0], atol=1e-10)
        np.testing.assert_allclose(info[r], info1[0], atol=1e-10)
        np.testing.assert_allclose(pgrad[r], pgrad1[0], atol=1e-8)


def test_block_linear_program_matches_one_program_per_problem(designs_50):
    batch = Batch.stack(designs_50[:25])
    block = linear_program(batch)
    single = np.concatenate([linear_program(Batch.of(d)) for d in designs_50[:25]])
    np.testing.assert_array_equal(np.any(block != 0, axis=1), np.any(single != 0, axis=1))
    assert np.any(block != 0)


def test_replicate_fits_handle_weights_and_a_fixed_parameter(designs_50):
    import dataclasses

    weights = np.random.default_rng(0).integers(1, 4, len(designs_50[0].y)).astype(float)
    design = dataclasses.replace(designs_50[0], weights=weights)  # the fixture is shared: never mutate it
    batch = Batch.of(design)
    ours = fit_replicates(batch)
    ml = _single(design)
    ref = _single(design, "jeffreys") if ml.separation.separated else ml
    np.testing.assert_allclose(ours.theta[0], ref.theta, atol=1e-6)
    expanded = Batch(
        np.repeat(design.y, weights.astype(int))[None],
        np.repeat(design.X, weights.astype(int), axis=0)[None],
        np.ones((1, int(weights.sum()))),
        design.n_levels,
        design.names,
    )
    np.testing.assert_allclose(fit_replicates(expanded).theta[0], ours.theta[0], atol=1e-6)
    # a profile point: slope 0 fixed at 0.25 stays there and the others move to the constrained optimum
    free = np.ones((1, batch.n_params), bool)
    k = batch.n_levels - 1
    free[0, k] = False
    start = ours.theta.copy()
    start[0, k] = 0.25
    fit = newton(batch, "jeffreys" if ours.penalised[0] else None, start=start, free=free)
    assert fit.theta[0, k] == 0.25 and fit.converged[0]
    assert fit.objective[0] <= ours.objective[0] + 1e-9


def test_estimable_matches_build_design():
    data = power.simulate_chunk(power.replicate_seeds(11, 1, 80)[0], 30, 1.0)
    X, _ = power.by_group_matrix(data["cases"])
    y = data["per_group"]["functional_upgrading"]
    ours = power.estimable(X, y)
    sheets = [
        _sheet({k: v[r] for k, v in data["cases"].items()}, {"functional_upgrading": y[r]}) for r in range(len(y))
    ]
    theirs = []
    for sheet in sheets:
        try:
            build_design(models.formula(CELL_MODEL, "functional_upgrading"), sheet)
            theirs.append(True)
        except Exception:
            theirs.append(False)
    np.testing.assert_array_equal(ours, theirs)
    assert not all(theirs)  # some small-group replicates cannot be estimated


def test_design_matrices_are_named_and_built_as_build_design_does():
    data = power.simulate_chunk(power.replicate_seeds(5, 1, 2)[0], 50, 1.0)
    cases = {k: v[0] for k, v in data["cases"].items()}
    sheet = _sheet(cases, {k: v[0] for k, v in data["per_group"].items()})
    for builder, formula in (
        (power.by_group_matrix, models.formula(CELL_MODEL, "product_upgrading")),
        (power.pooled_matrix, models.formula("pooled", "product_upgrading")),
    ):
        X, names = builder({k: v[None] for k, v in cases.items()})
        design = build_design(formula, sheet)
        assert names == design.names
        np.testing.assert_array_equal(X[0], design.X)


def test_the_generator_is_shared_with_the_sheet_of_record():
    params = simulate.load_parameters()
    structure, outcomes = (np.random.default_rng(s) for s in simulate.streams(params)[:2])
    arrays = simulate.simulate_arrays(params, structure, outcomes)
    sheet = simulate.simulate_first_coder()
    for form in load_codebook().upgrading_forms:
        np.testing.assert_array_equal(arrays[form], sheet[form].to_numpy())


def test_results_do_not_depend_on_chunks_or_workers():
    small = dict(replicates=12, cases=[40], effect_scales=[1.0], seed=99, progress=False)
    one = power.run(**small, n_jobs=1, chunk_size=12)
    split = power.run(**small, n_jobs=2, chunk_size=5)
    pd.testing.assert_frame_equal(one, split)
    other_seed = power.run(**(small | {"seed": 100}), n_jobs=1)
    assert not one["verdict"].equals(other_seed["verdict"])


def test_exact_mode_reproduces_the_claims_check_verdict_for_verdict():
    """`exact=True` decides Jeffreys-penalised fits by profile likelihood: the same verdicts as claims.evaluate."""
    seeds = power.replicate_seeds(21, 1, 3)[0]
    cell = power.DesignCell(50, 1.0)
    exact = power.label(power.run_chunk(cell, seeds, 0, exact=True))
    approximate = power.label(power.run_chunk(cell, seeds, 0, exact=False))
    data = power.simulate_chunk(seeds, 50, 1.0)
    register = claims.load_register()
    cells = {**register, "claims": [c for c in register["claims"] if c["kind"] == "table cell"]}
    penalised_seen = 0
    for r in range(len(seeds)):
        sheet = _sheet({k: v[r] for k, v in data["cases"].items()}, {k: v[r] for k, v in data["per_group"].items()})
        checked = claims.evaluate(sheet, cells, n_resamples=9).set_index("id")
        ours = exact[(exact["replicate"] == r) & (exact["scope"] != "pooled")].set_index("claim")
        for claim_id, row in ours.iterrows():
            assert row["verdict"] == checked.loc[claim_id, "verdict"], (r, claim_id)
        penalised_seen += (ours["fit"] == "jeffreys").any()
    assert penalised_seen  # the profile rule was exercised
    agreement = (exact["verdict"] == approximate["verdict"]).mean()
    assert agreement > 0.85  # measured: 0.99 on these replicates


def test_truth_and_kinds_follow_the_register():
    assert power.truth_satisfies("positive", 0.45, 0.405) and not power.truth_satisfies("positive", 0.0, 0.405)
    assert power.truth_satisfies("null", 0.0, 0.405) and not power.truth_satisfies("null", -0.9, 0.405)
    assert power.truth_satisfies("non_positive", -0.7, 0.405)
    kinds = {c.id: c.kind for c in power.claims_studied()}
    assert len(kinds) == 27 and kinds["LEAD-FUNCTIONAL-TRAD"] == "negative" and kinds["CE-PRODUCT-COPS"] == "neutral"


def test_summary_shares_add_up_and_carry_monte_carlo_errors():
    raw = power.run(replicates=20, cases=[60], effect_scales=[1.0, 0.0], seed=4, progress=False)
    table = power.summarise(raw)
    total = table["p_right"] + table["p_wrong"] + table["p_inconclusive"]
    np.testing.assert_allclose(total, 1.0)
    assert (table["replicates"] == 20).all() and (table["mcse_right"] >= 0).all()
    # with every effect set to zero a positive claim is right when contradicted and wrong when consistent
    zero = raw[(raw["effect_scale"] == 0.0) & (raw["kind"] == "positive")]
    assert len(zero) and (zero["true_effect"] == 0).all()
    assert ((zero["outcome"] == "right") == (zero["verdict"] == "contradicted")).all()
    assert ((zero["outcome"] == "wrong") == (zero["verdict"] == "consistent")).all()
    documented = raw[(raw["effect_scale"] == 1.0) & (raw["kind"] == "positive")]
    assert ((documented["outcome"] == "right") == (documented["verdict"] == "consistent")).all()


def test_power_rejects_bad_settings():
    from upgrading.errors import UpgradingError

    with pytest.raises(UpgradingError, match="replicates"):
        power.run(replicates=0, progress=False)
    with pytest.raises(UpgradingError, match="at least 8"):
        power.run(replicates=1, cases=[4], progress=False)


def test_power_command_line(tmp_path):
    from helpers import run_cli

    out = tmp_path / "power.csv"
    done = run_cli(
        "power", "--replicates", "8", "--cases", "40,80", "--effect-scales", "1", "--quiet", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "SIMULATED" in done.stdout
    table = pd.read_csv(out)
    assert sorted(table["n_cases"].unique()) == [40, 80] and (table["replicates"] == 8).all()
    bad = run_cli("power", "--cases", "thirty")
    assert bad.returncode == 2 and "comma-separated numbers" in bad.stderr
