"""The ordered-logit engine: likelihood, score, information and Newton's method for a batch of R problems.

A single fit is a batch of one. Every array has a leading problem axis: R data sets with the same number of
cases, predictors and outcome levels (the replicates of a simulation, the leave-one-out refits of one data set
as case weights, the constrained fits of a profile) are fitted together by the same iterations.

Convention (R's `MASS::polr` and `ordinal::clm`): logit P(Y <= j | x) = alpha_j - x'beta, parameters ordered
theta = (alpha_1..alpha_{K-1}, beta). Category probabilities are computed on the log scale,
pi_k = F(u_k) F(-u_{k-1}) (1 - exp(u_{k-1} - u_k)) with u_k = alpha_k - x'beta, which cancels in neither tail,
and every ratio density/probability is formed from logarithms, so nothing underflows to 0/0 where the
likelihood itself is finite.

Objectives: the log-likelihood (`penalty=None`), or the Jeffreys-prior penalised log-likelihood
(`penalty="jeffreys"`: loglik + 0.5 log det I(theta), I the expected information of all parameters), each
optionally plus a Gaussian prior -0.5 (theta - m)' P (theta - m) (`prior`): a quadratic penalty whose precision
and mean may differ from problem to problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .design import Design

GRADIENT_TOL = 1e-9
MAX_ITER = 200
PENALTIES = (None, "jeffreys")


@dataclass
class Batch:
    """R data sets of one shape: outcome codes (R, n) in 0..K-1, predictors (R, n, p), weights (R, n)."""

    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    n_levels: int
    names: list[str]

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=int)
        self.X = np.asarray(self.X, dtype=float)
        self.weights = np.asarray(self.weights, dtype=float)
        R, n, p = self.X.shape
        if self.y.shape != (R, n) or self.weights.shape != (R, n) or len(self.names) != p:
            raise ValueError("y and weights must be (R, n) and names length p for X of shape (R, n, p)")
        if self.y.min() < 0 or self.y.max() >= self.n_levels:
            raise ValueError(f"outcome codes must lie in 0..{self.n_levels - 1}")
        thresholds = np.arange(self.n_levels - 1)
        self.upper = (self.y[..., None] == thresholds).astype(float)  # (R, n, K-1): the case's upper threshold
        self.lower = (self.y[..., None] - 1 == thresholds).astype(float)

    @property
    def size(self) -> int:
        return len(self.y)

    @property
    def n_params(self) -> int:
        return self.n_levels - 1 + self.X.shape[2]

    def take(self, index) -> Batch:
        """The problems `index` (slices of the checked arrays; nothing is recomputed)."""
        part = object.__new__(Batch)
        part.n_levels, part.names = self.n_levels, self.names
        for name in ("y", "X", "weights", "upper", "lower"):
            setattr(part, name, getattr(self, name)[index])
        return part

    def design(self, r: int) -> Design:
        """Problem r as a Design."""
        return Design(
            self.y[r].copy(),
            self.X[r].copy(),
            self.weights[r].copy(),
            list(range(self.n_levels)),
            list(self.names),
            "y",
            "y ~ " + " + ".join(self.names),
        )

    @classmethod
    def of(cls, design: Design, copies: int = 1, weights: np.ndarray | None = None) -> Batch:
        """`copies` problems on one design; `weights` (copies, n) gives each its own case weights."""
        w = np.tile(design.weights, (copies, 1)) if weights is None else np.asarray(weights, dtype=float)
        return cls(
            np.tile(design.y, (copies, 1)), np.tile(design.X, (copies, 1, 1)), w, design.n_levels, list(design.names)
        )

    @classmethod
    def stack(cls, designs: list[Design]) -> Batch:
        """Designs of one shape (same n, predictors and number of outcome levels) as one batch."""
        first = designs[0]
        return cls(
            np.stack([d.y for d in designs]),
            np.stack([d.X for d in designs]),
            np.stack([d.weights for d in designs]),
            first.n_levels,
            list(first.names),
        )


@dataclass
class Prior:
    """A Gaussian prior (quadratic penalty) on theta: precision (q, q) or (R, q, q), mean (q,) or (R, q).

    Zero rows and columns leave parameters unpenalised, so a prior on some coefficients only is natural.
    """

    precision: np.ndarray
    mean: np.ndarray | float = 0.0

    def take(self, index) -> Prior:
        P, m = np.asarray(self.precision), np.asarray(self.mean, dtype=float)
        return Prior(P[index] if P.ndim == 3 else P, m[index] if m.ndim == 2 else m)

    def terms(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log density up to a constant (R,), its gradient (R, q) and Hessian (R, q, q) at theta (R, q)."""
        P = np.broadcast_to(np.asarray(self.precision, dtype=float), (len(theta),) + (theta.shape[1],) * 2)
        diff = theta - np.asarray(self.mean, dtype=float)
        Pd = np.einsum("rqs,rs->rq", P, diff)
        return -0.5 * np.einsum("rq,rq->r", diff, Pd), -Pd, -P


