"""Mean bias reduction (Kosmidis 2014; Firth 1993): the solution of the adjusted score equations U + A = 0.

For the cumulative logit (a non-canonical link, as every link here is) this is *not* the maximum of the
Jeffreys-penalised likelihood (they coincide only for two outcome levels), and it has no objective function: it is
a root of
A_t = 0.5 tr{I^-1 (P_t + Q_t)}, P_t = E[U U' U_t], Q_t = E[(d2 l / d theta d theta') U_t], with every
expectation computed exactly by summing over each case's categories. Intervals are Wald intervals (there is no
likelihood to profile). Solved by quasi-Fisher scoring from the Jeffreys-penalised estimate.
"""

from __future__ import annotations

import numpy as np

from .batch import Batch
from .likelihood import information, loglik

ADJUSTED_SCORE_TOL = 1e-10


def _per_category(theta: np.ndarray, b: Batch):
    """log pi, score and Hessian of log pi for every problem, case and category: (R, n, K), (R, n, K, q), ..."""
    R, n, p = b.X.shape
    K, q = b.n_levels, b.n_params
    single = Batch(
        np.tile(np.arange(K), R * n)[:, None],
        np.repeat(b.X.reshape(R * n, p), K, axis=0)[:, None, :],
        np.ones((R * n * K, 1)),
        K,
        b.names,
        b.link,
    )  # one problem per (problem, case, category)
    logp, score, hess = loglik(np.repeat(theta, n * K, axis=0), single)
    return logp.reshape(R, n, K), score.reshape(R, n, K, q), hess.reshape(R, n, K, q, q)


def adjusted_score(theta: np.ndarray, b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """U + A (R, q) and the expected information (R, q, q) at theta (R, q)."""
    logp, s, h = _per_category(theta, b)
    weight = b.weights[..., None] * np.exp(logp)  # (R, n, K): case weight times the category's probability
    info = information(theta, b)[0]
    inverse = np.linalg.inv(info)
    U = loglik(theta, b, hessian=False)[1]
    P = np.einsum("rnk,rnkq,rnks,rnkt->rtqs", weight, s, s, s)
    Q = np.einsum("rnk,rnkqs,rnkt->rtqs", weight, h, s)
    A = 0.5 * np.einsum("rqs,rtsq->rt", inverse, P + Q)
    return U + A, info


def solve(b: Batch, start: np.ndarray, tol: float = ADJUSTED_SCORE_TOL, max_iter: int = 200):
    """Quasi-Fisher scoring theta <- theta + I^-1 (U + A), halving steps that do not shrink |U + A|.

    Returns (theta, expected information, converged, iterations) for each problem.
    """
    theta = np.array(start, dtype=float)
    R = len(theta)
    converged = np.zeros(R, bool)
    iterations = np.zeros(R, int)
    score, info = adjusted_score(theta, b)
    for _ in range(max_iter):
        size = np.max(np.abs(score), axis=1)
        converged = size < tol
        active = np.flatnonzero(~converged)
        if not len(active):
            break
        iterations[active] += 1
        step = np.linalg.solve(info[active], score[active][..., None])[..., 0]
        scale = np.ones(len(active))
        for _ in range(40):
            trial = theta[active] + scale[:, None] * step
            with np.errstate(all="ignore"):
                new_score, new_info = adjusted_score(trial, b.take(active))
            better = np.all(np.isfinite(new_score), axis=1) & (np.max(np.abs(new_score), axis=1) < size[active])
            if better.all():
                break
            scale = np.where(better, scale, scale / 2)
        keep = better
        theta[active[keep]] = trial[keep]
        score[active[keep]], info[active[keep]] = new_score[keep], new_info[keep]
        if not keep.any():
            break
    return theta, info, np.max(np.abs(score), axis=1) < tol, iterations
