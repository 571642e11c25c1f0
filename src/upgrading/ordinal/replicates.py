"""Fits of many replicates at once, as a Monte Carlo study uses them: maximum likelihood where it exists, the
Jeffreys-penalised fit where the data are separated, and the likelihood-ratio statistic at given values of a
slope (a value lies inside the 1 - alpha profile interval exactly when the statistic is below chi2_1(1 - alpha)).

The same engine, separation check and objective as a single `OrderedLogit` fit: a replicate gets the answer a
single fit would give it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import MAX_ITER, Batch, newton
from .profile import constrained_fit
from .separation import directions


@dataclass
class ReplicateFits:
    """The fits of R replicates: theta (R, q), slope SEs (R, p), objective, convergence, flags (R,)."""

    batch: Batch
    theta: np.ndarray
    bse: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    separated: np.ndarray
    penalised: np.ndarray

    @property
    def params(self) -> np.ndarray:
        """The slopes (R, p)."""
        return self.theta[:, self.batch.n_levels - 1 :]

    def profile_statistic(self, term: int, values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """2 x (objective at the fit - objective with slope `term` fixed at `values`) for replicates `rows`."""
        rows = np.arange(self.batch.size) if rows is None else np.asarray(rows)
        values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
        k = self.batch.n_levels - 1 + term
        out = np.full(len(rows), np.nan)
        for penalty, mask in ((None, ~self.penalised[rows]), ("jeffreys", self.penalised[rows])):
            if not mask.any():
                continue
            sel = rows[mask]
            fit = constrained_fit(self.batch.take(sel), self.theta[sel], k, values[mask], penalty)
            out[mask] = 2 * (self.objective[sel] - fit.objective)
        return out


def fit_replicates(
    b: Batch, penalise_separated: bool = True, ml_max_iter: int = MAX_ITER, jeffreys_tol: float = 1e-8
) -> ReplicateFits:
    """ML fits of every replicate, the separation decision, and Jeffreys-penalised refits of the separated ones.

    `ml_max_iter` may stop maximum likelihood early: a replicate that has not converged by then is either
    separated (the linear program says so, and its ML estimates are not used) or is iterated to convergence.
    """
    ml = newton(b, max_iter=ml_max_iter)
    flags = np.any(directions(b, ml.theta) != 0, axis=1)
    unfinished = np.flatnonzero(~flags & ~ml.converged)
    if len(unfinished) and ml_max_iter < MAX_ITER:
        more = newton(b.take(unfinished), start=ml.theta[unfinished])
        for name in ("theta", "objective", "loglik", "gradient", "hessian", "converged"):
            getattr(ml, name)[unfinished] = getattr(more, name)
    theta, objective, converged, H = ml.theta.copy(), ml.objective.copy(), ml.converged.copy(), ml.hessian.copy()
    penalised = flags & penalise_separated
    if penalised.any():
        rows = np.flatnonzero(penalised)
        jeffreys = newton(b.take(rows), "jeffreys", tol=jeffreys_tol)
        theta[rows], objective[rows], converged[rows], H[rows] = (
            jeffreys.theta,
            jeffreys.objective,
            jeffreys.converged,
            jeffreys.hessian,
        )
    with np.errstate(invalid="ignore"):
        cov = np.full_like(H, np.nan)
        ok = np.isfinite(H).all(axis=(1, 2))
        if ok.any():
            try:
                cov[ok] = np.linalg.inv(-H[ok])
            except np.linalg.LinAlgError:
                cov[ok] = np.linalg.pinv(-H[ok])
        bse = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[:, b.n_levels - 1 :]
    bse[flags & ~penalised] = np.nan
    return ReplicateFits(b, theta, bse, objective, converged, flags, penalised)
