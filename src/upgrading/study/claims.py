"""The claims check: every claim in the register (`data/claims.toml`) gets a verdict computed from the data.

Verdict rules are declared in the register before any data are looked at: `consistent`, `contradicted` or
`inconclusive`, from the slope's intervals and the declared smallest effect that would matter (`margin`).
`verdict_rule` implements them once, for this check and for the design analysis (`power`).
Raw verdicts come from the intervals; multiplicity-adjusted verdicts from Holm-adjusted p-values. Every row
carries the numbers it was decided on.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from .. import package_data
from ..errors import UpgradingError
from ..ordinal import OrderedLogit, permutation_association
from .codebook import load_codebook
from .models import KEY_PREDICTORS, MODELS, formula, parse_term, study_reason
from .pooling import SYMBOL, slope_intervals
from .settings import PERMUTATION_SEED, PERMUTATIONS
from .simulate import source_patterns

VERDICTS = ("consistent", "contradicted", "inconclusive")
EXPECTATIONS = ("positive", "negative", "null", "non_positive")


@cache
def load_register() -> dict:
    """The claims register, checked against the source table and the codebook."""
    register = package_data.load("claims.toml")
    check_register(register)
    return register


def check_register(register: dict) -> None:
    """Every table cell present once with the source's wording; every claim testable and fully declared."""
    problems = []
    cells = source_patterns()["cells"]
    expected_cells = {
        (p, f, g): w for p, forms in cells.items() for f, groups in forms.items() for g, w in groups.items()
    }
    seen = {}
    ids = [c["id"] for c in register["claims"]]
    if len(set(ids)) != len(ids):
        problems.append("claim ids are not unique")
    cb = load_codebook()
    for claim in register["claims"]:
        if claim["kind"] == "table cell":
            key = (claim["predictor"], claim["outcome"], claim["sectoral_group"])
            if key not in expected_cells:
                problems.append(f"{claim['id']}: no such cell in the source table")
            elif claim["wording"] != expected_cells[key]:
                problems.append(
                    f"{claim['id']}: wording {claim['wording']!r} differs from the source's {expected_cells[key]!r}"
                )
            seen[key] = claim["id"]
        try:
            expected = expected_direction(claim, register)
        except UpgradingError as error:
            problems.append(str(error))
            continue
        if expected not in EXPECTATIONS:
            problems.append(f"{claim['id']}: expected direction {expected!r} not in {EXPECTATIONS}")
        if claim["predictor"] not in register["margins"]:
            problems.append(f"{claim['id']}: no declared margin for predictor {claim['predictor']!r}")
        if claim["outcome"] not in cb.upgrading_forms:
            problems.append(f"{claim['id']}: outcome {claim['outcome']!r} is not a form of upgrading")
        if claim["subset"] not in ("all", *cb.group_codes):
            problems.append(f"{claim['id']}: subset {claim['subset']!r} is not 'all' or a sectoral group")
    if register.get("cell_model") not in MODELS:
        problems.append(
            f"cell_model {register.get('cell_model')!r} is not one of the study's models ({', '.join(MODELS)})"
        )
    missing = set(expected_cells) - set(seen)
    if missing:
        problems.append(f"table cells missing from the register: {sorted(missing)}")
    if problems:
        raise UpgradingError("the claims register is inconsistent:\n  " + "\n  ".join(problems))


def expected_direction(claim: dict, register: dict) -> str:
    """The claim's expected direction: declared, or mapped from the table wording (documented mapping)."""
    if "expected" in claim:
        return claim["expected"]
    try:
        return register["wording_to_expected"][claim["wording"]]
    except KeyError:
        raise UpgradingError(f"{claim['id']}: wording {claim['wording']!r} has no documented mapping") from None


def prepare(cases: pd.DataFrame) -> pd.DataFrame:
    """Cases plus 0/1 indicators `is_<governance form>` and `is_<sectoral group>` used by textual claims."""
    cb = load_codebook()
    out = cases.copy()
    for level in cb.governance_levels:
        out[f"is_{level}"] = (out["governance"] == level).astype(int)
    for group in cb.group_codes:
        out[f"is_{group}"] = (out["sectoral_group"] == group).astype(int)
    return out


