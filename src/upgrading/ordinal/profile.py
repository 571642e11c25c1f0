"""Profile (penalised) likelihood intervals: both ends of every requested parameter, solved all at once.

The end of a 1 - alpha interval of parameter k is where 2 {l(theta_hat) - max over theta with theta_k = v of
l(theta)} = chi2_1(1 - alpha); l is the objective of the fit (log-likelihood, or the Jeffreys-penalised one,
the constrained fits keeping the full-model penalty as logistf does). Each step is one batch of constrained
fits on the engine, one per interval end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .batch import Batch, Prior
from .engine import BatchFit, evaluate, newton
from .penalised import HIGHER_BY, several_maxima

#: Gradient tolerance of the constrained fits behind a likelihood-ratio statistic. The objective at a maximum
#: is accurate to about g'H^-1 g / 2, so 1e-7 gives the statistic to about 1e-13: far below any printed digit.
LR_TOL = 1e-7
#: A statistic is decided from the upper bound 2 (objective at the fit - objective at the warm start) only when
#: the bound is below the cut-off by this much: the solver may lose up to 1e-12 |objective| per accepted step
#: (line search), which stays far below 1e-6 for any objective and number of steps a fit takes.
BOUND_MARGIN = 1e-6


def constrained_fit(
    problems: Batch,
    starts: np.ndarray,
    index,
    values,
    penalty: str | None,
    prior: Prior | None = None,
    tol: float = 1e-8,
) -> BatchFit:
    """Maximise each problem's objective with parameter `index[r]` fixed at `values[r]`, from `starts`."""
    starts = np.array(starts, dtype=float)
    rows = np.arange(len(starts))
    starts[rows, index] = values
    free = np.ones(starts.shape, bool)
    free[rows, index] = False
    return newton(problems, penalty, start=starts, free=free, tol=tol, prior=prior)


def warm_starts(problems: Batch, theta, curvature, index, values, penalty: str | None, prior: Prior | None = None):
    """Points with parameter `index[m]` fixed at `values[m]` close to the constrained optimum, and the objective
    there: the fit `theta[m]` moved along the line on which its quadratic approximation (`curvature[m]`, minus the
    Hessian at the fit) is highest for each value of that parameter (-inf where that point is not feasible)."""
    rows = np.arange(len(index))
    with np.errstate(all="ignore"):
        column = np.linalg.solve(curvature, np.eye(theta.shape[1])[index][..., None])[..., 0]
        start = theta + (values - theta[rows, index])[:, None] * (column / column[rows, index][:, None])
    start[rows, index] = values
    finite = np.all(np.isfinite(start), axis=1)
    objective = np.full(len(index), -np.inf)
    if finite.any():
        part = prior.take(finite) if prior is not None else None
        objective[finite] = evaluate(start[finite], problems.take(finite), penalty, part)[0]
    return start, objective


def likelihood_ratios(
    problems: Batch,
    theta: np.ndarray,
    objective: np.ndarray,
    curvature: np.ndarray,
    index,
    values,
    penalty: str | None,
    prior: Prior | None = None,
    at_warm: np.ndarray | None = None,
):
    """2 (objective at the fit - objective maximised with parameter `index[m]` fixed at `values[m]`) for M
    problems at once: the (penalised) likelihood-ratio statistic behind a profile interval (a value lies inside
    the 1 - a interval exactly when its statistic is at most chi2_1(1 - a)).

    The constrained maximum is found from the fit with that parameter moved (as `profile_bounds` does), and is
    never taken lower than the objective at `warm_starts`' point (`at_warm`, computed if not given): the
    constrained objective can have more than one local maximum under separation. So the statistic is at most the
    bound 2 (objective - at_warm): a caller may decide a test from that bound alone when it is below the test's
    cut-off by BOUND_MARGIN, and solving could not change the decision. Returns (statistic, converged), each (M,);
    the statistic is NaN where the constrained fit did not converge.
    """
    index, values = np.asarray(index, dtype=int), np.asarray(values, dtype=float)
    if at_warm is None:
        at_warm = warm_starts(problems, theta, curvature, index, values, penalty, prior)[1]
    fit = constrained_fit(problems, theta, index, values, penalty, prior, tol=LR_TOL)
    _refit_from_warm_starts(fit, problems, theta, curvature, index, values, penalty, prior)
    best = np.fmax(fit.objective, at_warm)
    statistic = np.where(fit.converged, np.maximum(2 * (objective - best), 0.0), np.nan)
    return statistic, fit.converged


