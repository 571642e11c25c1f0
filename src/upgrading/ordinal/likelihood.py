"""The cumulative link likelihood of a batch of problems on the log scale: category probabilities, the
log-likelihood with its score and observed Hessian, and the expected information with the gradient of the
Jeffreys penalty 0.5 log det I.

Convention (R's `ordinal::clm`): P(Y <= j | x) = F(alpha_j - x'beta), parameters ordered theta = (alpha_1 ..
alpha_{K-1}, beta), F the link's distribution (`links`). Category probabilities pi_k = F(u_k) - F(u_{k-1}),
u_k = alpha_k - x'beta, are computed on the log scale without cancellation in either tail, and every ratio
density/probability is formed from logarithms, so nothing underflows to 0/0 where the likelihood is finite.
"""

from __future__ import annotations

import numpy as np

from .batch import Batch
from .links import LOGIT, Link

# One exp and one log1p per bound u give the logistic's log F(u), log(1 - F(u)), log f(u) (`links.Logit`): at each
# case's two bounds (R, n) for the likelihood, at every threshold (K-1, R, n) for the information (each
# threshold's slice contiguous: fast). Other links give the same three logarithms their own way.


def log_probability(u_upper: np.ndarray, u_lower: np.ndarray, link: Link = LOGIT) -> np.ndarray:
    """log(F(u_upper) - F(u_lower)), without cancellation in either tail (`Link.log_gap`); -inf (or NaN) where
    u_lower >= u_upper."""
    return link.log_probability(u_upper, u_lower)


def log_density(u: np.ndarray, link: Link = LOGIT) -> np.ndarray:
    """log f(u); -inf at u = +-inf."""
    return link.logs(u)[2]


def case_thresholds(theta: np.ndarray, n_levels: int, Z: np.ndarray | None) -> np.ndarray:
    """Each case's thresholds (R, n, K-1): alpha_j, plus z_i'gamma_j with nominal effects (theta holds the
    alphas, then each nominal column's K-1 gammas, then the slopes)."""
    T, R = n_levels - 1, len(theta)
    if Z is None:
        return theta[:, None, :T]
    gamma = theta[:, T : T * (1 + Z.shape[2])].reshape(R, Z.shape[2], T)
    return theta[:, None, :T] + Z @ gamma


def case_bounds(theta: np.ndarray, b: Batch, densities: bool = False):
    """Each case's upper and lower latent bound (threshold - x'beta) and the log probability of its category
    (R, n), after the thresholds ((R, K-1), or each case's (R, n, K-1) with nominal effects); with `densities`,
    also log f at both bounds."""
    K, R = b.n_levels, len(theta)
    eta = (b.X @ theta[:, b.n_thresholds :, None])[..., 0]
    if b.Z is None:
        thresholds = theta[:, : K - 1]
        ext = np.concatenate([np.full((R, 1), -np.inf), thresholds, np.full((R, 1), np.inf)], axis=1)
        at_y = b.y + (K + 1) * np.arange(R)[:, None]  # each case's lower threshold in ext, flattened
        u1, u0 = np.take(ext, at_y + 1) - eta, np.take(ext, at_y) - eta
    else:
        thresholds = case_thresholds(theta, K, b.Z)
        pad = np.full(thresholds.shape[:2] + (1,), np.inf)
        ext = np.concatenate([-pad, thresholds, pad], axis=2)
        u1 = np.take_along_axis(ext, (b.y + 1)[..., None], axis=2)[..., 0] - eta
        u0 = np.take_along_axis(ext, b.y[..., None], axis=2)[..., 0] - eta
    if not densities:
        return thresholds, u1, u0, b.link.log_probability(u1, u0)
    upper, lower = b.link.logs(u1), b.link.logs(u0)
    logp = b.link.log_gap(upper, lower, u1, u0)
    return thresholds, u1, u0, logp, upper[2], lower[2]


