"""The claims check: every claim in the register (`data/claims.toml`) gets a verdict computed from the data.

One decision path, for one coding sheet (notebook 05, `upgrading claims`) and for the thousands of simulated
sheets of the design analysis (`power`) alike:

1. `fit_claims`: each model the register names, fitted to every sheet (designs from one patsy call over the
   stacked sheets, fits of one shape as one batch): maximum likelihood, or the Jeffreys-penalised fit where
   maximum likelihood is separated; a model that cannot be estimated on a sheet, or does not converge, decides
   nothing and says why.
2. `statistics`: for each claim, the statistics behind its intervals at 0, +margin and -margin: Wald z for a
   maximum-likelihood fit, the signed root of the penalised likelihood-ratio statistic for a Jeffreys-penalised
   fit (its profile intervals), all constrained fits of a batch at once.
3. `decisions`: the declared verdict rule (`verdicts`) on those statistics, the decision p-values, and Holm's
   adjustment over the register's family, sheet by sheet.

`evaluate` adds, for one sheet, what a reader needs beside each verdict: intervals, odds ratios, notes and the
within-group permutation test as a cross-check.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import UpgradingError
from ..ordinal import LINKS, DesignFit, build_designs, complete_rows, fit_designs, get_link
from .codebook import load_codebook
from .models import parse_term
from .pooling import SYMBOL, slope_intervals
from .reasons import study_reason
from .register import Claim, Register, load_register
from .settings import KEY_PREDICTORS
from .verdicts import (
    ROOTS,
    VERDICTS,
    Verdict,
    decision_p_values,
    holm,
    verdict_from_p,
    verdicts_from_roots,
)
from .verdicts import (
    decide as decide_intervals,
)

#: `fit` of a claim whose model could not be estimated on a sheet (its note says why).
NOT_ESTIMABLE = "not estimable"


def prepare(cases: pd.DataFrame) -> pd.DataFrame:
    """Cases plus 0/1 indicators `is_<governance form>` and `is_<sectoral group>` used by textual claims (missing
    where governance is not reported)."""
    cb = load_codebook()
    governance = cases["governance"]
    indicators = {
        f"is_{level}": (governance == level).astype("Int64").where(governance.notna()) for level in cb.governance_levels
    }
    indicators |= {f"is_{group}": (cases["sectoral_group"] == group).astype(int) for group in cb.group_codes}
    return pd.concat([cases, pd.DataFrame(indicators, index=cases.index)], axis=1)


# ---------------------------------------------------------------------------------------------------------
# 1. Fits
# ---------------------------------------------------------------------------------------------------------


def fit_claims(register: Register, data: pd.DataFrame, sheet: np.ndarray, n_sheets: int, link: str = "logit") -> dict:
    """{fit key: one entry per sheet}: the reported fit (`ordinal.DesignFit`, under `link`) of the key's model on
    that sheet's cases of the key's subset that have every variable of its model (complete cases), or the reason (a
    string) it decides nothing. `data` holds the prepared cases of every sheet (`prepare`), `sheet` the sheet
    (0 .. n_sheets - 1) of each row."""
    fits = {}
    sheet = np.asarray(sheet)
    groups = data["sectoral_group"].astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty outcome level is the estimator's to handle; reasons are kept
        for key in dict.fromkeys(c.fit_key(register.cell_model) for c in register.claims):
            formula, subset = key
            rows = np.ones(len(data), bool) if subset == "all" else groups == subset
            rows &= complete_rows(formula, data)
            designs = build_designs(formula, data[rows], sheet[rows], labels=range(n_sheets))
            estimable = [d for d in designs if not isinstance(d, UpgradingError)]
            fitted = iter(fit_designs(estimable, link))
            fits[key] = [str(d) if isinstance(d, UpgradingError) else _converged(next(fitted)) for d in designs]
    return fits


def _converged(fit: DesignFit) -> DesignFit | str:
    """The fit, or why it decides nothing: a fit that did not converge is never a quietly wrong verdict."""
    if fit.converged:
        return fit
    method = "Jeffreys-penalised" if fit.penalised else "maximum-likelihood"
    return f"the {method} fit did not converge"


# ---------------------------------------------------------------------------------------------------------
# 2. Statistics
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Statistics:
    """Per sheet and claim (S, C): the fit behind the claim (`ml`, `jeffreys` or `not estimable`), its cases, the
    slope and its standard error, the statistics r(0), r(+margin), r(-margin) (S, C, 3), and a note."""

    fit: np.ndarray
    n: np.ndarray
    estimate: np.ndarray
    std_error: np.ndarray
    roots: np.ndarray
    note: np.ndarray

    @classmethod
    def empty(cls, sheets: int, claims: int) -> Statistics:
        def full(value, dtype=float):
            return np.full((sheets, claims), value, dtype=dtype)

        return cls(
            full(NOT_ESTIMABLE, object),
            full(0, int),
            full(np.nan),
            full(np.nan),
            np.full((sheets, claims, 3), np.nan),
            full("", object),
        )


@dataclass
class _Requests:
    """The likelihood-ratio statistics a batch of penalised fits still needs: problem rows, parameter (engine
    order), value, cut-off of its test, and where its signed root goes (sheet, claim, which root)."""

    rows: list = field(default_factory=list)
    index: list = field(default_factory=list)
    values: list = field(default_factory=list)
    cutoff: list = field(default_factory=list)
    target: list = field(default_factory=list)
    partner: list = field(default_factory=list)  # the other half of an equivalence pair, or -1

    def add(self, rows, index, value, cutoff, sheets, claim, which, partner_offset=None) -> None:
        """Statistics of `rows` at one value; `partner_offset`: where each one's equivalence partner is."""
        start = len(self.rows)
        self.rows += list(rows)
        self.index += [index] * len(rows)
        self.values += [value] * len(rows)
        self.cutoff += [cutoff] * len(rows)
        self.target += [(s, claim, which) for s in sheets]
        pairs = [-1] * len(rows) if partner_offset is None else start + partner_offset + np.arange(len(rows))
        self.partner += list(pairs)


