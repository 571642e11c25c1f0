"""The Jeffreys-penalised fit: from more than one start where the penalised log-likelihood can have more than one
maximum.

Under a link other than the logit (probit, cloglog, ...) the penalised log-likelihood of a separated or nearly
separated sheet can have more than one local maximum, and the default start (`engine.start_values`) does not always
reach the highest: on the simulated sheet, the cloglog by-group fit of functional upgrading has two, at -45.9113 (the
default start's) and -45.8026 (confirmed in R from many starts). In a check on 25 resamples of the simulated sheet
(the four forms' by-group fits), the default start missed the highest maximum found from 14 starts in 6 of 100
cloglog and 2 of 100 probit fits; starting also from the logit fit's estimates reached it in all 200. So a fit under
another link is started from both and keeps the higher maximum. Under the logit, where no second maximum was found
(nor in R, at any of the simulated sheet's profile interval ends), the default start is the only one.

More starts find more, so the fit is the highest maximum its starts reach, not certainly the highest: of the 50
leave-one-out subsets of that cloglog fit's data, in 3 the full fit's estimates as a start reached a maximum 0.11 to
0.13 above the two starts' (`keep_higher` keeps it where a fit is warm-started). A profile's constrained fits
(`profile`), started from the neighbouring value's fit and from the fit, can also miss a higher constrained
maximum, and the interval end is then too near the estimate: on the same 25 resamples, with 13 starts at each end
found, at 18 of 2,072 cloglog ends (12 of them of key slopes) and 2 of 2,072 probit ends; at none of the simulated
sheet's 88 cloglog and 88 probit by-group ends.
"""

from __future__ import annotations

import numpy as np

from .batch import Batch, Prior
from .engine import GRADIENT_TOL, MAX_ITER, BatchFit, newton
from .links import LOGIT

#: BFGS (the penalised fit) converges superlinearly, not quadratically as Newton does: a tighter gradient
#: tolerance gives estimates as exact as the ML ones (about 1e-12), so that no last bit reaches an exhibit.
PENALISED_TOL = 1e-11
#: ... where rounding lets it: a penalised fit whose iterations run out below the ML tolerance has converged as
#: far as any ML fit has (its BFGS can wander at about 3e-10 where one processor's last bits allow 1e-11)
PENALISED_FLOOR_TOL = GRADIENT_TOL
#: A maximum replaces another only when its objective is higher by more than this: two starts that reach the same
#: maximum differ by rounding (about 1e-12); the two maxima above differ by 0.11.
HIGHER_BY = 1e-8


def several_maxima(b: Batch, penalty: str | None) -> bool:
    """Whether the objective of `b`'s problems may have more than one maximum: the Jeffreys-penalised
    log-likelihood under a link other than the logit (the log-likelihood of a cumulative link model is concave)."""
    return penalty == "jeffreys" and b.link.name != LOGIT.name and b.Z is None


def jeffreys_fit(
    b: Batch,
    prior: Prior | None = None,
    max_iter: int = MAX_ITER,
    tol: float = PENALISED_TOL,
    start: np.ndarray | None = None,
) -> BatchFit:
    """The Jeffreys-penalised fit of every problem of `b`: from `start` (R, q) if given, else from the default
    start; under a link other than the logit also from the default start (when `start` is given) and from the logit
    fit's estimates, keeping the highest of the converged maxima (a tie goes to the earlier start)."""
    options = {"prior": prior, "max_iter": max_iter, "tol": tol, "floor_tol": PENALISED_FLOOR_TOL}
    fit = newton(b, "jeffreys", start=start, **options)
    if not several_maxima(b, "jeffreys"):
        return fit
    if start is not None:
        keep_higher(fit, newton(b, "jeffreys", **options))
    logit = newton(b.under(LOGIT), "jeffreys", **options)
    keep_higher(fit, newton(b, "jeffreys", start=logit.theta, **options))
    return fit


def keep_higher(fit: BatchFit, other: BatchFit) -> None:
    """Where `other` converged to a maximum higher than `fit`'s by more than HIGHER_BY (or `fit` did not
    converge), `fit` takes it (in place)."""
    higher = other.converged & (~fit.converged | (other.objective > fit.objective + HIGHER_BY))
    for name in ("theta", "objective", "loglik", "gradient", "hessian", "converged", "iterations"):
        getattr(fit, name)[higher] = getattr(other, name)[higher]


__all__ = ["HIGHER_BY", "PENALISED_FLOOR_TOL", "PENALISED_TOL", "jeffreys_fit", "keep_higher", "several_maxima"]
