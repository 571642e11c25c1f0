"""The engine: maximises the (penalised) log-likelihood of a batch of R cumulative link problems at once.

A single fit is a batch of one (`batch.Batch`). Objectives: the log-likelihood (`penalty=None`), or the
Jeffreys-prior penalised log-likelihood (`penalty="jeffreys"`: loglik + 0.5 log det I(theta), I the expected
information of all parameters), each optionally plus a Gaussian prior -0.5 (theta - m)' P (theta - m) (`prior`): a
quadratic penalty whose precision and mean may differ from problem to problem. The likelihood, its derivatives
and the information are in `likelihood`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UpgradingError
from .batch import Batch, Prior
from .likelihood import case_bounds, information, loglik, score_from_ratios, threshold_table, total_loglik

GRADIENT_TOL = 1e-9
MAX_ITER = 200
PENALTIES = (None, "jeffreys")


# ---------------------------------------------------------------------------------------------------------
# Newton's method for R problems at once
# ---------------------------------------------------------------------------------------------------------


def start_values(b: Batch) -> np.ndarray:
    """Thresholds at the link's quantiles of the marginal cumulative shares, slopes at 0."""
    K = b.n_levels
    counts = np.stack([np.sum(b.weights * (b.y == k), axis=1) for k in range(K)], axis=1)
    shares = counts.cumsum(axis=1) / b.weights.sum(axis=1, keepdims=True)
    alpha = b.link.quantile(np.clip(shares[:, :-1], 1e-4, 1 - 1e-4))
    return np.concatenate([alpha, np.zeros((b.size, b.n_params - (K - 1)))], axis=1)


def evaluate(theta: np.ndarray, b: Batch, penalty: str | None = None, prior: Prior | None = None):
    """(objective, log-likelihood, gradient of the objective, its Hessian or minus the information) at theta.

    With the Jeffreys penalty the fourth item is minus the expected information (the Hessian of the penalty needs
    third derivatives; the solver uses BFGS there), and the likelihood's terms are read off the information's table.
    """
    if penalty is None:
        ll, grad, H = loglik(theta, b)
        obj = ll.copy()
    elif b.Z is not None:
        raise UpgradingError("the Jeffreys penalty is not implemented with nominal effects: use maximum likelihood")
    else:
        _, _, logpi, upper, lower, _ = tab = threshold_table(theta, b)
        _, R, n = logpi.shape
        at_y = b.y * (R * n) + np.arange(R * n).reshape(R, n)  # each case's category in a (K, R, n) table
        ll, ok, _ = total_loglik(theta[:, : b.n_levels - 1], np.take(logpi, at_y), b)
        r1, r0 = (np.where(ok[:, None], np.take(ratio, at_y), 0.0) for ratio in (upper, lower))
        info, logdet, pgrad = information(theta, b, penalty_gradient=True, table=tab)
        ok = np.isfinite(ll)
        pgrad[~ok] = np.nan
        grad = score_from_ratios(b, r1, r0) + pgrad
        with np.errstate(invalid="ignore"):
            obj = np.where(ok & np.all(np.isfinite(grad), axis=1), ll + 0.5 * logdet, -np.inf)
        H = np.where(ok[:, None, None], -info, 0.0)
    if prior is not None:
        lp, lgrad, lH = prior.terms(theta)
        obj, grad, H = obj + lp, grad + lgrad, H + lH
    return obj, ll, grad, H


