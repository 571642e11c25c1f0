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
   the estimate is reliable. The draws come in blocks of `DRAW_BLOCK`, block b from
   `numpy.random.default_rng([seed, b])` (PCG64, the same stream on every platform): two runs give the same
   floats, and an attempt that asks for more draws from the same proposal keeps the blocks it has.

Knows nothing of the study: outcome, group column, varying predictors and priors are all arguments.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy import special

from ..errors import UpgradingError
from .batch import Batch
from .design import ModelWarning
from .engine import BatchFit, newton
from .gaps import GapJacobianPrior, gap_laplace
from .multilevel_density import LOG_2PI, Layout, Patterns, log_hyperprior, log_joint
from .multilevel_inputs import DEFAULT, DRAW_BLOCK, FAST, SYMBOLS, PooledData, PoolingPriors, PoolingSettings, prepare
from .multilevel_results import PartiallyPooledResults
from .psis import psis

#: a larger share of the hyperparameters' mass in the grid's edge cells means the grid cut the posterior off
EDGE_MASS_MAX = 0.01
#: the grid's Newton solves: gradient tolerance, or a Newton decrement below GRID_DECREMENT (see below). Where
#: tau is tiny the curvature's condition number reaches 1e6 and Newton stalls, limited by rounding, at a decrement
#: of 1e-11 to 1e-10 (measured): twice the objective still to gain, in nats, so 1e-8 changes a grid weight by a
#: factor 1 + 5e-9, while a threshold at rounding level would make a point's use depend on the CPU's last bits.
GRID_TOL = 1e-8
GRID_DECREMENT = 1e-8
GRID_MAX_ITER = 50


class PoolingWarning(ModelWarning):
    """The posterior approximation is not reliable (k-hat too high, mass at the grid's edge, a failed solve)."""


# ---------------------------------------------------------------------------------------------------------
# The latent field: theta = (thresholds, delta[2..G], mu_1..k, b_1[1..G], ..., b_k[1..G]) in engine order
# ---------------------------------------------------------------------------------------------------------


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
    prior = GapJacobianPrior(P, 0.0, lay.T)
    fit = newton(batch, start=_ordered_start(d, lay, R), prior=prior, tol=GRID_TOL, max_iter=GRID_MAX_ITER,
                 decrement_tol=stop)  # fmt: skip
    return fit, P


def _ordered_start(d: PooledData, lay: Layout, R: int) -> np.ndarray:
    """Thresholds at the logits of the cumulative shares with half a case added to every level (strictly
    ordered, also where a level is unobserved), everything else at 0."""
    counts = np.bincount(d.y, minlength=d.n_levels) + 0.5
    shares = np.cumsum(counts)[:-1] / counts.sum()
    start = np.zeros((R, lay.q))
    start[:, : lay.T] = special.logit(shares)
    return start


def _accepted(fit: BatchFit) -> np.ndarray:
    """Grid points whose solve reached its mode: converged, or (where tau is tiny the precision 1/tau^2 is huge
    and the gradient's rounding noise exceeds any absolute tolerance) a Newton decrement g'H^-1 g, twice the
    objective still to gain, that is nil."""
    curvature = -fit.hessian
    R, q = curvature.shape[:2]
    finite = np.isfinite(fit.objective) & np.all(np.isfinite(curvature), axis=(1, 2))
    decrement = np.full(R, np.inf)
    with np.errstate(all="ignore"):
        step = np.linalg.solve(np.where(finite[:, None, None], curvature, np.eye(q)), fit.gradient[..., None])
    decrement[finite] = np.einsum("rq,rq->r", fit.gradient, step[..., 0])[finite]
    return finite & (fit.converged | (np.abs(decrement) < GRID_DECREMENT))


def _laplace(
    fit: BatchFit, L: np.ndarray, usable: np.ndarray, P: np.ndarray, log_tau: np.ndarray, priors: PoolingPriors
) -> np.ndarray:
    """The log posterior of log tau at each grid point (-inf where not usable): the Laplace approximation in the
    gap coordinates, log density at the mode (the objective, which holds the Jacobian) + 0.5 log det(prior
    precision) - 0.5 log det(curvature in the gap coordinates, L L')."""
    logdet_post = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    logdet_prior = np.linalg.slogdet(P)[1]
    return np.where(
        usable, fit.objective + 0.5 * logdet_prior - 0.5 * logdet_post + log_hyperprior(log_tau, priors), -np.inf
    )


