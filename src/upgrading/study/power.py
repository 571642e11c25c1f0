"""Design analysis: how often would the claims check (notebook 05) get a claim right with n cases?

A Monte Carlo study on the documented generator (`simulate.simulate_arrays`, parameters in
`data/simulation.toml`). Each design cell fixes the number of cases and a multiple of the documented effect
sizes; each replicate simulates a sheet, fits the models the claims check fits, and applies the claims check's
declared verdict rule (`claims.verdict_rule`, the same function) to each claim. A verdict is *right* when it
matches the simulated truth (`consistent` if the true effect satisfies the claim, `contradicted` if it does
not), *wrong* when it is the other one, and otherwise `inconclusive`.

Two scopes of claims:
- per group: the 24 cells of the source's table, each a slope of the by-group model (`models.MODELS`, the
  model the claims register's `cell_model` names), with the documented effects (the source's signs times
  `effect_size`) times the scale;
- pooled: a claim about collective efficiency in every group at once, the collective-efficiency slope of
  notebook 04's pooled model, under the documented generator with one common effect of collective efficiency
  (positive on product, none on process, negative on functional upgrading; documented size times the scale)
  and no governance effects, so that the pooled slope has a true value.

Replicates draw from their own random streams (`SeedSequence(seed).spawn` per design cell, then per
replicate), so results do not depend on how replicates are split into chunks or on the number of workers.
Work is spread with joblib (any joblib backend: local processes by default, or Dask/Ray, see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UpgradingError
from ..ordinal import Batch, ReplicateFits, fit_replicates
from . import simulate
from .claims import VERDICTS, expected_direction, load_register, verdict_rule
from .codebook import load_codebook
from .settings import POOLED_CASES, POOLED_EFFECT_SCALES, POOLED_REPLICATES
from .settings import POWER_CASES as CASES
from .settings import POWER_EFFECT_SCALES as EFFECT_SCALES
from .settings import POWER_REPLICATES as REPLICATES
from .settings import POWER_SEED as SEED
from .simulate import effect_table, group_sizes, load_parameters

KINDS = {"positive": "positive", "null": "neutral", "negative": "negative", "non_positive": "negative"}
POOLED_EFFECTS = {"product_upgrading": 1.0, "process_upgrading": 0.0, "functional_upgrading": -1.0}
VERDICT_CODES = VERDICTS  # a verdict's code is its index; 3 marks a replicate whose model is not estimable
OUTCOMES = ("right", "wrong", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """One claim as the study checks it: which model, which slope, expected direction, margin, true effect."""

    id: str
    scope: str  # "pooled" or a sectoral group code
    form: str
    predictor: str
    term: str
    expected: str
    margin: float
    effect: float  # true effect at effect scale 1

    @property
    def kind(self) -> str:
        return KINDS[self.expected]


def claims_studied() -> list[Claim]:
    """The 24 table cells of the register (per group) and the three pooled claims, with their true effects."""
    register = load_register()
    params = load_parameters()
    effects = effect_table(params)
    out = []
    for claim in register["claims"]:
        if claim["kind"] != "table cell":
            continue
        out.append(
            Claim(
                claim["id"],
                claim["sectoral_group"],
                claim["outcome"],
                claim["predictor"],
                claim["term"],
                expected_direction(claim, register),
                float(register["margins"][claim["predictor"]]),
                effects[(claim["predictor"], claim["outcome"], claim["sectoral_group"])],
            )
        )
    size = params["outcome"]["effect_size"]["collective_efficiency"]
    expected = {1.0: "positive", 0.0: "null", -1.0: "negative"}
    for form, sign in POOLED_EFFECTS.items():
        out.append(
            Claim(
                f"POOLED-CE-{form.split('_')[0].upper()}",
                "pooled",
                form,
                "collective_efficiency",
                "collective_efficiency",
                expected[sign],
                float(register["margins"]["collective_efficiency"]),
                sign * size,
            )
        )
    return out


def truth_satisfies(expected: str, effect: float, margin: float) -> bool:
    """Does a true effect satisfy the claim? (The verdict that is right: 'consistent' if so.)"""
    return {
        "positive": effect > 0,
        "negative": effect < 0,
        "null": abs(effect) < margin,
        "non_positive": effect < margin,
    }[expected]


# ---------------------------------------------------------------------------------------------------------
# Simulated replicates -> batches of designs
# ---------------------------------------------------------------------------------------------------------


def _pooled_effects(params: dict, scale: float) -> dict:
    cb = load_codebook()
    size = params["outcome"]["effect_size"]["collective_efficiency"]
    table = {key: 0.0 for key in effect_table(params)}
    for form, sign in POOLED_EFFECTS.items():
        for group in cb.group_codes:
            table[("collective_efficiency", form, group)] = scale * sign * size
    return table


def _children(seed: np.random.SeedSequence, count: int) -> list[np.random.SeedSequence]:
    """The first `count` children `seed.spawn` would give, without spawning (spawn is stateful: a second call
    would give new children, so a replicate simulated twice would differ)."""
    return [
        np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (k,), pool_size=seed.pool_size)
        for k in range(count)
    ]


def simulate_chunk(seeds: list[np.random.SeedSequence], n_cases: int, effect_scale: float) -> dict:
    """Replicates of one design cell, stacked: (R, N) arrays of the cases and of both scenarios' outcomes.

    Each replicate's SeedSequence spawns three streams: the cases' structure (groups, collective efficiency,
    governance), the per-group scenario's outcomes and the pooled scenario's outcomes. Both scenarios share
    the cases, so they differ only in how upgrading depends on them.
    """
    params = load_parameters()
    sizes = group_sizes(params, n_cases)
    per_group = simulate.plan(params, sizes, effect_table(params, effect_scale))
    pooled = simulate.plan(params, sizes, _pooled_effects(params, effect_scale))
    cases, out_group, out_pooled = [], [], []
    for seed in seeds:
        structure, group_stream, pooled_stream = _children(seed, 3)
        case = simulate.draw_cases(per_group, np.random.default_rng(structure))
        cases.append(case)
        out_group.append(simulate.draw_outcomes(per_group, case, np.random.default_rng(group_stream)))
        out_pooled.append(simulate.draw_outcomes(pooled, case, np.random.default_rng(pooled_stream)))

    def stack(rows: list[dict]) -> dict:
        return {key: np.stack([row[key] for row in rows]) for key in rows[0]}

    return {"cases": stack(cases), "per_group": stack(out_group), "pooled": stack(out_pooled)}


def by_group_matrix(cases: dict) -> tuple[np.ndarray, list[str]]:
    """The by-group model's predictors (R, N, 11), named and ordered exactly as `ordinal.build_design` does."""
    groups = load_codebook().group_codes
    g = cases["group"]
    columns, names = [], []
    for k, code in enumerate(groups[1:], start=1):
        columns.append(g == k)
        names.append(f"C(sectoral_group)[T.{code}]")
    for predictor in ("collective_efficiency", "leader_driven"):
        for k, code in enumerate(groups):
            columns.append((g == k) * cases[predictor])
            names.append(f"C(sectoral_group)[{code}]:{predictor}")
    return np.stack(columns, axis=-1).astype(float), names


