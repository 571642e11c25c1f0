"""Coding error in the design analysis: how much power does the measured reliability cost?

The design analysis (notebook 07) scores the claims check on sheets whose codes are the simulated truth. A real
sheet is coded by people who disagree: notebook 02 measures how much (Krippendorff's alpha per variable). This
module codes each replicate a second time as a coder who errs at that measured agreement would, so the claims
check can be scored on the codes it would really see against the truth it is meant to find.

The misclassification model is declared in `data/simulation.toml` (`[coding_error]`): the simulated second coder's
disagreement process (`simulate.disagree`: one step up or down; governance to a neighbouring form) at a rate per
variable, with collective efficiency and leader-driven governance re-derived from the recoded parts and the
sectoral group kept. Each rate is solved so that the model's alpha equals the measured alpha on the codes it was
measured on (the first coding of the double-coded cases, repeated until alpha is close to its expectation), read
as the agreement of two coders who both err (`coders_in_error = 2`) or of one erring coder with the true codes
(`1`). Alpha cannot see errors both coders share, and the model's errors are symmetric one-step moves that do not
depend on the case: the cost it gives is the cost of that kind of error at that agreement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UpgradingError
from . import simulate
from .codebook import collective_efficiency, load_codebook
from .reliability import alpha, measured_alphas, pair_up, reliability_table, reliability_variables
from .settings import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

#: Rates scanned before the bisection: the model's alpha need not fall steadily with the rate (with two erring
#: coders and the nominal metric it rises again past about 0.6), so the solution is the smallest rate that reaches
#: the measured alpha, found between two neighbouring grid rates.
RATE_GRID = np.linspace(0.0, 1.0, 11)
BISECTION_STEPS = 17  # the rate to within 1e-6 inside a grid step, finer than the calibration can tell
NOT_RECODED = "not recoded: the group follows from the industry, as for the simulated second coder"
#: The alphas an erring coder is calibrated to (`calibrations`): the measured point estimates, and a pessimistic
#: scenario with every alpha at the lower end of its bootstrap interval at once.
AT_POINT = "point estimate"
AT_LOWER = "lower end of the 95% bootstrap interval"
DERIVED_FROM = {
    "collective_efficiency": "derived from the recoded external economies and joint actions (not calibrated itself)",
    "leader_driven": "derived from the recoded governance (not calibrated itself): the check of its neighbour moves",
}


def recoded_variables() -> tuple[str, ...]:
    """The variables a coder codes and may get wrong (the derived ones follow from them)."""
    return ("external_economies", "joint_actions", "governance", *load_codebook().upgrading_forms)


def levels_of(variable: str) -> int:
    """How many codes a recoded variable's scale (or governance's ordered forms) has."""
    return len(load_codebook().variable(variable).allowed)


def declaration() -> dict:
    """The `[coding_error]` table of `data/simulation.toml`."""
    return simulate.load_parameters()["coding_error"]


def reading(first: pd.DataFrame, second: pd.DataFrame, spec: dict | None = None, chosen: int | None = None):
    """Whom the measured alpha compares (`coders_in_error`) and why: `chosen`, where the user chose; else 1 for the
    simulated pair, whose first coding is the generator's error-free truth, and the declared reading (2: two coders
    who both err) for any other pair."""
    if chosen is not None:
        return int(chosen), "chosen for this run"
    spec = spec or declaration()
    params = simulate.load_parameters()
    simulated_pair = (first["coding_source"].astype(str) == params["coding_source"]).all() and (
        second["coding_source"].astype(str) == params["second_coder"]["coding_source"]
    ).all()
    if simulated_pair:
        return int(spec["coders_in_error_simulated"]), (
            "the simulated pair: its first coding is the generator's truth and only the simulated second coder errs"
        )
    return int(spec["coders_in_error"]), "two codings by people, each of whom may err"


@dataclass(frozen=True)
class CodingError:
    """Per recoded variable, the probability that the erring coder moves a code one step."""

    rates: tuple[tuple[str, float], ...]

    def rate(self, variable: str) -> float:
        return dict(self.rates)[variable]

    def settings(self) -> dict[str, float]:
        """The rates as a plain mapping (for a cache key or a table)."""
        return dict(self.rates)

    def recode(self, cases: dict, scenarios: list[dict], leader_lookup: np.ndarray, rng: np.random.Generator):
        """One replicate's cases and each scenario's outcomes as the erring coder codes them: (cases, scenarios).
        The scenarios share the cases, so their predictors are recoded once; each scenario's outcomes separately."""
        coded = dict(cases)
        for variable in ("external_economies", "joint_actions", "governance"):
            coded[variable] = simulate.disagree(cases[variable], self.rate(variable), levels_of(variable), rng)
        coded["collective_efficiency"] = collective_efficiency(coded["external_economies"], coded["joint_actions"])
        coded["leader_driven"] = leader_lookup[coded["governance"]]
        outcomes = [
            {form: simulate.disagree(codes, self.rate(form), levels_of(form), rng) for form, codes in scenario.items()}
            for scenario in scenarios
        ]
        return coded, outcomes


