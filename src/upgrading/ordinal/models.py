"""Ordered-logit (proportional-odds) models of upgrading, exact enough to match R and honest at n = 50.

Convention (R's `MASS::polr` and `ordinal::clm`): logit P(Y <= j | x) = threshold_j - x'beta, so a positive
slope moves cases to higher categories. Fitting is Newton's method with the analytic score and Hessian
(statsmodels' `OrderedModel` has neither weights nor analytic derivatives), with frequency weights.

With ~50 cases, separation is likely: maximum likelihood then has no finite answer, yet an optimiser stops
at a large slope with a small standard error and calls it converged. Here separation is decided from the data,
by a linear program (no reliance on convergence flags), reported on the result, warned about, and shown in
`summary()`. `penalty="firth"` gives Firth/Jeffreys-prior bias-reduced estimates (Kosmidis 2014), which stay
finite under separation, with profile penalised-likelihood intervals.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ..errors import UpgradingError

GRADIENT_TOL = 1e-9
MAX_ITER = 200


class SeparationWarning(UserWarning):
    """Maximum likelihood does not exist for these data: some estimates are infinite."""


class ModelWarning(UserWarning):
    """A model ran, but something about the data deserves the reader's attention."""


# ---------------------------------------------------------------------------------------------------------
# Design: formula -> outcome codes and predictor matrix
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Design:
    """What a fit needs: outcome codes 0..K-1, predictor matrix (no intercept), weights, names."""

    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    levels: list
    names: list[str]
    outcome: str
    formula: str = ""
    design_info: object = None

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def indicators(self) -> tuple[np.ndarray, np.ndarray]:
        """Case x threshold indicators of each case's upper and lower threshold (cached)."""
        cached = getattr(self, "_indicators", None)
        if cached is None:
            K, n = self.n_levels, len(self.y)
            U, L = np.zeros((n, K - 1)), np.zeros((n, K - 1))
            rows = np.arange(n)
            up, low = self.y < K - 1, self.y > 0
            U[rows[up], self.y[up]] = 1.0
            L[rows[low], self.y[low] - 1] = 1.0
            cached = self._indicators = (U, L)
        return cached


@lru_cache(maxsize=256)
def _design_info(rhs: str, signature: tuple):
    # Cached per formula and per the dtypes/categories of the columns it uses; patsy's build is the slow part.
    import patsy

    frame = pd.DataFrame({name: pd.Series(sample, dtype=dtype) for name, dtype, sample in signature})
    return patsy.dmatrix(rhs, frame, NA_action="raise").design_info