def pooled_matrix(cases: dict) -> tuple[np.ndarray, list[str]]:
    """Notebook 04's pooled model's predictors (R, N, 7), named as `ordinal.build_design` names them."""
    cb = load_codebook()
    columns, names = [], []
    for k, level in enumerate(cb.governance_levels[1:], start=1):
        columns.append(cases["governance"] == k)
        names.append(f"C(governance)[T.{level}]")
    for k, code in enumerate(cb.group_codes[1:], start=1):
        columns.append(cases["group"] == k)
        names.append(f"C(sectoral_group)[T.{code}]")
    columns.append(cases["collective_efficiency"])
    names.append("collective_efficiency")
    return np.stack(columns, axis=-1).astype(float), names


def estimable(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Would `ordinal.build_design` accept each replicate? (two outcome levels, no constant or collinear column)"""
    levels = (y[..., None] == np.arange(y.max() + 1)).any(axis=1).sum(axis=1)
    constant = np.all(X == X[:, :1, :], axis=1).any(axis=1)
    full = np.concatenate([np.ones(X.shape[:2] + (1,)), X], axis=2)
    return (levels >= 2) & ~constant & (np.linalg.matrix_rank(full) == full.shape[2])  # as _check_predictors


# ---------------------------------------------------------------------------------------------------------
# The claims check's verdicts, for a batch of replicates
# ---------------------------------------------------------------------------------------------------------

Z95, Z90 = stats.norm.ppf(0.975), stats.norm.ppf(0.95)
CHI95, CHI90 = stats.chi2.ppf(0.95, 1), stats.chi2.ppf(0.90, 1)


def verdicts(results: ReplicateFits, term: int, expected: str, margin: float, exact: bool = False) -> np.ndarray:
    """Verdict codes (0 consistent, 1 contradicted, 2 inconclusive) of one claim in every replicate.

    Maximum likelihood (not separated): Wald intervals, as the claims check uses. Jeffreys-penalised (separated): the
    profile penalised-likelihood intervals, decided through the likelihood-ratio statistic at 0 and at
    -margin and +margin, which is what the profile interval's position relative to those points means.
    """
    est, se = results.params[:, term], results.bse[:, term]
    out = np.full(len(est), 2)
    ml = ~results.penalised if exact else np.ones(len(est), bool)
    if ml.any():
        e, s = est[ml], se[ml]
        low, high, low90, high90 = e - Z95 * s, e + Z95 * s, e - Z90 * s, e + Z90 * s
        out[ml] = verdict_rule(expected, low > 0, high < 0, (-margin < low90) & (high90 < margin), high90 < margin)
    rows = np.flatnonzero(results.penalised) if exact else np.array([], int)
    if len(rows):
        e = est[rows]
        lr0 = results.profile_statistic(term, 0.0, rows)
        excl = lr0 > CHI95
        decided = excl & (((e > 0) & (expected == "positive")) | ((e < 0) & (expected == "negative")))
        plus = (e < margin) & ~decided
        minus = (np.abs(e) < margin) & ~decided
        lr_plus, lr_minus = np.zeros(len(rows)), np.zeros(len(rows))
        if plus.any():
            lr_plus[plus] = results.profile_statistic(term, margin, rows[plus])
        if minus.any():
            lr_minus[minus] = results.profile_statistic(term, -margin, rows[minus])
        inside = minus & (lr_plus > CHI90) & (lr_minus > CHI90)
        below = plus & (lr_plus > CHI90)
        out[rows] = verdict_rule(expected, excl & (e > 0), excl & (e < 0), inside, below)
    return out


# ---------------------------------------------------------------------------------------------------------
# Running the study
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignCell:
    n_cases: int
    effect_scale: float


def design_cells(cases=CASES, effect_scales=EFFECT_SCALES) -> list[DesignCell]:
    return [DesignCell(int(n), float(s)) for n in cases for s in effect_scales]


def replicate_seeds(seed: int, n_cells: int, replicates: int) -> list[list[np.random.SeedSequence]]:
    """Independent streams: one per design cell, one per replicate within it (independent of chunking)."""
    return [cell.spawn(replicates) for cell in np.random.SeedSequence(seed).spawn(n_cells)]


def _fit_scope(cases: dict, y: np.ndarray, model: str, claims: list[Claim], exact: bool):
    """Verdict codes (R, claims) of the claims on one model (3 where the model cannot be estimated), and which
    fit each replicate's verdicts come from ('ml', 'jeffreys' where ML is separated, 'not estimable', or 'not
    converged', which like 'not estimable' decides nothing)."""
    X, names = (pooled_matrix if model == "pooled" else by_group_matrix)(cases)
    terms = [names.index(c.term) for c in claims]
    codes = np.full((len(y), len(claims)), 3)
    fits = np.full(len(y), "not estimable", dtype=object)
    present = (y[..., None] == np.arange(y.max() + 1)).any(axis=1)
    levels = present.sum(axis=1)
    y = np.take_along_axis(np.cumsum(present, axis=1) - 1, y, axis=1)  # observed levels only, as build_design
    ok = estimable(X, y)
    for K in np.unique(levels[ok]):
        rows = np.flatnonzero(ok & (levels == K))
        batch = Batch(y[rows], X[rows], np.ones(y[rows].shape), int(K), names)
        results = fit_replicates(batch, ml_max_iter=8, jeffreys_tol=1e-8 if exact else 1e-6)
        fits[rows] = np.where(results.penalised, "jeffreys", "ml")
        for j, (claim, term) in enumerate(zip(claims, terms)):
            codes[rows, j] = verdicts(results, term, claim.expected, claim.margin, exact)
        failed = rows[~results.converged]  # as in the claims check: a fit that did not converge decides nothing
        codes[failed] = 3
        fits[failed] = "not converged"
    return codes, fits


def _claim_rows(cell: DesignCell, first: int, count: int, chosen: list, fits: np.ndarray, codes: np.ndarray) -> list:
    """One frame per claim: its verdict code and fit in replicates `first` .. `first + count - 1` of `cell`."""
    return [
        pd.DataFrame(
            {
                "n_cases": cell.n_cases,
                "effect_scale": cell.effect_scale,
                "replicate": np.arange(first, first + count),
                "claim": claim.id,
                "fit": fits,
                "code": codes[:, j],
            }
        )
        for j, claim in enumerate(chosen)
    ]


def run_chunk(cell: DesignCell, seeds: list[np.random.SeedSequence], first: int, exact: bool = False) -> pd.DataFrame:
    """Verdicts of every studied claim in replicates `first`, `first + 1`, ... of one design cell."""
    claims = claims_studied()
    data = simulate_chunk(seeds, cell.n_cases, cell.effect_scale)
    frames = []
    for pooled, form in sorted({(c.scope == "pooled", c.form) for c in claims}):
        chosen = [c for c in claims if (c.scope == "pooled") == pooled and c.form == form]
        scenario = "pooled" if pooled else "per_group"
        codes, fits = _fit_scope(data["cases"], data[scenario][form], "pooled" if pooled else "by_group", chosen, exact)
        frames += _claim_rows(cell, first, len(seeds), chosen, fits, codes)
    return pd.concat(frames, ignore_index=True)


def run(
    replicates: int = REPLICATES,
    cases=CASES,
    effect_scales=EFFECT_SCALES,
    seed: int = SEED,
    n_jobs: int = 1,
    chunk_size: int = 500,
    progress: bool = True,
    exact: bool = False,
) -> pd.DataFrame:
    """Every replicate's verdict on every studied claim (one row per design cell, replicate and claim).

    Chunks go to joblib workers in a fixed order and come back in that order; `n_jobs` and `chunk_size`
    change how fast, never what. Use `joblib.parallel_config(backend=...)` to run on a cluster.
    """
    from joblib import Parallel, delayed

    if replicates < 1:
        raise UpgradingError(f"replicates must be at least 1, not {replicates}")
    if any(int(n) < 8 for n in cases):
        raise UpgradingError(f"each number of cases must be at least 8 (two per sectoral group); got {list(cases)}")
    cells = design_cells(cases, effect_scales)
    seeds = replicate_seeds(seed, len(cells), replicates)
    tasks = [
        (cell, seeds[c][start : start + chunk_size], start, exact)
        for c, cell in enumerate(cells)
        for start in range(0, replicates, chunk_size)
    ]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run_chunk)(*task) for task in tasks)
    return _collect(jobs, len(tasks), "power study", progress)