def statistics(register: Register, fits: dict, n_sheets: int, exact: bool = True) -> Statistics:
    """The statistics each claim is decided on, on every sheet (see the module's step 2).

    `exact=False` computes a penalised statistic only as far as the verdicts need it: where the upper bound from a
    point near the constrained optimum (`ordinal.likelihood_ratios`) already shows a test does not reject, or a
    test cannot reject because of the estimate's side of the margin, the statistic is left at that bound (or at 0);
    the raw and Holm-adjusted verdicts are the same as with every statistic solved (`exact=True`, which the
    claims table uses, as it prints every p-value).
    """
    out = Statistics.empty(n_sheets, len(register.claims))
    by_key: dict = {}
    for c, claim in enumerate(register.claims):
        by_key.setdefault(claim.fit_key(register.cell_model), []).append((c, claim))
    for key, claims in by_key.items():
        groups: dict[int, tuple] = {}
        for s, fit in enumerate(fits[key]):
            if isinstance(fit, str):
                out.note[s, [c for c, _ in claims]] = fit
                continue
            groups.setdefault(id(fit.fits), (fit.fits, [], []))[1].append(s)
            groups[id(fit.fits)][2].append(fit)
        for batch, sheets, members in groups.values():
            _batch_statistics(batch, np.array(sheets), members, claims, register, exact, out)
    return out


def _batch_statistics(batch, sheets, members, claims, register, exact, out) -> None:
    """Statistics of `claims` on the fits of one batch (sheets `sheets`, fits `members`, rows of `batch`)."""
    rows = np.array([m.row for m in members])
    T = batch.batch.n_levels - 1
    names = batch.batch.names
    penalised = batch.penalised[rows]
    levels = register.levels
    params, bse = batch.params[rows], batch.bse[rows]
    requests = _Requests()
    for c, claim in claims:
        out.fit[sheets, c] = np.where(penalised, "jeffreys", "ml")
        out.n[sheets, c] = len(batch.batch.y[0])
        if claim.term not in names:
            out.fit[sheets, c] = NOT_ESTIMABLE
            out.note[sheets, c] = [
                m.design.aliased.get(claim.term, f"term {claim.term!r} is not in the model fitted to this sheet")
                for m in members
            ]
            continue
        k = names.index(claim.term)
        estimate, se = params[:, k], bse[:, k]
        out.estimate[sheets, c], out.std_error[sheets, c] = estimate, se
        values = np.array([0.0, claim.margin, -claim.margin])
        with np.errstate(divide="ignore", invalid="ignore"):
            wald = (estimate[:, None] - values) / se[:, None]
        ok = np.isfinite(estimate) & np.isfinite(se) & (se > 0)
        out.roots[sheets[~penalised], c] = np.where(ok[~penalised, None], wald[~penalised], np.nan)
        if penalised.any():
            _request(requests, rows[penalised], sheets[penalised], estimate[penalised], T + k, c, claim, levels, exact)
    if requests.rows:
        _resolve(batch, requests, out, exact)