def _edge_mass(grid_w: np.ndarray, log_tau: np.ndarray, width: float) -> dict[str, float]:
    """The grid weight within `width` (on log tau) of the lowest and the highest grid points of each SD's axis: a
    fixed width, so that a finer grid (a fit's later attempt) is held to the same edge check."""
    edge = {}
    for v, sym in enumerate(SYMBOLS[: log_tau.shape[1]]):
        low, high = log_tau[:, v].min(), log_tau[:, v].max()
        edge[f"tau_{sym} low"] = float(grid_w[log_tau[:, v] < low + width - 1e-9].sum())
        edge[f"tau_{sym} high"] = float(grid_w[log_tau[:, v] > high - width + 1e-9].sum())
    return edge


def _draws_edge_mass(
    draw_log_tau: np.ndarray, weights: np.ndarray, log_tau: np.ndarray, step: float, width: float
) -> dict[str, float]:
    """The importance-corrected posterior mass within `width` of each end of each SD's grid (whose outer cells end
    half a `step` beyond the outer points): mass that the correction moves to the grid's boundary, where the
    posterior may go on beyond it, counts in the edge check as the Laplace weights' does."""
    edge = {}
    for v, sym in enumerate(SYMBOLS[: log_tau.shape[1]]):
        low, high = log_tau[:, v].min() - step / 2, log_tau[:, v].max() + step / 2
        edge[f"tau_{sym} low"] = float(weights[draw_log_tau[:, v] < low + width].sum())
        edge[f"tau_{sym} high"] = float(weights[draw_log_tau[:, v] > high - width].sum())
    return edge


# ---------------------------------------------------------------------------------------------------------
# 3. Importance sampling from the grid's mixture
# ---------------------------------------------------------------------------------------------------------


@dataclass
class LaplaceLayer:
    """One grid of log tau and its Laplace layer: each point's gap-coordinate mode m_u, Cholesky factor L of the
    curvature, usability and normalised weight (the proposal's mixture), and what the checks read."""

    step: float
    log_tau: np.ndarray
    converged: np.ndarray
    usable: np.ndarray
    weight: np.ndarray
    m_u: np.ndarray
    L_inv: np.ndarray
    half_logdet: np.ndarray

    @classmethod
    def fit(cls, d: PooledData, X: np.ndarray, lay: Layout, priors: PoolingPriors, settings: PoolingSettings):
        log_tau, _ = _grid(priors, settings, lay.k)
        fit, P = _conditional_modes(d, X, lay, log_tau, priors, settings)
        m_u, L, usable = gap_laplace(fit, P, _accepted(fit), lay.T)
        log_post = _laplace(fit, L, usable, P, log_tau, priors)
        if not np.isfinite(log_post).any():
            raise UpgradingError(f"{d.outcome}: no grid point of the hyperparameters could be fitted")
        weight = np.exp(log_post - special.logsumexp(log_post))
        half_logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        return cls(settings.grid_step, log_tau, fit.converged, usable, weight, m_u, np.linalg.inv(L), half_logdet)


def grid_settings(settings: PoolingSettings) -> tuple:
    """The settings that make the grid and its Laplace layer (what `LaplaceLayer.fit` reads)."""
    return (settings.grid_step, settings.tau_range, settings.stop_at_acceptance)


def proposal_settings(settings: PoolingSettings) -> tuple:
    """The settings that make the proposal and its draws: every field but the number of draws and of attempts, so
    that a setting added later cannot silently reuse draws made under another proposal."""
    counts = ("draws", "max_attempts")
    return tuple((f.name, getattr(settings, f.name)) for f in fields(settings) if f.name not in counts)


@dataclass
class DrawBlock:
    """One block of draws: latent field x (B, q), log tau (B, k), log importance ratio (B,)."""

    x: np.ndarray
    log_tau: np.ndarray
    log_ratio: np.ndarray


