"""Profile (penalised) likelihood intervals: both ends of every requested parameter, solved all at once.

The end of a 1 - alpha interval of parameter k is where 2 {l(theta_hat) - max over theta with theta_k = v of
l(theta)} = chi2_1(1 - alpha); l is the objective of the fit (log-likelihood, or the Jeffreys-penalised one,
the constrained fits keeping the full-model penalty as logistf does). Each step is one batch of constrained
fits on the engine, one per interval end.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .engine import Batch, BatchFit, Prior, newton


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
    indices = np.asarray(indices, dtype=int)
    m = 2 * len(indices)
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
    problems = problem.take(np.zeros(m, int))

    def constrained(rows, starts):
        return constrained_fit(
            problems.take(rows),
            starts,
            k[rows],
            value[rows],
            penalty,
            prior.take(np.zeros(len(rows), int)) if prior is not None else None,
        )

    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        fit = constrained(idx, warm[idx])
        retry = np.flatnonzero(~fit.converged)
        if len(retry):  # a warm start can land badly; the maximum is unique, so retry from the fit
            again = constrained(idx[retry], np.tile(theta, (len(retry), 1)))
            for name in ("theta", "objective", "gradient", "converged"):
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
        walked = np.where(
            outwards, v + s * width, np.where(np.abs(candidate - c) > 64 * width, c + s * 64 * width, candidate)
        )
        unbounded = open_bracket & (np.abs(walked - c) > 1e4 * sd)
        lo, hi = np.fmin(near[ok], far[ok]), np.fmax(near[ok], far[ok])
        bisected = np.where(
            np.isfinite(candidate) & (lo < candidate) & (candidate < hi), candidate, (near[ok] + far[ok]) / 2
        )
        narrow = ~open_bracket & (hi - lo < 1e-8)
        candidate = np.where(open_bracket, walked, bisected)
        settled = ~unbounded & ~narrow & (np.abs(candidate - v) < 1e-9)
        found[ok[unbounded]] = s[unbounded] * np.inf
        found[ok[narrow | settled]] = candidate[narrow | settled]
        active[ok[unbounded | narrow | settled]] = False
        value[ok] = candidate
    # an end counts only where a converged constrained fit confirms the cutoff (never where arithmetic failed, a
    # fit did not converge or the steps ran out): NaN otherwise, and the results say why
    finite = np.flatnonzero(np.isfinite(found))
    if len(finite):
        value[finite] = found[finite]
        check = constrained(finite, warm[finite])
        gap = best - check.objective - cutoff
        confirmed = check.converged & np.isfinite(check.objective) & (np.abs(gap) < 1e-6)
        found[finite[~confirmed]] = np.nan
    return found.reshape(-1, 2)