# ---------------------------------------------------------------------------------------------------------
# Building blocks on the log scale
# ---------------------------------------------------------------------------------------------------------
# One exp and one log1p per bound u give log F(u), log F(-u), log f(u): at each case's two bounds (R, n) for the
# likelihood, at every threshold (K-1, R, n) for the information (each threshold's slice contiguous: fast).


def _log_cdf(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log F(u), log F(-u), log f(u): min(u, 0) - l, min(-u, 0) - l and -|u| - 2 l with l = log(1 + e^-|u|)."""
    a = -np.abs(u)
    l = np.log1p(np.exp(a))
    return np.minimum(u, 0.0) - l, np.minimum(-u, 0.0) - l, a - 2 * l


def _log1mexp(d: np.ndarray) -> np.ndarray:
    """log(1 - e^d), NaN for d > 0: log1p(-e^d), or log(-expm1(d)) where d > -log 2 (close thresholds), the
    branch accurate there (Maechler 2012), evaluated only where it is used."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log1p(-np.exp(d))
        near = d > -np.log(2.0)
        out[near] = np.log(-np.expm1(d[near]))
    return out


def log_probability(u_upper: np.ndarray, u_lower: np.ndarray) -> np.ndarray:
    """log(F(u_upper) - F(u_lower)) = log F(u_upper) + log F(-u_lower) + log(1 - e^(u_lower - u_upper)), which
    cancels in neither tail; -inf (or NaN) where u_lower >= u_upper."""
    with np.errstate(invalid="ignore"):
        return _log_cdf(u_upper)[0] + _log_cdf(u_lower)[1] + _log1mexp(u_lower - u_upper)


def log_density(u: np.ndarray) -> np.ndarray:
    """log f(u) = log F(u) + log F(-u) of the logistic distribution; -inf at u = +-inf."""
    return _log_cdf(u)[2]


def case_bounds(theta: np.ndarray, b: Batch, densities: bool = False):
    """Each case's upper and lower latent bound (threshold - x'beta) and the log probability of its category
    (R, n), after the thresholds; with `densities`, also log f at both bounds."""
    K, R = b.n_levels, len(theta)
    eta = (b.X @ theta[:, K - 1 :, None])[..., 0]
    ext = np.concatenate([np.full((R, 1), -np.inf), theta[:, : K - 1], np.full((R, 1), np.inf)], axis=1)
    at_y = b.y + (K + 1) * np.arange(R)[:, None]  # each case's lower threshold in ext, flattened
    u1, u0 = np.take(ext, at_y + 1) - eta, np.take(ext, at_y) - eta
    (log_upper, _, logf1), (_, log_lower, logf0) = _log_cdf(u1), _log_cdf(u0)
    with np.errstate(invalid="ignore"):
        logp = log_upper + log_lower + _log1mexp(u0 - u1)
    return (theta[:, : K - 1], u1, u0, logp) + ((logf1, logf0) if densities else ())


def probabilities(theta: np.ndarray, X: np.ndarray, n_levels: int) -> np.ndarray:
    """Category probabilities (R, n, K) at theta (R, q) for predictors X (R, n, p)."""
    T = n_levels - 1
    eta = np.einsum("rnp,rp->rn", X, theta[:, T:])
    u = theta[:, None, :T] - eta[..., None]
    pad = np.full(u.shape[:2] + (1,), np.inf)
    return np.exp(log_probability(np.concatenate([u, pad], axis=2), np.concatenate([-pad, u], axis=2)))


def _likelihood(alpha: np.ndarray, logp: np.ndarray, b: Batch):
    """Log-likelihood (R,) (-inf where infeasible), feasibility, and the log probabilities with non-finite ones 0."""
    ok = np.all(np.diff(alpha, axis=1) > 0, axis=1) & np.all(np.isfinite(logp), axis=1)
    safe_logp = np.where(np.isfinite(logp), logp, 0.0)
    return np.where(ok, np.sum(b.weights * safe_logp, axis=1), -np.inf), ok, safe_logp


def _score(b: Batch, r1: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """Score (R, q) from each case's f(u1) / p and f(u0) / p; sums over cases as (1, n) @ (n, .) products."""
    w = b.weights
    by_threshold = (w * r1)[:, None, :] @ b.upper - (w * r0)[:, None, :] @ b.lower
    return np.concatenate([by_threshold[:, 0], -((w * (r1 - r0))[:, None, :] @ b.X)[:, 0]], axis=1)


def loglik(theta: np.ndarray, b: Batch, hessian: bool = True):
    """Log-likelihood (R,), score (R, q) and Hessian (R, q, q); -inf where theta is infeasible. The Hessian keeps
    the threshold indicators apart from the predictors: O(n p^2) per problem."""
    alpha, u1, u0, logp, logf1, logf0 = case_bounds(theta, b, densities=True)
    ll, ok, safe_logp = _likelihood(alpha, logp, b)
    with np.errstate(over="ignore", invalid="ignore"):
        r1 = np.where(ok[:, None], np.exp(logf1 - safe_logp), 0.0)  # f(u1) / p, 0 at u1 = +inf
        r0 = np.where(ok[:, None], np.exp(logf0 - safe_logp), 0.0)  # f(u0) / p, 0 at u0 = -inf
    if not hessian:
        return ll, _score(b, r1, r0), None
    w, U, L, X = b.weights, b.upper, b.lower, b.X
    s1, s0 = -np.tanh(u1 / 2), -np.tanh(u0 / 2)  # f'/f = 1 - 2F
    c11, c00, c10 = w * (r1 * s1 - r1**2), w * (-r0 * s0 - r0**2), w * (r1 * r0)
    T, t = U.shape[2], np.arange(U.shape[2])
    H = np.zeros((len(w), T + X.shape[2], T + X.shape[2]))
    # thresholds: diagonal from each case's own bounds; a case in category t (0 < t < T) couples t-1 and t
    H[:, t, t] = (c11[:, None, :] @ U + c00[:, None, :] @ L)[:, 0]
    H[:, t[1:], t[:-1]] = H[:, t[:-1], t[1:]] = (c10[:, None, :] @ U[..., 1:])[:, 0]
    # with the slopes: case i weighs x_i by c11 + c10 at threshold y_i, by c10 + c00 at y_i - 1; built (R, T, n)
    y = b.y[:, None, :]
    H_ab = -(((y == t[:, None]) * (c11 + c10)[:, None, :] + (y == t[:, None] + 1) * (c10 + c00)[:, None, :]) @ X)
    H[:, :T, T:], H[:, T:, :T] = H_ab, np.swapaxes(H_ab, 1, 2)
    H[:, T:, T:] = np.swapaxes(X * (c11 + 2 * c10 + c00)[..., None], 1, 2) @ X
    return ll, _score(b, r1, r0), H


def _threshold_table(theta: np.ndarray, b: Batch):
    """At every threshold (T, R, n) its bound u and f(u); for every category (K, R, n) log pi and the ratios
    f_k / pi_k (0 for the last) and f_{k-1} / pi_k (0 for the first); the problems with a category of probability
    0 or NaN (`bad`; those log probabilities count as 0 in the ratios)."""
    T = b.n_levels - 1
    u = theta.T[:T, :, None] - (b.X @ theta[:, T:, None])[..., 0]
    log_upper, log_lower, logf = _log_cdf(u)  # every category: one bound at the ends, two and the gap inside
    logpi = np.empty((T + 1,) + u.shape[1:])
    logpi[0], logpi[T] = log_upper[0], log_lower[-1]
    np.add(log_upper[1:], log_lower[:-1], out=logpi[1:T])
    with np.errstate(invalid="ignore"):
        logpi[1:T] += _log1mexp(u[:-1] - u[1:])
    bad, safe = np.zeros(len(theta), bool), logpi
    if not np.all(np.isfinite(logpi)):
        bad, safe = ~np.all(np.isfinite(logpi), axis=(0, 2)), np.where(np.isfinite(logpi), logpi, 0.0)
    upper, lower = np.zeros(logpi.shape), np.zeros(logpi.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        np.exp(logf - safe[:T], out=upper[:T])
        np.exp(logf - safe[1:], out=lower[1:])
    return u, np.exp(logf), logpi, upper, lower, bad


def _expected_information(tab: tuple, b: Batch):
    """Expected information (R, q, q), per case: category k depends on theta only through thresholds k-1, k and
    eta_i, so each case's block is tridiagonal in the thresholds plus an eta row. Also returns f_t^2 (1/pi_t +
    1/pi_{t+1}) and f_t f_{t+1} / pi_{t+1}, which the penalty's gradient reuses."""
    _, f, _, upper, lower, _ = tab
    a, c, X, w, T = upper[:-1], lower[1:], b.X, b.weights, len(f)
    dr = upper - lower  # minus (d pi_k / d eta) / pi_k
    S_eta = f * (dr[1:] - dr[:-1])
    S_diag, S_next = f * (a + c), f[:-1] * a[1:]
    info, t = np.zeros((len(w), T + X.shape[2], T + X.shape[2])), np.arange(T)
    info[:, t, t] = np.einsum("trn,rn->rt", S_diag, w)
    info[:, t[:-1], t[1:]] = info[:, t[1:], t[:-1]] = -np.einsum("trn,rn->rt", S_next, w)
    I_ab = np.swapaxes(w * S_eta, 0, 1) @ X
    info[:, :T, T:], info[:, T:, :T] = I_ab, np.swapaxes(I_ab, 1, 2)
    S_ee = -S_eta.sum(axis=0)  # sum_k pi_k dr_k^2 = sum_t f_t (dr_t - dr_{t+1})
    info[:, T:, T:] = np.swapaxes(X * (w * S_ee)[..., None], 1, 2) @ X
    return info, S_diag, S_next


@np.errstate(divide="ignore", over="ignore", invalid="ignore")
def _log_det_inverse(info: np.ndarray, good: np.ndarray, inverse: bool):
    """log det (-inf where not `good`) and, if asked, the inverse (identity there) of the information: one Cholesky
    factorisation gives both (2 sum log diag L; W'W, W = L^-1), for a third of the cost of slogdet and inv. If a
    matrix is not numerically positive definite, the batch goes the LU way: a positive determinant decides. A
    nearly singular matrix (at a trial point of a line search, far from any optimum) can overflow: its problem is
    marked not `good`, as a singular one is, and nothing is printed."""
    q = info.shape[1]
    logdet = np.full(len(info), -np.inf)
    inv = np.broadcast_to(np.eye(q), info.shape).copy() if inverse else None
    try:
        L = np.linalg.cholesky(info[good])
    except np.linalg.LinAlgError:
        sign, value = np.linalg.slogdet(np.where(good[:, None, None], info, np.eye(q)))
        good = good & (sign > 0)
        logdet[good] = value[good]
        if inverse and good.any():
            inv[good] = np.linalg.inv(info[good])
        return good, logdet, inv
    logdet[good] = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    if inverse:
        W = np.zeros_like(L)  # L^-1 by forward substitution, a row at a time over the batch
        for j in range(q):
            W[:, j, j] = 1 / L[:, j, j]
            W[:, j, :j] = -(L[:, j, None, :j] @ W[:, :j, :j])[:, 0] * W[:, j, j, None]
        inv[good] = np.swapaxes(W, 1, 2) @ W
        overflowed = np.flatnonzero(good)[~np.all(np.isfinite(inv[good]), axis=(1, 2))]
        if len(overflowed):
            good = good.copy()
            good[overflowed], logdet[overflowed], inv[overflowed] = False, -np.inf, np.eye(q)
    return good, logdet, inv


def _penalty_gradient(inv: np.ndarray, tab: tuple, S_diag: np.ndarray, S_next: np.ndarray, b: Batch):
    """Gradient (R, q) of 0.5 log det I = 0.5 tr(I^-1 dI): per case it needs only the quadratic forms
    G[t, l] = b_t' I^-1 b_l, b_t = e_t - (0, x_i), on the diagonal and first off-diagonal in the thresholds."""
    u, f, _, upper, lower, _ = tab
    a, c, X, w, T = upper[:-1], lower[1:], b.X, b.weights, len(f)
    cross = np.swapaxes(inv[:, :T, T:] @ np.swapaxes(X, 1, 2), 0, 1)  # (T, R, n): I^-1[t, beta] x_i
    q_ee = np.einsum("rnp,rnp->rn", X @ inv[:, T:, T:], X)  # x_i' I^-1[beta, beta] x_i
    G = np.diagonal(inv, axis1=1, axis2=2)[:, :T].T[..., None] - 2 * cross + q_ee
    G_next = np.diagonal(inv, offset=1, axis1=1, axis2=2)[:, : T - 1].T[..., None] - cross[:-1] - cross[1:] + q_ee
    s = -np.tanh(u / 2)  # f'/f = 1 - 2F at each threshold
    A2 = np.zeros(upper.shape)  # a_k' G a_k / pi_k^2 for each category, a_k = d pi_k / d(thresholds, eta)
    A2[:T] = a * a * G
    A2[1:] += c * c * G
    A2[1:T] -= 2 * a[1:] * c[:-1] * G_next
    h = f * (0.5 * (A2[1:] - A2[:-1])) + s * G * S_diag  # coefficient of b_t
    coupling = S_next * G_next
    h[1:] -= s[1:] * coupling
    h[:-1] -= s[:-1] * coupling
    return np.concatenate([np.einsum("trn,rn->rt", h, w), -((w * h.sum(axis=0))[:, None, :] @ X)[:, 0]], axis=1)


def information(theta: np.ndarray, b: Batch, penalty_gradient: bool = False, table: tuple | None = None):
    """Expected information (R, q, q), its log det (R,), and optionally the gradient (R, q) of the Jeffreys
    penalty 0.5 log det I; log det is -inf (and the gradient NaN) where the information is not positive definite.
    `table`: the threshold table at theta, if already computed."""
    tab = _threshold_table(theta, b) if table is None else table
    info, S_diag, S_next = _expected_information(tab, b)
    good = ~tab[-1] & np.all(np.isfinite(info), axis=(1, 2))  # tab[-1]: a category of probability 0 or NaN
    good, logdet, inv = _log_det_inverse(info, good, penalty_gradient)
    if not penalty_gradient:
        return info, logdet, None
    with np.errstate(all="ignore"):  # NaN marks an unusable point
        grad = _penalty_gradient(inv, tab, S_diag, S_next, b)
    grad[~good] = np.nan
    return info, logdet, grad


# ---------------------------------------------------------------------------------------------------------
# Newton's method for R problems at once
# ---------------------------------------------------------------------------------------------------------


def start_values(b: Batch) -> np.ndarray:
    """Thresholds at the logits of the marginal cumulative shares, slopes at 0."""
    K = b.n_levels
    counts = np.stack([np.sum(b.weights * (b.y == k), axis=1) for k in range(K)], axis=1)
    shares = counts.cumsum(axis=1) / b.weights.sum(axis=1, keepdims=True)
    alpha = special.logit(np.clip(shares[:, :-1], 1e-4, 1 - 1e-4))
    return np.concatenate([alpha, np.zeros((b.size, b.X.shape[2]))], axis=1)


def evaluate(theta: np.ndarray, b: Batch, penalty: str | None = None, prior: Prior | None = None):
    """(objective, log-likelihood, gradient of the objective, its Hessian or minus the information) at theta.

    With the Jeffreys penalty the fourth item is minus the expected information (the Hessian of the penalty needs
    third derivatives; the solver uses BFGS there), and the likelihood's terms are read off the information's table.
    """
    if penalty is None:
        ll, grad, H = loglik(theta, b)
        obj = ll.copy()
    else:
        _, _, logpi, upper, lower, _ = tab = _threshold_table(theta, b)
        _, R, n = logpi.shape
        at_y = b.y * (R * n) + np.arange(R * n).reshape(R, n)  # each case's category in a (K, R, n) table
        ll, ok, _ = _likelihood(theta[:, : b.n_levels - 1], np.take(logpi, at_y), b)
        r1, r0 = (np.where(ok[:, None], np.take(ratio, at_y), 0.0) for ratio in (upper, lower))
        info, logdet, pgrad = information(theta, b, penalty_gradient=True, table=tab)
        ok = np.isfinite(ll)
        pgrad[~ok] = np.nan
        grad = _score(b, r1, r0) + pgrad
        with np.errstate(invalid="ignore"):
            obj = np.where(ok & np.all(np.isfinite(grad), axis=1), ll + 0.5 * logdet, -np.inf)
        H = np.where(ok[:, None, None], -info, 0.0)
    if prior is not None:
        lp, lgrad, lH = prior.terms(theta)
        obj, grad, H = obj + lp, grad + lgrad, H + lH
    return obj, ll, grad, H


@dataclass
class BatchFit:
    """Fitted values of R problems: theta (R, q), objective and log-likelihood (R,), gradient (R, q),
    Hessian of the log-likelihood (plus the prior's) or, with the Jeffreys penalty, minus the expected
    information (R, q, q), convergence and iterations (R,)."""

    theta: np.ndarray
    objective: np.ndarray
    loglik: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def newton(
    b: Batch,
    penalty: str | None = None,
    start: np.ndarray | None = None,
    free: np.ndarray | None = None,
    tol: float = GRADIENT_TOL,
    max_iter: int = MAX_ITER,
    prior: Prior | None = None,
) -> BatchFit:
    """Maximise R (penalised) log-likelihoods, each with step halving until the objective does not decrease.

    Maximum likelihood (with or without a Gaussian prior): Newton with the analytic Hessian. Jeffreys
    penalty: BFGS on the analytic penalised score, its curvature started at the expected information (plus the
    prior's precision). `free` (R, q) marks the parameters that move (a profile fit fixes one per problem).
    Each problem stops on its own gradient; only unfinished problems are evaluated.
    """
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, not {penalty!r}")
    theta = (start_values(b) if start is None else np.array(start, dtype=float)).copy()
    R, q = theta.shape
    free = np.ones((R, q), bool) if free is None else np.asarray(free, bool)
    obj, ll, grad, H = evaluate(theta, b, penalty, prior)
    curvature = -H.copy()  # Jeffreys: BFGS approximation of minus the penalised Hessian
    converged = np.zeros(R, bool)
    iterations = np.zeros(R, int)
    active = np.flatnonzero(np.isfinite(obj))
    for _ in range(max_iter):
        if not len(active):
            break
        g = np.where(free[active], grad[active], 0.0)
        done = np.max(np.abs(g), axis=1) < tol
        converged[active[done]] = True
        active, g = active[~done], g[~done]
        if not len(active):
            break
        iterations[active] += 1
        sub = b.take(active)
        sub_prior = prior.take(active) if prior is not None else None
        Hf = H[active].copy() if penalty is None else -curvature[active]
        fixed = ~free[active]
        Hf[fixed] = 0.0
        Hf.transpose(0, 2, 1)[fixed] = 0.0
        Hf[fixed[:, :, None] & np.eye(q, dtype=bool)[None]] = -1.0
        try:
            step = np.linalg.solve(Hf, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(h, -gg, rcond=None)[0] for h, gg in zip(Hf, g)])
        scale = np.ones(len(active))
        pending = np.arange(len(active))
        t_obj = np.full(len(active), -np.inf)
        t_theta = theta[active].copy()
        t_ll, t_grad, t_H = ll[active].copy(), grad[active].copy(), H[active].copy()
        stalled = np.zeros(len(active), bool)
        while len(pending):
            trial = theta[active[pending]] + scale[pending, None] * step[pending]
            new = evaluate(trial, sub.take(pending), penalty, sub_prior.take(pending) if sub_prior else None)
            base = obj[active[pending]]
            ok = np.isfinite(new[0]) & (new[0] >= base - 1e-12 * np.maximum(1.0, np.abs(base)))
            acc = pending[ok]
            t_theta[acc], t_obj[acc], t_ll[acc], t_grad[acc], t_H[acc] = (
                trial[ok],
                new[0][ok],
                new[1][ok],
                new[2][ok],
                new[3][ok],
            )
            pending = pending[~ok]
            scale[pending] /= 2
            tiny = scale[pending] < 1e-10
            stalled[pending[tiny]] = True
            pending = pending[~tiny]
        moved = ~stalled
        idx = active[moved]
        if penalty is not None:  # BFGS update, where the curvature condition holds
            s_k = np.where(free[idx], t_theta[moved] - theta[idx], 0.0)
            y_k = np.where(free[idx], grad[idx] - t_grad[moved], 0.0)
            Bs = np.einsum("rqs,rs->rq", curvature[idx], s_k)
            sBs, ys = np.einsum("rq,rq->r", s_k, Bs), np.einsum("rq,rq->r", y_k, s_k)
            update = (ys > 1e-12 * np.maximum(1.0, np.einsum("rq,rq->r", y_k, y_k))) & (sBs > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                change = (
                    np.einsum("rq,rs->rqs", y_k, y_k) / ys[:, None, None]
                    - np.einsum("rq,rs->rqs", Bs, Bs) / sBs[:, None, None]
                )
            curvature[idx[update]] += change[update]
        theta[idx], obj[idx], ll[idx], grad[idx], H[idx] = (
            t_theta[moved],
            t_obj[moved],
            t_ll[moved],
            t_grad[moved],
            t_H[moved],
        )
        stuck = active[stalled]
        converged[stuck] = np.max(np.abs(np.where(free[stuck], grad[stuck], 0.0)), axis=1) < 1e-6
        active = active[moved]
    return BatchFit(theta, obj, ll, grad, H, converged, iterations)


__all__ = [
    "Batch",
    "BatchFit",
    "GRADIENT_TOL",
    "MAX_ITER",
    "PENALTIES",
    "Prior",
    "evaluate",
    "information",
    "loglik",
    "newton",
    "probabilities",
    "start_values",
]
