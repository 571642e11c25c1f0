"""What a partially pooled fit is given, each checked on arrival: the priors, how the posterior is computed, and
the data, turned into outcome codes, group indices and the varying predictors (bad data refused by name, sparse
data noted)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UpgradingError
from .design import ordered_levels, refuse_constant, refuse_missing

#: Importance draws are made in blocks of DRAW_BLOCK, block b from its own stream (seed, b): an attempt that asks
#: for more draws from the same proposal keeps the draws it has and only makes (and evaluates) the ones it adds.
DRAW_BLOCK = 2000
#: the names of the varying slopes, in the order of the varying predictors (so at most four of them)
SYMBOLS = ("beta", "gamma", "lambda", "kappa")


@dataclass(frozen=True)
class PoolingPriors:
    """Prior scales (log-odds scale): Normal(0, mu_sd) on mu_v, HalfNormal(tau_scale) on tau_v, Normal(0, delta_sd)
    on the group shifts, Normal(0, threshold_sd) on the thresholds restricted to their order. No defaults: the
    priors are a modelling decision, stated by the caller."""

    mu_sd: float
    tau_scale: float
    delta_sd: float
    threshold_sd: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value > 0):
                raise UpgradingError(f"prior scale {name} must be a positive number, not {value!r}")

    @classmethod
    def from_toml(cls, source: Mapping | str | Path) -> PoolingPriors:
        """Priors from a TOML document (a parsed mapping, or the path of a file) with the tables
        [priors.mu] sd, [priors.tau] scale, [priors.delta] sd and [priors.theta] sd."""
        document = source if isinstance(source, Mapping) else tomllib.loads(Path(source).read_text(encoding="utf-8"))
        p = document["priors"]
        return cls(
            mu_sd=float(p["mu"]["sd"]),
            tau_scale=float(p["tau"]["scale"]),
            delta_sd=float(p["delta"]["sd"]),
            threshold_sd=float(p["theta"]["sd"]),
        )


@dataclass(frozen=True)
class PoolingSettings:
    """How the posterior is computed: grid spacing and range of log tau (range in units of the prior scale),
    importance draws and their seed, the proposal's degrees of freedom (None: Gaussian), and whether a grid point's
    Newton solve stops as soon as its mode is accepted (`stop_at_acceptance`: at a Newton decrement below the
    acceptance threshold rather than after the rounding-limited steps that follow; cheaper, and the modes then
    differ at the level of that threshold)."""

    grid_step: float = 0.3
    tau_range: tuple[float, float] = (0.003, 4.5)
    draws: int = 50000
    seed: int = 20251123
    proposal_df: float | None = 7.0
    stop_at_acceptance: bool = False
    max_attempts: int = 4  # attempts (`improved`) until the posterior passes the accuracy rule

    def improved(self, current: PoolingSettings, shortfall: float | None, attempt: int = 1) -> PoolingSettings:
        """The next attempt after attempt number `attempt`, at `current`, missed the accuracy rule. `shortfall`: how
        many times the draws the Monte Carlo errors call for (MCSE scales as 1 / sqrt(draws)), None where k-hat
        failed (more draws do not fix a poor proposal). More draws: the shortfall with a 25% margin, at least 1.5
        times as many, at most sixteen times these settings' draws, in whole blocks of the sampler's (an attempt
        keeps the draws it has and adds the rest). Where k-hat failed, the draws were already raised twice, or they
        cannot be raised (at the cap), a grid twice as fine with a heavier-tailed proposal (t with 4 df) instead,
        with draws sized as above (all new, as the proposal changed; a finer grid is never refined again).
        Deterministic: the same sheet and seed take the same attempts."""
        scale = 2.0 if shortfall is None else min(max(1.25 * shortfall, 1.5), 16.0)
        draws = min(int(math.ceil(current.draws * scale / DRAW_BLOCK)) * DRAW_BLOCK, 16 * self.draws)
        more = replace(current, draws=max(draws, current.draws))
        refined = current.grid_step < self.grid_step
        if not refined and (shortfall is None or attempt >= 3 or more.draws == current.draws):
            return replace(more, grid_step=self.grid_step / 2, proposal_df=4.0)
        return more

    def __post_init__(self) -> None:
        low, high = self.tau_range
        if not (self.grid_step > 0 and 0 < low < high and self.draws >= 100):
            raise UpgradingError("settings need grid_step > 0, 0 < tau_range[0] < tau_range[1] and draws >= 100")


DEFAULT = PoolingSettings()
#: coarser grid, fewer draws and grid solves that stop at acceptance, for simulation studies that fit thousands of
#: replicates (their accuracy against NUTS is shown in notebook 07)
FAST = PoolingSettings(grid_step=0.6, draws=16000, stop_at_acceptance=True)


@dataclass
class PooledData:
    """Outcome codes 0..K-1, group index per case, varying predictors (n, k), and what was noticed about them."""

    y: np.ndarray
    levels: list
    group: np.ndarray
    groups: list
    V: np.ndarray
    varying: list[str]
    outcome: str
    group_column: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def prepare(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    varying: Sequence[str] | str,
    levels: Sequence | None = None,
    groups: Sequence | None = None,
) -> PooledData:
    """The arrays a fit needs; refuses what cannot be modelled, notes what the data say little about."""
    varying = _check_columns(data, outcome, group, varying)
    if len(data) == 0:
        raise UpgradingError("no cases")
    y, levels, notes = _outcome_codes(data[outcome], outcome, levels)
    gidx, group_names = _group_index(data[group], group, groups)
    V = _varying_matrix(data, varying)
    notes += _sparse_group_notes(gidx, group_names, V, varying)
    notes += _constant_outcome_notes(y, gidx, group_names, levels, outcome)
    return PooledData(y, levels, gidx, group_names, V, varying, outcome, group, notes)


def _check_columns(data: pd.DataFrame, outcome: str, group: str, varying: Sequence[str] | str) -> list[str]:
    """The varying predictors as a list, once the columns are known to exist, be distinct and be complete."""
    varying = [varying] if isinstance(varying, str) else list(varying)
    if not 1 <= len(varying) <= len(SYMBOLS):
        raise UpgradingError(f"give 1 to {len(SYMBOLS)} varying predictors, not {len(varying)}")
    used = [outcome, group, *varying]
    missing_cols = [c for c in used if c not in data.columns]
    if missing_cols:
        raise UpgradingError(f"column(s) {missing_cols} not in the data; columns: {', '.join(map(str, data.columns))}")
    if len(set(used)) != len(used):
        raise UpgradingError("outcome, group and varying predictors must be distinct columns")
    refuse_missing({c: data[c] for c in used})
    return varying


def _outcome_codes(values: pd.Series, outcome: str, levels: Sequence | None) -> tuple[np.ndarray, list, list[str]]:
    """Codes 0..K-1 over all the levels, declared or implied, observed or not: an unobserved level keeps its
    threshold (informed by the prior), so that every sheet reports the same parameters."""
    if levels is None:
        levels = ordered_levels(values, outcome)
        if not isinstance(values.dtype, pd.CategoricalDtype):  # scores: every integer from the lowest to the highest
            levels = list(range(int(levels[0]), int(levels[-1]) + 1))
    levels = list(levels)
    lookup = {v: k for k, v in enumerate(levels)}
    codes = values.astype(object).map(lambda v: lookup.get(v, lookup.get(_as_int(v), -1))).to_numpy(dtype=int)
    if np.any(codes < 0):
        bad = sorted({str(v) for v, c in zip(values, codes) if c < 0})
        raise UpgradingError(f"outcome {outcome!r} has values {bad} outside its levels {levels}")
    observed = np.unique(codes)
    if len(observed) < 2:
        raise UpgradingError(
            f"outcome {outcome!r} has a single observed level ({levels[observed[0]]!r}); nothing to model"
        )
    unobserved = [levels[k] for k in range(len(levels)) if k not in observed]
    notes = []
    if unobserved:
        notes.append(
            f"outcome level(s) {unobserved} never observed: all {len(levels)} levels are kept, so the "
            "thresholds next to them are informed mainly by their prior"
        )
    return codes, levels, notes


def _as_int(v):
    """A whole number as an int (so that 2.0 in the data matches level 2), anything else as it is."""
    try:
        return int(v) if float(v) == int(v) else v
    except (TypeError, ValueError):
        return v


def _group_index(values: pd.Series, group: str, groups: Sequence | None) -> tuple[np.ndarray, list]:
    """Group index per case, groups in their declared order (argument, else a categorical's categories, else
    sorted) restricted to those present; the first is the reference."""
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    g_values = values if categorical else values.astype(object)
    present = set(g_values.astype(object))
    if groups is None:
        order = list(values.dtype.categories) if categorical else sorted(present, key=str)
    else:
        order = list(groups)
        unknown = sorted(map(str, present - set(order)))
        if unknown:
            raise UpgradingError(f"group column {group!r} has values {unknown} not in `groups`")
    group_names = [g for g in order if g in present]
    gidx = g_values.astype(object).map({g: j for j, g in enumerate(group_names)}).to_numpy(dtype=int)
    return gidx, group_names


def _varying_matrix(data: pd.DataFrame, varying: list[str]) -> np.ndarray:
    """The varying predictors as an (n, k) float matrix; each must be numeric and vary."""
    for name in varying:
        column = data[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise UpgradingError(f"varying predictor {name!r} must be numeric (dtype {column.dtype})")
    V = np.column_stack([data[name].to_numpy(dtype=float) for name in varying])
    refuse_constant({name: V[:, v] for v, name in enumerate(varying)})
    return V


def _sparse_group_notes(gidx: np.ndarray, group_names: list, V: np.ndarray, varying: list[str]) -> list[str]:
    """Where the data say nothing and the pooling prior decides: a single group, a group of one case, a predictor
    constant within a group."""
    notes = []
    if len(group_names) == 1:
        notes.append(
            f"one group present ({group_names[0]!r}): the between-group SDs are not informed by the "
            "data (their posterior is their prior)"
        )
    counts = np.bincount(gidx, minlength=len(group_names))
    for j, g in enumerate(group_names):
        if counts[j] == 1:
            notes.append(f"group {g!r} has one case: its shift and slopes are informed by the pooling prior")
        elif counts[j] > 1:
            flat = [name for v, name in enumerate(varying) if np.all(V[gidx == j, v] == V[gidx == j, v][0])]
            if flat:
                notes.append(
                    f"group {g!r}: {', '.join(flat)} does not vary within the group, so its slope there "
                    "is informed by the pooling prior only"
                )
    return notes


def _constant_outcome_notes(
    y: np.ndarray, gidx: np.ndarray, group_names: list, levels: list, outcome: str
) -> list[str]:
    """A group (of two cases or more) whose outcome is the same in every case. At the lowest or the highest level
    the data say only that its shift is small or large, not how much (bounded on one side): its posterior follows
    its prior. At a middle level the thresholds bound it on both sides, but the group's slopes are still informed
    by the pooling prior and the other groups only."""
    notes = []
    for j, g in enumerate(group_names):
        codes = np.unique(y[gidx == j])
        if np.sum(gidx == j) > 1 and len(codes) == 1:
            if codes[0] in (0, len(levels) - 1):
                why = "so its shift is driven by its prior (the data bound it on one side only)"
            else:
                why = "so its slopes are informed by the pooling prior and the other groups only"
            notes.append(f"group {g!r}: every case has {outcome} = {levels[codes[0]]}, {why}")
    return notes
