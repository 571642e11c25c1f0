"""Reading a cumulative link fit as economists report it: predicted probabilities with delta-method standard
errors (`prediction`, as R's `predict.clm(se.fit = TRUE)`), average marginal effects on the probability of each
outcome level (`marginal_effects`, as Stata's `margins` or R's `marginaleffects`), and the likelihood-ratio test of
each term's proportional-odds assumption (`nominal_test`, as `ordinal::nominal_test`).

Every standard error is the delta method on the fit's own covariance (`cov_params()`: inverse observed information
for maximum likelihood, inverse expected information for the Jeffreys-penalised fit), with analytic derivatives of
the probabilities: d pi_k / d theta = f(u_k) du_k/dtheta - f(u_{k-1}) du_{k-1}/dtheta, u_k = threshold_k(z) - x'beta.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UpgradingError
from .likelihood import case_thresholds

WHICH = ("prob", "cumprob", "linpred")


# ---------------------------------------------------------------------------------------------------------
# Probabilities and their derivatives with respect to theta
# ---------------------------------------------------------------------------------------------------------


def _bounds(results, X: np.ndarray, Z: np.ndarray | None, thresholds: bool = True):
    """u (n, T) at every threshold, and du/dtheta (n, T, q) in the engine's order (thresholds, nominal, slopes).

    With `thresholds=False`, the part of u that moves with the predictors only (z'gamma_k - x'beta): given the
    derivatives of the rows (dX/dx, dZ/dx), du/dx and its gradient."""
    d, theta, T = results.design, results.theta, results.design.n_levels - 1
    n, m = len(X), 0 if Z is None else Z.shape[1]
    eta = X @ theta[results.model.problem.n_thresholds :]
    cut = case_thresholds(theta[None], d.n_levels, None if Z is None else Z[None])[0]
    if not thresholds:
        cut = cut - theta[:T]
    u = np.broadcast_to(cut - eta[:, None], (n, T))
    du = np.zeros((n, T, len(theta)))
    k = np.arange(T)
    if thresholds:
        du[:, k, k] = 1.0
    for j in range(m):
        du[:, k, T * (1 + j) + k] = Z[:, [j]]
    du[:, :, results.model.problem.n_thresholds :] = -X[:, None, :]
    return u, du


def _pad_diff(values: np.ndarray) -> np.ndarray:
    """Category quantities from threshold ones (n, T, ...): v_k - v_(k-1), with v = 0 beyond both ends."""
    pad = np.zeros((values.shape[0], 1) + values.shape[2:])
    return np.diff(np.concatenate([pad, values, pad], axis=1), axis=1)


def _cumulative(results, X, Z):
    """P(Y <= k) (n, T) and its gradient (n, T, q)."""
    u, du = _bounds(results, X, Z)
    log_F, _, log_f = results.link.logs(u)
    return np.exp(log_F), np.exp(log_f)[..., None] * du


def _categories(results, X, Z):
    """P(Y = k) (n, K) and its gradient (n, K, q), from the cumulative probabilities."""
    F, dF = _cumulative(results, X, Z)
    P = np.diff(np.concatenate([np.zeros((len(F), 1)), F, np.ones((len(F), 1))], axis=1), axis=1)
    return P, _pad_diff(dF)


def _slopes(results, X, Z, dX, dZ):
    """dP(Y = k)/dx (n, K) for rows whose design moves by (dX, dZ) per unit of x, and its gradient (n, K, q):
    d/dx [F(u_k) - F(u_(k-1))] = f(u_k) u_k' - f(u_(k-1)) u_(k-1)', and d/dtheta of that with f' = f * score."""
    u, du = _bounds(results, X, Z)
    v, dv = _bounds(results, dX, dZ, thresholds=False)
    f = np.exp(results.link.logs(u)[2])
    slope = f * v
    gradient = (f * results.link.score(u) * v)[..., None] * du + f[..., None] * dv
    return _pad_diff(slope), _pad_diff(gradient)


def _covariance(results) -> np.ndarray:
    """The fit's covariance in the engine's order; refuses a fit whose numbers would mean nothing."""
    if results.invalid:
        raise UpgradingError(f"no predictions from an invalid fit: {results.invalid}")
    if results.diverging.any():
        raise UpgradingError(
            "no predictions from a separated maximum-likelihood fit (estimates infinite): use penalty='jeffreys'"
        )
    return results.engine_cov