def _draw_block(layer: LaplaceLayer, pat: Patterns, lay: Layout, priors: PoolingPriors, settings: PoolingSettings,
                b: int) -> DrawBlock:  # fmt: skip
    """Block b of draws from the grid's mixture, weighed: a cell by its weight, log tau uniform in the cell, the
    latent field from the cell's gap Laplace approximation as a multivariate t (or Gaussian); the log ratio is
    exact joint density minus proposal density."""
    T, q, k = lay.T, lay.q, lay.k
    w = np.where(layer.usable, layer.weight, 0.0)
    w = w / w.sum()
    rng = np.random.default_rng([settings.seed, b])
    S, df = DRAW_BLOCK, settings.proposal_df
    comp = rng.choice(len(w), size=S, p=w)
    jitter = (rng.random((S, k)) - 0.5) * layer.step
    z = rng.standard_normal((S, q))
    if df is not None:  # multivariate t: heavier tails than the Laplace Gaussians, so no draw is starved
        z *= np.sqrt(df / rng.chisquare(df, S))[:, None]
    u = layer.m_u[comp] + (z[:, None, :] @ layer.L_inv[comp])[:, 0]  # u = m + L'^-1 z, z as a row
    x = u.copy()
    x[:, :T] = u[:, :1] + np.concatenate([np.zeros((S, 1)), np.cumsum(np.exp(u[:, 1:T]), axis=1)], axis=1)
    log_q = (
        np.log(w[comp])
        - k * math.log(layer.step)
        + layer.half_logdet[comp]
        + _log_kernel(z, df)
        - np.sum(u[:, 1:T], axis=1)
    )  # the Jacobian of gaps -> thresholds
    log_tau = layer.log_tau[comp] + jitter
    return DrawBlock(x, log_tau, log_joint(x, log_tau, pat, lay, priors) - log_q)


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
    names = [f"mu_{sym}" for sym in symbols] + [f"tau_{sym}" for sym in symbols]
    names += [f"{sym}[{g}]" for sym in symbols for g in groups] + [f"delta[{g}]" for g in groups[1:]]
    names += [f"theta[{t + 1}]" for t in range(lay.T)]
    from_x = [lay.mu.start + v for v in range(lay.k)]  # the columns of x, in the order of `names` (tau aside)
    from_x += [lay.slopes(v).start + j for v in range(lay.k) for j in range(len(groups))]
    from_x += [lay.delta.start + j for j in range(len(groups) - 1)] + list(range(lay.T))
    k = lay.k
    draws = np.empty((x.shape[0], len(names)))  # one gather of x's columns, not a stack of one column at a time
    draws[:, :k], draws[:, k : 2 * k], draws[:, 2 * k :] = x[:, from_x[:k]], tau, x[:, from_x[k:]]
    return names, draws


# ---------------------------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------------------------


def diagnose(edge_mass: dict[str, float], usable: np.ndarray) -> list[str]:
    """What more draws cannot fix: too much mass in the grid's edge cells, grid points that could not be fitted.
    (How accurate the draws are is the accuracy rule's, `PartiallyPooledResults.accuracy_problems`.)"""
    problems = []
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
    reported: Sequence[str] | None = None,
) -> PartiallyPooledResults:
    """Posterior of the partially pooled ordered logit of `outcome` with slopes of `varying` per `group`.

    `levels`: all outcome levels in order (default: an ordered categorical's categories, or the integers from the
    lowest to the highest score); `groups`: the group order, first = reference (default: a categorical's order,
    else sorted); `fast=True` uses `FAST` (coarser grid, fewer draws) unless `settings` is given. A posterior
    that cannot be trusted is returned with its problems (`ok`, `problems`) and, with `warn`, a PoolingWarning
    for each. Deterministic: the same input gives the same floats.

    Accuracy: the posterior must pass the accuracy rule (`ACCURACY`) on the parameters whose summaries the caller
    reports (`reported`, names as in `names`; default mu, tau and every group slope); until it does, the fit
    improves itself (`PoolingSettings.improved`: more draws, then a finer grid and heavier-tailed proposal), and
    after `settings.max_attempts` it is flagged unreliable. `attempts` records each try.
    """
    settings = settings or (FAST if fast else DEFAULT)
    sampler = _Sampler(prepare(data, outcome, group, varying, levels, groups), priors, settings.grid_step)
    attempts, attempt = [], settings
    while True:
        result = sampler.posterior(attempt)
        result.covered = list(reported) if reported is not None else result.reported()
        accuracy = result.accuracy_problems()
        attempts.append({"draws": attempt.draws, "grid_step": attempt.grid_step, "proposal_df": attempt.proposal_df,
                         "k_hat": result.k_hat, "ess": result.ess, "problems": accuracy})  # fmt: skip
        if result.problems or not accuracy or len(attempts) >= settings.max_attempts:
            break  # (the grid's problems are not fixed by more draws)
        following = settings.improved(attempt, result.shortfall(), len(attempts))
        if following == attempt:
            break
        attempt = following
    if accuracy and not result.accuracy_problems(final=True):  # within the looser bound after the last attempt
        result.notes.append(
            f"the Monte Carlo errors stayed above the accuracy rule's stopping bound after {len(attempts)} attempts, "
            "but within its acceptance bound"
        )
        accuracy = []
    if accuracy:
        result.problems.append(
            f"the accuracy rule is not met after {len(attempts)} attempt{'s' if len(attempts) > 1 else ''} "
            f"(up to {attempt.draws} draws, grid step {attempt.grid_step:g}): "
            + "; ".join(accuracy)
            + ": the importance-sampling correction is unreliable; these numbers are not a posterior"
        )
    result.ok, result.attempts = not result.problems, attempts
    if warn:
        for text in result.problems:
            warnings.warn(f"{outcome}: {text}", PoolingWarning, stacklevel=2)
    return result


