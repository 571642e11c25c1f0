"""The declared verdict rule (the register's [verdict_rules] and [decision]), written once, and what feeds it.

A claim gets one of three verdicts. The rule looks at four facts about the claim's slope: whether its 1 - alpha
interval excludes 0 on the positive side or on the negative side, whether its 1 - 2 alpha interval lies inside
(-margin, margin), and whether that interval's upper end lies below +margin (`verdict_rule`). Those facts come
from the intervals themselves (`decide`: the partially pooled posterior's credible intervals), or from the test
statistics behind frequentist intervals (`facts_from_roots`): a value v lies inside the 1 - a interval exactly when
the statistic r(v) (Wald z, or the signed root of the likelihood-ratio statistic) has |r(v)| <= z(1 - a/2).

Each verdict is also a test: "consistent" rejects one null hypothesis and "contradicted" another, so every claim
has two decision p-values (`decision_p_values`), and the raw verdict is exactly "p < alpha" for one of them. The
multiplicity-adjusted verdict applies the same reading to Holm-adjusted p-values over the register's family
(`holm`, `verdict_from_p`).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .register import EXPECTATIONS, DecisionLevels


class Verdict(StrEnum):
    CONSISTENT = "consistent"
    CONTRADICTED = "contradicted"
    INCONCLUSIVE = "inconclusive"


VERDICTS = tuple(v.value for v in Verdict)
#: The verdicts that decide a claim one way or the other.
DECISIVE = (Verdict.CONSISTENT.value, Verdict.CONTRADICTED.value)
#: The three statistics a claim is decided on: r(0), r(+margin), r(-margin).
ROOTS = ("zero", "plus_margin", "minus_margin")


def verdict_rule(
    expected: str,
    excludes_zero_above: ArrayLike,
    excludes_zero_below: ArrayLike,
    inside_margin: ArrayLike,
    below_margin: ArrayLike,
) -> np.ndarray:
    """The declared verdict rules as verdicts (strings), elementwise over arrays of facts (one entry per fit)."""
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
    return np.where(
        consistent[expected],
        Verdict.CONSISTENT.value,
        np.where(contradicted[expected], Verdict.CONTRADICTED.value, Verdict.INCONCLUSIVE.value),
    )


def decide(expected: str, ci: tuple[float, float], ci_equivalence: tuple[float, float], margin: float) -> str:
    """The verdict on one claim from its slope's 1 - alpha and 1 - 2 alpha intervals (95% and 90%) and margin."""
    (low, high), (low_eq, high_eq) = ci, ci_equivalence
    inside = -margin < low_eq and high_eq < margin
    return str(verdict_rule(expected, low > 0, high < 0, inside, high_eq < margin))


def facts_from_roots(roots: np.ndarray, levels: DecisionLevels) -> tuple[np.ndarray, ...]:
    """The rule's four facts from the statistics r(0), r(+margin), r(-margin) (last axis): 0 lies outside the
    1 - alpha interval exactly when |r(0)| > z(1 - alpha/2), and +-margin outside the 1 - 2 alpha interval when
    |r(+-margin)| > z(1 - alpha). A NaN statistic decides nothing."""
    r0, r_plus, r_minus = roots[..., 0], roots[..., 1], roots[..., 2]
    with np.errstate(invalid="ignore"):
        above, below = r0 > levels.z, r0 < -levels.z
        under_plus, over_minus = r_plus < -levels.z_equivalence, r_minus > levels.z_equivalence
    return above, below, under_plus & over_minus, under_plus


def verdicts_from_roots(expected: str, roots: np.ndarray, levels: DecisionLevels) -> np.ndarray:
    """Raw verdicts from the statistics behind the intervals (any leading shape; last axis r(0), r(+m), r(-m))."""
    return verdict_rule(expected, *facts_from_roots(roots, levels))


def decision_p_values(expected: str, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p for 'consistent', p for 'contradicted') from r(0), r(+margin), r(-margin) (last axis): the tests whose
    rejection at alpha makes each verdict. A statistic that could not be computed gives NaN to the tests that need
    it (and only to those): NaN rejects nothing."""
    r0, r_plus, r_minus = (np.asarray(roots, dtype=float)[..., k] for k in range(3))
    two_sided = 2 * stats.norm.sf(np.abs(r0))
    above = np.where(r0 > 0, two_sided, np.where(np.isnan(r0), np.nan, 1.0))
    below = np.where(r0 < 0, two_sided, np.where(np.isnan(r0), np.nan, 1.0))
    equivalence = np.maximum(stats.norm.cdf(r_plus), stats.norm.sf(r_minus))  # two one-sided tests at +-margin
    if expected == "positive":
        return above, np.fmin(below, equivalence)
    if expected == "negative":
        return below, np.fmin(above, equivalence)
    if expected == "null":
        return equivalence, two_sided
    if expected == "non_positive":
        return stats.norm.cdf(r_plus), above
    raise ValueError(f"expected direction {expected!r} is not one of {EXPECTATIONS}")


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along the last axis (one family per row), as statsmodels' `multipletests(method=
    "holm")` computes them: sorted p times (m, m-1, ..., 1), running maximum, capped at 1. NaN (a test that could
    not be computed) counts as 1: it stays in the family, so the family keeps its declared size, and rejects
    nothing."""
    p = np.where(np.isnan(p), 1.0, np.asarray(p, dtype=float))
    order = np.argsort(p, axis=-1, kind="mergesort")
    ranked = np.take_along_axis(p, order, axis=-1) * np.arange(p.shape[-1], 0, -1)
    adjusted = np.minimum(np.maximum.accumulate(ranked, axis=-1), 1.0)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def verdict_from_p(p_consistent: ArrayLike, p_contradicted: ArrayLike, alpha: float) -> np.ndarray:
    """'consistent' where its test rejects at alpha, else 'contradicted' where that one does, else inconclusive."""
    with np.errstate(invalid="ignore"):
        return np.select(
            [np.asarray(p_consistent) < alpha, np.asarray(p_contradicted) < alpha],
            [Verdict.CONSISTENT.value, Verdict.CONTRADICTED.value],
            default=Verdict.INCONCLUSIVE.value,
        )
