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
   uniform within the cell, the latent field from that cell's Gaussian; each draw is weighted by exact joint
   density / proposal density, and the weights are Pareto-smoothed (PSIS, Vehtari, Simpson, Gelman, Yao & Gabry
   2024), whose k-hat says whether the estimate is reliable (flagged above min(0.7, 1 - 1/log10 S)). The draws
   come from `numpy.random.default_rng(seed)` (PCG64, the same stream on every platform): two runs give the
   same floats.

Every reported quantity (means, SDs, quantiles, P(> 0)) is a weighted summary of the same draws. Knows nothing
of the study: group column, varying predictors and outcome are arguments; the priors are an argument whose
defaults are `data/pooling.toml`'s (`PoolingPriors.from_toml()`).
"""

from __future__ import annotations

import math
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from ..errors import UpgradingError
from .design import ModelWarning
from .engine import Batch, Prior, log_probability, newton

SYMBOLS = ("beta", "gamma", "lambda", "kappa")
QUANTILES = {"q025": 0.025, "q05": 0.05, "q50": 0.5, "q95": 0.95, "q975": 0.975}
KHAT_MAX = 0.7
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


@dataclass(frozen=True)
class PoolingPriors:
    """Prior scales (log-odds scale): Normal(0, mu_sd) on mu_v, HalfNormal(tau_scale) on tau_v, Normal(0, delta_sd)
    on the group shifts, Normal(0, threshold_sd) on the thresholds restricted to their order."""

    mu_sd: float = 2.5
    tau_scale: float = 1.0
    delta_sd: float = 2.5
    threshold_sd: float = 5.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value > 0):
                raise UpgradingError(f"prior scale {name} must be a positive number, not {value!r}")

    @classmethod
    def from_toml(cls, path: str | Path | None = None) -> PoolingPriors:
        """Priors from a TOML file shaped like the package's `data/pooling.toml` (the default)."""
        if path is None:
            text = resources.files("upgrading").joinpath("data/pooling.toml").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        p = tomllib.loads(text)["priors"]
        return cls(
            mu_sd=float(p["mu"]["sd"]),
            tau_scale=float(p["tau"]["scale"]),
            delta_sd=float(p["delta"]["sd"]),
            threshold_sd=float(p["theta"]["sd"]),
        )


@dataclass(frozen=True)
class PoolingSettings:
    """How the posterior is computed: grid spacing and range of log tau (range in units of the prior scale),
    importance draws and their seed. `FAST` is the coarse setting for simulation studies."""

    grid_step: float = 0.3
    tau_range: tuple[float, float] = (0.003, 4.5)
    draws: int = 50000
    seed: int = 20251123
    proposal_df: float | None = 7.0

    def __post_init__(self) -> None:
        low, high = self.tau_range
        if not (self.grid_step > 0 and 0 < low < high and self.draws >= 100):
            raise UpgradingError("settings need grid_step > 0, 0 < tau_range[0] < tau_range[1] and draws >= 100")


DEFAULT = PoolingSettings()
FAST = PoolingSettings(grid_step=0.6, draws=8000)


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------


