"""Coding error in the design analysis: how much power does the measured reliability cost?

The design analysis (notebook 07) scores the claims check on sheets whose codes are the simulated truth. A real
sheet is coded by people who disagree: notebook 02 measures how much (Krippendorff's alpha per variable). This
module codes each replicate a second time as a coder who errs at that measured agreement would, so the claims
check can be scored on the codes it would really see against the truth it is meant to find.

The misclassification model is declared in `data/simulation.toml` (`[coding_error]`): the simulated second
coder's disagreement process (`simulate.disagree`: one step up or down; governance to a neighbouring form) at a
rate per variable, with collective efficiency and leader-driven governance re-derived from the recoded parts
and the sectoral group kept. Each rate is calibrated so that the model's alpha on a large generator sample equals
the measured alpha, read as the agreement of two coders who both err (`coders_in_error = 2`) or of one erring
coder with the truth (`1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import simulate
from .codebook import collective_efficiency, load_codebook
from .reliability import alpha, reliability_variables

#: Codes positions of each recoded variable can take (the 0-3 scales; governance's four forms).
SCALE_LEVELS = 4
BISECTION_STEPS = 20  # the rate to within 1e-6, far finer than the calibration sample can tell
NOT_RECODED = "not recoded: the group follows from the industry, as for the simulated second coder"
DERIVED = "derived from the recoded external economies and joint actions (not calibrated itself)"


def recoded_variables() -> tuple[str, ...]:
    """The variables a coder codes and may get wrong (the derived ones follow from them)."""
    return ("external_economies", "joint_actions", "governance", *load_codebook().upgrading_forms)


def declaration() -> dict:
    """The `[coding_error]` table of `data/simulation.toml`."""
    return simulate.load_parameters()["coding_error"]


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
        for variable in ("external_economies", "joint_actions"):
            coded[variable] = simulate.disagree(cases[variable], self.rate(variable), SCALE_LEVELS, rng)
        coded["collective_efficiency"] = collective_efficiency(coded["external_economies"], coded["joint_actions"])
        levels = len(load_codebook().governance_levels)
        coded["governance"] = simulate.disagree(cases["governance"], self.rate("governance"), levels, rng)
        coded["leader_driven"] = leader_lookup[coded["governance"]]
        outcomes = [
            {form: simulate.disagree(codes, self.rate(form), SCALE_LEVELS, rng) for form, codes in scenario.items()}
            for scenario in scenarios
        ]
        return coded, outcomes


def calibration_sample(spec: dict | None = None) -> dict[str, np.ndarray]:
    """A large sheet of the generator (documented mix and effects), the true codes the rates are solved on."""
    spec = spec or declaration()
    params = simulate.load_parameters()
    structure, outcomes = (np.random.default_rng(s) for s in np.random.SeedSequence(spec["calibration_seed"]).spawn(2))
    sizes = simulate.group_sizes(params, int(spec["calibration_cases"]))
    return simulate.simulate_arrays(params, structure, outcomes, sizes=sizes)


def model_alpha(codes: np.ndarray, rate: float, levels: int, metric: str, coders: int, seed: int) -> float:
    """Krippendorff's alpha of the model at `rate` on true `codes`: two independent erring codings (coders = 2) or
    one erring coding against the truth (1). The same draws (`seed`) at every rate, so alpha moves with the rate
    alone."""
    streams = [np.random.default_rng([seed, k]) for k in range(2)]
    erring = [simulate.disagree(codes, rate, levels, rng) for rng in streams[:coders]]
    pair = np.vstack(erring if coders == 2 else [codes, erring[0]]).astype(float)
    return alpha(pair, metric)


def solve_rate(codes: np.ndarray, target: float, levels: int, metric: str, coders: int, seed: int) -> tuple[float, str]:
    """The rate at which `model_alpha` equals `target` (bisection), and a note where it cannot."""
    if not np.isfinite(target):
        return 0.0, "alpha undefined on the double-coded cases: no coding error assumed"
    if target >= 1:
        return 0.0, ""
    if model_alpha(codes, 1.0, levels, metric, coders, seed) > target:
        return 1.0, (
            f"the measured alpha is below what one-step disagreements can give (alpha "
            f"{model_alpha(codes, 1.0, levels, metric, coders, seed):.3f} at rate 1): rate capped at 1"
        )
    low, high = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if model_alpha(codes, middle, levels, metric, coders, seed) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2, ""


def calibrate(measured: dict[str, float], spec: dict | None = None) -> pd.DataFrame:
    """One row per variable of the reliability table: its metric, the measured alpha, the rate of the erring
    coder (`coding_error_rate`) and the model's alpha at that rate on the calibration sample (`model_alpha`: the
    calibration's check; for collective efficiency, the alpha its recoded components give), and a note."""
    spec = spec or declaration()
    coders, seed = int(spec["coders_in_error"]), int(spec["calibration_seed"])
    sample = calibration_sample(spec)
    levels = {"governance": len(load_codebook().governance_levels)}
    rates, rows = {}, []
    for variable, metric in reliability_variables().items():
        row = {"variable": variable, "metric": metric, "measured_alpha": measured.get(variable, np.nan)}
        if variable in recoded_variables():
            k = levels.get(variable, SCALE_LEVELS)
            rate, note = solve_rate(sample[variable], row["measured_alpha"], k, metric, coders, seed)
            rates[variable] = rate
            row |= {
                "coding_error_rate": rate,
                "model_alpha": model_alpha(sample[variable], rate, k, metric, coders, seed),
            }
            row["note"] = note
        else:
            row |= {"coding_error_rate": np.nan, "model_alpha": np.nan, "note": NOT_RECODED}
        rows.append(row)
    table = pd.DataFrame(rows)
    derived = table["variable"] == "collective_efficiency"
    table.loc[derived, "model_alpha"] = derived_alpha(sample, rates, coders, seed)
    table.loc[derived, "note"] = DERIVED
    table.insert(3, "coders_in_error", coders)
    return table


def derived_alpha(sample: dict, rates: dict[str, float], coders: int, seed: int) -> float:
    """Alpha of collective efficiency when its two components are recoded at their rates."""
    codings = []
    for k in range(coders):
        parts = [
            simulate.disagree(sample[v], rates[v], SCALE_LEVELS, np.random.default_rng([seed, k, j]))
            for j, v in enumerate(("external_economies", "joint_actions"))
        ]
        codings.append(collective_efficiency(*parts))
    pair = np.vstack(codings if coders == 2 else [sample["collective_efficiency"], codings[0]]).astype(float)
    return alpha(pair, "ordinal")


def coding_error_model(table: pd.DataFrame) -> CodingError:
    """The erring coder of a calibration table (`calibrate`)."""
    rates = table.set_index("variable")["coding_error_rate"]
    return CodingError(tuple((v, float(rates[v])) for v in recoded_variables()))