def objective(theta: np.ndarray, b: Batch, penalty: str | None = None, prior: Prior | None = None) -> np.ndarray:
    """The objective of `evaluate` alone, computed the same way (bit for bit where it is finite), without the
    derivatives: what a line search needs to reject a trial point. Where `evaluate` would also find the gradient
    not finite (the Jeffreys objective is then -inf), this may be finite: a line search confirms an accepted point
    with `evaluate`."""
    if penalty is None:
        alpha, _, _, logp = case_bounds(theta, b)
        obj = total_loglik(alpha, logp, b)[0]
    else:
        _, _, logpi, _, _, _ = tab = threshold_table(theta, b)
        _, R, n = logpi.shape
        at_y = b.y * (R * n) + np.arange(R * n).reshape(R, n)
        ll = total_loglik(theta[:, : b.n_levels - 1], np.take(logpi, at_y), b)[0]
        logdet = information(theta, b, table=tab)[1]
        with np.errstate(invalid="ignore"):
            obj = np.where(np.isfinite(ll), ll + 0.5 * logdet, -np.inf)
    if prior is not None:
        obj = obj + prior.terms(theta)[0]
    return obj


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


def _direction(H: np.ndarray, g: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The Newton (or quasi-Newton) step -H^-1 g in the free parameters; a fixed one gets -1 on the diagonal and 0
    elsewhere, so it does not move. Where H is not negative definite (a link whose log-likelihood is not concave,
    such as cauchit, far from the optimum) and the step would not ascend, the step of the Hessian with its
    eigenvalues made negative is taken instead: an ascent direction with the same curvature scale."""
    q = H.shape[1]
    Hf = H.copy()
    fixed = ~free
    Hf[fixed] = 0.0
    Hf.transpose(0, 2, 1)[fixed] = 0.0
    Hf[fixed[:, :, None] & np.eye(q, dtype=bool)[None]] = -1.0
    try:
        step = np.linalg.solve(Hf, -g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = np.stack([np.linalg.lstsq(h, -gg, rcond=None)[0] for h, gg in zip(Hf, g)])
    uphill = np.einsum("rq,rq->r", g, step) <= 0
    if uphill.any():
        values, vectors = np.linalg.eigh(Hf[uphill])
        values = -np.maximum(np.abs(values), 1e-8 * np.abs(values).max(axis=1, keepdims=True))
        step[uphill] = -np.einsum("rij,rj,rkj,rk->ri", vectors, 1 / values, vectors, g[uphill])
    return step


def _line_search(theta, obj, step, sub: Batch, penalty, sub_prior, current: tuple):
    """Halve each problem's step until the objective does not decrease (less than 1e-12 of it); a problem whose
    step shrinks below 1e-10 of the full one stalls. Returns the accepted (theta, objective, log-likelihood,
    gradient, Hessian) and which problems stalled; `current` holds the last four at the current theta.

    The full step is evaluated with its derivatives; a halved one first by its objective alone (`objective`), the
    derivatives only where it is accepted, so that a long search costs little and accepts exactly the points, and
    returns exactly the values, that evaluating everything would."""
    m = len(theta)
    scale = np.ones(m)
    pending = np.arange(m)
    accepted = [theta.copy(), np.full(m, -np.inf), *(part.copy() for part in current[1:])]
    stalled = np.zeros(m, bool)
    first = True
    while len(pending):
        trial = theta[pending] + scale[pending, None] * step[pending]
        prior = sub_prior.take(pending) if sub_prior else None
        base = obj[pending]
        if first:
            new = evaluate(trial, sub.take(pending), penalty, prior)
            ok = _not_lower(new[0], base)
        else:  # the objective alone, then the derivatives where it is accepted
            ok = _not_lower(objective(trial, sub.take(pending), penalty, prior), base)
            new = None
            if ok.any():
                rows = np.flatnonzero(ok)
                full = evaluate(trial[rows], sub.take(pending[rows]), penalty, prior.take(rows) if prior else None)
                ok[rows] = _not_lower(full[0], base[rows])
                new = [np.zeros((len(pending),) + part.shape[1:]) for part in full]
                for whole, part in zip(new, full):
                    whole[rows] = part
        first = False
        acc = pending[ok]
        if len(acc):
            for whole, part in zip(accepted, (trial, *new)):
                whole[acc] = part[ok]
        pending = pending[~ok]
        scale[pending] /= 2
        tiny = scale[pending] < 1e-10
        stalled[pending[tiny]] = True
        pending = pending[~tiny]
    return accepted, stalled


def _not_lower(new: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Where a trial's objective is finite and not below the current one (by more than 1e-12 of it)."""
    return np.isfinite(new) & (new >= base - 1e-12 * np.maximum(1.0, np.abs(base)))


def _bfgs_update(curvature: np.ndarray, s_k: np.ndarray, y_k: np.ndarray) -> None:
    """BFGS update of minus the penalised Hessian (in place), where the curvature condition holds."""
    Bs = np.einsum("rqs,rs->rq", curvature, s_k)
    sBs, ys = np.einsum("rq,rq->r", s_k, Bs), np.einsum("rq,rq->r", y_k, s_k)
    update = (ys > 1e-12 * np.maximum(1.0, np.einsum("rq,rq->r", y_k, y_k))) & (sBs > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (
            np.einsum("rq,rs->rqs", y_k, y_k) / ys[:, None, None] - np.einsum("rq,rs->rqs", Bs, Bs) / sBs[:, None, None]
        )
    curvature[update] += change[update]


def newton(
    b: Batch,
    penalty: str | None = None,
    start: np.ndarray | None = None,
    free: np.ndarray | None = None,
    tol: float = GRADIENT_TOL,
    max_iter: int = MAX_ITER,
    prior: Prior | None = None,
    decrement_tol: float | None = None,
    floor_tol: float | None = None,
) -> BatchFit:
    """Maximise R (penalised) log-likelihoods, each with step halving until the objective does not decrease.

    Maximum likelihood (with or without a Gaussian prior): Newton with the analytic Hessian. Jeffreys
    penalty: BFGS on the analytic penalised score, its curvature started at the expected information (plus the
    prior's precision). `free` (R, q) marks the parameters that move (a profile fit fixes one per problem).
    Each problem stops on its own gradient (or, given `decrement_tol`, when its Newton decrement g' (-H)^-1 g,
    twice the objective still to gain, is below it: where rounding keeps the gradient above `tol`); only unfinished
    problems are evaluated. Given `floor_tol`, a problem whose iterations run out counts as converged where its
    gradient is below it: for a target `tol` so tight that rounding can keep a problem just above it on one
    processor and not on another.
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
        step = _direction(H[active] if penalty is None else -curvature[active], g, free[active])
        if decrement_tol is not None:
            flat = np.einsum("rq,rq->r", g, step) < decrement_tol
            converged[active[flat]] = True
            active, g, step = active[~flat], g[~flat], step[~flat]
            if not len(active):
                break
        iterations[active] += 1
        sub_prior = prior.take(active) if prior is not None else None
        current = (obj[active], ll[active], grad[active], H[active])
        accepted, stalled = _line_search(theta[active], obj[active], step, b.take(active), penalty, sub_prior, current)
        moved, idx = ~stalled, active[~stalled]
        if penalty is not None:
            s_k = np.where(free[idx], accepted[0][moved] - theta[idx], 0.0)
            y_k = np.where(free[idx], grad[idx] - accepted[3][moved], 0.0)
            part = curvature[idx]
            _bfgs_update(part, s_k, y_k)
            curvature[idx] = part
        for whole, new in zip((theta, obj, ll, grad, H), accepted):
            whole[idx] = new[moved]
        stuck = active[stalled]
        converged[stuck] = np.max(np.abs(np.where(free[stuck], grad[stuck], 0.0)), axis=1) < 1e-6
        active = active[moved]
    if floor_tol is not None and len(active):
        converged[active] = np.max(np.abs(np.where(free[active], grad[active], 0.0)), axis=1) < floor_tol
    return BatchFit(theta, obj, ll, grad, H, converged, iterations)


__all__ = ["BatchFit", "GRADIENT_TOL", "MAX_ITER", "PENALTIES", "evaluate", "newton", "objective", "start_values"]