def probabilities(
    theta: np.ndarray, X: np.ndarray, n_levels: int, link: Link = LOGIT, Z: np.ndarray | None = None
) -> np.ndarray:
    """Category probabilities (R, n, K) at theta (R, q) for predictors X (R, n, p) (and nominal columns Z)."""
    T = n_levels - 1
    eta = np.einsum("rnp,rp->rn", X, theta[:, T * (1 + (0 if Z is None else Z.shape[2])) :])
    u = case_thresholds(theta, n_levels, Z) - eta[..., None]
    pad = np.full(u.shape[:2] + (1,), np.inf)
    return np.exp(log_probability(np.concatenate([u, pad], axis=2), np.concatenate([-pad, u], axis=2), link))


def total_loglik(alpha: np.ndarray, logp: np.ndarray, b: Batch):
    """Log-likelihood (R,) (-inf where infeasible: thresholds out of order, for some case with nominal effects),
    feasibility, and the log probabilities with non-finite ones 0."""
    ordered = np.all(np.diff(alpha, axis=-1) > 0, axis=tuple(range(1, alpha.ndim)))
    ok = ordered & np.all(np.isfinite(logp), axis=1)
    safe_logp = np.where(np.isfinite(logp), logp, 0.0)
    return np.where(ok, np.sum(b.weights * safe_logp, axis=1), -np.inf), ok, safe_logp


