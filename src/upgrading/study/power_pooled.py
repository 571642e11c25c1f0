"""The design analysis's partial-pooling arm: the per-group claims of the very replicates the no-pooling arm
(`power.run`) analysed, decided from the partially pooled posterior (`pooling.fit_form`, the estimator's fast
setting unless given) by the same function that gives notebook 05 its pooled verdicts (`claims.pooled_verdict`:
the declared rule on the posterior's credible intervals), and the two arms compared on the same replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import interim
from ..errors import UpgradingError
from . import claims, pooling, simulate
from .codebook import load_codebook
from .power import (
    CASES,
    EFFECT_SCALES,
    OUTCOMES,
    SEED,
    DesignCell,
    chunk_length,
    claims_studied,
    collect,
    design_cells,
    label,
)
from .power import simulate_chunk as simulate_replicates
from .register import load_register
from .settings import POOLED_CASES, POOLED_EFFECT_SCALES, POOLED_REPLICATES

METHODS = {"no pooling": "no pooling (by-group fit)", "partial pooling": "partial pooling (posterior)"}
#: `fit` of a replicate whose posterior was flagged (k-hat or grid edge): its verdicts count as inconclusive.
UNRELIABLE = "unreliable"


def _replicate_fits(cases: pd.DataFrame, forms, settings) -> dict:
    return {form: pooling.fit_form(cases, form, settings=settings, reported="slopes") for form in forms}


def run_pooled_chunk(cell: DesignCell, seeds: list[np.random.SeedSequence], first: int, settings=None):
    """Verdicts of every per-group claim in replicates `first`, ... of one design cell, from the partially pooled
    posterior: (rows, no kept replicates). `fit` is 'partial pooling', 'unreliable' or 'not estimable'."""
    settings = settings or pooling.FAST_SETTINGS
    register = load_register()
    studied = [c for c in claims_studied(register) if c.scope != "pooled"]
    data = simulate_replicates(seeds, cell.n_cases, cell.effect_scale)
    frame = simulate.cases_frame(data["cases"] | data["per_group"])
    N = data["cases"]["group"].shape[1]
    rows = []
    for r in range(len(seeds)):
        cases = frame.iloc[r * N : (r + 1) * N].reset_index(drop=True)
        fits = _replicate_fits(cases, dict.fromkeys(c.claim.outcome for c in studied), settings)
        for studied_claim in studied:
            claim, fit = studied_claim.claim, fits[studied_claim.claim.outcome]
            decided = claims.pooled_verdict(claim, register, fits)
            group, predictor = claims.group_slope_claim(claim, register)
            estimable = (
                fit.result is not None
                and group in fit.result.groups
                and not pooling.unidentified_slope(fit, predictor, group)
            )
            rows.append(
                {
                    "replicate": first + r,
                    "claim": claim.id,
                    "fit": (("partial pooling" if fit.ok else UNRELIABLE) if estimable else claims.NOT_ESTIMABLE),
                    "verdict": decided["verdict_pooled"],
                    "verdict_holm": "",
                }
            )
    frame = pd.DataFrame(rows)
    frame.insert(0, "effect_scale", cell.effect_scale)
    frame.insert(0, "n_cases", cell.n_cases)
    return frame, []


def run_pooled(
    replicates: int = POOLED_REPLICATES,
    cases=CASES,
    effect_scales=EFFECT_SCALES,
    seed: int = SEED,
    pooled_cases=POOLED_CASES,
    pooled_scales=POOLED_EFFECT_SCALES,
    n_jobs: int = 1,
    chunk_size: int = 2,
    progress: bool = True,
    settings=None,
    cache: bool = False,
) -> pd.DataFrame:
    """The partial-pooling arm: the per-group claims' verdicts from the partially pooled posterior, on the first
    `replicates` replicates of the design cells (`pooled_cases` x `pooled_scales`) of the study `power.run(cases=
    cases, effect_scales=effect_scales, seed=seed)` runs, so on the very same simulated sheets (one row per design
    cell, replicate and claim, labelled as `power.run`'s). `cache`: as `power.run`'s. Chunks are small (`chunk_size`
    replicates), as one replicate's posteriors take from a fraction of a second to seconds: with a few large chunks
    one worker was left running alone for seconds."""
    design = {
        "replicates": replicates,
        "cases": list(cases),
        "effect_scales": list(effect_scales),
        "seed": seed,
        "pooled_cases": list(pooled_cases),
        "pooled_scales": list(pooled_scales),
        "settings": repr(settings),
    }
    if cache:
        return interim.cached(
            "pooled_arm",
            design,
            lambda: run_pooled(**(design | {"settings": settings}), n_jobs=n_jobs, progress=progress),
        )
    from joblib import Parallel, delayed

    if replicates < 1:
        raise UpgradingError(f"replicates must be at least 1, not {replicates}")
    cells = design_cells(cases, effect_scales)
    chosen = [DesignCell(int(n), float(s)) for n in pooled_cases for s in pooled_scales]
    missing = [(c.n_cases, c.effect_scale) for c in chosen if c not in cells]
    if missing:
        raise UpgradingError(
            f"the pooled arm's design cells {missing} are not in the study's design "
            f"(cases {list(cases)}, effect scales {list(effect_scales)})"
        )
    chunk_size = chunk_length(replicates, chunk_size, len(chosen), n_jobs)  # refuses a chunk_size below 1
    tasks = [
        (cell, cell.seeds(seed, start, min(chunk_size, replicates - start)), start, settings)
        for cell in cells
        if cell in chosen
        for start in range(0, replicates, chunk_size)
    ]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run_pooled_chunk)(*task) for task in tasks)
    return label(collect(jobs, [task[0] for task in tasks], "pooled arm", progress))


def compare_pooling(raw: pd.DataFrame, raw_pooled: pd.DataFrame) -> pd.DataFrame:
    """Right, wrong and inconclusive shares of the per-group claims under no pooling (`power.run`) and partial
    pooling (`run_pooled`), on the same replicates only, per kind of claim over all groups (scope 'all groups')
    and per group, with Monte Carlo standard errors (shares averaged within a replicate first). `p_unreliable`:
    share of partially pooled verdicts whose posterior was flagged (counted inconclusive)."""
    keep = raw_pooled[["n_cases", "effect_scale", "replicate"]].drop_duplicates()
    none = raw[raw["scope"] != "pooled"].merge(keep, on=["n_cases", "effect_scale", "replicate"])
    both = pd.concat([none.assign(method="no pooling"), raw_pooled.assign(method="partial pooling")], ignore_index=True)
    flags = both[["method", "scope", "kind", "n_cases", "effect_scale", "replicate"]].copy()
    for outcome in OUTCOMES:
        flags[outcome] = (both["outcome"] == outcome).astype(float)
    flags["unreliable"] = (both["fit"] == UNRELIABLE).astype(float)
    flags["not_estimable"] = (~both["estimable"]).astype(float)
    tables = [_shares(flags, scope_keys) for scope_keys in (["kind"], ["scope", "kind"])]
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


def _shares(flags: pd.DataFrame, scope_keys: list[str]) -> pd.DataFrame:
    """Shares and Monte Carlo standard errors per method, `scope_keys`, cases and scale (replicate means first)."""
    keys = ["method", *scope_keys, "n_cases", "effect_scale"]
    per_replicate = flags.groupby(keys + ["replicate"], observed=True).mean(numeric_only=True)
    grouped = per_replicate.groupby(level=keys, observed=True)
    table = grouped.mean().add_prefix("p_")
    for outcome in OUTCOMES:
        table[f"mcse_{outcome}"] = grouped[outcome].std(ddof=1) / np.sqrt(grouped.size())
    table["replicates"] = grouped.size()
    table = table.reset_index()
    if "scope" not in table:
        table.insert(1, "scope", "all groups")
    return table