@dataclass
class PooledData:
    """Outcome codes 0..K-1, group index per case, varying predictors (n, k), and what was noticed about them."""

    y: np.ndarray
    levels: list
    group: np.ndarray
    groups: list
    V: np.ndarray
    varying: list[str]
    outcome: str
    group_column: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def _prepare(data: pd.DataFrame, outcome: str, group: str, varying: Sequence[str], levels, groups) -> PooledData:
    if isinstance(varying, str):
        varying = (varying,)
    varying = list(varying)
    if not 1 <= len(varying) <= len(SYMBOLS):
        raise UpgradingError(f"give 1 to {len(SYMBOLS)} varying predictors, not {len(varying)}")
    missing_cols = [c for c in [outcome, group, *varying] if c not in data.columns]
    if missing_cols:
        raise UpgradingError(f"column(s) {missing_cols} not in the data; columns: {', '.join(map(str, data.columns))}")
    if len(set([outcome, group, *varying])) != 2 + len(varying):
        raise UpgradingError("outcome, group and varying predictors must be distinct columns")
    used = [outcome, group, *varying]
    na = {c: int(data[c].isna().sum()) for c in used if data[c].isna().any()}
    if na:
        raise UpgradingError(
            "missing values in "
            + ", ".join(f"{c!r} ({k} rows)" for c, k in na.items())
            + "; drop or impute them before fitting"
        )
    if len(data) == 0:
        raise UpgradingError("no cases")
    notes: list[str] = []
    # outcome levels: declared (argument or ordered categorical) or the integers from the lowest to the highest
    values = data[outcome]
    if levels is None:
        if isinstance(values.dtype, pd.CategoricalDtype):
            if not values.dtype.ordered:
                raise UpgradingError(f"outcome {outcome!r} is an unordered categorical; give it an order or `levels`")
            levels = list(values.dtype.categories)
        elif (
            pd.api.types.is_bool_dtype(values)
            or pd.api.types.is_integer_dtype(values)
            or (pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0))
        ):
            levels = list(range(int(values.min()), int(values.max()) + 1))
        else:
            raise UpgradingError(
                f"outcome {outcome!r} is not ordered (dtype {values.dtype}); give integer scores, "
                "an ordered categorical or `levels`"
            )
    levels = list(levels)
    lookup = {v: k for k, v in enumerate(levels)}
    codes = values.astype(object).map(lambda v: lookup.get(v, lookup.get(_as_int(v), -1))).to_numpy(dtype=int)
    if np.any(codes < 0):
        bad = sorted({str(v) for v, c in zip(values, codes) if c < 0})
        raise UpgradingError(f"outcome {outcome!r} has values {bad} outside its levels {levels}")
    observed = np.unique(codes)
    if len(observed) < 2:
        raise UpgradingError(
            f"outcome {outcome!r} has a single observed level ({levels[observed[0]]!r}); nothing to model"
        )
    unobserved = [levels[k] for k in range(len(levels)) if k not in observed]
    if unobserved:
        notes.append(
            f"outcome level(s) {unobserved} never observed: all {len(levels)} levels are kept, so the "
            "thresholds next to them are informed mainly by their prior"
        )
    # groups: declared order (argument, categorical categories) restricted to those present; first = reference
    g_values = data[group].astype(object) if not isinstance(data[group].dtype, pd.CategoricalDtype) else data[group]
    present = set(g_values.astype(object))
    if groups is None:
        if isinstance(data[group].dtype, pd.CategoricalDtype):
            order = list(data[group].dtype.categories)
        else:
            order = sorted(present, key=str)
    else:
        order = list(groups)
        unknown = sorted(map(str, present - set(order)))
        if unknown:
            raise UpgradingError(f"group column {group!r} has values {unknown} not in `groups`")
    group_names = [g for g in order if g in present]
    gidx = g_values.astype(object).map({g: j for j, g in enumerate(group_names)}).to_numpy(dtype=int)
    V = np.empty((len(data), len(varying)))
    for v, name in enumerate(varying):
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise UpgradingError(f"varying predictor {name!r} must be numeric (dtype {col.dtype})")
        V[:, v] = col.to_numpy(dtype=float)
        if np.all(V[:, v] == V[0, v]):
            raise UpgradingError(f"varying predictor {name!r} has no variance (every case has {V[0, v]:g})")
    if len(group_names) == 1:
        notes.append(
            f"one group present ({group_names[0]!r}): the between-group SDs are not informed by the "
            "data (their posterior is their prior)"
        )
    counts = np.bincount(gidx, minlength=len(group_names))
    for j, g in enumerate(group_names):
        if counts[j] == 1:
            notes.append(f"group {g!r} has one case: its shift and slopes are informed by the pooling prior")
        elif counts[j] > 1:
            flat = [name for v, name in enumerate(varying) if np.all(V[gidx == j, v] == V[gidx == j, v][0])]
            if flat:
                notes.append(
                    f"group {g!r}: {', '.join(flat)} does not vary within the group, so its slope there "
                    "is informed by the pooling prior only"
                )
    return PooledData(
        y=codes,
        levels=levels,
        group=gidx,
        groups=group_names,
        V=V,
        varying=varying,
        outcome=outcome,
        group_column=group,
        notes=notes,
    )


