"""Many fits at once: maximum likelihood where it exists and the Jeffreys-penalised fit where the data are
separated (the fit a study reports), for the replicates of a Monte Carlo study or the models of one sheet, and
the likelihood-ratio statistics at given values of a parameter (a value lies inside the 1 - a profile interval
exactly when its statistic is at most chi2_1(1 - a)).

The same engine, separation check, objective and tolerances as a single `CumulativeLink` fit of the batch's link
(`OrderedLogit` for the logit): a problem gets the answer a single fit would give it, whatever else is in its
batch: bit for bit under the logit and probit, to about 1e-15 under the cloglog (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .batch import Batch
from .design import Design
from .engine import MAX_ITER, BatchFit, newton
from .links import LOGIT, Link, get_link
from .penalised import PENALISED_TOL, jeffreys_fit
from .profile import BOUND_MARGIN, likelihood_ratios, warm_starts
from .results import CumulativeLink, CumulativeLinkResults, OrderedLogit
from .separation import directions, separation

#: Maximum-likelihood iterations before the separation check: a separated problem is then handed to the
#: penalised fit and the others continue, exactly as an uninterrupted Newton run would (Newton has no memory).
SCREEN_ITER = 8


@dataclass
class ReplicateFits:
    """The reported fits of R problems of one shape: theta (R, q) in engine order (thresholds, slopes), objective,
    log-likelihood, Hessian (minus the expected information for a penalised fit), convergence and iterations; which
    problems are separated (`direction`, each parameter's recession direction) and which were penalised."""

    batch: Batch
    theta: np.ndarray
    objective: np.ndarray
    loglik: np.ndarray
    hessian: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    direction: np.ndarray
    penalised: np.ndarray

    @property
    def separated(self) -> np.ndarray:
        return np.any(self.direction != 0, axis=1)

    @property
    def params(self) -> np.ndarray:
        """The slopes (R, p)."""
        return self.theta[:, self.batch.n_levels - 1 :]

    @cached_property
    def bse(self) -> np.ndarray:
        """Standard errors of the slopes (R, p): inverse observed information (ML) or inverse expected information
        (Jeffreys); NaN for a separated problem's unpenalised fit."""
        with np.errstate(invalid="ignore"):
            cov = np.full_like(self.hessian, np.nan)
            ok = np.isfinite(self.hessian).all(axis=(1, 2))
            if ok.any():
                try:
                    cov[ok] = np.linalg.inv(-self.hessian[ok])
                except np.linalg.LinAlgError:
                    cov[ok] = np.linalg.pinv(-self.hessian[ok])
            bse = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[:, self.batch.n_levels - 1 :]
        bse[self.separated & ~self.penalised] = np.nan
        return bse

    #: how far below a test's cut-off `warm_bounds` must lie to decide the test (`profile.BOUND_MARGIN`)
    bound_margin = BOUND_MARGIN

    def _by_objective(self, rows):
        """(penalty, mask over rows): the rows fitted by maximum likelihood, then the penalised ones."""
        return [(None, ~self.penalised[rows]), ("jeffreys", self.penalised[rows])]

    def warm_bounds(self, rows, index, values):
        """Upper bounds 2 (objective - objective at `profile.warm_starts`' point) of the likelihood-ratio
        statistics of problems `rows` with parameter `index` (engine order) fixed at `values`, and the objective at
        those points (pass it on to `likelihood_ratios`)."""
        rows, index = np.asarray(rows, dtype=int), np.asarray(index, dtype=int)
        values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
        at_warm = np.full(len(rows), -np.inf)
        for penalty, mask in self._by_objective(rows):
            if mask.any():
                sel = rows[mask]
                at_warm[mask] = warm_starts(
                    self.batch.take(sel), self.theta[sel], -self.hessian[sel], index[mask], values[mask], penalty
                )[1]
        return 2 * (self.objective[rows] - at_warm), at_warm

    def likelihood_ratios(self, rows, index, values, at_warm=None):
        """`profile.likelihood_ratios` of problems `rows` with parameter `index` (engine order) fixed at `values`,
        each on the objective of its own fit (log-likelihood, or Jeffreys-penalised): (statistic, converged)."""
        rows, index = np.asarray(rows, dtype=int), np.asarray(index, dtype=int)
        values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
        statistic, converged = np.full(len(rows), np.nan), np.zeros(len(rows), bool)
        for penalty, mask in self._by_objective(rows):
            if not mask.any():
                continue
            sel = rows[mask]
            statistic[mask], converged[mask] = likelihood_ratios(
                self.batch.take(sel),
                self.theta[sel],
                self.objective[sel],
                -self.hessian[sel],
                index[mask],
                values[mask],
                penalty,
                at_warm=None if at_warm is None else np.asarray(at_warm)[mask],
            )
        return statistic, converged

    def results(self, r: int, design: Design) -> CumulativeLinkResults:
        """Problem r as the `CumulativeLinkResults` of `design` (its design), for intervals, notes and tables."""
        link = self.batch.link
        model = OrderedLogit(design) if link is LOGIT else CumulativeLink(design, link.name)
        names = [f"threshold {t}" for t in design.threshold_names] + design.names
        model.__dict__["separation"] = separation(self.direction[r], names)  # decided already
        one = slice(r, r + 1)
        fit = BatchFit(
            self.theta[one],
            self.objective[one],
            self.loglik[one],
            np.zeros_like(self.theta[one]),
            self.hessian[one],
            self.converged[one],
            self.iterations[one],
        )
        return CumulativeLinkResults(model, fit, "jeffreys" if self.penalised[r] else None)


def fit_replicates(
    b: Batch, penalise_separated: bool = True, ml_max_iter: int = SCREEN_ITER, jeffreys_tol: float = PENALISED_TOL
) -> ReplicateFits:
    """ML fits of every problem, the separation decision, and Jeffreys-penalised refits of the separated ones.

    Maximum likelihood stops after `ml_max_iter` iterations for the separation check; a problem that is not
    separated then continues to convergence. With the defaults every problem's fit is the one
    `CumulativeLink(design, link).fit()` (then `.fit("jeffreys")` where ML is separated) gives, `link` the batch's.
    """
    ml = newton(b, max_iter=ml_max_iter)
    direction = directions(b, ml.theta)
    flags = np.any(direction != 0, axis=1)
    unfinished = np.flatnonzero(~flags & ~ml.converged)
    if len(unfinished) and ml_max_iter < MAX_ITER:
        more = newton(b.take(unfinished), start=ml.theta[unfinished], max_iter=MAX_ITER - ml_max_iter)
        for name in ("theta", "objective", "loglik", "gradient", "hessian", "converged"):
            getattr(ml, name)[unfinished] = getattr(more, name)
        ml.iterations[unfinished] += more.iterations
    fit = {name: getattr(ml, name).copy() for name in ("theta", "objective", "loglik", "hessian", "converged")}
    fit["iterations"] = ml.iterations.copy()
    penalised = flags & penalise_separated
    if penalised.any():
        rows = np.flatnonzero(penalised)
        jeffreys = jeffreys_fit(b.take(rows), tol=jeffreys_tol)
        for name in fit:
            fit[name][rows] = getattr(jeffreys, name)
    return ReplicateFits(b, direction=direction, penalised=penalised, **fit)


@dataclass
class DesignFit:
    """One design's reported fit: row `row` of `fits`."""

    design: Design
    fits: ReplicateFits
    row: int

    @property
    def penalised(self) -> bool:
        return bool(self.fits.penalised[self.row])

    @property
    def converged(self) -> bool:
        return bool(self.fits.converged[self.row])

    def results(self) -> CumulativeLinkResults:
        return self.fits.results(self.row, self.design)


def fit_designs(designs: list[Design], link: str | Link = LOGIT) -> list[DesignFit]:
    """The reported fit of each design under `link` (ML, or Jeffreys-penalised where ML is separated), designs of
    one shape (cases, predictors, outcome levels) fitted as one batch."""
    link = get_link(link)
    shapes: dict[tuple, list[int]] = {}
    for k, d in enumerate(designs):
        shapes.setdefault((len(d.y), tuple(d.names), d.n_levels), []).append(k)
    out: list[DesignFit | None] = [None] * len(designs)
    for members in shapes.values():
        fits = fit_replicates(Batch.stack([designs[k] for k in members], link))
        for row, k in enumerate(members):
            out[k] = DesignFit(designs[k], fits, row)
    return out
