"""The claims decided with proportional odds relaxed where the data reject it (a robustness specification).

For each claim, on the claim's own model and cases (as the claims check fits them): the likelihood-ratio test of
proportional odds for the formula term that holds the claim's slope (`ordinal.nominal_test`, as R's
`ordinal::nominal_test`). Where it rejects at the declared level, the partial-proportional-odds fit (that term
nominal, maximum likelihood) gives the claim one slope per threshold of the outcome; each is decided by the
declared rule on its Wald intervals, and the claim gets a verdict only where every threshold gives the same one.

Every other claim has no relaxed verdict, and its cell says why: proportional odds not rejected (nothing to
relax: the claims check's own model), not testable on this sheet (a nominal fit at a boundary, invalid or not
converged), or a relaxed fit that cannot be decided on (separated: its maximum likelihood is infinite, and the
engine has no penalised fit with nominal effects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UpgradingError
from ..ordinal import CumulativeLink, complete_rows
from ..ordinal.interpretation import nominal_refit
from .claims import NOT_ESTIMABLE, POOLED_NOT_APPLICABLE, prepare
from .claims_table import unestimable_reason
from .register import Claim, Register
from .verdicts import Verdict, decide
from .wording import p_value as p_value_text


def relaxed_rows(cases: pd.DataFrame, register: Register, test_level: float) -> list[dict]:
    """One row per claim (register order): `id`, `verdict`, `note`, `decided` (and no estimate: a relaxed claim
    has one slope per threshold, each named in the note with its interval and verdict)."""
    data = prepare(cases)
    groups = data["sectoral_group"].astype(str)
    by_key: dict = {}
    for claim in register.claims:
        by_key.setdefault(claim.fit_key(register.cell_model), []).append(claim)
    rows = {}
    for (formula, subset), members in by_key.items():
        chosen = (np.ones(len(data), bool) if subset == "all" else (groups == subset).to_numpy()) & complete_rows(
            formula, data
        )
        try:
            fit = CumulativeLink.from_formula(formula, data[chosen], aliased="drop").fit(warn=False)
        except UpgradingError as error:  # in the claims check's words (a model none of whose cases is coded)
            why = {c.id: unestimable_reason(c, str(error), str(error), data, register) for c in members}
            rows |= {c.id: _undecided(c, f"{NOT_ESTIMABLE}: {why[c.id]}") for c in members}
            continue
        tests: dict = {}
        for claim in members:
            rows[claim.id] = _relaxed(claim, fit, register, test_level, tests, data)
    return [rows[c.id] for c in register.claims]


def _undecided(claim: Claim, why: str) -> dict:
    return {"id": claim.id, "verdict": Verdict.INCONCLUSIVE.value, "note": why, "decided": False}


def _term_of(fit, column: str) -> str | None:
    """The formula term whose design columns hold `column` (a group's slope is one column of its interaction)."""
    info = fit.design.design_info
    return next((t for t, part in info.term_name_slices.items() if column in info.column_names[part]), None)


def _relaxed(claim: Claim, fit, register: Register, test_level: float, tests: dict, data: pd.DataFrame) -> dict:
    """One claim's cell: the nominal test of its term (once per term: `tests`), and where it rejects, the verdict
    on every threshold's slope of the partial-proportional-odds fit. A term the fit left out gets the claims
    check's reason (`unestimable_reason`, on the prepared cases `data`): a group none of whose cases reports a
    variable of the model is said to be so, not to have a predictor that does not vary."""
    if claim.term not in fit.design.names:
        why = fit.design.aliased.get(claim.term, f"term {claim.term!r} is not in the model fitted to this sheet")
        return _undecided(claim, f"{NOT_ESTIMABLE}: {unestimable_reason(claim, why, fit, data, register)}")
    term = _term_of(fit, claim.term)
    if term not in tests:
        tested = fit.nominal_test([term]).iloc[0]
        tests[term] = (tested, nominal_refit(fit, [term]) if tested["p_value"] < test_level else (None, ""))
    tested, (nominal, why) = tests[term]
    if pd.isna(tested["p_value"]):
        return _undecided(claim, f"proportional odds for {term} cannot be tested on this sheet: {tested['note']}")
    if tested["p_value"] >= test_level:
        note = (
            f"proportional odds not rejected for {term} (nominal test p = {p_value_text(tested['p_value'])}): "
            "nothing to relax"
        )
        return {"id": claim.id, "verdict": POOLED_NOT_APPLICABLE, "note": note, "decided": False}
    if nominal is None:
        return _undecided(claim, why)
    if nominal.separation.separated:
        return _undecided(
            claim,
            "the partial-proportional-odds fit is separated (maximum likelihood infinite; no penalised fit with "
            "nominal effects)",
        )
    return _threshold_verdict(claim, nominal, register, tested["p_value"], term)


def _threshold_verdict(claim: Claim, nominal, register: Register, p_value: float, term: str) -> dict:
    """The declared rule on each threshold's slope (minus its nominal effect, as a proportional-odds slope reads)
    with Wald intervals; one verdict where all thresholds agree, else inconclusive."""
    levels = register.levels
    names = [name for name in nominal.design.nominal_parameter_names if name.split(".", 1)[1] == claim.term]
    slopes, errors = -nominal.params[names].to_numpy(), nominal.bse[names].to_numpy()
    verdicts, parts = [], []
    for name, slope, se in zip(names, slopes, errors):
        ci = (slope - levels.z * se, slope + levels.z * se)
        ci_equivalence = (slope - levels.z_equivalence * se, slope + levels.z_equivalence * se)
        verdicts.append(decide(claim.expected, ci, ci_equivalence, claim.margin) if np.isfinite(se) else "inconclusive")
        parts.append(f"{name.split('.', 1)[0]}: {slope:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] {verdicts[-1]}")
    agreed = verdicts[0] if len(set(verdicts)) == 1 else Verdict.INCONCLUSIVE.value
    note = (
        f"proportional odds rejected for {term} (nominal test p = {p_value_text(p_value)}): slope at each threshold "
        f"(Wald 95%), {'; '.join(parts)}" + ("" if len(set(verdicts)) == 1 else "; the thresholds disagree")
    )
    return {"id": claim.id, "verdict": agreed, "note": note, "decided": True}