class _Sampler:
    """A fit's attempts on one data set: the Laplace layer of each grid step, and the draw blocks of each
    proposal, kept so that an attempt with more draws from the same proposal only adds blocks. The edge check is
    over `edge_width` (the first attempt's grid step, whatever a later attempt's)."""

    def __init__(self, d: PooledData, priors: PoolingPriors, edge_width: float):
        self.d, self.priors, self.edge_width = d, priors, edge_width
        self.lay = Layout(d.n_levels - 1, len(d.groups), len(d.varying))
        self.X = _design_matrix(d, self.lay)
        self.patterns = Patterns.of(self.X, d.y, d.n_levels)
        self.layer: tuple[tuple, LaplaceLayer] | None = None  # the last grid, by the settings that make it
        self.blocks: tuple[tuple, list[DrawBlock]] | None = None  # the last proposal's draws, by its settings

    def posterior(self, settings: PoolingSettings) -> PartiallyPooledResults:
        """The posterior at these settings: grid, Laplace weights, `settings.draws` importance draws. Attempts only
        move to finer grids, so only the last grid and the last proposal's draws are kept."""
        grid_key = grid_settings(settings)
        if self.layer is None or self.layer[0] != grid_key:
            self.layer = (grid_key, LaplaceLayer.fit(self.d, self.X, self.lay, self.priors, settings))
        layer = self.layer[1]
        proposal_key = proposal_settings(settings)
        if self.blocks is None or self.blocks[0] != proposal_key:
            self.blocks = (proposal_key, [])
        blocks = self.blocks[1]
        while len(blocks) * DRAW_BLOCK < settings.draws:
            blocks.append(_draw_block(layer, self.patterns, self.lay, self.priors, settings, len(blocks)))
        S, used = settings.draws, blocks[: -(-settings.draws // DRAW_BLOCK)]
        x = np.concatenate([b.x for b in used])[:S]
        draw_log_tau = np.concatenate([b.log_tau for b in used])[:S]
        weights, k_hat = psis(np.concatenate([b.log_ratio for b in used])[:S])
        laplace = _edge_mass(layer.weight, layer.log_tau, self.edge_width)
        corrected = _draws_edge_mass(draw_log_tau, weights, layer.log_tau, layer.step, self.edge_width)
        edge = {key: max(laplace[key], corrected[key]) for key in laplace}
        names, draws = _named_draws(x, np.exp(draw_log_tau), self.lay, self.d.groups)
        grid = dict(log_tau=layer.log_tau, weight=layer.weight, converged=layer.converged, usable=layer.usable,
                    edge_mass=edge)  # fmt: skip
        problems = diagnose(edge, layer.usable)
        return PartiallyPooledResults(self.d, self.priors, settings, names, draws, weights, k_hat, grid, problems)