def _refit_from_warm_starts(fit: BatchFit, problems: Batch, theta, curvature, index, values, penalty, prior) -> None:
    """Constrained fits that did not converge from the fit, tried again from `warm_starts`' points (in place, where
    the retry converges): from a start far from the constrained maximum, a penalised fit of separated data can stall
    where the last bits of its penalty's gradient are lost, and whether they are depends on the processor. Where the
    objective can have more than one maximum (`penalised.several_maxima`), every fit is also fitted from there and
    keeps the higher constrained maximum."""
    refit = np.arange(problems.size) if several_maxima(problems, penalty) else np.flatnonzero(~fit.converged)
    if not len(refit):
        return
    part = prior.take(refit) if prior is not None else None
    points, reach = warm_starts(
        problems.take(refit), theta[refit], curvature[refit], index[refit], values[refit], penalty, part
    )
    usable = np.isfinite(reach)
    if not usable.any():
        return
    rows = refit[usable]
    again = constrained_fit(
        problems.take(rows), points[usable], index[rows], values[rows], penalty,
        prior.take(rows) if prior is not None else None, tol=LR_TOL,
    )  # fmt: skip
    kept = again.converged & (~fit.converged[rows] | (again.objective > fit.objective[rows] + HIGHER_BY))
    for name in ("theta", "objective", "gradient", "converged"):
        getattr(fit, name)[rows[kept]] = getattr(again, name)[kept]


