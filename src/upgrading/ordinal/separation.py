"""Separation: does the maximum-likelihood estimate exist, and if not, which parameters run off to infinity?

Decided from the data, never from convergence flags (a separated fit can look converged). For a batch of
problems at once: a Stiemke certificate proves "not separated" from a fit near the optimum; where it cannot,
one linear program (Konis 2007, extended to cumulative links) over all unproven problems, block-diagonal
because the problems do not interact, finds each problem's recession direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse

from .batch import Batch
from .likelihood import case_bounds, log_density

LP_TOL = 1e-7


@dataclass
class Separation:
    """Which estimates are infinite under maximum likelihood, and in which direction (+1, -1 or 0 each)."""

    separated: bool
    direction: dict[str, float] = field(default_factory=dict)

    @property
    def terms(self) -> list[str]:
        return [name for name, value in self.direction.items() if value != 0]

    def __str__(self) -> str:
        if not self.separated:
            return "none"
        return "; ".join(f"{name} -> {'+' if v > 0 else '-'}inf" for name, v in self.direction.items() if v)


def _threshold_weights(b: Batch, scale_z: np.ndarray | None = None) -> np.ndarray:
    """e_i = (1, z_i) (R, n, 1 + m): how much each threshold parameter (column j of threshold k) moves u_ik."""
    if b.Z is None:
        return np.ones(b.X.shape[:2] + (1,))
    Z = b.Z if scale_z is None else b.Z / scale_z[:, None, :]
    return np.concatenate([np.ones(b.X.shape[:2] + (1,)), Z], axis=2)


def _constraint_rows(b: Batch, scale: np.ndarray | None = None, scale_z: np.ndarray | None = None):
    """The recession-direction constraint rows of every problem, (R, 2n, q), and which rows exist.

    For case i in category k, moving theta by t*delta never lowers its probability iff
    delta u_ik >= 0 (k < K-1) and delta u_i,k-1 <= 0 (k > 0), with delta u_ik = delta_alpha_k - x_i'delta_beta
    (plus z_i'delta_gamma_k with nominal effects).
    """
    K, T = b.n_levels, b.n_levels - 1
    R, n, p = b.X.shape
    keep = b.weights > 0
    Xs = b.X if scale is None else b.X / scale[:, None, :]
    E = _threshold_weights(b, scale_z)
    m = T * E.shape[2]
    rows = np.zeros((R, 2, n, m + p))
    r, i = np.indices((R, n))
    up, low = keep & (b.y < K - 1), keep & (b.y > 0)
    for j in range(E.shape[2]):
        rows[r[up], 0, i[up], j * T + b.y[up]] = E[r[up], i[up], j]
        rows[r[low], 1, i[low], j * T + b.y[low] - 1] = -E[r[low], i[low], j]
    rows[:, 0, :, m:] = -Xs
    rows[:, 1, :, m:] = Xs
    valid = np.stack([up, low], axis=1)
    rows[~valid] = 0.0
    return rows.reshape(R, 2 * n, -1), valid.reshape(R, 2 * n)


def _order_rows(b: Batch, scale_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With nominal effects, the rows keeping every case's thresholds ordered, sum_j e_ij (delta_jk -
    delta_j,k+1) <= 0, as (owner problem, row) pairs, distinct per problem."""
    T, (R, n, p) = b.n_levels - 1, b.X.shape
    E = _threshold_weights(b, scale_z)
    rows = np.zeros((R, n, T - 1, E.shape[2] * T + p))
    for k in range(T - 1):
        for j in range(E.shape[2]):
            rows[:, :, k, j * T + k] = E[..., j]
            rows[:, :, k, j * T + k + 1] = -E[..., j]
    keep = np.broadcast_to((b.weights > 0)[..., None], rows.shape[:3])
    owner = np.nonzero(keep)[0]
    distinct = np.unique(np.column_stack([owner, rows[keep]]), axis=0)
    return distinct[:, 0].astype(int), distinct[:, 1:]


def certify(b: Batch, theta: np.ndarray) -> np.ndarray:
    """True where the data provably are not separated, from a fit `theta` near the optimum.

    By Stiemke's theorem, either some direction delta has A delta >= 0 with A delta != 0 (separation), or some
    strictly positive multipliers lambda have A'lambda = 0, never both. The ML score is A'lambda~ with
    lambda~ > 0 (each case's density-over-probability terms), so projecting lambda~ onto {A'lambda = 0} and
    finding it still strictly positive is a certificate that the MLE exists. Where the projection is not
    positive (separated data, or a fit far from the optimum) this says False and the linear program decides.
    """
    alpha, u1, u0, logp = case_bounds(theta, b)
    finite = np.isfinite(logp)
    safe = np.where(finite, logp, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        lam = np.concatenate(
            [b.weights * np.exp(log_density(u1) - safe), b.weights * np.exp(log_density(u0) - safe)], axis=1
        )
    rows, valid = _constraint_rows(b)
    lam = np.where(valid, lam, 0.0)
    positive = np.all(finite, axis=1) & np.all(np.where(valid, lam, 1.0) > 0, axis=1)
    At_lam = np.einsum("rmq,rm->rq", rows, lam)
    correction = np.einsum(
        "rmq,rq->rm", rows, np.einsum("rqs,rs->rq", np.linalg.pinv(np.einsum("rmq,rms->rqs", rows, rows)), -At_lam)
    )
    total = lam + correction
    residual = np.abs(np.einsum("rmq,rm->rq", rows, total)).max(axis=1)
    lam_max = np.where(valid, lam, 0.0).max(axis=1)
    solved = residual <= 1e-10 * np.maximum(1.0, lam_max)
    strictly = np.where(valid, total, np.inf).min(axis=1) > 1e-8 * lam_max
    return positive & solved & strictly


def linear_program(b: Batch, tol: float = LP_TOL) -> np.ndarray:
    """Each problem's recession direction (R, q): zero where it is not separated, else +-1 per parameter that
    runs off to infinity (and 0 for the others).

    The LP maximises the total slack of the constraints of `_constraint_rows` within a box, for every problem
    in one block-diagonal program (the objective is a sum over problems and the constraints do not couple
    them, so the joint optimum is the problems' optima side by side). A positive optimum means (quasi-)complete
    separation, and the optimal direction names the parameters that diverge.
    """
    K = b.n_levels
    T = b.n_thresholds
    keep = b.weights > 0
    scale = np.maximum(np.abs(np.where(keep[..., None], b.X, 0.0)).max(axis=1), 1.0)
    scale_z = None if b.Z is None else np.maximum(np.abs(np.where(keep[..., None], b.Z, 0.0)).max(axis=1), 1.0)
    rows, valid = _constraint_rows(b, scale, scale_z)
    R, q = b.size, b.n_params
    owner = np.nonzero(valid)[0]
    distinct = np.unique(np.column_stack([owner, rows[valid]]), axis=0)  # each problem's distinct rows
    owner, A = distinct[:, 0].astype(int), distinct[:, 1:]
    sizes = np.bincount(owner, minlength=R)
    costs = np.zeros((R, q))
    np.add.at(costs, owner, -A)
    i, j = np.nonzero(A)
    row_index, col_index, values = [i], [owner[i] * q + j], [-A[i, j]]
    if b.Z is None:
        for k in range(K - 2):  # thresholds stay ordered: delta_k <= delta_(k+1)
            order_rows = len(A) + np.arange(R) * (K - 2) + k
            row_index += [order_rows, order_rows]
            col_index += [np.arange(R) * q + k, np.arange(R) * q + k + 1]
            values += [np.ones(R), -np.ones(R)]
        n_rows = len(A) + R * (K - 2)
    else:  # every case's thresholds stay ordered
        order_owner, O = _order_rows(b, scale_z)
        oi, oj = np.nonzero(O)
        row_index, col_index, values = (
            row_index + [len(A) + oi],
            col_index + [order_owner[oi] * q + oj],
            values + [O[oi, oj]],
        )
        n_rows = len(A) + len(O)
    A_ub = sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(row_index), np.concatenate(col_index))), shape=(n_rows, R * q)
    )
    res = optimize.linprog(costs.reshape(-1), A_ub=A_ub, b_ub=np.zeros(n_rows), bounds=(-1, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the separation linear program failed: {res.message}")
    delta = res.x.reshape(R, q).copy()
    optimum = -np.einsum("rq,rq->r", costs, delta)
    delta[:, T:] /= scale
    if scale_z is not None:
        delta[:, K - 1 : T] /= np.repeat(scale_z, K - 1, axis=1)
    cut = tol * np.maximum(1.0, np.abs(delta).max(axis=1, keepdims=True))
    direction = np.where(np.abs(delta) > cut, np.sign(delta), 0.0)
    direction[optimum <= tol * sizes] = 0.0
    return direction


def directions(b: Batch, theta: np.ndarray | None = None) -> np.ndarray:
    """Each problem's recession direction (R, q), zero where not separated: the certificate where it proves
    'not separated' from `theta` (a fit near the optimum), the linear program for the rest."""
    out = np.zeros((b.size, b.n_params))
    unproven = np.arange(b.size) if theta is None else np.flatnonzero(~certify(b, theta))
    if len(unproven):
        out[unproven] = linear_program(b.take(unproven))
    return out


def separation(direction: np.ndarray, names: list[str]) -> Separation:
    """A problem's direction as a named Separation."""
    separated = bool(np.any(direction != 0))
    return Separation(separated, dict(zip(names, map(float, direction))) if separated else {})