def _signature(rhs: str, data: pd.DataFrame) -> tuple:
    used = [c for c in data.columns if re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", rhs)]
    items = []
    for c in used:
        col = data[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            items.append((c, col.dtype, tuple(col.dtype.categories[:1])))
        else:
            items.append((c, col.dtype, tuple(col.iloc[:1])))
    return tuple(items)


def _outcome_codes(values: pd.Series, name: str) -> tuple[np.ndarray, list]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.dtype.ordered:
            raise UpgradingError(
                f"outcome {name!r} is an unordered categorical; an ordered logit needs an order: use integer "
                "scores or pd.Categorical(..., ordered=True)")
        declared = list(values.dtype.categories)
        observed = [c for c in declared if (values == c).any()]
        empty = [c for c in declared if c not in observed]
        if empty:
            warnings.warn(f"outcome {name!r}: level(s) {empty} have no cases and are left out of the model "
                          f"(thresholds are estimated between observed levels {observed})", ModelWarning,
                          stacklevel=4)
        codes = values.cat.codes.to_numpy()
        remap = {declared.index(c): k for k, c in enumerate(observed)}
        return np.array([remap[c] for c in codes]), observed
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        observed = sorted(values.unique().tolist())
    elif pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
        observed = sorted(values.unique().tolist())
    else:
        raise UpgradingError(
            f"outcome {name!r} is not ordered (dtype {values.dtype}); an ordered logit needs integer scores "
            "or an ordered categorical")
    return np.searchsorted(np.asarray(observed), values.to_numpy()).astype(int), observed


def build_design(formula: str, data: pd.DataFrame, freq_weights=None) -> Design:
    """Parse `outcome ~ predictors` (patsy syntax, treatment contrasts) into a Design, refusing bad data."""
    if "~" not in formula:
        raise UpgradingError(f"formula {formula!r} needs the form 'outcome ~ predictors'")
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    if lhs not in data.columns:
        raise UpgradingError(f"outcome {lhs!r} is not a column of the data; columns: {', '.join(map(str, data.columns))}")
    if re.search(r"(^|[+\s])(0|-\s*1)(\s|\+|$)", rhs):
        raise UpgradingError("remove '0 +' / '- 1' from the formula: the thresholds play the intercept's part")
    used = [c for c in data.columns if c == lhs or re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", rhs)]
    missing = {c: int(data[c].isna().sum()) for c in used if data[c].isna().any()}
    if missing:
        raise UpgradingError("missing values in " + ", ".join(f"{c!r} ({k} rows)" for c, k in missing.items())
                             + "; drop or impute them before fitting")
    import patsy

    try:
        info = _design_info(rhs, _signature(rhs, data))
        matrix = np.asarray(patsy.build_design_matrices([info], data, NA_action="raise")[0])
    except (patsy.PatsyError, TypeError):
        info = patsy.dmatrix(rhs, data, NA_action="raise").design_info
        matrix = np.asarray(patsy.build_design_matrices([info], data, NA_action="raise")[0])
    names = list(info.column_names)
    if "Intercept" not in names:
        raise UpgradingError("the formula must keep the intercept (it is absorbed by the thresholds)")
    keep = [k for k, n in enumerate(names) if n != "Intercept"]
    X = matrix[:, keep].astype(float)
    names = [names[k] for k in keep]
    y, levels = _outcome_codes(data[lhs], lhs)
    if len(levels) < 2:
        raise UpgradingError(f"outcome {lhs!r} has a single observed level ({levels[0]!r}); "
                             "nothing to model")
    weights = np.ones(len(y)) if freq_weights is None else np.asarray(freq_weights, dtype=float)
    if weights.shape != y.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise UpgradingError("freq_weights must be one finite, non-negative number per row")
    _check_predictors(X, names, weights)
    return Design(y, X, weights, levels, names, lhs, formula, info)


def _check_predictors(X: np.ndarray, names: list[str], weights: np.ndarray) -> None:
    used = weights > 0
    problems = []
    for k, name in enumerate(names):
        col = X[used, k]
        if np.all(col == col[0]):
            level = re.search(r"\[(?:T\.)?([^\]]+)\]$", name)
            if level and np.all(col == 0):
                problems.append(f"{name}: factor level {level.group(1)!r} has no cases")
            else:
                problems.append(f"{name}: no variance (every case has {col[0]:g})")
    if problems:
        raise UpgradingError("predictors that cannot be estimated: " + "; ".join(problems))
    full = np.column_stack([np.ones(used.sum()), X[used]])
    rank = np.linalg.matrix_rank(full)
    if rank < full.shape[1]:
        _, _, vt = np.linalg.svd(full)
        null = vt[-1]
        involved = [names[k - 1] for k in np.flatnonzero(np.abs(null) > 1e-8) if k > 0]
        raise UpgradingError("predictors are collinear (with each other or the thresholds): "
                             + ", ".join(involved))


# ---------------------------------------------------------------------------------------------------------
# Likelihood, analytic score and Hessian
# ---------------------------------------------------------------------------------------------------------


def _logistic_parts(u: np.ndarray):
    """F, f = F', f' of the logistic distribution, with F(-inf)=0, F(inf)=1 and zero densities at +-inf."""
    F = special.expit(u)
    f = np.where(np.isfinite(u), F * (1 - F), 0.0)
    fp = np.where(np.isfinite(u), f * (1 - 2 * F), 0.0)
    return F, f, fp


def _cell_probability(u1: np.ndarray, u0: np.ndarray) -> np.ndarray:
    # F(u1) - F(u0) without cancellation in the upper tail.
    upper_tail = u0 > 0
    return np.where(upper_tail, special.expit(-u0) - special.expit(-u1), special.expit(u1) - special.expit(u0))


def _split(theta: np.ndarray, n_thr: int):
    return theta[:n_thr], theta[n_thr:]


def _case_bounds(theta: np.ndarray, d: Design):
    """Each case's upper and lower bound on the latent scale (threshold - x'beta) and its cell probability."""
    alpha, beta = _split(theta, d.n_levels - 1)
    eta = d.X @ beta
    ext = np.concatenate([[-np.inf], alpha, [np.inf]])
    u1, u0 = ext[d.y + 1] - eta, ext[d.y] - eta
    return alpha, u1, u0, _cell_probability(u1, u0)


def loglik_parts(theta: np.ndarray, d: Design, hessian: bool = True):
    """Log-likelihood, score and (optionally) Hessian at theta = (thresholds, slopes)."""
    K = d.n_levels
    alpha, u1, u0, p = _case_bounds(theta, d)
    if np.any(p <= 0) or np.any(np.diff(alpha) <= 0):
        return -np.inf, None, None
    w = d.weights
    ll = float(np.sum(w * np.log(p)))
    _, g1, h1 = _logistic_parts(u1)
    _, g0, h0 = _logistic_parts(u0)
    l1, l0 = g1 / p, -g0 / p
    U, L = d.indicators  # each case's upper and lower threshold
    grad = np.concatenate([U.T @ (w * l1) + L.T @ (w * l0), -d.X.T @ (w * (l1 + l0))])
    if not hessian:
        return ll, grad, None
    c11 = h1 / p - (g1 / p) ** 2
    c00 = -h0 / p - (g0 / p) ** 2
    c10 = g1 * g0 / p**2
    H_aa = (U.T * (w * c11)) @ U + (L.T * (w * c00)) @ L + (U.T * (w * c10)) @ L + (L.T * (w * c10)) @ U
    H_ab = -((U.T * (w * (c11 + c10))) @ d.X + (L.T * (w * (c10 + c00))) @ d.X)
    H_bb = (d.X.T * (w * (c11 + 2 * c10 + c00))) @ d.X
    H = np.block([[H_aa, H_ab], [H_ab.T, H_bb]])
    return ll, grad, H


def expected_information(theta: np.ndarray, d: Design, with_penalty_gradient: bool = False):
    """Expected (Fisher) information, and the gradient of 0.5 log det of it (Firth's penalty), analytically."""
    K, n = d.n_levels, len(d.y)
    alpha, beta = _split(theta, K - 1)
    eta = d.X @ beta
    u = alpha[None, :] - eta[:, None]  # n x (K-1)
    F, f, fp = _logistic_parts(u)
    zeros, ones = np.zeros((n, 1)), np.ones((n, 1))
    F_ext, f_ext, fp_ext = (np.hstack([zeros, F, ones]), np.hstack([zeros, f, zeros]),
                            np.hstack([zeros, fp, zeros]))
    q = K - 1 + d.X.shape[1]
    E = np.zeros((n, K + 1, q))  # E[i, j] = d u_j / d theta, zero at the two infinite ends
    for j in range(K - 1):
        E[:, j + 1, j] = 1.0
        E[:, j + 1, K - 1:] = -d.X
    pi = F_ext[:, 1:] - F_ext[:, :-1]  # n x K category probabilities
    pi = np.where(pi > 0, pi, np.finfo(float).tiny)
    D = f_ext[:, 1:, None] * E[:, 1:] - f_ext[:, :-1, None] * E[:, :-1]  # d pi_ij / d theta
    wt = (d.weights[:, None] / pi).reshape(-1)
    flat = D.reshape(-1, q)
    info = (flat.T * wt) @ flat
    if not with_penalty_gradient:
        return info, None
    try:
        inv = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return info, np.full(q, np.nan)
    v = D @ inv  # inv is symmetric
    quad = np.sum(D * v, axis=-1)
    up = np.sum(E[:, 1:] * v, axis=-1)
    low = np.sum(E[:, :-1] * v, axis=-1)
    Hv = fp_ext[:, 1:, None] * E[:, 1:] * up[..., None] - fp_ext[:, :-1, None] * E[:, :-1] * low[..., None]
    w = d.weights[:, None]
    with np.errstate(all="ignore"):
        grad = ((w / pi).reshape(-1) @ Hv.reshape(-1, q)
                - 0.5 * (w * quad / pi**2).reshape(-1) @ flat)
    return info, grad


def penalised_loglik(theta: np.ndarray, d: Design) -> float:
    ll, _, _ = loglik_parts(theta, d, hessian=False)
    if not np.isfinite(ll):
        return -np.inf
    info, _ = expected_information(theta, d)
    sign, logdet = np.linalg.slogdet(info)
    return ll + 0.5 * logdet if sign > 0 else -np.inf


def _start(d: Design) -> np.ndarray:
    shares = np.bincount(d.y, weights=d.weights, minlength=d.n_levels).cumsum() / d.weights.sum()
    alpha = special.logit(np.clip(shares[:-1], 1e-4, 1 - 1e-4))
    return np.concatenate([alpha, np.zeros(d.X.shape[1])])


@dataclass
class _Fit:
    theta: np.ndarray
    loglik: float
    objective: float
    gradient: np.ndarray
    hessian: np.ndarray
    iterations: int
    converged: bool


def _newton(d: Design, penalty: str | None, start: np.ndarray | None = None, fixed: dict | None = None,
            tol: float = GRADIENT_TOL, polish: bool = True) -> _Fit:
    """Maximise the (penalised) log-likelihood; `fixed` holds {index: value} for profile fits."""
    theta = (_start(d) if start is None else start).astype(float).copy()
    fixed = fixed or {}
    for k, value in fixed.items():
        theta[k] = value
    free = np.array([k for k in range(len(theta)) if k not in fixed])

    def evaluate(t):
        ll, grad, H = loglik_parts(t, d, hessian=penalty is None)
        if not np.isfinite(ll):
            return -np.inf, ll, None, None
        if penalty is None:
            return ll, ll, grad, H
        info, pgrad = expected_information(t, d, with_penalty_gradient=True)
        sign, logdet = np.linalg.slogdet(info)
        if sign <= 0 or not np.all(np.isfinite(pgrad)):
            return -np.inf, ll, None, None
        return ll + 0.5 * logdet, ll, grad + pgrad, -info  # Fisher scoring with the modified score

    def modified_score_jacobian(t, g):
        # Near the optimum, Fisher scoring on the modified score converges only linearly where the penalty's
        # curvature matters (nearly separated directions); Newton on a forward-difference Jacobian of the
        # analytic modified score converges quadratically.
        J = np.empty((len(free), len(free)))
        for col, k in enumerate(free):
            h = 1e-6 * max(1.0, abs(t[k]))
            shifted = t.copy()
            shifted[k] += h
            _, _, g_h, _ = evaluate(shifted)
            if g_h is None:
                return None
            J[:, col] = (g_h[free] - g) / h
        return (J + J.T) / 2

    obj, ll, grad, H = evaluate(theta)
    if grad is None:  # an infeasible start (e.g. a profile point far out): no fit, objective -inf
        return _Fit(theta, -np.inf, -np.inf, np.full(len(theta), np.nan),
                    np.full((len(theta), len(theta)), np.nan), 0, False)
    converged = False
    iterations = 0
    for iterations in range(1, MAX_ITER + 1):
        g, Hf = grad[free], H[np.ix_(free, free)]
        if np.max(np.abs(g)) < tol:
            converged = True
            break
        if penalty is not None and polish and np.max(np.abs(g)) < 1e-3:
            J = modified_score_jacobian(theta, g)
            if J is not None and np.all(np.linalg.eigvalsh(J) < 0):
                Hf = J
        try:
            step = np.linalg.solve(Hf, -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(Hf, -g, rcond=None)[0]
        scale = 1.0
        while True:
            trial = theta.copy()
            trial[free] += scale * step
            t_obj, t_ll, t_grad, t_H = evaluate(trial)
            if np.isfinite(t_obj) and t_obj >= obj - 1e-12 * max(1.0, abs(obj)):
                break
            scale /= 2
            if scale < 1e-10:
                t_obj = None
                break
        if t_obj is None:
            converged = np.max(np.abs(g)) < 1e-6
            break
        theta, obj, ll, grad, H = trial, t_obj, t_ll, t_grad, t_H
    if penalty is not None:  # report the observed Hessian of the log-likelihood too
        _, _, H_obs = loglik_parts(theta, d)
    else:
        H_obs = H
    return _Fit(theta, ll, obj, grad, H_obs if penalty is None else -expected_information(theta, d)[0],
                iterations, converged)


# ---------------------------------------------------------------------------------------------------------
# Separation: a linear program on the data (Konis 2007, extended to cumulative links)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Separation:
    """Which estimates are infinite under maximum likelihood, and in which direction."""

    separated: bool
    direction: dict[str, float] = field(default_factory=dict)

    @property
    def terms(self) -> list[str]:
        return [name for name, value in self.direction.items() if value != 0]

    def __str__(self) -> str:
        if not self.separated:
            return "none"
        return "; ".join(f"{name} -> {'+' if v > 0 else '-'}inf" for name, v in self.direction.items() if v)


def _constraint_rows(d: Design, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the recession-direction constraints, one per case and finite threshold of its category."""
    K, p = d.n_levels, d.X.shape[1]
    keep = d.weights > 0
    y, Xs = d.y[keep], d.X[keep] / scale
    upper, lower = y < K - 1, y > 0
    up_rows = np.zeros((upper.sum(), K - 1 + p))
    up_rows[np.arange(upper.sum()), y[upper]] = 1.0
    up_rows[:, K - 1:] = -Xs[upper]
    low_rows = np.zeros((lower.sum(), K - 1 + p))
    low_rows[np.arange(lower.sum()), y[lower] - 1] = -1.0
    low_rows[:, K - 1:] = Xs[lower]
    return np.vstack([up_rows, low_rows]), keep & (d.y < K - 1), keep & (d.y > 0)


def certify_no_separation(d: Design, theta: np.ndarray) -> bool:
    """Prove from the data that no separating direction exists, using a fit near the optimum.

    By Stiemke's theorem, either some direction delta has A delta >= 0 with A delta != 0 (separation), or some
    strictly positive multipliers lambda have A'lambda = 0, never both. The ML score is A'lambda~ with
    lambda~ > 0 (each case's density-over-probability terms), so projecting lambda~ onto {A'lambda = 0} and
    finding it still strictly positive is a certificate that the MLE exists. If the projection is not
    positive (separated data, or a fit far from the optimum) this returns False and the LP decides.
    """
    _, u1, u0, p = _case_bounds(theta, d)
    if np.any(p <= 0):
        return False
    _, g1, _ = _logistic_parts(u1)
    _, g0, _ = _logistic_parts(u0)
    A, upper, lower = _constraint_rows(d, np.ones(d.X.shape[1]))
    lam = np.concatenate([(d.weights * g1 / p)[upper], (d.weights * g0 / p)[lower]])
    if lam.min() <= 0:
        return False
    correction = np.linalg.lstsq(A.T, -(A.T @ lam), rcond=None)[0]
    if not np.allclose(A.T @ (lam + correction), 0, atol=1e-10 * max(1.0, lam.max())):
        return False
    return bool(np.min(lam + correction) > 1e-8 * lam.max())


def detect_separation(d: Design, tol: float = 1e-7, theta: np.ndarray | None = None) -> Separation:
    """Is there a direction in which the log-likelihood never decreases for any case (a recession direction)?

    For case i in category k, moving theta by t*delta never lowers its probability iff
    delta_alpha_k - x_i'delta_beta >= 0 (k < K-1) and delta_alpha_{k-1} - x_i'delta_beta <= 0 (k > 0).
    The LP maximises the total slack of these constraints within a box; a positive optimum means
    (quasi-)complete separation, and the optimal direction names the parameters that run off to infinity.
    With `theta` (a fit), a cheap certificate of non-separation is tried first (`certify_no_separation`).
    """
    K, (n, p) = d.n_levels, d.X.shape
    if theta is not None and certify_no_separation(d, theta):
        return Separation(False)
    scale = np.maximum(np.abs(d.X[d.weights > 0]).max(axis=0), 1.0)
    rows, _, _ = _constraint_rows(d, scale)
    A = np.unique(rows, axis=0)
    order = np.zeros((max(K - 2, 0), K - 1 + p))
    for j in range(K - 2):
        order[j, j], order[j, j + 1] = -1.0, 1.0
    A_ub = -np.vstack([A, order]) if len(order) else -A
    res = optimize.linprog(-A.sum(axis=0), A_ub=A_ub, b_ub=np.zeros(len(A_ub)),
                           bounds=[(-1, 1)] * (K - 1 + p), method="highs")
    if res.status != 0 or -res.fun <= tol * len(A):
        return Separation(False)
    delta = res.x.copy()
    delta[K - 1:] /= scale
    names = [f"threshold {d.levels[j]}|{d.levels[j + 1]}" for j in range(K - 1)] + d.names
    cut = tol * max(1.0, np.max(np.abs(delta)))
    direction = {name: float(np.sign(v)) if abs(v) > cut else 0.0 for name, v in zip(names, delta)}
    return Separation(True, direction)


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------


class OrderedLogitResults:
    """Results in the spirit of statsmodels: params, thresholds, bse, conf_int(), summary(), predict(), tidy()."""

    def __init__(self, design: Design, fit: _Fit, penalty: str | None, separation: Separation):
        self.design = design
        self.penalty = penalty
        self.separation = separation
        self.converged = fit.converged
        self.n_iter = fit.iterations
        self._fit = fit
        self._theta = fit.theta
        K = design.n_levels
        self.threshold_names = [f"{design.levels[j]}|{design.levels[j + 1]}" for j in range(K - 1)]
        names = self.threshold_names + design.names
        info = -fit.hessian
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            cov = np.full_like(info, np.nan)
        eig = np.linalg.eigvalsh(info)
        self.hessian_condition = float(eig.max() / eig.min()) if eig.min() > 0 else np.inf
        theta = fit.theta.copy()
        diverging = np.zeros(len(names), bool)
        if separation.separated and penalty is None:
            for k, name in enumerate(names):
                direction = separation.direction.get(name if k >= K - 1 else f"threshold {name}", 0.0)
                if direction:
                    theta[k] = np.inf * direction
                    diverging[k] = True
            cov[diverging, :] = np.nan
            cov[:, diverging] = np.nan
        self._diverging = dict(zip(names, diverging))
        self._names = names
        self._cov_array = cov
        se = np.sqrt(np.diag(cov))
        self.thresholds = pd.Series(theta[:K - 1], index=self.threshold_names)
        self.params = pd.Series(theta[K - 1:], index=design.names)
        self.bse = pd.Series(se[K - 1:], index=design.names)
        self.bse_thresholds = pd.Series(se[:K - 1], index=self.threshold_names)
        self.llf = fit.loglik
        self.penalised_llf = fit.objective if penalty else None
        self.nobs = float(design.weights.sum())
        self.df_model = len(names)
        self.aic = -2 * self.llf + 2 * self.df_model
        self._profile_cache: dict = {}

    # -- inference -------------------------------------------------------------------------------------
    def cov_params(self) -> pd.DataFrame:
        """Covariance of (thresholds, slopes): inverse observed information (ML) or expected (Firth)."""
        return pd.DataFrame(self._cov_array, index=self._names, columns=self._names)

    @property
    def zvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.zvalues)), index=self.params.index)

    def conf_int(self, alpha: float = 0.05, method: str | None = None, terms=None) -> pd.DataFrame:
        """Intervals for the slopes (or only `terms`): 'wald', or 'profile' (profile penalised likelihood;
        the default with Firth)."""
        method = method or ("profile" if self.penalty else "wald")
        terms = list(self.params.index) if terms is None else list(terms)
        if method == "wald":
            z = stats.norm.ppf(1 - alpha / 2)
            est, se = self.params[terms], self.bse[terms]
            return pd.DataFrame({"lower": est - z * se, "upper": est + z * se})
        if method == "profile":
            self._profile_intervals(terms, alpha)
            rows = {name: self._profile_interval(name, alpha) for name in terms}
            return pd.DataFrame(rows, index=["lower", "upper"]).T
        raise ValueError(f"method must be 'wald' or 'profile', not {method!r}")

    def _profile_fit(self, k: int, value: float, start: np.ndarray) -> _Fit:
        start = start.copy()
        start[k] = value
        fit = _newton(self.design, self.penalty, start=start, fixed={k: value}, tol=1e-8)
        if not fit.converged:  # a warm start can land badly; the maximum is unique, so retry from the fit
            start = self._theta.copy()
            start[k] = value
            fit = _newton(self.design, self.penalty, start=start, fixed={k: value}, tol=1e-8)
        return fit

    def _profile_intervals(self, names: list[str], alpha: float) -> None:
        """Profile intervals of several slopes at once (`batched.profile_bounds`: every end in one batch)."""
        from .batched import profile_bounds

        todo = [n for n in names if (n, alpha) not in self._profile_cache and not self._diverging.get(n, False)]
        if not todo:
            return
        K = self.design.n_levels
        se = [self.bse[n] if np.isfinite(self.bse[n]) and self.bse[n] > 0 else 1.0 for n in todo]
        bounds = profile_bounds(self.design, self._theta, self._fit.objective, self.penalty,
                                [K - 1 + self.design.names.index(n) for n in todo], se, alpha)
        for name, (low, high) in zip(todo, bounds):
            self._profile_cache[(name, alpha)] = (float(low), float(high))

    def _profile_interval(self, name: str, alpha: float) -> tuple[float, float]:
        """Where the profile (penalised) log-likelihood drops by chi2_1(1-alpha)/2 on each side (NaN for a
        diverging ML term)."""
        if self._diverging.get(name, False):
            return (np.nan, np.nan)
        self._profile_intervals([name], alpha)
        return self._profile_cache[(name, alpha)]

    # -- prediction ------------------------------------------------------------------------------------
    def predict(self, exog: pd.DataFrame | None = None) -> pd.DataFrame:
        """Category probabilities for each row of `exog` (default: the estimation data)."""
        import patsy

        if exog is None:
            X = self.design.X
        else:
            X = np.asarray(patsy.build_design_matrices([self.design.design_info], exog)[0])
            X = X[:, [k for k, n in enumerate(self.design.design_info.column_names) if n != "Intercept"]]
        K = self.design.n_levels
        alpha, beta = _split(self._theta, K - 1)
        F = special.expit(alpha[None, :] - (X @ beta)[:, None])
        F = np.hstack([np.zeros((len(X), 1)), F, np.ones((len(X), 1))])
        return pd.DataFrame(np.diff(F, axis=1), columns=self.design.levels)

    # -- presentation ----------------------------------------------------------------------------------
    def tidy(self, alpha: float = 0.05, conf_method: str | None = None) -> pd.DataFrame:
        """One row per slope: estimate, SE, z, p, interval, and odds ratios (broom's `tidy`)."""
        ci = self.conf_int(alpha, conf_method)
        table = pd.DataFrame({
            "term": self.params.index, "estimate": self.params.values, "std_error": self.bse.values,
            "statistic": self.zvalues.values, "p_value": self.pvalues.values,
            "conf_low": ci["lower"].values, "conf_high": ci["upper"].values,
        })
        table["odds_ratio"] = np.exp(table["estimate"])
        table["or_conf_low"] = np.exp(table["conf_low"])
        table["or_conf_high"] = np.exp(table["conf_high"])
        table["method"] = "firth" if self.penalty else "ml"
        table["interval"] = conf_method or ("profile" if self.penalty else "wald")
        table["separated"] = [bool(self._diverging.get(t, False)) or t in self.separation.terms
                              for t in table["term"]]
        return table

    def summary(self) -> str:
        d = self.design
        method = "Firth-penalised (Jeffreys prior) likelihood" if self.penalty else "maximum likelihood"
        lines = [
            f"Ordered logit (proportional odds): {d.formula}",
            f"Method: {method}; link: logit; logit P(Y <= j) = threshold_j - x'beta",
            f"Observations: {self.nobs:g}; outcome levels: {', '.join(map(str, d.levels))}",
            f"Log-likelihood: {self.llf:.4f}; AIC: {self.aic:.4f}; converged: {self.converged} "
            f"({self.n_iter} iterations); Hessian condition number: {self.hessian_condition:.3g}",
        ]
        if self.separation.separated:
            lines.append(f"WARNING: the data are separated ({self.separation}); maximum-likelihood estimates "
                         "of these terms are infinite" + (". Estimates below are Firth-penalised and finite."
                                                          if self.penalty else "; use penalty='firth'."))
        ci_label = "profile" if self.penalty else "Wald"
        table = self.tidy()[["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]]
        table.columns = ["term", "coef", "std err", "z", "P>|z|", f"[0.025 ({ci_label})", "0.975]"]
        thr = pd.DataFrame({"term": self.threshold_names, "coef": self.thresholds.values,
                            "std err": self.bse_thresholds.values})
        with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
            lines += ["", "Slopes:", table.to_string(index=False), "", "Thresholds:", thr.to_string(index=False)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<OrderedLogitResults {self.design.formula!r}, {'firth' if self.penalty else 'ml'}, n={self.nobs:g}>"


def fit_design(design: Design, penalty: str | None = None, check_separation: bool = True,
               warn: bool = True, start: np.ndarray | None = None) -> OrderedLogitResults:
    """Fit a prepared Design (the fast path for many fits of one formula); `start` warm-starts Newton."""
    if penalty not in (None, "firth"):
        raise UpgradingError(f"penalty must be None or 'firth', not {penalty!r}")
    fit = _newton(design, penalty, start=start)
    if start is not None and not fit.converged:
        fit = _newton(design, penalty)
    separation = detect_separation(design, theta=fit.theta if penalty is None else None) \
        if check_separation else Separation(False)
    result = OrderedLogitResults(design, fit, penalty, separation)
    if warn and separation.separated:
        advice = "estimates are Firth-penalised" if penalty else "use penalty='firth' for finite estimates"
        warnings.warn(f"{design.formula}: data are separated ({separation}); maximum likelihood does not "
                      f"exist; {advice}", SeparationWarning, stacklevel=3)
    if warn and not fit.converged and not separation.separated:
        warnings.warn(f"{design.formula}: Newton did not converge in {fit.iterations} iterations",
                      ModelWarning, stacklevel=3)
    return result


def ordered_logit(formula: str, data: pd.DataFrame, freq_weights=None, penalty: str | None = None,
                  check_separation: bool = True) -> OrderedLogitResults:
    """Fit an ordered logit `outcome ~ predictors` to `data` (see module docstring for conventions)."""
    return fit_design(build_design(formula, data, freq_weights), penalty, check_separation)