def verdict_rule(
    expected: str,
    excludes_zero_above: ArrayLike,
    excludes_zero_below: ArrayLike,
    inside_margin: ArrayLike,
    below_margin: ArrayLike,
) -> np.ndarray:
    """The declared verdict rules (register's [verdict_rules]) as codes into VERDICTS, elementwise.

    The inputs are what the rules look at, as booleans (or boolean arrays, one entry per fit): whether the 95%
    interval excludes 0 on the positive side (`excludes_zero_above`) or on the negative side
    (`excludes_zero_below`), whether the 90% interval lies inside (-margin, margin), and whether its upper end
    lies below +margin.
    """
    consistent = {
        "positive": excludes_zero_above,
        "negative": excludes_zero_below,
        "null": inside_margin,
        "non_positive": below_margin,
    }
    contradicted = {
        "positive": np.logical_or(excludes_zero_below, inside_margin),
        "negative": np.logical_or(excludes_zero_above, inside_margin),
        "null": np.logical_or(excludes_zero_above, excludes_zero_below),
        "non_positive": excludes_zero_above,
    }
    if expected not in consistent:
        raise ValueError(f"expected direction {expected!r} is not one of {EXPECTATIONS}")
    return np.where(consistent[expected], 0, np.where(contradicted[expected], 1, 2))


def decide(expected: str, ci: tuple[float, float], ci90: tuple[float, float], margin: float) -> str:
    """The verdict on one claim from its slope's 95% and 90% intervals and its margin."""
    (low, high), (low90, high90) = ci, ci90
    code = verdict_rule(expected, low > 0, high < 0, -margin < low90 and high90 < margin, high90 < margin)
    return VERDICTS[int(code)]


def signed_roots(fit, term: str, margin: float) -> np.ndarray:
    """The test statistic behind the fit's intervals at 0, +margin and -margin: (estimate - v) / SE for a
    maximum-likelihood fit (Wald intervals), the signed root of the penalised likelihood-ratio statistic for a
    Jeffreys-penalised fit (profile intervals). v lies inside the 1 - a interval exactly when |r(v)| <= z(1 - a/2),
    so p-values from r decide exactly as the intervals do."""
    values = np.array([0.0, margin, -margin])
    if fit.penalty:
        return fit.signed_root(term, values)
    estimate, se = float(fit.params[term]), float(fit.bse[term])
    if not (np.isfinite(estimate) and np.isfinite(se) and se > 0):
        return np.full(3, np.nan)
    return (estimate - values) / se


def decision_p_values(expected: str, roots: np.ndarray) -> tuple[float, float]:
    """(p for 'consistent', p for 'contradicted'): the tests whose rejection at 5% makes each verdict, from the
    statistics r(0), r(+margin), r(-margin); the raw verdict is exactly "p < 0.05" for one of them."""
    r0, r_plus, r_minus = roots
    if not np.all(np.isfinite(roots)):
        return np.nan, np.nan
    two_sided = 2 * stats.norm.sf(abs(r0))
    above, below = (two_sided if r0 > 0 else 1.0), (two_sided if r0 < 0 else 1.0)
    equivalence = max(stats.norm.cdf(r_plus), stats.norm.sf(r_minus))  # two one-sided tests at +-margin
    if expected == "positive":
        return above, min(below, equivalence)
    if expected == "negative":
        return below, min(above, equivalence)
    if expected == "null":
        return equivalence, two_sided
    if expected == "non_positive":
        return stats.norm.cdf(r_plus), above
    raise ValueError(expected)