def _as_int(v):
    try:
        return int(v) if float(v) == int(v) else v
    except (TypeError, ValueError):
        return v


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
# Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024)
# ---------------------------------------------------------------------------------------------------------


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto (k, sigma) of sorted exceedances x by Zhang & Stephens (2009), k shrunk toward 0.5 as in
    the PSIS paper (weakly informative prior worth 10 observations)."""
    n = len(x)
    m = 30 + int(math.sqrt(n))
    b = 1 - np.sqrt(m / (np.arange(1, m + 1) - 0.5))
    b = b / (3 * x[int(n / 4 + 0.5) - 1]) + 1 / x[-1]
    k = np.mean(np.log1p(-b[:, None] * x), axis=1)
    profile = n * (np.log(-b / k) - k - 1)
    w = 1 / np.sum(np.exp(profile[None, :] - profile[:, None]), axis=1)
    keep = w >= 10 * np.finfo(float).eps
    b, w = b[keep], w[keep] / w[keep].sum()
    b_post = np.sum(b * w)
    k_post = float(np.mean(np.log1p(-b_post * x)))
    sigma = -k_post / b_post
    return (n * k_post + 10 * 0.5) / (n + 10), float(sigma)


def psis(log_ratios: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed normalised weights and k-hat of importance ratios given on the log scale.

    The largest min(S/5, 3 sqrt S) ratios are replaced by the expected order statistics of a generalised Pareto
    fitted to them (capped at the largest raw ratio); k-hat, the fitted shape, says how heavy the tail is: below
    about 0.7 the estimates are reliable, above it they are not (and more draws do not help).
    """
    lw = np.array(log_ratios, dtype=float)
    S = len(lw)
    finite = np.isfinite(lw)
    if not finite.any():
        return np.full(S, np.nan), np.inf
    lw[~finite] = -np.inf
    lw -= lw[finite].max()
    M = int(math.ceil(min(0.2 * S, 3 * math.sqrt(S))))
    order = np.argsort(lw, kind="stable")
    cutoff = max(lw[order[-M - 1]], math.log(np.finfo(float).tiny))
    tail = order[-M:][lw[order[-M:]] > cutoff]
    k_hat = np.inf
    if lw[order[-1]] <= cutoff:  # the largest ratios are all equal: no tail at all
        k_hat = 0.0
    elif len(tail) > 4:
        exp_cut = math.exp(cutoff)
        k_hat, sigma = _gpd_fit(np.exp(lw[tail]) - exp_cut)
        if np.isfinite(k_hat) and sigma > 0:
            p = (np.arange(len(tail)) + 0.5) / len(tail)
            q = (np.expm1(-k_hat * np.log1p(-p)) / k_hat if abs(k_hat) > 1e-12 else -np.log1p(-p)) * sigma
            lw[tail] = np.minimum(np.log(q + exp_cut), 0.0)
    w = np.exp(lw)
    return w / w.sum(), float(k_hat)


def khat_threshold(draws: int) -> float:
    """Largest reliable k-hat for S draws: min(0.7, 1 - 1 / log10 S) (Vehtari et al. 2024)."""
    return min(KHAT_MAX, 1 - 1 / math.log10(draws))


# ---------------------------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------------------------