def _request(requests: _Requests, rows, sheets, estimate, index, c, claim: Claim, levels, exact: bool) -> None:
    """The statistics a penalised claim needs: r(0) always; r(+margin) and r(-margin) for the equivalence test
    where the estimate lies inside the margin (elsewhere one of them, hence the test, cannot reject); r(+margin)
    alone for a non-positive claim where the estimate lies below +margin. With `exact`, all three. A statistic
    not requested stays NaN: it cannot change a verdict, and NaN rejects nothing."""
    zero_cut, equivalence_cut = levels.z**2, levels.z_equivalence**2
    m = claim.margin
    requests.add(rows, index, 0.0, zero_cut, sheets, c, 0)
    if exact:
        requests.add(rows, index, m, equivalence_cut, sheets, c, 1)
        requests.add(rows, index, -m, equivalence_cut, sheets, c, 2)
    elif claim.expected == "non_positive":
        below = estimate < m
        requests.add(rows[below], index, m, equivalence_cut, sheets[below], c, 1)
    else:
        inside = (-m < estimate) & (estimate < m)
        n = int(inside.sum())
        requests.add(rows[inside], index, m, equivalence_cut, sheets[inside], c, 1, partner_offset=n)
        requests.add(rows[inside], index, -m, equivalence_cut, sheets[inside], c, 2, partner_offset=-n)


def _resolve(batch, requests: _Requests, out: Statistics, exact: bool) -> None:
    """Solve the requested statistics (only as far as the verdicts need them unless `exact`) into signed roots."""
    rows = np.array(requests.rows)
    index, values = np.array(requests.index), np.array(requests.values)
    cutoff, partner = np.array(requests.cutoff), np.array(requests.partner)
    bound, at_warm = batch.warm_bounds(rows, index, values)
    statistic = np.full(len(rows), np.nan)
    settled = np.zeros(len(rows), bool)
    if not exact:
        settled = np.isfinite(bound) & (bound < cutoff - batch.bound_margin)
        paired = partner >= 0
        settled[paired] |= settled[partner[paired]]  # one half cannot reject: the equivalence test cannot
        statistic[settled] = np.maximum(bound[settled], 0.0)
    todo = np.flatnonzero(~settled)
    if len(todo):
        statistic[todo] = batch.likelihood_ratios(rows[todo], index[todo], values[todo], at_warm[todo])[0]
    theta = batch.theta[rows, index]
    root = np.sign(theta - values) * np.sqrt(statistic)
    for (s, c, which), r in zip(requests.target, root):
        out.roots[s, c, which] = r


# ---------------------------------------------------------------------------------------------------------
# 3. Decisions
# ---------------------------------------------------------------------------------------------------------


def decisions(register: Register, found: Statistics) -> dict[str, np.ndarray]:
    """Per sheet and claim (S, C): the two-sided p-value, the decision p-values raw and Holm-adjusted (one family
    per sheet: every claim's test for 'consistent' and for 'contradicted'), and the raw and adjusted verdicts."""
    S, C = found.fit.shape
    roots = found.roots
    p_consistent, p_contradicted = np.full((S, C), np.nan), np.full((S, C), np.nan)
    verdict = np.full((S, C), Verdict.INCONCLUSIVE.value, dtype=object)
    for c, claim in enumerate(register.claims):
        p_consistent[:, c], p_contradicted[:, c] = decision_p_values(claim.expected, roots[:, c])
        verdict[:, c] = verdicts_from_roots(claim.expected, roots[:, c], register.levels)
    adjusted = holm(np.concatenate([p_consistent, p_contradicted], axis=1))
    alpha = register.levels.alpha
    with np.errstate(invalid="ignore"):
        p_value = np.where(np.isfinite(roots[..., 0]), 2 * norm.sf(np.abs(roots[..., 0])), np.nan)
    return {
        "p_value": p_value,
        "p_consistent": p_consistent,
        "p_consistent_holm": adjusted[:, :C],
        "p_contradicted": p_contradicted,
        "p_contradicted_holm": adjusted[:, C:],
        "verdict": verdict,
        "verdict_holm": verdict_from_p(adjusted[:, :C], adjusted[:, C:], alpha),
    }


