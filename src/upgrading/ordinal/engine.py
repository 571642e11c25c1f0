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
# Per-case building blocks on the log scale
# ---------------------------------------------------------------------------------------------------------


def log_probability(u_upper: np.ndarray, u_lower: np.ndarray) -> np.ndarray:
    """log(F(u_upper) - F(u_lower)) without cancellation; -inf (or NaN) where u_lower >= u_upper."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = u_lower - u_upper  # <= 0 where the thresholds are ordered
        # log(1 - e^d): log(-expm1(d)) near 0 (close thresholds), log1p(-e^d) far from it (Maechler 2012)
        near = np.log(-np.expm1(np.minimum(d, 0.0)))
        far = np.log1p(-np.exp(np.minimum(d, 0.0)))
        tail = np.where(d > 0, np.nan, np.where(d > -np.log(2), near, far))
        return special.log_expit(u_upper) + special.log_expit(-u_lower) + tail


def log_density(u: np.ndarray) -> np.ndarray:
    """log f(u) = log F(u) + log F(-u) = -|u| - 2 log(1 + exp(-|u|)) of the logistic distribution; -inf at
    u = +-inf."""
    a = -np.abs(u)
    return a - 2 * np.log1p(np.exp(a))


def case_bounds(theta: np.ndarray, b: Batch):
    """Each case's upper and lower latent bound (threshold - x'beta) and the log probability of its category."""
    K = b.n_levels
    alpha, beta = theta[:, : K - 1], theta[:, K - 1 :]
    eta = (b.X @ beta[..., None])[..., 0]
    R = len(theta)
    ext = np.concatenate([np.full((R, 1), -np.inf), alpha, np.full((R, 1), np.inf)], axis=1)
    u1 = np.take_along_axis(ext, b.y + 1, axis=1) - eta
    u0 = np.take_along_axis(ext, b.y, axis=1) - eta
    return alpha, u1, u0, log_probability(u1, u0)


def feasible(alpha: np.ndarray, logp: np.ndarray) -> np.ndarray:
    return np.all(np.diff(alpha, axis=1) > 0, axis=1) & np.all(np.isfinite(logp), axis=1)


def probabilities(theta: np.ndarray, X: np.ndarray, n_levels: int) -> np.ndarray:
    """Category probabilities (R, n, K) at theta (R, q) for predictors X (R, n, p)."""
    T = n_levels - 1
    eta = np.einsum("rnp,rp->rn", X, theta[:, T:])
    u = theta[:, None, :T] - eta[..., None]
    R, n = eta.shape
    upper = np.concatenate([u, np.full((R, n, 1), np.inf)], axis=2)
    lower = np.concatenate([np.full((R, n, 1), -np.inf), u], axis=2)
    return np.exp(log_probability(upper, lower))


def loglik(theta: np.ndarray, b: Batch, hessian: bool = True):
    """Log-likelihood (R,), score (R, q) and Hessian (R, q, q); -inf where theta is infeasible.

    The threshold indicators are kept apart from the predictors, so the Hessian costs O(n p^2) per problem.
    """
    alpha, u1, u0, logp = case_bounds(theta, b)
    ok = feasible(alpha, logp)
    w = b.weights
    safe_logp = np.where(np.isfinite(logp), logp, 0.0)
    ll = np.where(ok, np.sum(w * safe_logp, axis=1), -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        r1 = np.exp(log_density(u1) - safe_logp)  # f(u1) / p, 0 at u1 = +inf
        r0 = np.exp(log_density(u0) - safe_logp)  # f(u0) / p, 0 at u0 = -inf
    r1, r0 = np.where(ok[:, None], r1, 0.0), np.where(ok[:, None], r0, 0.0)
    U, L, X = b.upper, b.lower, b.X
    XT = np.swapaxes(X, 1, 2)

    def sum_over_cases(onehot, v):
        return (v[:, None, :] @ onehot)[:, 0, :]

    grad = np.concatenate(
        [sum_over_cases(U, w * r1) - sum_over_cases(L, w * r0), -(XT @ (w * (r1 - r0))[..., None])[..., 0]], axis=1
    )
    if not hessian:
        return ll, grad, None
    s1, s0 = -np.tanh(u1 / 2), -np.tanh(u0 / 2)  # f'/f = 1 - 2F
    c11 = w * (r1 * s1 - r1**2)
    c00 = w * (-r0 * s0 - r0**2)
    c10 = w * (r1 * r0)
    T = b.n_levels - 1
    # thresholds: diagonal from each case's own bounds; a case in category t (0 < t < T) couples t-1 and t
    H_aa = np.zeros((len(theta), T, T))
    t = np.arange(T)
    H_aa[:, t, t] = sum_over_cases(U, c11) + sum_over_cases(L, c00)
    H_aa[:, t[1:], t[:-1]] = H_aa[:, t[:-1], t[1:]] = sum_over_cases(U[..., 1:], c10)
    H_ab = -(np.swapaxes(U * (c11 + c10)[..., None] + L * (c10 + c00)[..., None], 1, 2) @ X)
    H_bb = XT @ (X * (c11 + 2 * c10 + c00)[..., None])
    H = np.concatenate(
        [np.concatenate([H_aa, H_ab], axis=2), np.concatenate([np.swapaxes(H_ab, 1, 2), H_bb], axis=2)], axis=1
    )
    return ll, grad, H


def information(theta: np.ndarray, b: Batch, penalty_gradient: bool = False):
    """Expected information (R, q, q), its log det (R,), and optionally the gradient (R, q) of the Jeffreys
    penalty 0.5 log det I; log det is -inf (and the gradient NaN) where the information is not positive definite.

    Written out per case: a case's category probabilities depend on theta only through the thresholds and
    eta_i, and category k only through thresholds k-1 and k, so each case's block is tridiagonal in the
    thresholds plus an eta row, and the penalty's gradient needs only two diagonals of the inverse's block.
    Every density/probability ratio is formed on the log scale.
    """
    T = b.n_levels - 1
    alpha, beta = theta[:, :T], theta[:, T:]
    X, w = b.X, b.weights
    eta = (X @ beta[..., None])[..., 0]
    u = alpha[:, None, :] - eta[..., None]  # (R, n, T) at each threshold
    R, n = eta.shape
    zero = np.zeros((R, n, 1))
    logf = log_density(u)
    f = np.exp(logf)
    upper = np.concatenate([u, np.full((R, n, 1), np.inf)], axis=2)
    lower = np.concatenate([np.full((R, n, 1), -np.inf), u], axis=2)
    logpi = log_probability(upper, lower)  # (R, n, K)
    bad_pi = ~np.all(np.isfinite(logpi), axis=(1, 2))
    logpi = np.where(np.isfinite(logpi), logpi, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        ru = np.exp(np.concatenate([logf, np.full((R, n, 1), -np.inf)], axis=2) - logpi)  # f_k / pi_k
        rl = np.exp(np.concatenate([np.full((R, n, 1), -np.inf), logf], axis=2) - logpi)  # f_{k-1} / pi_k
    f_up, f_low = np.concatenate([f, zero], axis=2), np.concatenate([zero, f], axis=2)
    dr = ru - rl  # minus (d pi_k / d eta) / pi_k
    S_diag = f * (ru[..., :T] + rl[..., 1:])
    S_off = -f[..., :-1] * ru[..., 1:T]
    S_eta = f * (dr[..., 1:] - dr[..., :-1])
    S_ee = np.sum((f_up - f_low) * dr, axis=2)
    I_aa = np.zeros((R, T, T))
    t = np.arange(T)
    I_aa[:, t, t] = np.einsum("rn,rnt->rt", w, S_diag)
    I_aa[:, t[:-1], t[1:]] = I_aa[:, t[1:], t[:-1]] = np.einsum("rn,rnt->rt", w, S_off)
    I_ab = np.swapaxes(w[..., None] * S_eta, 1, 2) @ X
    I_bb = np.swapaxes(X * (w * S_ee)[..., None], 1, 2) @ X
    info = np.concatenate(
        [np.concatenate([I_aa, I_ab], axis=2), np.concatenate([np.swapaxes(I_ab, 1, 2), I_bb], axis=2)], axis=1
    )
    good = ~bad_pi & np.all(np.isfinite(info), axis=(1, 2))
    sign, logdet = np.linalg.slogdet(np.where(good[:, None, None], info, np.eye(info.shape[1])))
    good &= sign > 0
    logdet = np.where(good, logdet, -np.inf)
    if not penalty_gradient:
        return info, logdet, None
    inv = np.broadcast_to(np.eye(info.shape[1]), info.shape).copy()
    if good.any():
        inv[good] = np.linalg.inv(info[good])
    iaa, iab, ibb = inv[:, :T, :T], inv[:, :T, T:], inv[:, T:, T:]
    cross = X @ np.swapaxes(iab, 1, 2)  # (R, n, T): Q[t, eta] of each case's block Q = M_i' inv M_i
    q_ee = np.sum((X @ ibb) * X, axis=-1)[..., None]
    # G[t, l] = b_t' Q b_l with b_t = e_t - e_eta: its diagonal and first off-diagonal, per case
    G_diag = np.diagonal(iaa, axis1=1, axis2=2)[:, None, :] - 2 * cross + q_ee
    G_off = np.diagonal(iaa, offset=1, axis1=1, axis2=2)[:, None, :] - cross[..., :-1] - cross[..., 1:] + q_ee
    G_up, G_low = np.concatenate([G_diag, zero], axis=2), np.concatenate([zero, G_diag], axis=2)
    G_cross = np.concatenate([zero, G_off, zero], axis=2)
    s = -np.tanh(u / 2)  # f'/f = 1 - 2F at each threshold
    s_up, s_low = np.concatenate([s, zero], axis=2), np.concatenate([zero, s], axis=2)
    with np.errstate(all="ignore"):  # NaN marks an unusable point
        A2 = ru**2 * G_up - 2 * ru * rl * G_cross + rl**2 * G_low  # a'Qa / pi^2
        coef_up = s_up * ru * (f_up * G_up - f_low * G_cross)
        coef_low = s_low * rl * (f_up * G_cross - f_low * G_low)
        half = 0.5 * A2
        h = (coef_up - half * f_up)[..., :T] + (half * f_low - coef_low)[..., 1:]  # coefficient of b_t
        grad = np.concatenate([(w[:, None, :] @ h)[:, 0, :], ((-w * h.sum(axis=2))[:, None, :] @ X)[:, 0, :]], axis=1)
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

    With the Jeffreys penalty the fourth item is minus the expected information (the Hessian of the penalty
    needs third derivatives; the solver uses BFGS there).
    """
    if penalty is None:
        ll, grad, H = loglik(theta, b)
        obj = ll.copy()
    else:
        ll, grad, _ = loglik(theta, b, hessian=False)
        obj = np.full(len(theta), -np.inf)
        pgrad = np.full_like(grad, np.nan)
        H = np.zeros((len(theta), theta.shape[1], theta.shape[1]))
        ok = np.isfinite(ll)
        if ok.any():
            info, logdet, pgrad[ok] = information(theta[ok], b.take(ok), penalty_gradient=True)
            H[ok] = -info
            obj[ok] = ll[ok] + 0.5 * logdet
        grad = grad + pgrad
        obj[~np.all(np.isfinite(grad), axis=1)] = -np.inf
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