def holm_family(table: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjusted decision p-values over one family: every claim's test for 'consistent' and its test for
    'contradicted' (2 x claims tests), so the familywise error rate of all non-inconclusive verdicts is 5%. A test
    that could not be computed (a claim not estimable on the sheet) stays in the family with p = 1: it rejects
    nothing, and the family keeps its declared size."""
    family = pd.concat([table["p_consistent"], table["p_contradicted"]], ignore_index=True).fillna(1.0)
    adjusted = _holm(family)
    n = len(table)
    return pd.DataFrame(
        {"p_consistent_holm": adjusted.iloc[:n].to_numpy(), "p_contradicted_holm": adjusted.iloc[n:].to_numpy()},
        index=table.index,
    )


def _holm(p: pd.Series) -> pd.Series:
    from statsmodels.stats.multitest import multipletests

    valid = p.notna()
    adjusted = pd.Series(np.nan, index=p.index)
    if valid.any():
        adjusted[valid] = multipletests(p[valid].to_numpy(), method="holm")[1]
    return adjusted


def _fit_key(claim: dict, register: dict) -> tuple[str, str]:
    """(formula, subset): claims sharing a key are read off the same fit. Table cells ("cell") are slopes of
    the study's model the register names (`cell_model`, a key of `models.MODELS`)."""
    if claim["formula"] == "cell":
        return formula(register["cell_model"], claim["outcome"]), claim["subset"]
    return claim["formula"], claim["subset"]


def evaluate(cases: pd.DataFrame, register: dict | None = None, n_resamples: int = PERMUTATIONS) -> pd.DataFrame:
    """One row per claim: estimand, estimate, intervals, p-values (raw and Holm), verdicts (raw and Holm)."""
    register = register or load_register()
    data = prepare(cases)
    fits: dict = {}
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation is recorded in the `fit` column
        for claim in register["claims"]:
            key = _fit_key(claim, register)
            formula = key[0]
            subset = data if claim["subset"] == "all" else data[data["sectoral_group"] == claim["subset"]]
            if key not in fits:
                try:
                    model = OrderedLogit.from_formula(formula, subset, aliased="drop")
                    ml = model.fit(warn=False)
                    fits[key] = model.fit("jeffreys", warn=False) if ml.separation.separated else ml
                    if not fits[key].converged:  # a fit that did not converge decides nothing
                        method = "Jeffreys-penalised" if fits[key].penalty else "maximum-likelihood"
                        raise UpgradingError(f"the {method} fit did not converge")
                except UpgradingError as error:
                    fits[key] = error
                else:
                    if fits[key].penalty:  # profile intervals of every claim on this fit, in one batch per level
                        terms = [
                            c["term"]
                            for c in register["claims"]
                            if _fit_key(c, register) == key and c["term"] in fits[key].design.names
                        ]
                        for level in (0.05, 0.10):
                            fits[key].profile_conf_int(level, terms)
            fit = fits[key]
            expected = expected_direction(claim, register)
            margin = float(register["margins"][claim["predictor"]])
            row = {
                "id": claim["id"],
                "kind": claim["kind"],
                "sectoral_group": claim["sectoral_group"],
                "outcome": claim["outcome"],
                "predictor": claim["predictor"],
                "term": claim["term"],
                "published_wording": claim["wording"],
                "expected": expected,
                "margin": margin,
                "subset": claim["subset"],
                "source": claim["source"],
            }
            if isinstance(fit, UpgradingError):
                row.update({"fit": "not estimable", "note": str(fit), "verdict": "inconclusive"})
                rows.append(row)
                continue
            term = claim["term"]
            if term not in fit.design.names:
                why = fit.aliased.get(term, f"term {term!r} is not in the model fitted to this sheet")
                row.update({"fit": "not estimable", "note": study_reason(term, why, subset), "verdict": "inconclusive"})
                rows.append(row)
                continue
            estimate, se = float(fit.params[term]), float(fit.bse[term])
            interval = fit.profile_conf_int if fit.penalty else fit.conf_int  # profile for penalised fits
            ci = tuple(interval(0.05, [term]).loc[term])
            ci90 = tuple(interval(0.10, [term]).loc[term])
            roots = signed_roots(fit, term, margin)
            p_consistent, p_contradicted = decision_p_values(expected, roots)
            row.update(
                {
                    "fit": "jeffreys" if fit.penalty else "ml",
                    "n": int(fit.nobs),
                    "estimate": estimate,
                    "std_error": se,
                    "odds_ratio": float(np.exp(estimate)),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "ci90_low": ci90[0],
                    "ci90_high": ci90[1],
                    "test": "likelihood ratio" if fit.penalty else "Wald",
                    "p_value": float(2 * stats.norm.sf(abs(roots[0]))) if np.isfinite(roots[0]) else np.nan,
                    "p_consistent": p_consistent,
                    "p_contradicted": p_contradicted,
                    "verdict": decide(expected, ci, ci90, margin),
                    "note": "; ".join(
                        n
                        for n in (
                            claim.get("note", ""),
                            fit.interval_note(term, 0.05) if fit.penalty else "",
                            fit.interval_note(term, 0.10) if fit.penalty else "",
                        )
                        if n
                    ),
                }
            )
            if claim["predictor"] in ("collective_efficiency", "leader_driven", "joint_actions") and claim[
                "sectoral_group"
            ] in set(data["sectoral_group"].astype(str)):
                group = data[data["sectoral_group"] == claim["sectoral_group"]]
                exact = permutation_association(
                    group[claim["predictor"]], group[claim["outcome"]], n_resamples, seed=PERMUTATION_SEED
                )
                row.update(
                    {
                        "permutation_tau_b": exact["tau_b"],
                        "permutation_p": exact["p_value"],  # P(|T| >= |t|): exact, or Monte Carlo as the method says
                        "permutation_method": exact["reason"] or exact["method"],
                    }
                )
            rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("p_value", "p_consistent", "p_contradicted"):
        if column not in table:
            table[column] = np.nan
    table[["p_consistent_holm", "p_contradicted_holm"]] = holm_family(table)
    table["verdict_holm"] = np.select(
        [table["p_consistent_holm"] < 0.05, table["p_contradicted_holm"] < 0.05],
        ["consistent", "contradicted"],
        default="inconclusive",
    )
    order = [
        "id",
        "kind",
        "sectoral_group",
        "outcome",
        "predictor",
        "published_wording",
        "expected",
        "margin",
        "fit",
        "n",
        "estimate",
        "std_error",
        "odds_ratio",
        "ci_low",
        "ci_high",
        "ci90_low",
        "ci90_high",
        "test",
        "p_value",
        "p_consistent",
        "p_consistent_holm",
        "p_contradicted",
        "p_contradicted_holm",
        "verdict",
        "verdict_holm",
        "permutation_tau_b",
        "permutation_p",
        "permutation_method",
        "term",
        "subset",
        "source",
        "note",
    ]
    return table.reindex(columns=order)


POOLED_NOT_APPLICABLE = "not applicable"


def group_slope_claim(claim: dict, register: dict) -> tuple[str, str] | None:
    """(sectoral group, predictor) if the claim is a group slope of the by-group model (a table cell whose term is
    a group's collective-efficiency or leader-driven slope), else None: only those have a partially pooled twin."""
    if claim.get("formula") != "cell" or register.get("cell_model") != "by_group":
        return None
    group, predictor = parse_term(claim["term"])
    return (group, predictor) if group != "all" and predictor in KEY_PREDICTORS else None


def pooled_claim_forms(register: dict | None = None) -> list[str]:
    """The forms of upgrading whose partially pooled fit some claim is decided from."""
    register = register or load_register()
    return list(dict.fromkeys(c["outcome"] for c in register["claims"] if group_slope_claim(c, register)))


def add_pooled_verdicts(table: pd.DataFrame, pooled: dict, register: dict | None = None) -> pd.DataFrame:
    """The verdicts table (`evaluate`) plus the verdict each group-slope claim gets from the partially pooled
    posterior (`pooling.pooled_fits`), by the same declared rule (`decide`) on its 95% and 90% equal-tailed
    credible intervals: `verdict_pooled`, `pooled_estimate` (posterior mean), `pooled_ci_low/high`,
    `pooled_ci90_low/high`, `pooled_p_positive`, `pooled_note`. Claims that are not a group slope get
    "not applicable"; a slope whose posterior is missing or unreliable is "inconclusive" with the reason, no
    numbers. The existing columns are kept: neither verdict replaces the other."""
    register = register or load_register()
    by_id = {c["id"]: c for c in register["claims"]}
    rows = []
    for claim_id, expected, margin in zip(table["id"], table["expected"], table["margin"]):
        row = {"verdict_pooled": POOLED_NOT_APPLICABLE, "pooled_note": ""}
        target = group_slope_claim(by_id[claim_id], register)
        if target is not None:
            group, predictor = target
            fit = pooled.get(by_id[claim_id]["outcome"])
            row["verdict_pooled"] = "inconclusive"
            if fit is None:
                row["pooled_note"] = "no partially pooled fit of this form"
            else:
                intervals, reason = slope_intervals(fit, predictor, group)
                row["pooled_note"] = reason
                if intervals is not None:
                    name = f"{SYMBOL[predictor]}[{group}]"
                    (ci, ci90), result = intervals, fit.result
                    row.update(
                        {
                            "pooled_estimate": float(result.params[name]),
                            "pooled_ci_low": ci[0],
                            "pooled_ci_high": ci[1],
                            "pooled_ci90_low": ci90[0],
                            "pooled_ci90_high": ci90[1],
                            "pooled_p_positive": float(result.p_positive[name]),
                            "verdict_pooled": decide(expected, ci, ci90, float(margin)),
                        }
                    )
        rows.append(row)
    extra = pd.DataFrame(rows, index=table.index).reindex(
        columns=[
            "pooled_estimate",
            "pooled_ci_low",
            "pooled_ci_high",
            "pooled_ci90_low",
            "pooled_ci90_high",
            "pooled_p_positive",
            "verdict_pooled",
            "pooled_note",
        ]
    )
    at = list(table.columns).index("verdict_holm") + 1
    return pd.concat([table.iloc[:, :at], extra, table.iloc[:, at:]], axis=1)


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims got each verdict, raw and Holm-adjusted."""
    return pd.DataFrame(
        {
            "raw": table["verdict"].value_counts().reindex(VERDICTS, fill_value=0),
            "holm": table["verdict_holm"].value_counts().reindex(VERDICTS, fill_value=0),
        }
    )
