"""The gap coordinates of ordered thresholds, (theta_1, log(theta_2 - theta_1), ...), in which the partially pooled
fit finds its grid's modes, takes their curvature and makes its importance draws (`multilevel`).

Where an outcome level is rare or never observed, the thresholds' conditional posterior is skewed, or has its mode
on the ordering boundary where no Laplace approximation exists; in the gap coordinates the density (which holds the
Jacobian, the product of the gaps) vanishes as a gap closes, so its mode is interior, and every draw is ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import Prior
from .engine import BatchFit


@dataclass
class GapJacobianPrior(Prior):
    """The Gaussian prior plus the log Jacobian of the gap coordinates, sum_j log(theta_j+1 - theta_j): the grid's
    modes are the modes of the density of (theta_1, log gaps), the coordinates the importance draws use. That
    density vanishes as a gap closes, so its mode is interior even where an outcome level is never observed (the
    thresholds' own mode then sits on the ordering boundary, where no Laplace approximation exists). The term is
    concave in theta, so each grid problem keeps a single mode."""

    n_thresholds: int = 1

    def take(self, index) -> GapJacobianPrior:
        part = super().take(index)
        return GapJacobianPrior(part.precision, part.mean, self.n_thresholds)

    def terms(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lp, grad, H = super().terms(theta)
        gaps = np.diff(theta[:, : self.n_thresholds], axis=1)
        ordered = np.all(gaps > 0, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_gaps = np.where(ordered[:, None], np.log(np.where(gaps > 0, gaps, 1.0)), -np.inf)
        inverse, curvature = 1 / np.where(gaps > 0, gaps, 1.0), -1 / np.where(gaps > 0, gaps, 1.0) ** 2
        grad, H = grad.copy(), H.copy()
        for j in range(self.n_thresholds - 1):
            grad[:, j] -= inverse[:, j]
            grad[:, j + 1] += inverse[:, j]
            H[:, j, j] += curvature[:, j]
            H[:, j + 1, j + 1] += curvature[:, j]
            H[:, j, j + 1] -= curvature[:, j]
            H[:, j + 1, j] -= curvature[:, j]
        return lp + log_gaps.sum(axis=1), grad, H


def gap_laplace(fit: BatchFit, P: np.ndarray, usable: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each grid point's Laplace approximation in the gaps of the thresholds (theta_1, log(theta_2 - theta_1), ...):
    mode, Cholesky factor of the curvature, and the grid points where that factor exists.

    The thresholds' conditionals are skewed where an outcome level is rare or unobserved, the logs of their gaps
    much less so, and every draw made in the gaps is ordered. The modes are those of the gap coordinates' density
    (`GapJacobianPrior`); its curvature there is J' C J - D, with C minus the Hessian of the log posterior in
    theta (without the Jacobian), J = d theta / d u, and D the gradient's term, diag(e^u_m sum_{j >= m} g_j).
    """
    mode = fit.theta
    q = mode.shape[1]
    R = len(mode)
    base = Prior(P, 0.0).terms(mode)
    jacobian = GapJacobianPrior(P, 0.0, T).terms(mode)
    curvature = -fit.hessian + (jacobian[2] - base[2])  # minus the Hessian of log likelihood + Gaussian prior
    gradient = fit.gradient - (jacobian[1] - base[1])  # and its gradient
    m_u = mode.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        m_u[:, 1:T] = np.log(np.diff(mode[:, :T], axis=1))
    J = np.broadcast_to(np.eye(q), (R, q, q)).copy()  # d theta / d u at the mode
    gaps = np.exp(m_u[:, 1:T])
    for j in range(1, T):
        J[:, j, 1 : j + 1] = gaps[:, :j]
        J[:, j, 0] = 1.0
    H_u = np.swapaxes(J, 1, 2) @ curvature @ J
    tail = np.cumsum(gradient[:, T - 1 : 0 : -1], axis=1)[:, ::-1]  # sum_{j >= m} g_j, m = 1 .. T-1
    m = np.arange(1, T)
    H_u[:, m, m] -= gaps * tail
    L = np.broadcast_to(np.eye(q), (R, q, q)).copy()
    usable = usable & np.all(np.isfinite(H_u), axis=(1, 2))
    for r in np.flatnonzero(usable):
        try:
            L[r] = np.linalg.cholesky(H_u[r])
        except np.linalg.LinAlgError:
            usable[r] = False
    return m_u, L, usable
