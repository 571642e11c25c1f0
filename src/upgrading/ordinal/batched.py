"""Many ordered-logit fits at once: the engine of the Monte Carlo design analysis (notebook 06).

The single-fit path (`models.fit_design`) is exact but pays Python overhead per fit. Here every array gains a
leading replicate axis: R data sets with the same number of cases, predictors and outcome levels are fitted
together by the same Newton iterations, with the same analytic score and Hessian, the same Firth (Jeffreys
prior) modified score, and the same separation decision (Stiemke certificate, else the linear program), so
that a replicate gets the answer `models.fit_design` would give it (tests check agreement to 1e-6).
Profile penalised-likelihood intervals are replaced by what the claims check needs from them: the
likelihood-ratio statistic at given values of one slope (a value is inside the 1 - alpha profile interval
exactly when that statistic is below the chi-square(1) quantile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse, special

from .models import GRADIENT_TOL, Design

MAX_ITER = 100


@dataclass
class Batch:
    """R data sets of one shape: outcome codes (R, n) in 0..K-1, predictors (R, n, p), weights (R, n)."""

    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    n_levels: int
    names: list[str]

    def __post_init__(self):
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
        """The replicates `index` (slices of the checked arrays; nothing is recomputed)."""
        part = object.__new__(Batch)
        part.n_levels, part.names = self.n_levels, self.names
        for name in ("y", "X", "weights", "upper", "lower"):
            setattr(part, name, getattr(self, name)[index])
        return part

    def design(self, r: int) -> Design:
        """Replicate r as a single-fit Design (for checks against `models.fit_design`)."""
        return Design(self.y[r].copy(), self.X[r].copy(), self.weights[r].copy(), list(range(self.n_levels)),
                      list(self.names), "y", "y ~ " + " + ".join(self.names))

    @classmethod
    def stack(cls, designs: list[Design]) -> Batch:
        """Designs of one shape (same n, predictors and number of outcome levels) as one batch."""
        first = designs[0]
        return cls(np.stack([d.y for d in designs]), np.stack([d.X for d in designs]),
                   np.stack([d.weights for d in designs]), first.n_levels, list(first.names))


# ---------------------------------------------------------------------------------------------------------
# Per-case building blocks, vectorised over replicates
# ---------------------------------------------------------------------------------------------------------


def _bounds(theta: np.ndarray, b: Batch):
    """Upper and lower latent bounds (threshold - x'beta) of each case's category, and its probability."""
    K = b.n_levels
    alpha, beta = theta[:, :K - 1], theta[:, K - 1:]
    eta = np.einsum("rnp,rp->rn", b.X, beta)
    R = len(theta)
    ext = np.concatenate([np.full((R, 1), -np.inf), alpha, np.full((R, 1), np.inf)], axis=1)
    u1 = np.take_along_axis(ext, b.y + 1, axis=1) - eta
    u0 = np.take_along_axis(ext, b.y, axis=1) - eta
    p = np.where(u0 > 0, special.expit(-u0) - special.expit(-u1), special.expit(u1) - special.expit(u0))
    return alpha, eta, u1, u0, p


def _logistic(u: np.ndarray):
    F = special.expit(u)
    finite = np.isfinite(u)
    f = np.where(finite, F * (1 - F), 0.0)
    return F, f, np.where(finite, f * (1 - 2 * F), 0.0)


def loglik(theta: np.ndarray, b: Batch, hessian: bool = True):
    """Log-likelihood (R,), score (R, q) and Hessian (R, q, q); -inf where theta is infeasible.

    The formulas of `models.loglik_parts`, with the threshold indicators kept apart from the predictors so
    that the Hessian costs O(n p^2) per replicate.
    """
    alpha, _, u1, u0, p = _bounds(theta, b)
    bad = np.any(p <= 0, axis=1) | np.any(np.diff(alpha, axis=1) <= 0, axis=1)
    w = b.weights
    ps = np.where(p > 0, p, 1.0)
    ll = np.where(bad, -np.inf, np.sum(w * np.log(ps), axis=1))
    _, g1, h1 = _logistic(u1)
    _, g0, h0 = _logistic(u0)
    l1, l0 = g1 / ps, -g0 / ps
    U, L, X = b.upper, b.lower, b.X
    XT = np.swapaxes(X, 1, 2)
    sum_over_cases = lambda onehot, v: np.einsum("rnt,rn->rt", onehot, v)
    grad = np.concatenate([sum_over_cases(U, w * l1) + sum_over_cases(L, w * l0),
                           -(XT @ (w * (l1 + l0))[..., None])[..., 0]], axis=1)
    if not hessian:
        return ll, grad, None
    c11 = w * (h1 / ps - l1**2)
    c00 = w * (-h0 / ps - l0**2)
    c10 = w * (-l1 * l0)
    T = b.n_levels - 1
    # thresholds: diagonal from each case's own bounds; a case in category t (0 < t < T) couples t-1 and t
    H_aa = np.zeros((len(theta), T, T))
    t = np.arange(T)
    H_aa[:, t, t] = sum_over_cases(U, c11) + sum_over_cases(L, c00)
    H_aa[:, t[1:], t[:-1]] = H_aa[:, t[:-1], t[1:]] = sum_over_cases(U[..., 1:], c10)
    H_ab = -(np.swapaxes(U * (c11 + c10)[..., None] + L * (c10 + c00)[..., None], 1, 2) @ X)
    H_bb = XT @ (X * (c11 + 2 * c10 + c00)[..., None])
    H = np.concatenate([np.concatenate([H_aa, H_ab], axis=2),
                        np.concatenate([np.swapaxes(H_ab, 1, 2), H_bb], axis=2)], axis=1)
    return ll, grad, H


def information(theta: np.ndarray, b: Batch, penalty_gradient: bool = False):
    """Expected information (R, q, q), log det of it (R,), and optionally the gradient (R, q) of Firth's
    penalty 0.5 log det; log det is -inf (and the gradient NaN) where the information is not positive definite.

    The same quantities as `models.expected_information`, written out per case: each case's category
    probabilities depend on theta only through the thresholds and eta_i, and category k only through the
    thresholds k-1 and k, so the case's information block is tridiagonal in the thresholds plus an eta row,
    and the penalty's gradient needs only the diagonal and first off-diagonal of the inverse's per-case block.
    """
    K = b.n_levels
    T = K - 1
    alpha, beta = theta[:, :T], theta[:, T:]
    X, w = b.X, b.weights
    eta = (X @ beta[..., None])[..., 0]
    F, f, fp = _logistic(alpha[:, None, :] - eta[..., None])  # (R, n, T) at each threshold
    R, n = eta.shape
    zero = np.zeros((R, n, 1))
    f_up, f_low = np.concatenate([f, zero], axis=2), np.concatenate([zero, f], axis=2)  # (R, n, K) per category
    pi = np.concatenate([F, np.ones((R, n, 1))], axis=2) - np.concatenate([zero, F], axis=2)
    pi = np.where(pi > 0, pi, np.finfo(float).tiny)
    d = f_up - f_low  # minus d pi_k / d eta
    S_diag = f**2 * (1 / pi[..., :-1] + 1 / pi[..., 1:])
    S_off = -f[..., :-1] * f[..., 1:] / pi[..., 1:-1]
    S_eta = f * (d[..., 1:] / pi[..., 1:] - d[..., :-1] / pi[..., :-1])
    S_ee = np.sum(d**2 / pi, axis=2)
    I_aa = np.zeros((R, T, T))
    t = np.arange(T)
    I_aa[:, t, t] = np.einsum("rn,rnt->rt", w, S_diag)
    I_aa[:, t[:-1], t[1:]] = I_aa[:, t[1:], t[:-1]] = np.einsum("rn,rnt->rt", w, S_off)
    I_ab = np.swapaxes(w[..., None] * S_eta, 1, 2) @ X
    I_bb = np.swapaxes(X * (w * S_ee)[..., None], 1, 2) @ X
    info = np.concatenate([np.concatenate([I_aa, I_ab], axis=2),
                           np.concatenate([np.swapaxes(I_ab, 1, 2), I_bb], axis=2)], axis=1)
    sign, logdet = np.linalg.slogdet(info)
    logdet = np.where(sign > 0, logdet, -np.inf)
    if not penalty_gradient:
        return info, logdet, None
    good = sign > 0
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
    fp_up, fp_low = np.concatenate([fp, zero], axis=2), np.concatenate([zero, fp], axis=2)
    with np.errstate(all="ignore"):  # as models.expected_information: NaN marks an unusable point
        aQa = f_up**2 * G_up - 2 * f_up * f_low * G_cross + f_low**2 * G_low
        coef_up = fp_up * (f_up * G_up - f_low * G_cross) / pi
        coef_low = fp_low * (f_up * G_cross - f_low * G_low) / pi
        half_s = 0.5 * aQa / pi**2
        h = (coef_up - half_s * f_up)[..., :T] + (half_s * f_low - coef_low)[..., 1:]  # coefficient of b_t
        grad = np.concatenate([(w[:, None, :] @ h)[:, 0, :],
                               ((-w * h.sum(axis=2))[:, None, :] @ X)[:, 0, :]], axis=1)
    grad[~good] = np.nan
    return info, logdet, grad


# ---------------------------------------------------------------------------------------------------------
# Newton's method for R problems at once
# ---------------------------------------------------------------------------------------------------------


def start_values(b: Batch) -> np.ndarray:
    """Thresholds at the logits of the marginal cumulative shares, slopes at 0 (as `models._start`)."""
    K = b.n_levels
    counts = np.stack([np.sum(b.weights * (b.y == k), axis=1) for k in range(K)], axis=1)
    shares = counts.cumsum(axis=1) / b.weights.sum(axis=1, keepdims=True)
    alpha = special.logit(np.clip(shares[:, :-1], 1e-4, 1 - 1e-4))
    return np.concatenate([alpha, np.zeros((b.size, b.X.shape[2]))], axis=1)


def _evaluate(theta, b, penalty):
    """(objective, log-likelihood, gradient of the objective, its Hessian or -information)."""
    if penalty is None:
        ll, grad, H = loglik(theta, b)
        return ll, ll, grad, H
    ll, grad, _ = loglik(theta, b, hessian=False)
    obj = np.full(len(theta), -np.inf)
    pgrad = np.full_like(grad, np.nan)
    info = np.zeros((len(theta), theta.shape[1], theta.shape[1]))
    ok = np.isfinite(ll)
    if ok.any():
        info[ok], logdet, pgrad[ok] = information(theta[ok], b.take(ok), penalty_gradient=True)
        obj[ok] = ll[ok] + 0.5 * logdet
    obj[~np.all(np.isfinite(pgrad), axis=1)] = -np.inf
    return obj, ll, grad + pgrad, -info


@dataclass
class BatchFit:
    """Fitted values of R problems: theta (R, q), objective and log-likelihood (R,), convergence (R,)."""

    theta: np.ndarray
    objective: np.ndarray
    loglik: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def newton(b: Batch, penalty: str | None = None, start: np.ndarray | None = None, free: np.ndarray | None = None,
           tol: float = GRADIENT_TOL, max_iter: int = MAX_ITER) -> BatchFit:
    """Maximise R (penalised) log-likelihoods, each with step halving until the objective does not decrease.

    Maximum likelihood: Newton with the analytic Hessian, as `models._newton`. Firth: BFGS on the analytic
    modified score, started at the expected information (`models._newton` uses Fisher scoring with a
    finite-difference polish; both stop at the same optimum, tests check to 1e-6). `free` (R, q) marks the parameters that move (profile fits fix one per problem). Each problem stops on its
    own gradient; only unfinished problems are evaluated.
    """
    theta = (start_values(b) if start is None else np.array(start, dtype=float)).copy()
    R, q = theta.shape
    free = np.ones((R, q), bool) if free is None else np.asarray(free, bool)
    obj, ll, grad, H = _evaluate(theta, b, penalty)
    curvature = -H.copy()  # Firth: BFGS approximation of minus the penalised Hessian, started at the information
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
            new = _evaluate(trial, sub.take(pending), penalty)
            base = obj[active[pending]]
            ok = np.isfinite(new[0]) & (new[0] >= base - 1e-12 * np.maximum(1.0, np.abs(base)))
            acc = pending[ok]
            t_theta[acc], t_obj[acc], t_ll[acc], t_grad[acc], t_H[acc] = (trial[ok], new[0][ok], new[1][ok],
                                                                          new[2][ok], new[3][ok])
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
                change = (np.einsum("rq,rs->rqs", y_k, y_k) / ys[:, None, None]
                          - np.einsum("rq,rs->rqs", Bs, Bs) / sBs[:, None, None])
            curvature[idx[update]] += change[update]
        theta[idx], obj[idx], ll[idx], grad[idx], H[idx] = (t_theta[moved], t_obj[moved], t_ll[moved],
                                                             t_grad[moved], t_H[moved])
        stuck = active[stalled]
        converged[stuck] = np.max(np.abs(np.where(free[stuck], grad[stuck], 0.0)), axis=1) < 1e-6
        active = active[moved]
    if penalty is not None:
        finite = np.isfinite(obj)
        info = np.zeros_like(H)
        if finite.any():
            info[finite] = information(theta[finite], b.take(finite))[0]
        H = -info
    return BatchFit(theta, obj, ll, grad, H, converged, iterations)


# ---------------------------------------------------------------------------------------------------------
# Separation: the certificate for all replicates at once, the linear program for the rest in one solve
# ---------------------------------------------------------------------------------------------------------


def _constraint_rows(b: Batch, scale: np.ndarray | None = None):
    """The recession-direction constraint rows of every replicate: (R, 2n, q) and which rows exist."""
    K = b.n_levels
    R, n, p = b.X.shape
    keep = b.weights > 0
    Xs = b.X if scale is None else b.X / scale[:, None, :]
    rows = np.zeros((R, 2, n, K - 1 + p))
    r, i = np.indices((R, n))
    up, low = keep & (b.y < K - 1), keep & (b.y > 0)
    rows[r[up], 0, i[up], b.y[up]] = 1.0
    rows[:, 0, :, K - 1:] = -Xs
    rows[r[low], 1, i[low], b.y[low] - 1] = -1.0
    rows[:, 1, :, K - 1:] = Xs
    valid = np.stack([up, low], axis=1)
    rows[~valid] = 0.0
    return rows.reshape(R, 2 * n, -1), valid.reshape(R, 2 * n)


def certify(b: Batch, theta: np.ndarray) -> np.ndarray:
    """`models.certify_no_separation` for every replicate: True where the data provably are not separated."""
    _, _, u1, u0, p = _bounds(theta, b)
    _, g1, _ = _logistic(u1)
    _, g0, _ = _logistic(u0)
    rows, valid = _constraint_rows(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.concatenate([b.weights * g1 / p, b.weights * g0 / p], axis=1)
    lam = np.where(valid, lam, 0.0)
    positive = np.all(p > 0, axis=1) & np.all(np.where(valid, lam, 1.0) > 0, axis=1)
    At_lam = np.einsum("rmq,rm->rq", rows, lam)
    correction = np.einsum("rmq,rq->rm", rows, np.einsum("rqs,rs->rq", np.linalg.pinv(
        np.einsum("rmq,rms->rqs", rows, rows)), -At_lam))
    total = lam + correction
    residual = np.abs(np.einsum("rmq,rm->rq", rows, total)).max(axis=1)
    lam_max = np.where(valid, lam, 0.0).max(axis=1)
    solved = residual <= 1e-10 * np.maximum(1.0, lam_max)
    strictly = np.where(valid, total, np.inf).min(axis=1) > 1e-8 * lam_max
    return positive & solved & strictly


def linear_program(b: Batch, tol: float = 1e-7) -> np.ndarray:
    """`models.detect_separation`'s linear program for every replicate, solved as one block-diagonal LP.

    The objective is a sum over replicates and the constraints do not couple them, so the joint optimum is
    the replicates' optima side by side; each replicate's optimal slack decides as in the single-fit path.
    """
    K = b.n_levels
    p = b.X.shape[2]
    keep = b.weights > 0
    scale = np.maximum(np.abs(np.where(keep[..., None], b.X, 0.0)).max(axis=1), 1.0)
    rows, valid = _constraint_rows(b, scale)
    R, q = b.size, K - 1 + p
    # each replicate's distinct rows, as the single path takes them (np.unique per replicate), in one call
    owner = np.nonzero(valid)[0]
    distinct = np.unique(np.column_stack([owner, rows[valid]]), axis=0)
    owner, A = distinct[:, 0].astype(int), distinct[:, 1:]
    sizes = np.bincount(owner, minlength=R)
    costs = np.zeros((R, q))
    np.add.at(costs, owner, -A)
    i, j = np.nonzero(A)
    row_index, col_index, values = [i], [owner[i] * q + j], [-A[i, j]]
    for k in range(K - 2):  # thresholds stay ordered: delta_k <= delta_(k+1)
        order_rows = len(A) + np.arange(R) * (K - 2) + k
        row_index += [order_rows, order_rows]
        col_index += [np.arange(R) * q + k, np.arange(R) * q + k + 1]
        values += [np.ones(R), -np.ones(R)]
    n_rows = len(A) + R * (K - 2)
    A_ub = sparse.csr_matrix((np.concatenate(values), (np.concatenate(row_index), np.concatenate(col_index))),
                             shape=(n_rows, R * q))
    res = optimize.linprog(costs.reshape(-1), A_ub=A_ub, b_ub=np.zeros(n_rows), bounds=(-1, 1), method="highs")
    if res.status != 0:  # fall back to one problem at a time
        return np.array([_single_lp(b, r, tol) for r in range(b.size)])
    optimum = -np.einsum("rq,rq->r", costs, res.x.reshape(R, q))
    return optimum > tol * sizes


def _single_lp(b: Batch, r: int, tol: float) -> bool:
    from .models import detect_separation

    return detect_separation(b.design(r), tol).separated


def separated(b: Batch, theta: np.ndarray) -> np.ndarray:
    """Is each replicate separated? The certificate where it proves 'no', the linear program elsewhere."""
    flags = np.zeros(b.size, bool)
    unproven = np.flatnonzero(~certify(b, theta))
    if len(unproven):
        flags[unproven] = linear_program(b.take(unproven))
    return flags


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------


@dataclass
class BatchResults:
    """The fits of R replicates as the claims check uses them: ML where it exists, Firth where separated."""

    batch: Batch
    theta: np.ndarray
    bse: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    separated: np.ndarray
    penalised: np.ndarray

    @property
    def params(self) -> np.ndarray:
        return self.theta[:, self.batch.n_levels - 1:]

    def profile_statistic(self, term: int, values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """2 x (objective at the fit - objective with slope `term` fixed at `values`) for replicates `rows`.

        The (penalised) likelihood-ratio statistic: `values[r]` lies inside the 1 - alpha profile interval
        exactly when it is at most chi2_1(1 - alpha).
        """
        rows = np.arange(self.batch.size) if rows is None else np.asarray(rows)
        values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
        k = self.batch.n_levels - 1 + term
        out = np.full(len(rows), np.nan)
        for penalty, mask in ((None, ~self.penalised[rows]), ("firth", self.penalised[rows])):
            if not mask.any():
                continue
            sel = rows[mask]
            start = self.theta[sel].copy()
            start[:, k] = values[mask]
            free = np.ones(start.shape, bool)
            free[:, k] = False
            fit = newton(self.batch.take(sel), penalty, start=start, free=free, tol=1e-8)
            out[mask] = 2 * (self.objective[sel] - fit.objective)
        return out


def fit(b: Batch, firth_if_separated: bool = True, ml_max_iter: int = MAX_ITER,
        firth_tol: float = 1e-8) -> BatchResults:
    """ML fits of every replicate, the separation decision, and Firth refits of the separated ones.

    `ml_max_iter` may stop maximum likelihood early: a replicate that has not converged by then is either
    separated (the linear program says so, and its ML estimates are not used) or is iterated to convergence.
    """
    ml = newton(b, max_iter=ml_max_iter)
    flags = separated(b, ml.theta)
    unfinished = np.flatnonzero(~flags & ~ml.converged)
    if len(unfinished) and ml_max_iter < MAX_ITER:
        more = newton(b.take(unfinished), start=ml.theta[unfinished])
        for name in ("theta", "objective", "loglik", "gradient", "hessian", "converged"):
            getattr(ml, name)[unfinished] = getattr(more, name)
    theta, objective, converged, H = ml.theta.copy(), ml.objective.copy(), ml.converged.copy(), ml.hessian.copy()
    penalised = flags & firth_if_separated
    if penalised.any():
        rows = np.flatnonzero(penalised)
        firth = newton(b.take(rows), "firth", tol=firth_tol)
        theta[rows], objective[rows], converged[rows], H[rows] = (firth.theta, firth.objective, firth.converged,
                                                                  firth.hessian)
    with np.errstate(invalid="ignore"):
        cov = np.full_like(H, np.nan)
        ok = np.isfinite(H).all(axis=(1, 2))
        if ok.any():
            try:
                cov[ok] = np.linalg.inv(-H[ok])
            except np.linalg.LinAlgError:
                cov[ok] = np.linalg.pinv(-H[ok])
        bse = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[:, b.n_levels - 1:]
    bse[flags & ~penalised] = np.nan
    return BatchResults(b, theta, bse, objective, converged, flags, penalised)


__all__ = ["Batch", "BatchFit", "BatchResults", "certify", "fit", "information", "linear_program", "loglik",
           "newton", "separated", "start_values"]


def profile_bounds(design: Design, theta: np.ndarray, best: float, penalty: str | None, indices, se,
                   alpha: float, max_steps: int = 60) -> np.ndarray:
    """Both ends of the 1 - alpha profile (penalised) likelihood interval of each parameter in `indices`.

    The algorithm of `OrderedLogitResults._profile_interval` (safeguarded Newton on the drop of the profile,
    whose derivative is minus the fixed parameter's score by the envelope theorem; walk outwards until the
    root is bracketed; bisect when a step leaves the bracket), run for every end at once: each step is one
    batch of constrained fits. Returns (len(indices), 2); +-inf where the profile never drops far enough.
    """
    from scipy import stats

    indices = np.asarray(indices, dtype=int)
    m, q = 2 * len(indices), len(theta)
    k = np.repeat(indices, 2)
    side = np.tile([-1.0, 1.0], len(indices))
    se = np.repeat(np.asarray(se, dtype=float), 2)
    centre = theta[k]
    cutoff = stats.chi2.ppf(1 - alpha, 1) / 2
    near, far = centre.copy(), np.full(m, np.nan)
    value = centre + side * stats.norm.ppf(1 - alpha / 2) * se
    warm = np.tile(theta, (m, 1))
    found = np.full(m, np.nan)
    active = np.ones(m, bool)
    problems = Batch.stack([design] * m)
    free = np.ones((m, q), bool)
    free[np.arange(m), k] = False

    def constrained(rows, starts):
        starts = starts.copy()
        starts[np.arange(len(rows)), k[rows]] = value[rows]
        return newton(problems.take(rows), penalty, start=starts, free=free[rows], tol=1e-8)

    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        fit = constrained(idx, warm[idx])
        retry = np.flatnonzero(~fit.converged)
        if len(retry):  # a warm start can land badly; the maximum is unique, so retry from the fit
            again = constrained(idx[retry], np.tile(theta, (len(retry), 1)))
            for name in ("theta", "objective", "gradient"):
                getattr(fit, name)[retry] = getattr(again, name)
        infeasible = ~np.isfinite(fit.objective)
        bad = idx[infeasible]
        closer = np.isnan(far[bad]) | (np.abs(value[bad] - centre[bad]) < np.abs(far[bad] - centre[bad]))
        far[bad] = np.where(closer, value[bad], far[bad])
        value[bad] = (near[bad] + far[bad]) / 2
        ok = idx[~infeasible]
        warm[ok] = fit.theta[~infeasible]
        gap = best - fit.objective[~infeasible] - cutoff
        slope = -fit.gradient[~infeasible][np.arange(len(ok)), k[ok]]
        hit = np.abs(gap) < 1e-9
        found[ok[hit]] = value[ok[hit]]
        active[ok[hit]] = False
        ok, gap, slope = ok[~hit], gap[~hit], slope[~hit]
        v, c, s, sd = value[ok], centre[ok], side[ok], se[ok]
        near[ok] = np.where(gap < 0, v, near[ok])
        far[ok] = np.where(gap >= 0, v, far[ok])
        with np.errstate(divide="ignore", invalid="ignore"):
            candidate = v + np.where(np.isfinite(slope) & (slope * s > 0), -gap / slope, np.nan)
        open_bracket = np.isnan(far[ok])
        width = np.maximum(np.abs(v - c), sd)
        outwards = ~np.isfinite(candidate) | ((candidate - v) * s <= 0)
        walked = np.where(outwards, v + s * width,
                          np.where(np.abs(candidate - c) > 64 * width, c + s * 64 * width, candidate))
        unbounded = open_bracket & (np.abs(walked - c) > 1e4 * sd)
        lo, hi = np.fmin(near[ok], far[ok]), np.fmax(near[ok], far[ok])
        bisected = np.where(np.isfinite(candidate) & (lo < candidate) & (candidate < hi), candidate,
                            (near[ok] + far[ok]) / 2)
        narrow = ~open_bracket & (hi - lo < 1e-8)
        candidate = np.where(open_bracket, walked, bisected)
        settled = ~unbounded & ~narrow & (np.abs(candidate - v) < 1e-9)
        found[ok[unbounded]] = s[unbounded] * np.inf
        found[ok[narrow | settled]] = candidate[narrow | settled]
        active[ok[unbounded | narrow | settled]] = False
        value[ok] = candidate
    return found.reshape(-1, 2)