def _pair(truth: np.ndarray, erring: Callable[[np.random.Generator], np.ndarray], coders: int, seed: int):
    """The two codings whose alpha the model predicts: two erring codings of `truth` (coders = 2) or the truth and
    one erring coding (1). The same draws (`seed`) at every rate, so alpha moves with the rate alone."""
    codings = [erring(np.random.default_rng([seed, k])) for k in range(coders)]
    return np.vstack(codings if coders == 2 else [truth, codings[0]]).astype(float)


def model_alpha(codes: np.ndarray, rate: float, levels: int, metric: str, coders: int, seed: int) -> float:
    """Krippendorff's alpha of the model at `rate` on true `codes`."""
    return alpha(_pair(codes, lambda rng: simulate.disagree(codes, rate, levels, rng), coders, seed), metric)


def model_share(codes: np.ndarray, rate: float, levels: int, coders: int, seed: int) -> float:
    """The share of codes on which the model's two codings differ at `rate` (the model's disagreement share)."""
    pair = _pair(codes, lambda rng: simulate.disagree(codes, rate, levels, rng), coders, seed)
    return float(np.mean(pair[0] != pair[1]))


def _smallest_rate(value: Callable[[float], float], target: float) -> float | None:
    """The smallest rate at which `value(rate)` comes down to `target` (a grid scan, then bisection between the two
    grid rates around the first that reaches it); None where no rate does."""
    on_grid = np.array([value(r) for r in RATE_GRID[1:]])
    reached = np.flatnonzero(on_grid <= target)
    if not len(reached):
        return None
    low, high = RATE_GRID[reached[0]], RATE_GRID[reached[0] + 1]
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if value(middle) > target:
            low = middle
        else:
            high = middle
    return float((low + high) / 2)


def solve_rate(
    codes: np.ndarray, target: float, levels: int, metric: str, coders: int, seed: int, share: float | None = None
) -> tuple[float, str]:
    """The smallest rate at which `model_alpha` equals `target`, and a note where there is none. An alpha below any
    the model gives (agreement at or below chance, which symmetric random error cannot produce) is not matched by
    the rate where the model's alpha is lowest, which can be near 1: the rate is matched instead to the observed
    share of disagreeing pairs (`share`), and the note says so."""
    if target >= 1:
        return 0.0, ""
    rate = _smallest_rate(lambda r: model_alpha(codes, r, levels, metric, coders, seed), target)
    if rate is not None:
        return rate, ""
    if share is None or not np.isfinite(share):
        return 0.0, f"the alpha sought ({target:.3f}) is below any the model gives: no rate solved, none assumed"
    below = f"the alpha sought ({target:.3f}) is below any the one-step model gives"
    rate = _smallest_rate(lambda r: -model_share(codes, r, levels, coders, seed), -share)
    if rate is not None:
        return rate, f"{below}: rate matched instead to the share of pairs the codings disagree on ({share:.3f})"
    shares = [model_share(codes, r, levels, coders, seed) for r in RATE_GRID]
    most = int(np.argmax(shares))
    return float(RATE_GRID[most]), (
        f"{below}, and the codings disagree on more pairs ({share:.3f}) than the model can ({shares[most]:.3f}): "
        "rate set where the model disagrees most"
    )


def calibration_codes(first: pd.DataFrame, variables, size: int) -> np.ndarray:
    """The first coding's codes of `variables` (positions on their scales) on the double-coded cases `first` holds,
    rows with every one reported, repeated to at least `size` rows: the distribution the measured alpha was
    measured on, large enough for the model's alpha to be close to its expectation. Shape (rows, variables)."""
    cb = load_codebook()
    columns = []
    for v in variables:
        allowed = list(cb.variable(v).allowed)
        columns.append(first[v].map(lambda x, allowed=allowed: np.nan if pd.isna(x) else allowed.index(x)))
    table = pd.concat(columns, axis=1).dropna().to_numpy(dtype=int)
    if not len(table):
        return table
    return np.tile(table, (math.ceil(size / len(table)), 1))