@np.errstate(invalid="ignore", over="ignore")
def score_from_ratios(b: Batch, r1: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """Score (R, q) from each case's f(u1) / p and f(u0) / p; sums over cases as (1, n) @ (n, .) products. At a
    trial point far from any optimum a ratio can overflow (a probability tiny against its density, as with probit
    and cloglog tails): the score is then not finite, which marks the point unusable, and nothing is printed."""
    w = b.weights
    by_threshold = (w * r1)[:, None, :] @ b.upper - (w * r0)[:, None, :] @ b.lower
    return np.concatenate([by_threshold[:, 0], -((w * (r1 - r0))[:, None, :] @ b.X)[:, 0]], axis=1)


def loglik(theta: np.ndarray, b: Batch, hessian: bool = True):
    """Log-likelihood (R,), score (R, q) and Hessian (R, q, q); -inf where theta is infeasible. The Hessian keeps
    the threshold indicators apart from the predictors: O(n p^2) per problem."""
    alpha, u1, u0, logp, logf1, logf0 = case_bounds(theta, b, densities=True)
    ll, ok, safe_logp = total_loglik(alpha, logp, b)
    with np.errstate(over="ignore", invalid="ignore"):
        r1 = np.where(ok[:, None], np.exp(logf1 - safe_logp), 0.0)  # f(u1) / p, 0 at u1 = +inf
        r0 = np.where(ok[:, None], np.exp(logf0 - safe_logp), 0.0)  # f(u0) / p, 0 at u0 = -inf
    if b.Z is not None:
        return (ll, *_nominal_derivatives(b, u1, u0, r1, r0, hessian))
    if not hessian:
        return ll, score_from_ratios(b, r1, r0), None
    w, U, L, X = b.weights, b.upper, b.lower, b.X
    s1, s0 = b.link.score(u1), b.link.score(u0)  # f'/f
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
    return ll, score_from_ratios(b, r1, r0), H


def _nominal_derivatives(b: Batch, u1, u0, r1, r0, hessian: bool):
    """Score and Hessian with nominal effects: the threshold block of the proportional-odds model weighted, case by
    case, by e_i = (1, z_i): a parameter (column j, threshold k) moves u_ik by e_ij."""
    w, U, L, X = b.weights, b.upper, b.lower, b.X
    E = np.concatenate([np.ones(b.Z.shape[:2] + (1,)), b.Z], axis=2)
    R, T = len(w), U.shape[2]
    by_threshold = np.einsum("rn,rnj,rnk->rjk", w, E, r1[..., None] * U - r0[..., None] * L).reshape(R, -1)
    score = np.concatenate([by_threshold, -((w * (r1 - r0))[:, None, :] @ X)[:, 0]], axis=1)
    if not hessian:
        return score, None
    s1, s0 = b.link.score(u1), b.link.score(u0)
    c11, c00, c10 = w * (r1 * s1 - r1**2), w * (-r0 * s0 - r0**2), w * (r1 * r0)
    m = E.shape[2] * T
    H = np.zeros((R, m + X.shape[2], m + X.shape[2]))
    diagonal = np.einsum("rnj,rnl,rnk->rjlk", E, E, c11[..., None] * U + c00[..., None] * L)
    coupling = np.einsum("rnj,rnl,rnk,rnq->rjklq", E, E, c10[..., None] * U, L)  # (k, q) = (y, y - 1)
    block = coupling + np.transpose(coupling, (0, 3, 4, 1, 2))
    k = np.arange(T)
    block[:, :, k, :, k] += np.moveaxis(diagonal, 3, 0)
    H[:, :m, :m] = block.reshape(R, m, m)
    H_ab = -np.einsum("rnj,rnk,rnp->rjkp", E, (c11 + c10)[..., None] * U + (c10 + c00)[..., None] * L, X)
    H[:, :m, m:] = H_ab.reshape(R, m, -1)
    H[:, m:, :m] = np.swapaxes(H[:, :m, m:], 1, 2)
    H[:, m:, m:] = np.swapaxes(X * (c11 + 2 * c10 + c00)[..., None], 1, 2) @ X
    return score, H


def threshold_table(theta: np.ndarray, b: Batch):
    """At every threshold (T, R, n) its bound u and f(u); for every category (K, R, n) log pi and the ratios
    f_k / pi_k (0 for the last) and f_{k-1} / pi_k (0 for the first); the problems with a category of probability
    0 or NaN (`bad`; those log probabilities count as 0 in the ratios)."""
    T = b.n_levels - 1
    u = theta.T[:T, :, None] - (b.X @ theta[:, T:, None])[..., 0]
    log_upper, log_lower, logf = logs = b.link.logs(u)  # every category: one bound at the ends, two inside
    logpi = np.empty((T + 1,) + u.shape[1:])
    logpi[0], logpi[T] = log_upper[0], log_lower[-1]
    logpi[1:T] = b.link.log_gap(tuple(v[1:] for v in logs), tuple(v[:-1] for v in logs), u[1:], u[:-1])
    bad, safe = np.zeros(len(theta), bool), logpi
    if not np.all(np.isfinite(logpi)):
        bad, safe = ~np.all(np.isfinite(logpi), axis=(0, 2)), np.where(np.isfinite(logpi), logpi, 0.0)
    upper, lower = np.zeros(logpi.shape), np.zeros(logpi.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        np.exp(logf - safe[:T], out=upper[:T])
        np.exp(logf - safe[1:], out=lower[1:])
    return u, np.exp(logf), logpi, upper, lower, bad


@np.errstate(invalid="ignore", over="ignore")
def _expected_information(tab: tuple, b: Batch):
    """Expected information (R, q, q), per case: category k depends on theta only through thresholds k-1, k and
    eta_i, so each case's block is tridiagonal in the thresholds plus an eta row. Also returns f_t^2 (1/pi_t +
    1/pi_{t+1}) and f_t f_{t+1} / pi_{t+1}, which the penalty's gradient reuses. Where a ratio f / pi overflowed
    (`threshold_table`) the information is not finite: `information` marks that point not `good`, silently."""
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
    s = b.link.score(u)  # f'/f at each threshold
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
    tab = threshold_table(theta, b) if table is None else table
    info, S_diag, S_next = _expected_information(tab, b)
    good = ~tab[-1] & np.all(np.isfinite(info), axis=(1, 2))  # tab[-1]: a category of probability 0 or NaN
    good, logdet, inv = _log_det_inverse(info, good, penalty_gradient)
    if not penalty_gradient:
        return info, logdet, None
    with np.errstate(all="ignore"):  # NaN marks an unusable point
        grad = _penalty_gradient(inv, tab, S_diag, S_next, b)
    grad[~good] = np.nan
    return info, logdet, grad