def _standard_errors(G: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sqrt(diag(G cov G')) over the last axis of G (..., q)."""
    return np.sqrt(np.maximum(np.einsum("...q,qs,...s->...", G, cov, G), 0.0))


# ---------------------------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Prediction:
    """Predictions (one row per row of the new data) with delta-method standard errors: `predicted`, `se`
    (DataFrames of one shape: a column per outcome level for "prob" and "cumprob", one for "linpred")."""

    predicted: pd.DataFrame
    se: pd.DataFrame
    which: str

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Delta-method 1 - alpha intervals, columns (bound, level): for probabilities on the log-odds scale of
        each probability (so they stay within 0 and 1), for the linear predictor on its own scale."""
        z = stats.norm.ppf(1 - alpha / 2)
        p, se = self.predicted.to_numpy(), self.se.to_numpy()
        if self.which == "linpred":
            low, high = p - z * se, p + z * se
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                centre, width = np.log(p / (1 - p)), z * se / (p * (1 - p))
                low, high = 1 / (1 + np.exp(-(centre - width))), 1 / (1 + np.exp(-(centre + width)))
            exact = se == 0  # a probability that is 0 or 1 by construction (the last cumulative one)
            low, high = np.where(exact, p, low), np.where(exact, p, high)
        return pd.concat(
            {"lower": pd.DataFrame(low, index=self.predicted.index, columns=self.predicted.columns),
             "upper": pd.DataFrame(high, index=self.predicted.index, columns=self.predicted.columns)},
            axis=1,
        )  # fmt: skip

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per row of the new data and outcome level: row, level, predicted, se, ci_low, ci_high."""
        ci = self.conf_int(alpha)
        frame = pd.DataFrame(
            {
                "row": np.repeat(self.predicted.index, self.predicted.shape[1]),
                "level": np.tile(self.predicted.columns, len(self.predicted)),
                "predicted": self.predicted.to_numpy().ravel(),
                "se": self.se.to_numpy().ravel(),
                "ci_low": ci["lower"].to_numpy().ravel(),
                "ci_high": ci["upper"].to_numpy().ravel(),
            }
        )
        return frame


def prediction(results, exog: pd.DataFrame | None = None, which: str = "prob") -> Prediction:
    """Predictions at the rows of `exog` (default: the estimation data), as `predict.clm(se.fit = TRUE)`."""
    if which not in WHICH:
        raise UpgradingError(f"which must be one of {', '.join(WHICH)}, not {which!r}")
    cov = _covariance(results)
    d = results.design
    X, Z = (d.X, d.Z) if exog is None else d.exog(_checked(results, exog))
    index = pd.RangeIndex(len(X)) if exog is None else exog.index
    if which == "linpred":
        values = X @ results.theta[results.model.problem.n_thresholds :]
        G = np.zeros((len(X), len(results.theta)))
        G[:, results.model.problem.n_thresholds :] = X
        columns = ["linpred"]
        values, G = values[:, None], G[:, None, :]
    elif which == "cumprob":
        values, G = _cumulative(results, X, Z)
        columns = d.levels[:-1]
    else:
        values, G = _categories(results, X, Z)
        columns = d.levels
    se = _standard_errors(G, cov)
    return Prediction(
        pd.DataFrame(values, index=index, columns=columns), pd.DataFrame(se, index=index, columns=columns), which
    )


def _checked(results, exog: pd.DataFrame) -> pd.DataFrame:
    """`exog` if it holds every predictor of the model, with no factor level the fit has not seen."""
    data = results.model.data
    needed = [c for c in results.model.predictors if c not in exog.columns]
    if needed:
        raise UpgradingError(f"the new rows lack the model's predictor(s) {needed}")
    for column in results.model.predictors:
        if data is not None and isinstance(data[column].dtype, pd.CategoricalDtype):
            unseen = sorted(
                set(map(str, pd.Series(exog[column]).dropna())) - set(map(str, data[column].cat.categories))
            )
            if unseen:
                raise UpgradingError(f"the new rows have level(s) {unseen} of {column!r} that the fit has not seen")
    return exog


# ---------------------------------------------------------------------------------------------------------
# Average marginal effects
# ---------------------------------------------------------------------------------------------------------

#: Step of the central difference that turns a term of x (x itself, or x**2, log x ...) into its derivative: exact
#: for a term linear in x, within about h^2 otherwise.
DERIVATIVE_STEP = 1e-4
DISCRETE = "discrete change from the reference level"
BINARY = "discrete change 0 -> 1"
DERIVATIVE = "average derivative dP/dx at the observed values"


@dataclass
class MarginalEffects:
    """Average marginal effects on P(Y = level): one row per predictor column x contrast x outcome level in `frame`
    (term, contrast, level, estimate, std_error), `kinds` (term -> what the effect is) and `jacobian` (one row per
    row of `frame`: d estimate / d theta, for sums such as `at_least`)."""

    frame: pd.DataFrame
    kinds: dict
    jacobian: np.ndarray
    cov: np.ndarray

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """term, contrast, level, estimate, std_error, conf_low, conf_high (Wald intervals on the probability
        scale, as Stata's `margins` and R's `marginaleffects`)."""
        z = stats.norm.ppf(1 - alpha / 2)
        frame = self.frame.copy()
        frame["conf_low"] = frame["estimate"] - z * frame["std_error"]
        frame["conf_high"] = frame["estimate"] + z * frame["std_error"]
        return frame

    def at_least(self, level, alpha: float = 0.05) -> pd.DataFrame:
        """The effects on P(Y >= level) (the sum over the outcome levels from `level` up; for numeric levels, any
        number: the observed levels at or above it), in `summary_frame`'s shape with level '>=level'; standard
        errors by the delta method on the summed jacobian."""
        levels = list(dict.fromkeys(self.frame["level"]))
        if level in levels:
            chosen = levels[levels.index(level) :]
        else:
            try:
                chosen = [v for v in levels if v >= level]
            except TypeError:
                chosen = []
            if not chosen:
                raise UpgradingError(f"{level!r} is not an outcome level and no level is above it; levels: {levels}")
        upper = self.frame["level"].isin(chosen).to_numpy()
        keys = self.frame[["term", "contrast"]].apply(tuple, axis=1)
        rows = []
        for key in dict.fromkeys(keys):
            mask = (keys == key).to_numpy() & upper
            gradient = self.jacobian[mask].sum(axis=0)
            rows.append(
                {
                    "term": key[0],
                    "contrast": key[1],
                    "level": f">={level}",
                    "estimate": float(self.frame.loc[mask, "estimate"].sum()),
                    "std_error": float(_standard_errors(gradient, self.cov)),
                }
            )
        return MarginalEffects(pd.DataFrame(rows), self.kinds, np.empty((0, len(self.cov))), self.cov).summary_frame(
            alpha
        )


def _factor_levels(results, column: str) -> list | None:
    """The levels of `column` if the model treats it as a factor (patsy's categories; the first is the
    reference of the treatment contrasts), else None."""
    info = results.design.design_info
    for factor, factor_info in info.factor_infos.items():
        if factor_info.type == "categorical" and re.search(rf"(?<![\w.]){re.escape(column)}(?![\w.])", factor.name()):
            return list(factor_info.categories)
    return None


def _set(data: pd.DataFrame, column: str, value) -> pd.DataFrame:
    """`data` with every row's `column` set to `value` (keeping a categorical column's categories)."""
    out = data.copy()
    out[column] = pd.Series([value] * len(out), index=out.index, dtype=object).astype(data[column].dtype)
    return out


def _average(weights: np.ndarray, values: np.ndarray, gradient: np.ndarray):
    w = weights / weights.sum()
    return w @ values, np.einsum("n,nkq->kq", w, gradient)


def _discrete(results, data, column, low, high, weights):
    p_high, g_high = _categories(results, *results.design.exog(_set(data, column, high)))
    p_low, g_low = _categories(results, *results.design.exog(_set(data, column, low)))
    return _average(weights, p_high - p_low, g_high - g_low)


def _derivative(results, data, column, weights):
    d, h = results.design, DERIVATIVE_STEP
    (X, Z), up, down = d.exog(data), data.copy(), data.copy()
    up[column], down[column] = data[column] + h, data[column] - h
    (X_up, Z_up), (X_down, Z_down) = d.exog(up), d.exog(down)
    dX = (X_up - X_down) / (2 * h)
    dZ = None if Z is None else (Z_up - Z_down) / (2 * h)
    return _average(weights, *_slopes(results, X, Z, dX, dZ))


def _effects_of(results, data, column, weights):
    """[(contrast, kind, estimate (K,), jacobian (K, q))] of one predictor column."""
    levels = _factor_levels(results, column)
    if levels is not None:
        return [
            (str(level), DISCRETE, *_discrete(results, data, column, levels[0], level, weights)) for level in levels[1:]
        ]
    values = pd.to_numeric(data[column])
    if set(values.unique()) <= {0, 1}:
        return [("1", BINARY, *_discrete(results, data, column, 0, 1, weights))]
    return [("", DERIVATIVE, *_derivative(results, data, column, weights))]


def marginal_effects(results, exog: pd.DataFrame | None = None) -> MarginalEffects:
    """Average marginal effects on the probability of each outcome level, over the estimation rows (weighted by
    the frequency weights) or over the rows of `exog` (equally weighted; e.g. one group's cases): a factor -> the
    average change from its reference level to each other level; a 0/1
    numeric -> from 0 to 1; any other numeric -> the average derivative at the observed values. Standard errors
    by the delta method on `cov_params()`, with analytic derivatives (the penalised fits' covariance for them)."""
    cov = _covariance(results)
    model = results.model
    if model.data is None:
        raise UpgradingError("marginal effects need the data: make the model with from_formula")
    data = model.data[model.predictors] if exog is None else _checked(results, exog)[model.predictors]
    weights = results.design.weights if exog is None else np.ones(len(data))
    if not len(data) or weights.sum() <= 0:
        raise UpgradingError("marginal effects need at least one row to average over")
    rows, jacobians, kinds = [], [], {}
    for column in model.predictors:
        for contrast, kind, estimate, jacobian in _effects_of(results, data, column, weights):
            kinds[column] = kind
            se = _standard_errors(jacobian, cov)
            for level, value, error in zip(results.design.levels, estimate, se):
                rows.append(
                    {"term": column, "contrast": contrast, "level": level, "estimate": value, "std_error": error}
                )
            jacobians.append(jacobian)
    columns = ["term", "contrast", "level", "estimate", "std_error"]
    jacobian = np.vstack(jacobians) if jacobians else np.empty((0, len(results.theta)))
    return MarginalEffects(pd.DataFrame(rows, columns=columns), kinds, jacobian, cov)


# ---------------------------------------------------------------------------------------------------------
# The nominal test of proportional odds
# ---------------------------------------------------------------------------------------------------------

NOMINAL_COLUMNS = ["term", "df", "llf", "lr_stat", "p_value", "note"]


def _maximum_likelihood(results):
    """The model's maximum-likelihood fit (the test is a likelihood-ratio test) and why there is none ('')."""
    fit = results if results.penalty is None and results.prior is None else results.model.fit(warn=False)
    if not fit.converged:
        return fit, "the model's maximum-likelihood fit did not converge"
    if fit.invalid:
        return fit, f"the model's fit is invalid: {fit.invalid}"
    return fit, ""


#: Threshold gap (latent scale) under which a stalled nominal fit is said to sit at the boundary of ordered thresholds.
BOUNDARY_GAP = 1e-6


def _at_boundary(fit) -> bool:
    """Whether some observed row's thresholds (nearly) meet at the fit: the likelihood's supremum is on the edge of
    the ordered-threshold region, where the solver stalls."""
    d = fit.design
    rows = d.Z[d.weights > 0]
    thresholds = case_thresholds(fit.theta[None], d.n_levels, rows[None])[0]
    return bool(np.diff(thresholds, axis=1).min() < BOUNDARY_GAP)


def _nested_start(base, nominal_model) -> np.ndarray:
    """The nominal model's parameters at the proportional-odds fit: the same thresholds and slopes, and each nominal
    column's threshold-specific effects all equal to minus its slope (u = threshold + z'gamma - x'beta); the
    start is feasible and the likelihood there is the base fit's, so the refit can only climb."""
    design, T = nominal_model.design, nominal_model.design.n_levels - 1
    slopes = dict(zip(base.design.names, base.theta[base.model.problem.n_thresholds :]))
    gammas = [np.full(T, -slopes[name]) for name in design.nominal_names]
    return np.concatenate([base.theta[:T], *gammas, [slopes[name] for name in design.names]])


def nominal_refit(base, terms: list[str]):
    """The ML fit with `terms` nominal, started at the proportional-odds fit `base`, or the reason there is none."""
    model = base.model
    try:
        nominal_model = type(model).from_formula(
            model.formula, model.data, model.freq_weights, model.aliased_rule, model.link.name, "~ " + " + ".join(terms)
        )
    except UpgradingError as error:
        return None, f"the nominal fit cannot be made: {error}"
    start = _nested_start(base, nominal_model) if set(base.design.names) >= set(nominal_model.design.names) else None
    fit = nominal_model.fit(start=start, warn=False, restart=start is None)
    if start is not None and not fit.converged and not _at_boundary(fit):
        fit = nominal_model.fit(warn=False, restart=True)  # the warm start stalled (separated data): the default one
    if not fit.converged and _at_boundary(fit):
        return None, (
            "nominal fit at a boundary: two thresholds meet for some observed rows (a level none of those cases "
            "reaches), so its maximum likelihood is not an interior point"
        )
    if not fit.converged:
        return None, "nominal fit did not converge"
    if fit.invalid:
        return None, f"nominal fit invalid: {fit.invalid}"
    return fit, ""


#: Why a nominal test has no p-value although its fit exists: every threshold-specific effect it adds is aliased
#: (a level no case of the term reaches, say), so the two fits have the same parameters and there is nothing to test.
NO_PARAMETER_ADDED = "the nominal fit adds no parameter that can be estimated (df 0): nothing to test"


def _separated_note(base, fit) -> str:
    """Said where a log-likelihood is a supremum approached as estimates diverge (the statistic still exists, as
    in R, but its chi-squared reference is less trustworthy)."""
    which = [name for name, f in (("model", base), ("nominal fit", fit)) if f.separation.separated]
    if not which:
        return ""
    return f"{' and '.join(which)} separated (some estimates infinite): log-likelihood at its supremum"


def _formula_terms(results) -> list[str]:
    """The formula's terms in the order written (patsy's design puts factors first)."""
    import patsy

    written = patsy.ModelDesc.from_formula(results.design.formula.split("~", 1)[1]).rhs_termlist
    order = {term.name(): k for k, term in enumerate(written)}
    names = [t for t in results.design.design_info.term_names if t != "Intercept"]
    return sorted(names, key=lambda name: order.get(name, len(order)))


def nominal_test(results, terms: list[str] | None = None) -> pd.DataFrame:
    """For each term of the formula (not already nominal; or each of `terms`), the likelihood-ratio test of its
    proportional-odds assumption: the maximum-likelihood fit with the term nominal (one coefficient per threshold)
    against the model's, as `ordinal::nominal_test`. Columns term, df, llf (the nominal fit's), lr_stat, p_value
    (chi-squared on df), note (why there are no numbers)."""
    model = results.model
    if model.data is None:
        raise UpgradingError("the nominal test refits the model: make it with from_formula")
    base, reason = _maximum_likelihood(results)
    existing = [] if model.nominal is None else [t.strip() for t in model.nominal.strip().lstrip("~").split("+")]
    available = [t for t in _formula_terms(results) if t not in existing]
    if terms is None:
        terms = available
    elif unknown := [t for t in terms if t not in available]:
        raise UpgradingError(f"term(s) {unknown} are not proportional-odds terms of the model; its terms: {available}")
    rows = []
    for term in terms:
        row = {"term": term, "df": np.nan, "llf": np.nan, "lr_stat": np.nan, "p_value": np.nan, "note": reason}
        fit, note = (None, reason) if reason else nominal_refit(base, existing + [term])
        if fit is not None:
            df = fit.k_params - base.k_params
            statistic = 2 * (fit.llf - base.llf)
            row.update(df=df, llf=fit.llf, lr_stat=statistic, p_value=float(stats.chi2.sf(max(statistic, 0.0), df)))
            note = NO_PARAMETER_ADDED if df == 0 else _separated_note(base, fit)  # nothing to test: no other reason
        row["note"] = note
        rows.append(row)
    frame = pd.DataFrame(rows, columns=NOMINAL_COLUMNS)
    frame["df"] = frame["df"].astype("Int64")
    return frame