def decide(
    register: Register, data: pd.DataFrame, sheet: np.ndarray | None = None, n_sheets: int = 1, exact: bool = True
) -> pd.DataFrame:
    """The claims check on every sheet of `data` (prepared cases; `sheet` numbers each row's sheet): one row per
    sheet and claim with the fit, estimate, statistics, p-values and verdicts, raw and Holm-adjusted."""
    sheet = np.zeros(len(data), int) if sheet is None else np.asarray(sheet)
    fits = fit_claims(register, data, sheet, n_sheets)
    found = statistics(register, fits, n_sheets, exact)
    return decisions_frame(register, found, decisions(register, found))


def decisions_frame(register: Register, found: Statistics, decided: dict) -> pd.DataFrame:
    """`statistics` and `decisions` as a long frame: one row per sheet and claim, claims in register order."""
    S, C = found.fit.shape
    frame = pd.DataFrame(
        {
            "sheet": np.repeat(np.arange(S), C),
            "id": np.tile([c.id for c in register.claims], S),
            "fit": found.fit.ravel(),
            "n": found.n.ravel(),
            "estimate": found.estimate.ravel(),
            "std_error": found.std_error.ravel(),
            **{f"r_{name}": found.roots[..., k].ravel() for k, name in enumerate(ROOTS)},
            **{name: values.ravel() for name, values in decided.items()},
            "note": found.note.ravel(),
        }
    )
    estimable = frame["fit"] != NOT_ESTIMABLE
    frame.loc[~estimable, ["verdict", "verdict_holm"]] = Verdict.INCONCLUSIVE.value
    return frame


# ---------------------------------------------------------------------------------------------------------
# One sheet: the verdict table
# ---------------------------------------------------------------------------------------------------------


def evaluate(
    cases: pd.DataFrame,
    register: Register | None = None,
    n_resamples: int | None = None,
    link: str = "logit",
    with_cross_check: bool = True,
) -> pd.DataFrame:
    """One row per claim: estimand, estimate, intervals, p-values (raw and Holm), verdicts (raw and Holm), and the
    within-group permutation test beside it (with `with_cross_check`; without, its columns are empty and
    `n_resamples` is not used: it decides nothing, so the robustness table, which shows verdicts and intervals
    only, does not run it). Under another `link` than the logit (a robustness check), every model is fitted under
    that link and decided by the same rule with the margins carried to its latent scale (`register_on_link`);
    `odds_ratio` is then empty, as its slopes are not log odds ratios."""
    from .claims_table import verdict_table

    register = register_on_link(register or load_register(), link)
    data = prepare(cases)
    fits = fit_claims(register, data, np.zeros(len(data), int), 1, link)
    found = statistics(register, fits, 1, exact=True)
    decided = decisions_frame(register, found, decisions(register, found))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation and interval problems are recorded in `fit` and `note`
        return verdict_table(register, data, fits, decided, n_resamples, with_cross_check)


def register_on_link(register: Register, link: str) -> Register:
    """The register with every margin (a log odds ratio: Cohen's d times the logistic's latent SD, see
    `data/claims.toml`) carried to `link`'s latent scale: times the ratio of its latent SD to the logistic's, so
    that a margin is the same standardised effect under every link (probit x 0.551, cloglog x 0.707). The
    register itself under the logit; a link without a latent SD (cauchit) is refused."""
    link = get_link(link)
    logistic = LINKS["logit"].latent_sd
    if link.latent_sd is None:
        raise UpgradingError(f"the {link.name} link has no latent standard deviation to carry the margins to")
    if link.latent_sd == logistic:
        return register
    factor = link.latent_sd / logistic
    return register.with_claims(replace(c, margin=c.margin * factor) for c in register.claims)