def _collect(jobs, total: int, desc: str, progress: bool) -> pd.DataFrame:
    """The chunks' rows, in a fixed order (design cell, claim in register order, replicate), labelled."""
    from tqdm import tqdm

    frames = list(tqdm(jobs, total=total, desc=desc, unit="chunk", disable=not progress))
    raw = pd.concat(frames, ignore_index=True)
    order = {c.id: k for k, c in enumerate(claims_studied())}
    raw = raw.sort_values(
        ["n_cases", "effect_scale", "claim", "replicate"],
        key=lambda col: col.map(order) if col.name == "claim" else col,
        kind="stable",
        ignore_index=True,
    )
    return label(raw)


def label(raw: pd.DataFrame) -> pd.DataFrame:
    """Add each claim's scope, kind and true effect, and classify its verdict as right, wrong or inconclusive."""
    info = pd.DataFrame([c.__dict__ | {"kind": c.kind} for c in claims_studied()]).set_index("id")
    out = raw.join(info[["scope", "form", "predictor", "kind", "expected", "margin", "effect"]], on="claim")
    out["true_effect"] = out["effect"] * out["effect_scale"]
    satisfied = np.array(
        [truth_satisfies(e, t, m) for e, t, m in zip(out["expected"], out["true_effect"], out["margin"])]
    )
    verdict = np.array(VERDICT_CODES + ("inconclusive",))[out["code"].to_numpy()]
    out["verdict"] = verdict
    out["estimable"] = out["code"] != 3
    right = np.where(satisfied, "consistent", "contradicted")
    out["outcome"] = np.where(verdict == "inconclusive", "inconclusive", np.where(verdict == right, "right", "wrong"))
    return out.drop(columns=["effect", "code"])


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Share of right, wrong and inconclusive verdicts per scope, kind, number of cases and effect scale,
    with Monte Carlo standard errors (shares are averaged within a replicate first: claims of one replicate
    share its data, replicates are independent)."""
    keys = ["scope", "kind", "n_cases", "effect_scale"]
    flags = raw[keys + ["replicate"]].copy()
    for outcome in OUTCOMES:
        flags[outcome] = (raw["outcome"] == outcome).astype(float)
    flags["not_estimable"] = (~raw["estimable"]).astype(float)
    flags["separated"] = (raw["fit"] == "jeffreys").astype(float)
    per_replicate = flags.groupby(keys + ["replicate"], observed=True).mean()
    grouped = per_replicate.groupby(level=keys, observed=True)
    table = grouped.mean().add_prefix("p_")
    for outcome in OUTCOMES:
        table[f"mcse_{outcome}"] = grouped[outcome].std(ddof=1) / np.sqrt(grouped.size())
    table["replicates"] = grouped.size()
    table["claims"] = raw.groupby(keys, observed=True)["claim"].nunique()
    order = [
        "claims",
        "replicates",
        "p_right",
        "mcse_right",
        "p_wrong",
        "mcse_wrong",
        "p_inconclusive",
        "mcse_inconclusive",
        "p_separated",
        "p_not_estimable",
    ]
    scope_order = ["pooled", *load_codebook().group_codes]
    table = table[order].reset_index()
    table["scope"] = pd.Categorical(table["scope"], scope_order, ordered=True)
    table["kind"] = pd.Categorical(table["kind"], ["positive", "neutral", "negative"], ordered=True)
    return table.sort_values(keys, ignore_index=True)


def claims_studied_table() -> pd.DataFrame:
    """The studied claims, one row each: id, scope, form, predictor, term, expected, margin, true effect, kind."""
    return pd.DataFrame([c.__dict__ | {"kind": c.kind} for c in claims_studied()])


def claims_by_scope(studied: pd.DataFrame) -> pd.DataFrame:
    """How many studied claims of each kind (columns) each scope (rows: pooled, then the groups) holds."""
    scopes = ["pooled", *load_codebook().group_codes]
    kinds = list(dict.fromkeys(KINDS.values()))
    table = pd.crosstab(pd.Categorical(studied["scope"], scopes), pd.Categorical(studied["kind"], kinds), dropna=False)
    table.index.name, table.columns.name = "scope", "kind"
    return table


def design_cell(summary: pd.DataFrame, n_cases: int, effect_scale: float = 1.0) -> pd.DataFrame:
    """The rows of the power table for one design cell (a number of cases and an effect scale)."""
    rows = summary[(summary["n_cases"] == n_cases) & np.isclose(summary["effect_scale"], effect_scale)]
    return rows.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# The partial-pooling arm: the same replicates, decided from the partially pooled posterior
# ---------------------------------------------------------------------------------------------------------


def run_pooled_chunk(cell: DesignCell, seeds: list[np.random.SeedSequence], first: int, settings=None) -> pd.DataFrame:
    """Verdicts of every per-group claim in replicates `first`, ... of one design cell, from the partially pooled
    posterior (`pooling.fit_form`, fast settings unless given) by the claims check's rule (`claims.decide`) on its
    95% and 90% credible intervals. `fit` is 'partial pooling', 'unreliable' (k-hat or grid-edge flag: counted
    inconclusive) or 'not estimable'."""
    from . import pooling
    from .claims import decide

    settings = settings or pooling.FAST_SETTINGS
    claims = [c for c in claims_studied() if c.scope != "pooled"]
    data = simulate_chunk(seeds, cell.n_cases, cell.effect_scale)
    groups = np.array(load_codebook().group_codes)
    c = data["cases"]
    frames = []
    for form in dict.fromkeys(cl.form for cl in claims):
        chosen = [cl for cl in claims if cl.form == form]
        codes = np.full((len(seeds), len(chosen)), 3)
        fits = np.full(len(seeds), "not estimable", dtype=object)
        for r in range(len(seeds)):
            sheet = pd.DataFrame(
                {
                    "sectoral_group": groups[c["group"][r]],
                    "collective_efficiency": c["collective_efficiency"][r],
                    "leader_driven": c["leader_driven"][r],
                    form: data["per_group"][form][r],
                }
            )
            fit = pooling.fit_form(sheet, form, settings=settings)
            if fit.result is None:
                continue
            fits[r] = "partial pooling" if fit.ok else "unreliable"
            for j, claim in enumerate(chosen):
                intervals, _ = pooling.slope_intervals(fit, claim.predictor, claim.scope)
                if intervals is not None:
                    codes[r, j] = VERDICTS.index(decide(claim.expected, *intervals, claim.margin))
                elif not fit.ok:
                    codes[r, j] = 2
        frames += _claim_rows(cell, first, len(seeds), chosen, fits, codes)
    return pd.concat(frames, ignore_index=True)


def run_pooled(
    replicates: int = POOLED_REPLICATES,
    cases=CASES,
    effect_scales=EFFECT_SCALES,
    seed: int = SEED,
    pooled_cases=POOLED_CASES,
    pooled_scales=POOLED_EFFECT_SCALES,
    n_jobs: int = 1,
    chunk_size: int = 25,
    progress: bool = True,
    settings=None,
) -> pd.DataFrame:
    """The partial-pooling arm: the per-group claims' verdicts from the partially pooled posterior, on the first
    `replicates` replicates of the design cells (`pooled_cases` x `pooled_scales`) of the study `run(cases=cases,
    effect_scales=effect_scales, seed=seed)` runs, so on the very same simulated sheets (one row per design cell,
    replicate and claim, labelled as `run`'s)."""
    from joblib import Parallel, delayed

    if replicates < 1:
        raise UpgradingError(f"replicates must be at least 1, not {replicates}")
    cells = design_cells(cases, effect_scales)
    missing = [(n, s) for n in pooled_cases for s in pooled_scales if DesignCell(int(n), float(s)) not in cells]
    if missing:
        raise UpgradingError(
            f"the pooled arm's design cells {missing} are not in the study's design "
            f"(cases {list(cases)}, effect scales {list(effect_scales)})"
        )
    seeds = replicate_seeds(seed, len(cells), replicates)
    tasks = [
        (cell, seeds[k][start : start + chunk_size], start, settings)
        for k, cell in enumerate(cells)
        if cell.n_cases in set(map(int, pooled_cases)) and cell.effect_scale in set(map(float, pooled_scales))
        for start in range(0, replicates, chunk_size)
    ]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run_pooled_chunk)(*task) for task in tasks)
    return _collect(jobs, len(tasks), "pooled arm", progress)