def _weighted_quantiles(values: np.ndarray, w: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles of a weighted sample (columns of values (S, m)): the weighted ECDF, linear between mid-points."""
    out = np.empty((len(probs), values.shape[1]))
    for j in range(values.shape[1]):
        order = np.argsort(values[:, j], kind="stable")
        xs, ws = values[order, j], w[order]
        mid = np.cumsum(ws) - 0.5 * ws
        out[:, j] = np.interp(probs, mid, xs)
    return out


def partially_pooled(
    data: pd.DataFrame,
    outcome: str,
    group: str = "sectoral_group",
    varying: Sequence[str] = ("collective_efficiency", "leader_driven"),
    priors: PoolingPriors | None = None,
    levels: Sequence | None = None,
    groups: Sequence | None = None,
    fast: bool = False,
    settings: PoolingSettings | None = None,
    warn: bool = True,
) -> PartiallyPooledResults:
    """Posterior of the partially pooled ordered logit of `outcome` with slopes of `varying` per `group`.

    `levels`: all outcome levels in order (default: an ordered categorical's categories, or the integers from the
    lowest to the highest score); `groups`: the group order, first = reference (default: a categorical's order,
    else sorted); `priors`: default `PoolingPriors()` (= data/pooling.toml); `fast=True` uses `FAST` (coarser grid,
    fewer draws) unless `settings` is given. Deterministic: the same input gives the same floats.
    """
    priors = PoolingPriors() if priors is None else priors
    settings = settings or (FAST if fast else DEFAULT)
    d = _prepare(data, outcome, group, varying, levels, groups)
    lay = Layout(d.n_levels - 1, len(d.groups), len(d.varying))
    X = _design_matrix(d, lay)

    # 1. grid of log tau (k axes), one engine problem per point, each with its own prior precision
    low, high = (math.log(priors.tau_scale * t) for t in settings.tau_range)
    n_axis = int(math.ceil((high - low) / settings.grid_step)) + 1
    axis = low + settings.grid_step * np.arange(n_axis)
    mesh = np.meshgrid(*[axis] * lay.k, indexing="ij")
    log_tau = np.stack([m.ravel() for m in mesh], axis=1)
    R = len(log_tau)
    P = _precision(np.exp(log_tau), lay, priors)
    batch = Batch(
        np.tile(d.y, (R, 1)),
        np.tile(X, (R, 1, 1)),
        np.ones((R, len(d.y))),
        d.n_levels,
        [f"x{j}" for j in range(X.shape[1])],
    )
    fit = newton(batch, prior=Prior(P), tol=GRID_TOL, max_iter=GRID_MAX_ITER)

    # 2. Laplace: log p(y | tau) + log prior(tau) + Jacobian, per grid point
    curvature = -fit.hessian
    # where tau is tiny the precision 1/tau^2 is huge and the gradient's rounding noise exceeds any absolute
    # tolerance: a mode is also accepted when Newton's decrement g'H^-1 g (twice the objective still to gain) is nil
    finite = np.isfinite(fit.objective) & np.all(np.isfinite(curvature), axis=(1, 2))
    decrement = np.full(R, np.inf)
    with np.errstate(all="ignore"):
        step = np.linalg.solve(np.where(finite[:, None, None], curvature, np.eye(lay.q)), fit.gradient[..., None])
    decrement[finite] = np.einsum("rq,rq->r", fit.gradient, step[..., 0])[finite]
    chol_ok = finite & (fit.converged | (np.abs(decrement) < GRID_DECREMENT))
    L = np.broadcast_to(np.eye(lay.q), curvature.shape).copy()
    for r in np.flatnonzero(chol_ok):
        try:
            L[r] = np.linalg.cholesky(curvature[r])
        except np.linalg.LinAlgError:
            chol_ok[r] = False
    logdet_post = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    logdet_prior = np.linalg.slogdet(P)[1]
    log_post = np.where(
        chol_ok, fit.objective + 0.5 * logdet_prior - 0.5 * logdet_post + _log_hyperprior(log_tau, priors), -np.inf
    )
    if not np.isfinite(log_post).any():
        raise UpgradingError(f"{outcome}: no grid point of the hyperparameters could be fitted")
    grid_w = np.exp(log_post - special.logsumexp(log_post))
    idx = np.stack(np.unravel_index(np.arange(R), (n_axis,) * lay.k), axis=1)
    edge = {}
    for v, sym in enumerate(SYMBOLS[: lay.k]):
        edge[f"tau_{sym} low"] = float(grid_w[idx[:, v] == 0].sum())
        edge[f"tau_{sym} high"] = float(grid_w[idx[:, v] == n_axis - 1].sum())

    # 3. importance sampling from the mixture, Pareto-smoothed
    x, draw_log_tau, log_q = _draw_proposal(fit.theta, curvature, chol_ok, log_tau, grid_w, lay, settings)
    log_target = _log_joint(x, draw_log_tau, d, X, lay, priors)
    weights, k_hat = psis(log_target - log_q)
    return PartiallyPooledResults(
        d,
        lay,
        priors,
        settings,
        x,
        np.exp(draw_log_tau),
        weights,
        k_hat,
        grid=dict(log_tau=log_tau, weight=grid_w, converged=fit.converged, usable=chol_ok, edge_mass=edge),
        warn=warn,
    )


def _draw_proposal(
    mode: np.ndarray,
    curvature: np.ndarray,
    usable: np.ndarray,
    log_tau: np.ndarray,
    grid_w: np.ndarray,
    lay: Layout,
    settings: PoolingSettings,
):
    """Draws from the grid's mixture and their log proposal density: a cell by its weight, log tau uniform in the
    cell, the latent field from the cell's Laplace approximation as a multivariate t.

    The Laplace approximation is taken in the gaps of the thresholds (theta_1, log(theta_2 - theta_1), ...):
    their conditionals are skewed where an outcome level is rare or unobserved, the logs of the gaps much
    less so, and every draw is ordered.
    """
    T, q, k = lay.T, lay.q, lay.k
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
    for r in np.flatnonzero(usable):
        try:
            L[r] = np.linalg.cholesky(H_u[r])
        except np.linalg.LinAlgError:
            usable[r] = False
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
    zz = np.sum(z * z, axis=1)
    if df is None:
        log_kernel = -0.5 * zz - 0.5 * q * LOG_2PI
    else:
        log_kernel = (
            special.gammaln((df + q) / 2)
            - special.gammaln(df / 2)
            - 0.5 * q * math.log(df * math.pi)
            - 0.5 * (df + q) * np.log1p(zz / df)
        )
    log_q = (
        np.log(w[comp]) - k * math.log(settings.grid_step) + half_logdet[comp] + log_kernel - np.sum(u[:, 1:T], axis=1)
    )  # the Jacobian of gaps -> thresholds
    return x, log_tau[comp] + jitter, log_q


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------


class PartiallyPooledResults:
    """Posterior of a partially pooled ordered logit: params (posterior means), bse (SDs), conf_int() (equal-tailed
    credible intervals), posterior_summary(), summary(), tidy(); `ok`, `notes` and `diagnostics` say how far
    to trust it."""

    def __init__(
        self,
        d: PooledData,
        lay: Layout,
        priors: PoolingPriors,
        settings: PoolingSettings,
        x: np.ndarray,
        tau: np.ndarray,
        weights: np.ndarray,
        k_hat: float,
        grid: dict,
        warn: bool = True,
    ):
        self.data = d
        self.priors = priors
        self.settings = settings
        self.outcome = d.outcome
        self.groups = list(d.groups)
        self.symbols = list(SYMBOLS[: lay.k])
        self.k_hat = k_hat
        self.grid = grid
        names, columns = [], []
        for v, sym in enumerate(self.symbols):
            names.append(f"mu_{sym}")
            columns.append(x[:, lay.mu.start + v])
        for v, sym in enumerate(self.symbols):
            names.append(f"tau_{sym}")
            columns.append(tau[:, v])
        for v, sym in enumerate(self.symbols):
            for j, g in enumerate(self.groups):
                names.append(f"{sym}[{g}]")
                columns.append(x[:, lay.slopes(v).start + j])
        for j, g in enumerate(self.groups[1:]):
            names.append(f"delta[{g}]")
            columns.append(x[:, lay.delta.start + j])
        for t in range(lay.T):
            names.append(f"theta[{t + 1}]")
            columns.append(x[:, t])
        self.names = names
        self.draws = np.column_stack(columns)
        self.weights = weights
        self.ess = float(1 / np.sum(weights**2)) if np.all(np.isfinite(weights)) else 0.0
        self.notes = list(d.notes)
        problems = []
        limit = khat_threshold(settings.draws)
        if not k_hat <= limit:
            problems.append(
                f"PSIS k-hat {k_hat:.2f} > {limit:.2f}: the importance-sampling correction is "
                "unreliable; these numbers are not a posterior"
            )
        worst = max(grid["edge_mass"], key=grid["edge_mass"].get)
        if grid["edge_mass"][worst] > EDGE_MASS_MAX:
            problems.append(
                f"{grid['edge_mass'][worst]:.3f} of the hyperparameters' mass lies in the grid's edge "
                f"cells ({worst}): widen the grid (settings.tau_range)"
            )
        unusable = int(np.sum(~grid["usable"]))
        if unusable:
            problems.append(f"{unusable} of {len(grid['usable'])} grid points could not be fitted")
        self.problems = problems
        self.ok = not problems
        if warn:
            for text in problems:
                warnings.warn(f"{self.outcome}: {text}", PoolingWarning, stacklevel=3)

    @property
    def status(self) -> str:
        return "ok" if self.ok else "unreliable: " + "; ".join(self.problems)

    @property
    def diagnostics(self) -> dict:
        """k-hat, effective sample size, grid edge mass and size: what the table's status is decided from."""
        return {
            "k_hat": self.k_hat,
            "k_hat_threshold": khat_threshold(self.settings.draws),
            "ess": self.ess,
            "draws": self.settings.draws,
            "grid_points": len(self.grid["weight"]),
            "grid_step": self.settings.grid_step,
            "edge_mass": dict(self.grid["edge_mass"]),
            "unusable_grid_points": int(np.sum(~self.grid["usable"])),
            "seed": self.settings.seed,
        }

    # -- estimates -------------------------------------------------------------------------------------------
    @cached_property
    def params(self) -> pd.Series:
        """Posterior means."""
        return pd.Series(self.weights @ self.draws, index=self.names, name="params")

    @cached_property
    def bse(self) -> pd.Series:
        """Posterior SDs."""
        var = self.weights @ (self.draws - self.params.to_numpy()) ** 2
        return pd.Series(np.sqrt(var), index=self.names, name="bse")

    def quantiles(self, probs: Sequence[float]) -> pd.DataFrame:
        """Posterior quantiles (rows: parameters, columns: probs)."""
        q = _weighted_quantiles(self.draws, self.weights, list(probs))
        return pd.DataFrame(q.T, index=self.names, columns=list(probs))

    def conf_int(self, alpha: float = 0.05, cols=None) -> pd.DataFrame:
        """Equal-tailed 1 - alpha credible intervals (columns 0 and 1, as statsmodels)."""
        q = self.quantiles([alpha / 2, 1 - alpha / 2])
        q.columns = [0, 1]
        return q if cols is None else q.loc[list(cols)]

    @cached_property
    def p_positive(self) -> pd.Series:
        """P(> 0) of the group slopes."""
        slopes = [n for n in self.names if "[" in n and not n.startswith(("delta[", "theta["))]
        cols = [self.names.index(n) for n in slopes]
        return pd.Series(self.weights @ (self.draws[:, cols] > 0), index=slopes, name="p_positive")

    def posterior_summary(self) -> pd.DataFrame:
        """mean, sd, q025, q05, q50, q95, q975 of every parameter (MODEL.md's names) and p_positive of the slopes."""
        table = pd.DataFrame({"mean": self.params, "sd": self.bse})
        q = self.quantiles(list(QUANTILES.values()))
        for name, p in QUANTILES.items():
            table[name] = q[p]
        table["p_positive"] = self.p_positive.reindex(table.index)
        table.index.name = "parameter"
        table.attrs["status"] = self.status
        table.attrs["diagnostics"] = self.diagnostics
        return table

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: posterior mean, SD, credible interval, P(> 0), and the fit's status and k-hat."""
        ci = self.conf_int(alpha)
        table = pd.DataFrame(
            {
                "term": self.names,
                "estimate": self.params.values,
                "std_error": self.bse.values,
                "conf_low": ci[0].values,
                "conf_high": ci[1].values,
                "p_positive": self.p_positive.reindex(self.names).values,
            }
        )
        table["method"] = "partial pooling (grid-Laplace + PSIS)"
        table["k_hat"] = self.k_hat
        table["status"] = self.status
        return table

    def summary(self, alpha: float = 0.05):
        """A statsmodels `Summary`: model and computation facts, the posterior table, notes and problems."""
        from statsmodels.iolib.summary2 import Summary

        d = self.data
        edge = max(self.grid["edge_mass"].values())
        info = {
            "Model:": "Partially pooled ordered logit",
            "Outcome:": d.outcome,
            "Groups:": f"{d.group_column} ({len(self.groups)}; reference {self.groups[0]})",
            "Varying slopes:": ", ".join(f"{s}: {v}" for s, v in zip(self.symbols, d.varying)),
            "Observations:": str(len(d.y)),
            "Outcome levels:": ", ".join(map(str, d.levels)),
            "Method:": "grid over log tau + Laplace, PSIS-corrected",
            "Grid points:": f"{len(self.grid['weight'])} (step {self.settings.grid_step:g})",
            "Draws / ESS:": f"{self.settings.draws} / {self.ess:.0f}",
            "k-hat:": f"{self.k_hat:.3f} (limit {khat_threshold(self.settings.draws):.2f})",
            "Edge mass:": f"{edge:.2g}",
            "Status:": "ok" if self.ok else "UNRELIABLE",
        }
        smry = Summary()
        smry.add_title(f"Partially pooled ordered logit: {d.outcome} by {d.group_column}")
        smry.add_dict(info, ncols=2)
        table = self.posterior_summary()
        ci = self.conf_int(alpha)
        table = pd.DataFrame(
            {
                "mean": table["mean"],
                "sd": table["sd"],
                f"[{alpha / 2:g}": ci[0],
                f"{1 - alpha / 2:g}]": ci[1],
                "P(>0)": table["p_positive"],
            }
        )
        smry.add_df(table, float_format="%.4f")
        p = self.priors
        smry.add_text(
            f"Priors: mu ~ Normal(0, {p.mu_sd:g}), tau ~ HalfNormal({p.tau_scale:g}), delta ~ Normal(0, "
            f"{p.delta_sd:g}), thresholds ~ Normal(0, {p.threshold_sd:g}) ordered. Logit P(Y <= j) = "
            "theta[j] - eta. Intervals are equal-tailed credible intervals."
        )
        for note in self.notes:
            smry.add_text("Note: " + note)
        for problem in self.problems:
            smry.add_text("WARNING: " + problem)
        return smry

    def __repr__(self) -> str:
        return f"<PartiallyPooledResults {self.outcome!r} by {self.data.group_column!r}, {self.status}>"


__all__ = [
    "DEFAULT",
    "FAST",
    "PartiallyPooledResults",
    "PoolingPriors",
    "PoolingSettings",
    "PoolingWarning",
    "khat_threshold",
    "partially_pooled",
    "psis",
]