def calibrate(
    first: pd.DataFrame,
    second: pd.DataFrame,
    spec: dict | None = None,
    coders: int | None = None,
    targets: dict[str, float] | None = None,
    at_least: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per variable of the reliability table, and leader-driven governance: its metric, the alpha measured
    on the two codings, the alpha the rate is solved to (`target_alpha`: `targets`, default the measured one), the
    double-coded cases both codings report (`paired_cases`: alpha's cases; the rate is solved on their first-coding
    codes), whom the alpha compares
    (`coders_in_error`: `coders`, or `reading`), the erring coder's rate (`coding_error_rate`) and the model's alpha
    at that rate (`model_alpha`: the calibration's check; for the derived collective efficiency and leader-driven
    governance, the alpha their recoded parts give, to hold against the measured one), and a note."""
    spec = spec or declaration()
    coders = coders or reading(first, second, spec)[0]
    if coders not in (1, 2):
        raise UpgradingError(f"coders_in_error is 1 or 2 (whom the measured alpha compares); got {coders!r}")
    a, b = pair_up(first, second)
    checks = {"leader_driven": "nominal"}
    measured = measured_alphas(first, second) | measured_alphas(first, second, checks)
    size, seed = int(spec["calibration_cases"]), int(spec["calibration_seed"])
    rates, rows = {}, []
    for variable, metric in (reliability_variables() | checks).items():
        row = {"variable": variable, "metric": metric, "measured_alpha": measured[variable]}
        if variable in recoded_variables():
            paired = a[variable].notna() & b[variable].notna()
            codes = calibration_codes(a[paired], [variable], size)[:, 0] if paired.any() else np.array([])
            share = float(np.mean(a.loc[paired, variable].astype(str) != b.loc[paired, variable].astype(str)))
            row |= {"paired_cases": int(paired.sum()), "target_alpha": (targets or measured)[variable]}
            rates[variable], row["note"] = _solve(codes, row["target_alpha"], share, variable, metric, coders, seed)
            floor = (at_least or {}).get(variable, 0.0)
            if rates[variable] < floor:  # a pessimistic scenario never assumes less error than the point estimate
                kept = f"the point estimate's rate ({floor:.4f}) kept: no less error assumed"
                rates[variable], row["note"] = floor, "; ".join(n for n in (row["note"], kept) if n)
            row["coding_error_rate"] = rates[variable]
            if len(codes):
                row["model_alpha"] = model_alpha(codes, rates[variable], levels_of(variable), metric, coders, seed)
        elif variable not in DERIVED_FROM:
            row["note"] = NOT_RECODED
        rows.append(row)
    for variable, note in DERIVED_FROM.items():
        rows[[r["variable"] for r in rows].index(variable)] |= {
            "model_alpha": derived_alpha(variable, a, rates, coders, size, seed),
            "note": note,
        }
    table = pd.DataFrame(rows).reindex(
        columns=["variable", "metric", "measured_alpha", "target_alpha", "paired_cases", "coders_in_error",
                 "coding_error_rate", "model_alpha", "note"]
    )  # fmt: skip
    table["coders_in_error"] = coders
    table["paired_cases"] = [("" if pd.isna(n) else int(n)) for n in table["paired_cases"]]
    table["note"] = table["note"].fillna("")
    return table


def _solve(codes: np.ndarray, target: float, share: float, variable: str, metric: str, coders: int, seed: int):
    """`solve_rate`, or rate 0 with the reason where the measured alpha gives nothing to solve for."""
    if not len(codes):
        return 0.0, "no double-coded case is reported by both codings: its error is unknown, none assumed"
    if not np.isfinite(target):
        return 0.0, "alpha undefined (one value observed on the cases both codings report): no coding error assumed"
    return solve_rate(codes, target, levels_of(variable), metric, coders, seed, share)


def derived_alpha(variable: str, first: pd.DataFrame, rates: dict, coders: int, size: int, seed: int) -> float:
    """Alpha of a derived variable (collective efficiency, leader-driven governance) when the parts it is derived
    from are recoded at their rates, on the double-coded cases' first coding."""
    cb = load_codebook()
    if variable == "collective_efficiency":
        parts = ["external_economies", "joint_actions"]
        derive = collective_efficiency
        metric = "ordinal"
    else:
        parts = ["governance"]
        lookup = np.isin(cb.governance_levels, cb.leader_levels).astype(int)
        derive = lookup.__getitem__
        metric = "nominal"
    codes = calibration_codes(first, parts, size)
    if not len(codes):
        return np.nan

    def erring(rng: np.random.Generator) -> np.ndarray:
        return derive(*[simulate.disagree(codes[:, j], rates[p], levels_of(p), rng) for j, p in enumerate(parts)])

    return alpha(_pair(derive(*codes.T), erring, coders, seed), metric)


def calibrations(
    first: pd.DataFrame,
    second: pd.DataFrame,
    coders: int,
    n_boot: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    cache: bool = False,
) -> pd.DataFrame:
    """`calibrate` twice, the rows of each marked in a first column `alpha_at`: at the measured alphas, and with
    every recoded variable's alpha at the lower end of its 95% percentile bootstrap interval (notebook 02's, with
    the same resamples and seed): a pessimistic scenario, every variable at its low end at once, for a reader who
    asks how much the cost depends on alphas measured on a few dozen double-coded cases. `cache`: read notebook 02's
    intervals from data/interim/ where it kept them (`reliability_table`)."""
    bounds = reliability_table(first, second, n_boot=n_boot, seed=seed, cache=cache).set_index("variable")["ci_low"]
    point = calibrate(first, second, coders=coders)
    floor = point.set_index("variable")["coding_error_rate"].dropna().to_dict()
    tables = [
        point.assign(alpha_at=AT_POINT),
        calibrate(first, second, coders=coders, targets=bounds.to_dict(), at_least=floor).assign(alpha_at=AT_LOWER),
    ]
    table = pd.concat(tables, ignore_index=True)
    return table[["alpha_at", *table.columns[:-1]]]


def coding_error_model(table: pd.DataFrame) -> CodingError:
    """The erring coder of a calibration table (`calibrate`)."""
    rates = table.set_index("variable")["coding_error_rate"]
    return CodingError(tuple((v, float(rates[v])) for v in recoded_variables()))
