"""The design analysis's coding-error arm: the very replicates of the no-pooling arm (`power.run`), coded a second
time as a coder who errs at the measured reliability would have coded them (`coding_error.CodingError`), decided by
the same claims check and scored against the same simulated truth. The cost of coding error is then a paired
difference: each replicate's share of right (wrong, inconclusive) verdicts with the erring coder's codes minus its
share with the true codes, averaged over replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UpgradingError
from . import power
from .codebook import load_codebook
from .coding_error import CodingError, coding_error_model
from .power import CELL_KEYS as KEYS
from .power import OUTCOMES
from .settings import CODING_ERROR_CASES, CODING_ERROR_EFFECT_SCALES

#: The scope of every per-group claim at once (the table's cells over all sectoral groups).
ALL_GROUPS = "all groups"


def run_coding_error(
    coding_error: CodingError,
    replicates: int = power.REPLICATES,
    cases=CODING_ERROR_CASES,
    effect_scales=CODING_ERROR_EFFECT_SCALES,
    seed: int = power.SEED,
    n_jobs: int = 1,
    progress: bool = True,
    cache: bool = False,
    cache_name: str = "power_coding_error",
) -> pd.DataFrame:
    """`power.run` with every replicate coded by `coding_error`: the same design cells, seeds and replicates, kept
    in data/interim/ under `cache_name` beside the study without coding error (`cache`)."""
    return power.run(
        replicates, cases, effect_scales, seed, n_jobs=n_jobs, progress=progress, cache=cache,
        cache_name=cache_name, coding_error=coding_error,
    )  # fmt: skip


def costs_of_coding_error(raw: pd.DataFrame, calibration: pd.DataFrame, **run_settings) -> pd.DataFrame:
    """`compare_coding_error` for the erring coder of each calibration in `calibration` (`coding_error.calibrations`:
    one per `alpha_at`), the rows of each marked in a first column `alpha_at`; `run_settings` go to
    `run_coding_error` (replicates, cases, effect_scales, seed, n_jobs, progress, cache)."""
    tables = []
    for k, (alpha_at, rows) in enumerate(calibration.groupby("alpha_at", sort=False)):
        erring = run_coding_error(coding_error_model(rows), cache_name=f"power_coding_error_{k}", **run_settings)
        tables.append(compare_coding_error(raw, erring).assign(alpha_at=alpha_at))
    table = pd.concat(tables, ignore_index=True)
    return table[["alpha_at", *table.columns[:-1]]]


def cells_in_study(arm_cases, arm_scales, cases, effect_scales) -> tuple[list[int], list[float]]:
    """The arm's numbers of cases and effect scales that the study without coding error also runs: only its
    replicates can be paired (either list empty: the arm has nothing to compare)."""
    return [n for n in arm_cases if n in cases], [
        s for s in arm_scales if any(abs(s - t) < 1e-12 for t in effect_scales)
    ]


def compare_coding_error(raw: pd.DataFrame, raw_coding_error: pd.DataFrame) -> pd.DataFrame:
    """Right, wrong and inconclusive shares with the true codes (`raw`, from `power.run`) and with the erring
    coder's (`raw_coding_error`, from `run_coding_error`), on the replicates both hold, per scope (the pooled
    claims, every per-group claim at once as 'all groups', each sectoral group), kind of claim, number of cases and
    effect scale; `change_*`: the mean over replicates of each replicate's share with coding error minus without,
    with its paired Monte Carlo standard error `mcse_change_*` (SD of the differences / sqrt(replicates))."""
    seeds = {raw.attrs.get("root_seed"), raw_coding_error.attrs.get("root_seed")} - {None}
    if len(seeds) > 1:
        raise UpgradingError(
            f"the two studies come from different root seeds ({', '.join(map(str, sorted(seeds)))}): their "
            "replicates are different sheets and cannot be paired; run both with the same seed"
        )
    keys = ["claim", "n_cases", "effect_scale", "replicate"]
    erring = raw_coding_error[keys + ["outcome"]].rename(columns={"outcome": "outcome_coding_error"})
    both = raw.merge(erring, on=keys, validate="one_to_one")
    if len(both) != len(raw_coding_error):
        raise UpgradingError(
            "the coding-error arm holds replicates the study without coding error does not: run both with the same "
            "replicates and design cells"
        )
    flags = both[[*KEYS, "replicate", "claim"]].copy()
    for outcome in OUTCOMES:
        flags[outcome] = (both["outcome"] == outcome).astype(float)
        flags[f"{outcome}_coding_error"] = (both["outcome_coding_error"] == outcome).astype(float)
    per_group = flags[flags["scope"] != "pooled"].assign(scope=ALL_GROUPS)
    table = pd.concat([_paired_shares(flags), _paired_shares(per_group)], ignore_index=True)
    table["scope"] = pd.Categorical(table["scope"], ["pooled", ALL_GROUPS, *load_codebook().group_codes], ordered=True)
    table["kind"] = pd.Categorical(table["kind"], ["positive", "neutral", "negative"], ordered=True)
    rate_columns = [
        f"{prefix}{outcome}{suffix}"
        for outcome in OUTCOMES
        for prefix, suffix in (("p_", ""), ("p_", "_coding_error"), ("change_", ""), ("mcse_change_", ""))
    ]
    return table.sort_values(KEYS, ignore_index=True)[[*KEYS, "claims", "replicates", *rate_columns]]


def _paired_shares(flags: pd.DataFrame) -> pd.DataFrame:
    """Shares per scope, kind, cases and scale (replicate means first) and their paired changes."""
    per_replicate = flags.drop(columns="claim").groupby([*KEYS, "replicate"], observed=True).mean()
    grouped = per_replicate.groupby(level=KEYS, observed=True)
    table = grouped.mean().add_prefix("p_")
    for outcome in OUTCOMES:
        difference = (per_replicate[f"{outcome}_coding_error"] - per_replicate[outcome]).groupby(level=KEYS)
        table[f"change_{outcome}"] = difference.mean()
        table[f"mcse_change_{outcome}"] = difference.std(ddof=1) / np.sqrt(difference.size())
    table["replicates"] = grouped.size()
    table["claims"] = flags.groupby(KEYS, observed=True)["claim"].nunique()
    return table.reset_index()
