"""A partially pooled (multilevel) ordered logit, its posterior computed deterministically: no Markov chain.

The model (tests/reference/pooling/MODEL.md): logit P(y <= j) = theta_j - eta,
eta = delta[g] + sum_v b_v[g] x_v, with group-varying slopes b_v[g] = mu_v + tau_v z_v[g], z ~ Normal(0, 1);
Normal priors on mu_v, delta and the (ordered) thresholds, HalfNormal on the between-group SDs tau_v.

Why not MCMC: a sampler's trajectories diverge with the last bit of floating point, which differs between CPUs,
so its exhibits cannot be reproduced byte for byte. Here the posterior is computed the way integrated nested
Laplace approximation does it (Rue, Martino & Chopin 2009), then corrected by importance sampling:

1. Grid. Given the hyperparameters tau = (tau_v), the latent field (thresholds, delta, mu, slopes) has a
   Gaussian prior (slopes | mu ~ Normal(mu, tau^2) is the centred form of the non-centred model, so the same
   posterior). On a regular grid of log tau every grid point is one problem of an engine batch with its own
   prior precision; one batched Newton solve (`engine.newton`) gives every conditional mode and curvature.
2. Laplace. log p(y | tau) ~ log joint at the conditional mode + 0.5 log det(prior precision)
   - 0.5 log det(posterior curvature); times the HalfNormal priors and the Jacobian tau of the log scale this
   weights the grid points. Mass in the grid's boundary cells is reported (and flagged when large).
3. Importance sampling. The Laplace layer is a Gaussian per grid point, which a skewed conditional (a separated
   group, an unobserved outcome level) defeats. So draws come from the mixture: a grid cell by its weight, log tau
   uniform within the cell, the latent field from that cell's Laplace approximation; each draw is weighted by
   exact joint density / proposal density, and the weights are Pareto-smoothed (`psis`), whose k-hat says whether
   the estimate is reliable. The draws come from `numpy.random.default_rng(seed)` (PCG64, the same stream on every
   platform): two runs give the same floats.

Knows nothing of the study: outcome, group column, varying predictors and priors are all arguments.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..errors import UpgradingError
from .batch import Batch, Prior
from .design import ModelWarning
from .engine import BatchFit, newton
from .likelihood import log_probability
from .multilevel_inputs import DEFAULT, FAST, SYMBOLS, PooledData, PoolingPriors, PoolingSettings, prepare
from .multilevel_results import PartiallyPooledResults
from .psis import khat_threshold, psis

#: a larger share of the hyperparameters' mass in the grid's edge cells means the grid cut the posterior off
EDGE_MASS_MAX = 0.01
#: the grid's Newton solves: gradient tolerance, or a Newton decrement below GRID_DECREMENT (see below). Where
#: tau is tiny the curvature's condition number reaches 1e6 and Newton stalls, limited by rounding, at a decrement
#: of 1e-11 to 1e-10 (measured): twice the objective still to gain, in nats, so 1e-8 changes a grid weight by a
#: factor 1 + 5e-9, while a threshold at rounding level would make a point's use depend on the CPU's last bits.
GRID_TOL = 1e-8
GRID_DECREMENT = 1e-8
GRID_MAX_ITER = 50
LOG_2PI = math.log(2 * math.pi)


class PoolingWarning(ModelWarning):
    """The posterior approximation is not reliable (k-hat too high, mass at the grid's edge, a failed solve)."""


# ---------------------------------------------------------------------------------------------------------
# The latent field: theta = (thresholds, delta[2..G], mu_1..k, b_1[1..G], ..., b_k[1..G]) in engine order
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Layout:
    T: int
    G: int
    k: int

    @property
    def delta(self) -> slice:
        return slice(self.T, self.T + self.G - 1)

    @property
    def mu(self) -> slice:
        start = self.T + self.G - 1
        return slice(start, start + self.k)

    def slopes(self, v: int) -> slice:
        start = self.T + self.G - 1 + self.k + v * self.G
        return slice(start, start + self.G)

    @property
    def q(self) -> int:
        return self.T + self.G - 1 + self.k + self.k * self.G


def _design_matrix(d: PooledData, lay: Layout) -> np.ndarray:
    """Predictors of the slopes: group indicators (non-reference), zero columns for mu, x_v within each group."""
    n = len(d.y)
    onehot = (d.group[:, None] == np.arange(lay.G)).astype(float)
    parts = [onehot[:, 1:], np.zeros((n, lay.k))] + [onehot * d.V[:, [v]] for v in range(lay.k)]
    return np.concatenate(parts, axis=1)


def _precision(tau: np.ndarray, lay: Layout, priors: PoolingPriors) -> np.ndarray:
    """Prior precision of the latent field (R, q, q) given tau (R, k): slopes | mu ~ Normal(mu, tau^2)."""
    R = len(tau)
    P = np.zeros((R, lay.q, lay.q))
    i = np.arange(lay.q)
    P[:, i[: lay.T], i[: lay.T]] = priors.threshold_sd**-2
    P[:, i[lay.delta], i[lay.delta]] = priors.delta_sd**-2
    for v in range(lay.k):
        m, s = lay.mu.start + v, i[lay.slopes(v)]
        c = tau[:, v] ** -2
        P[:, m, m] = priors.mu_sd**-2 + lay.G * c
        P[:, s, s] = c[:, None]
        P[:, m, s] = P[:, s, m] = -c[:, None]
    return P


def _log_hyperprior(log_tau: np.ndarray, priors: PoolingPriors) -> np.ndarray:
    """log HalfNormal(tau) + log tau (the Jacobian of the log scale), summed over the k SDs; (R,)."""
    tau = np.exp(log_tau)
    s = priors.tau_scale
    return np.sum(0.5 * math.log(2 / math.pi) - math.log(s) - 0.5 * (tau / s) ** 2 + log_tau, axis=1)


def _log_joint(
    x: np.ndarray, log_tau: np.ndarray, d: PooledData, X: np.ndarray, lay: Layout, priors: PoolingPriors
) -> np.ndarray:
    """Exact log posterior density (up to one constant) of draws x (S, q) at log tau (S, k); -inf if unordered."""
    T = lay.T
    alpha = x[:, :T]
    ordered = np.all(np.diff(alpha, axis=1) > 0, axis=1)
    eta = x[:, T:] @ X.T
    S = len(x)
    ext = np.concatenate([np.full((S, 1), -np.inf), alpha, np.full((S, 1), np.inf)], axis=1)
    logp = log_probability(ext[:, d.y + 1] - eta, ext[:, d.y] - eta)
    ll = np.where(np.all(np.isfinite(logp), axis=1), np.sum(np.where(np.isfinite(logp), logp, 0.0), axis=1), -np.inf)

    def normal(z, sd):
        return -0.5 * (z / sd) ** 2 - np.log(sd) - 0.5 * LOG_2PI

    lp = normal(alpha, priors.threshold_sd).sum(axis=1) + normal(x[:, lay.delta], priors.delta_sd).sum(axis=1)
    tau = np.exp(log_tau)
    for v in range(lay.k):
        mu = x[:, lay.mu.start + v]
        lp += normal(mu, priors.mu_sd) + normal(x[:, lay.slopes(v)] - mu[:, None], tau[:, [v]]).sum(axis=1)
    lp += _log_hyperprior(log_tau, priors)
    return np.where(ordered, ll + lp, -np.inf)


# ---------------------------------------------------------------------------------------------------------
# 1-2. The grid of log tau and its Laplace weights
# ---------------------------------------------------------------------------------------------------------


def _grid(priors: PoolingPriors, settings: PoolingSettings, k: int) -> tuple[np.ndarray, int]:
    """The grid points (R, k) of log tau, a regular grid of n_axis points per SD, and n_axis."""
    low, high = (math.log(priors.tau_scale * t) for t in settings.tau_range)
    n_axis = int(math.ceil((high - low) / settings.grid_step)) + 1
    axis = low + settings.grid_step * np.arange(n_axis)
    mesh = np.meshgrid(*[axis] * k, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1), n_axis


def _conditional_modes(
    d: PooledData, X: np.ndarray, lay: Layout, log_tau: np.ndarray, priors: PoolingPriors, settings: PoolingSettings
) -> tuple[BatchFit, np.ndarray]:
    """The latent field's mode and curvature at every grid point, one engine problem per point, each with its own
    prior precision (also returned): one batched Newton solve."""
    R = len(log_tau)
    P = _precision(np.exp(log_tau), lay, priors)
    batch = Batch(
        np.tile(d.y, (R, 1)),
        np.tile(X, (R, 1, 1)),
        np.ones((R, len(d.y))),
        d.n_levels,
        [f"x{j}" for j in range(X.shape[1])],
    )
    stop = GRID_DECREMENT if settings.stop_at_acceptance else None
    return newton(batch, prior=Prior(P), tol=GRID_TOL, max_iter=GRID_MAX_ITER, decrement_tol=stop), P


def _laplace(
    fit: BatchFit, curvature: np.ndarray, P: np.ndarray, log_tau: np.ndarray, priors: PoolingPriors
) -> tuple[np.ndarray, np.ndarray]:
    """Which grid points have a usable mode, and the log posterior of log tau at each (-inf where not usable)."""
    R, q = len(log_tau), curvature.shape[1]
    # where tau is tiny the precision 1/tau^2 is huge and the gradient's rounding noise exceeds any absolute
    # tolerance: a mode is also accepted when Newton's decrement g'H^-1 g (twice the objective still to gain) is nil
    finite = np.isfinite(fit.objective) & np.all(np.isfinite(curvature), axis=(1, 2))
    decrement = np.full(R, np.inf)
    with np.errstate(all="ignore"):
        step = np.linalg.solve(np.where(finite[:, None, None], curvature, np.eye(q)), fit.gradient[..., None])
    decrement[finite] = np.einsum("rq,rq->r", fit.gradient, step[..., 0])[finite]
    usable = finite & (fit.converged | (np.abs(decrement) < GRID_DECREMENT))
    L = np.broadcast_to(np.eye(q), curvature.shape).copy()
    for r in np.flatnonzero(usable):
        try:
            L[r] = np.linalg.cholesky(curvature[r])
        except np.linalg.LinAlgError:
            usable[r] = False
    logdet_post = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    logdet_prior = np.linalg.slogdet(P)[1]
    log_post = np.where(
        usable, fit.objective + 0.5 * logdet_prior - 0.5 * logdet_post + _log_hyperprior(log_tau, priors), -np.inf
    )
    return usable, log_post


def _edge_mass(grid_w: np.ndarray, n_axis: int, k: int) -> dict[str, float]:
    """The grid weight in the lowest and the highest cells of each SD's axis."""
    R = len(grid_w)
    idx = np.stack(np.unravel_index(np.arange(R), (n_axis,) * k), axis=1)
    edge = {}
    for v, sym in enumerate(SYMBOLS[:k]):
        edge[f"tau_{sym} low"] = float(grid_w[idx[:, v] == 0].sum())
        edge[f"tau_{sym} high"] = float(grid_w[idx[:, v] == n_axis - 1].sum())
    return edge


# ---------------------------------------------------------------------------------------------------------
# 3. Importance sampling from the grid's mixture
# ---------------------------------------------------------------------------------------------------------


def _gap_laplace(
    mode: np.ndarray, curvature: np.ndarray, usable: np.ndarray, lay: Layout
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each grid point's Laplace approximation in the gaps of the thresholds (theta_1, log(theta_2 - theta_1), ...):
    mode, Cholesky factor of the curvature, and the grid points where that factor exists.

    The thresholds' conditionals are skewed where an outcome level is rare or unobserved, the logs of their gaps
    much less so, and every draw made in the gaps is ordered.
    """
    T, q = lay.T, lay.q
    R = len(mode)
    m_u = mode.copy()
    m_u[:, 1:T] = np.log(np.diff(mode[:, :T], axis=1))
    J = np.broadcast_to(np.eye(q), (R, q, q)).copy()  # d theta / d u at the mode
    gaps = np.exp(m_u[:, 1:T])
    for j in range(1, T):
        J[:, j, 1 : j + 1] = gaps[:, :j]
        J[:, j, 0] = 1.0
    H_u = np.swapaxes(J, 1, 2) @ curvature @ J
    L = np.broadcast_to(np.eye(q), (R, q, q)).copy()
    usable = usable.copy()
    for r in np.flatnonzero(usable):
        try:
            L[r] = np.linalg.cholesky(H_u[r])
        except np.linalg.LinAlgError:
            usable[r] = False
    return m_u, L, usable


def _draw_proposal(
    m_u: np.ndarray,
    L: np.ndarray,
    usable: np.ndarray,
    log_tau: np.ndarray,
    grid_w: np.ndarray,
    lay: Layout,
    settings: PoolingSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws (latent field, log tau) from the grid's mixture and their log proposal density: a cell by its weight,
    log tau uniform in the cell, the latent field from the cell's gap Laplace approximation as a multivariate t."""
    T, q, k = lay.T, lay.q, lay.k
    R = len(m_u)
    w = np.where(usable, grid_w, 0.0)
    w = w / w.sum()
    half_logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    rng = np.random.default_rng(settings.seed)
    S, df = settings.draws, settings.proposal_df
    comp = rng.choice(R, size=S, p=w)
    jitter = (rng.random((S, k)) - 0.5) * settings.grid_step
    z = rng.standard_normal((S, q))
    if df is not None:  # multivariate t: heavier tails than the Laplace Gaussians, so no draw is starved
        z *= np.sqrt(df / rng.chisquare(df, S))[:, None]
    L_inv_T = np.swapaxes(np.linalg.inv(L), 1, 2)
    u = m_u[comp] + np.einsum("sij,sj->si", L_inv_T[comp], z)
    x = u.copy()
    x[:, :T] = u[:, :1] + np.concatenate([np.zeros((S, 1)), np.cumsum(np.exp(u[:, 1:T]), axis=1)], axis=1)
    log_q = (
        np.log(w[comp])
        - k * math.log(settings.grid_step)
        + half_logdet[comp]
        + _log_kernel(z, df)
        - np.sum(u[:, 1:T], axis=1)
    )  # the Jacobian of gaps -> thresholds
    return x, log_tau[comp] + jitter, log_q


def _log_kernel(z: np.ndarray, df: float | None) -> np.ndarray:
    """Log density of standardised draws z (S, q): standard Normal, or standard multivariate t with df."""
    q = z.shape[1]
    zz = np.sum(z * z, axis=1)
    if df is None:
        return -0.5 * zz - 0.5 * q * LOG_2PI
    return (
        special.gammaln((df + q) / 2)
        - special.gammaln(df / 2)
        - 0.5 * q * math.log(df * math.pi)
        - 0.5 * (df + q) * np.log1p(zz / df)
    )


def _named_draws(x: np.ndarray, tau: np.ndarray, lay: Layout, groups: list) -> tuple[list[str], np.ndarray]:
    """The draws as reported, one column per parameter named as in MODEL.md: mu, tau, slopes, delta, theta."""
    symbols = SYMBOLS[: lay.k]
    names, columns = [], []
    for v, sym in enumerate(symbols):
        names.append(f"mu_{sym}")
        columns.append(x[:, lay.mu.start + v])
    for v, sym in enumerate(symbols):
        names.append(f"tau_{sym}")
        columns.append(tau[:, v])
    for v, sym in enumerate(symbols):
        for j, g in enumerate(groups):
            names.append(f"{sym}[{g}]")
            columns.append(x[:, lay.slopes(v).start + j])
    for j, g in enumerate(groups[1:]):
        names.append(f"delta[{g}]")
        columns.append(x[:, lay.delta.start + j])
    for t in range(lay.T):
        names.append(f"theta[{t + 1}]")
        columns.append(x[:, t])
    return names, np.column_stack(columns)


# ---------------------------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------------------------


def diagnose(k_hat: float, draws: int, edge_mass: dict[str, float], usable: np.ndarray) -> list[str]:
    """Why the posterior cannot be trusted, if it cannot: k-hat above its threshold for this many draws, too much
    mass in the grid's edge cells, grid points that could not be fitted. Empty when reliable."""
    problems = []
    limit = khat_threshold(draws)
    if not k_hat <= limit:
        problems.append(
            f"PSIS k-hat {k_hat:.2f} > {limit:.2f}: the importance-sampling correction is "
            "unreliable; these numbers are not a posterior"
        )
    worst = max(edge_mass, key=edge_mass.get)
    if edge_mass[worst] > EDGE_MASS_MAX:
        problems.append(
            f"{edge_mass[worst]:.3f} of the hyperparameters' mass lies in the grid's edge "
            f"cells ({worst}): widen the grid (settings.tau_range)"
        )
    unusable = int(np.sum(~usable))
    if unusable:
        problems.append(f"{unusable} of {len(usable)} grid points could not be fitted")
    return problems


def partially_pooled(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    varying: Sequence[str] | str,
    priors: PoolingPriors,
    *,
    levels: Sequence | None = None,
    groups: Sequence | None = None,
    fast: bool = False,
    settings: PoolingSettings | None = None,
    warn: bool = True,
) -> PartiallyPooledResults:
    """Posterior of the partially pooled ordered logit of `outcome` with slopes of `varying` per `group`.

    `levels`: all outcome levels in order (default: an ordered categorical's categories, or the integers from the
    lowest to the highest score); `groups`: the group order, first = reference (default: a categorical's order,
    else sorted); `fast=True` uses `FAST` (coarser grid, fewer draws) unless `settings` is given. A posterior
    that cannot be trusted is returned with its problems (`ok`, `problems`) and, with `warn`, a PoolingWarning
    for each. Deterministic: the same input gives the same floats.
    """
    settings = settings or (FAST if fast else DEFAULT)
    d = prepare(data, outcome, group, varying, levels, groups)
    lay = Layout(d.n_levels - 1, len(d.groups), len(d.varying))
    X = _design_matrix(d, lay)
    log_tau, n_axis = _grid(priors, settings, lay.k)
    fit, P = _conditional_modes(d, X, lay, log_tau, priors, settings)
    curvature = -fit.hessian
    usable, log_post = _laplace(fit, curvature, P, log_tau, priors)
    if not np.isfinite(log_post).any():
        raise UpgradingError(f"{outcome}: no grid point of the hyperparameters could be fitted")
    grid_w = np.exp(log_post - special.logsumexp(log_post))
    edge = _edge_mass(grid_w, n_axis, lay.k)
    m_u, L, usable = _gap_laplace(fit.theta, curvature, usable, lay)
    x, draw_log_tau, log_q = _draw_proposal(m_u, L, usable, log_tau, grid_w, lay, settings)
    weights, k_hat = psis(_log_joint(x, draw_log_tau, d, X, lay, priors) - log_q)
    problems = diagnose(k_hat, settings.draws, edge, usable)
    if warn:
        for text in problems:
            warnings.warn(f"{outcome}: {text}", PoolingWarning, stacklevel=2)
    names, draws = _named_draws(x, np.exp(draw_log_tau), lay, d.groups)
    grid = dict(log_tau=log_tau, weight=grid_w, converged=fit.converged, usable=usable, edge_mass=edge)
    return PartiallyPooledResults(d, priors, settings, names, draws, weights, k_hat, grid, problems)