@dataclass
class _Ends:
    """The search for every interval end at once: the parameter (engine index) and side of each end, the fit's
    value and a scale (its SE), the bracket found so far (`near`: inside the interval, `far`: beyond it), the
    value tried next, warm starts, the ends found, and which are still searched."""

    k: np.ndarray
    side: np.ndarray
    se: np.ndarray
    centre: np.ndarray
    near: np.ndarray
    far: np.ndarray
    value: np.ndarray
    warm: np.ndarray
    found: np.ndarray
    active: np.ndarray

    @classmethod
    def start(cls, theta, indices, se, alpha: float) -> _Ends:
        k = np.repeat(np.asarray(indices, dtype=int), 2)
        m = len(k)
        side = np.tile([-1.0, 1.0], m // 2)
        se = np.repeat(np.asarray(se, dtype=float), 2)
        centre = theta[k]
        value = centre + side * stats.norm.ppf(1 - alpha / 2) * se
        return cls(k, side, se, centre, centre.copy(), np.full(m, np.nan), value, np.tile(theta, (m, 1)),
                   np.full(m, np.nan), np.ones(m, bool))  # fmt: skip

    def unsolved(self, bad: np.ndarray) -> None:
        """Ends whose constrained fit at `value` failed (no feasible start, or no convergence from either start): the
        value tells nothing about the profile there, so it bounds nothing; try halfway back to the last value whose
        fit converged, from that fit (a continuation: each converged fit is the next one's start). An end whose
        value comes back to that last value stays unfound."""
        self.value[bad] = (self.near[bad] + self.value[bad]) / 2
        stuck = np.abs(self.value[bad] - self.near[bad]) < 1e-8 * np.maximum(1.0, self.se[bad])
        self.active[bad[stuck]] = False

    def newton(self, ok: np.ndarray, gap: np.ndarray, slope: np.ndarray) -> None:
        """One safeguarded Newton step on the drop of the profile for ends `ok` (`gap`: drop minus the cut-off,
        `slope`: its derivative): walk outwards until bracketed, then Newton inside the bracket or bisect."""
        v, c, s, sd = self.value[ok], self.centre[ok], self.side[ok], self.se[ok]
        self.near[ok] = np.where(gap < 0, v, self.near[ok])
        self.far[ok] = np.where(gap >= 0, v, self.far[ok])
        with np.errstate(divide="ignore", invalid="ignore"):
            candidate = v + np.where(np.isfinite(slope) & (slope * s > 0), -gap / slope, np.nan)
        open_bracket = np.isnan(self.far[ok])
        width = np.maximum(np.abs(v - c), sd)
        outwards = ~np.isfinite(candidate) | ((candidate - v) * s <= 0)
        walked = np.where(
            outwards, v + s * width, np.where(np.abs(candidate - c) > 64 * width, c + s * 64 * width, candidate)
        )
        unbounded = open_bracket & (np.abs(walked - c) > 1e4 * sd)
        lo, hi = np.fmin(self.near[ok], self.far[ok]), np.fmax(self.near[ok], self.far[ok])
        bisected = np.where(
            np.isfinite(candidate) & (lo < candidate) & (candidate < hi), candidate, (self.near[ok] + self.far[ok]) / 2
        )
        narrow = ~open_bracket & (hi - lo < 1e-8)
        candidate = np.where(open_bracket, walked, bisected)
        settled = ~unbounded & ~narrow & (np.abs(candidate - v) < 1e-9)
        self.found[ok[unbounded]] = s[unbounded] * np.inf
        self.found[ok[narrow | settled]] = candidate[narrow | settled]
        self.active[ok[unbounded | narrow | settled]] = False
        self.value[ok] = candidate


def profile_bounds(
    problem: Batch,
    theta: np.ndarray,
    best: float,
    penalty: str | None,
    indices,
    se,
    alpha: float,
    prior: Prior | None = None,
    max_steps: int = 60,
) -> np.ndarray:
    """Both ends of the 1 - alpha profile interval of each parameter in `indices`, for one problem.

    Safeguarded Newton on the drop of the profile, whose derivative is minus the fixed parameter's score (the
    envelope theorem): walk outwards until the root is bracketed, bisect when a step leaves the bracket. Every
    end moves at once. Returns (len(indices), 2); +-inf where the profile never drops far enough; NaN where no
    converged constrained fit confirms the crossing.
    """
    ends = _Ends.start(theta, indices, se, alpha)
    several = several_maxima(problem, penalty)
    cutoff = stats.chi2.ppf(1 - alpha, 1) / 2
    problems = problem.take(np.zeros(len(ends.k), int))

    def constrained(rows, starts):
        return constrained_fit(
            problems.take(rows),
            starts,
            ends.k[rows],
            ends.value[rows],
            penalty,
            prior.take(np.zeros(len(rows), int)) if prior is not None else None,
        )

    for _ in range(max_steps):
        idx = np.flatnonzero(ends.active)
        if not len(idx):
            break
        fit = constrained(idx, ends.warm[idx])
        # a warm start can land badly: retry from the fit; where the objective can have more than one maximum,
        # every end is also fitted from the fit, and the higher constrained maximum is the profile's
        retry = np.arange(len(idx)) if several else np.flatnonzero(~fit.converged)
        if len(retry):
            again = constrained(idx[retry], np.tile(theta, (len(retry), 1)))
            higher = again.converged & (~fit.converged[retry] | (again.objective > fit.objective[retry] + HIGHER_BY))
            for name in ("theta", "objective", "gradient", "converged"):
                getattr(fit, name)[retry[higher]] = getattr(again, name)[higher]
        # only a converged constrained fit says where the profile is (an unconverged one's objective is only a
        # lower bound); a failed one sends its end halfway back towards the last converged value
        solved = fit.converged & np.isfinite(fit.objective)
        ends.unsolved(idx[~solved])
        ok = idx[solved]
        ends.warm[ok] = fit.theta[solved]
        gap = best - fit.objective[solved] - cutoff
        slope = -fit.gradient[solved][np.arange(len(ok)), ends.k[ok]]
        hit = np.abs(gap) < 1e-9
        ends.found[ok[hit]] = ends.value[ok[hit]]
        ends.active[ok[hit]] = False
        ends.newton(ok[~hit], gap[~hit], slope[~hit])
    # an end counts only where a converged constrained fit confirms the cutoff (never where arithmetic failed, a
    # fit did not converge or the steps ran out): NaN otherwise, and the results say why
    finite = np.flatnonzero(np.isfinite(ends.found))
    if len(finite):
        ends.value[finite] = ends.found[finite]
        check = constrained(finite, ends.warm[finite])
        gap = best - check.objective - cutoff
        confirmed = check.converged & np.isfinite(check.objective) & (np.abs(gap) < 1e-6)
        ends.found[finite[~confirmed]] = np.nan
    return ends.found.reshape(-1, 2)