# ---------------------------------------------------------------------------------------------------------
# The partially pooled twin of each group-slope claim
# ---------------------------------------------------------------------------------------------------------

POOLED_NOT_APPLICABLE = "not applicable"
POOLED_COLUMNS = (
    "pooled_estimate",
    "pooled_ci_low",
    "pooled_ci_high",
    "pooled_ci90_low",
    "pooled_ci90_high",
    "pooled_p_positive",
    "verdict_pooled",
    "pooled_note",
)


def group_slope_claim(claim: Claim, register: Register) -> tuple[str, str] | None:
    """(sectoral group, predictor) if the claim is a group slope of the by-group model (a table cell whose term is
    a group's collective-efficiency or leader-driven slope), else None: only those have a partially pooled twin."""
    if claim.formula != "cell" or register.cell_model != "by_group":
        return None
    group, predictor = parse_term(claim.term)
    return (group, predictor) if group != "all" and predictor in KEY_PREDICTORS else None


def pooled_claim_forms(register: Register | None = None) -> list[str]:
    """The forms of upgrading whose partially pooled fit some claim is decided from."""
    register = register or load_register()
    return list(dict.fromkeys(c.outcome for c in register.claims if group_slope_claim(c, register)))


def pooled_verdict(claim: Claim, register: Register, pooled: dict) -> dict:
    """The partially pooled twin of one claim: the declared rule (`verdicts.decide`) on the 1 - alpha and
    1 - equivalence_alpha equal-tailed credible intervals of its slope, or why there is none."""
    target = group_slope_claim(claim, register)
    if target is None:
        return {"verdict_pooled": POOLED_NOT_APPLICABLE, "pooled_note": ""}
    group, predictor = target
    fit = pooled.get(claim.outcome)
    if fit is None:
        return {"verdict_pooled": Verdict.INCONCLUSIVE.value, "pooled_note": "no partially pooled fit of this form"}
    intervals, reason = slope_intervals(fit, predictor, group, register.levels)
    row = {"verdict_pooled": Verdict.INCONCLUSIVE.value, "pooled_note": reason}
    if intervals is None:
        return row
    name = f"{SYMBOL[predictor]}[{group}]"
    (ci, ci_equivalence), result = intervals, fit.result
    return row | {
        "pooled_estimate": float(result.params[name]),
        "pooled_ci_low": ci[0],
        "pooled_ci_high": ci[1],
        "pooled_ci90_low": ci_equivalence[0],
        "pooled_ci90_high": ci_equivalence[1],
        "pooled_p_positive": float(result.p_positive[name]),
        "verdict_pooled": decide_intervals(claim.expected, ci, ci_equivalence, claim.margin),
    }


def add_pooled_verdicts(table: pd.DataFrame, pooled: dict, register: Register | None = None) -> pd.DataFrame:
    """The verdicts table (`evaluate`) plus the verdict each group-slope claim gets from the partially pooled
    posterior (`pooling.pooled_fits`) by the same declared rule on its credible intervals: `verdict_pooled`,
    `pooled_estimate` (posterior mean), `pooled_ci_low/high`, `pooled_ci90_low/high`, `pooled_p_positive`,
    `pooled_note`. Claims that are not a group slope get "not applicable"; a slope whose posterior is missing or
    unreliable is "inconclusive" with the reason, no numbers. Neither verdict replaces the other."""
    register = register or load_register()
    rows = [pooled_verdict(register.claim(claim_id), register, pooled) for claim_id in table["id"]]
    extra = pd.DataFrame(rows, index=table.index).reindex(columns=list(POOLED_COLUMNS))
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


__all__ = [
    "NOT_ESTIMABLE",
    "POOLED_NOT_APPLICABLE",
    "add_pooled_verdicts",
    "group_slope_claim",
    "pooled_claim_forms",
    "pooled_verdict",
    "Statistics",
    "decide",
    "decisions",
    "evaluate",
    "fit_claims",
    "prepare",
    "statistics",
    "study_reason",
    "verdict_counts",
]