METHODS = {"no pooling": "no pooling (by-group fit)", "partial pooling": "partial pooling (posterior)"}


def compare_pooling(raw: pd.DataFrame, raw_pooled: pd.DataFrame) -> pd.DataFrame:
    """Right, wrong and inconclusive shares of the per-group claims under no pooling (`run`) and partial pooling
    (`run_pooled`), on the same replicates only, per kind of claim over all groups (scope 'all groups') and per
    group, with Monte Carlo standard errors (shares averaged within a replicate first). `p_unreliable`: share of
    partially pooled verdicts whose posterior was flagged (counted inconclusive)."""
    keep = raw_pooled[["n_cases", "effect_scale", "replicate"]].drop_duplicates()
    none = raw[raw["scope"] != "pooled"].merge(keep, on=["n_cases", "effect_scale", "replicate"])
    both = pd.concat([none.assign(method="no pooling"), raw_pooled.assign(method="partial pooling")], ignore_index=True)
    flags = both[["method", "scope", "kind", "n_cases", "effect_scale", "replicate"]].copy()
    for outcome in OUTCOMES:
        flags[outcome] = (both["outcome"] == outcome).astype(float)
    flags["unreliable"] = (both["fit"] == "unreliable").astype(float)
    flags["not_estimable"] = (~both["estimable"]).astype(float)
    tables = []
    for scope_keys in (["kind"], ["scope", "kind"]):
        keys = ["method", *scope_keys, "n_cases", "effect_scale"]
        grouped = (
            flags.groupby(keys + ["replicate"], observed=True)
            .mean(numeric_only=True)
            .groupby(level=keys, observed=True)
        )
        table = grouped.mean().add_prefix("p_")
        for outcome in OUTCOMES:
            table[f"mcse_{outcome}"] = grouped[outcome].std(ddof=1) / np.sqrt(grouped.size())
        table["replicates"] = grouped.size()
        table = table.reset_index()
        if "scope" not in table:
            table.insert(1, "scope", "all groups")
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    table["claims"] = [
        both[(both["method"] == m) & ((both["scope"] == s) | (s == "all groups")) & (both["kind"] == k)][
            "claim"
        ].nunique()
        for m, s, k in zip(table["method"], table["scope"], table["kind"])
    ]
    table["scope"] = pd.Categorical(table["scope"], ["all groups", *load_codebook().group_codes], ordered=True)
    table["kind"] = pd.Categorical(table["kind"], ["positive", "neutral", "negative"], ordered=True)
    table["method"] = table["method"].map(METHODS)
    order = [
        "method",
        "scope",
        "kind",
        "n_cases",
        "effect_scale",
        "claims",
        "replicates",
        "p_right",
        "mcse_right",
        "p_wrong",
        "mcse_wrong",
        "p_inconclusive",
        "mcse_inconclusive",
        "p_unreliable",
        "p_not_estimable",
    ]
    return table.sort_values(["scope", "kind", "n_cases", "effect_scale", "method"], ignore_index=True)[order]
