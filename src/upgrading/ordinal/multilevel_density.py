"""The partially pooled ordered logit's exact log posterior density: what each importance draw is weighed by.

The latent field theta = (thresholds, delta[2..G], mu_1..k, b_1[1..G], ..., b_k[1..G]), in engine order
(`Layout`); the model is tests/reference/pooling/MODEL.md's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .links import LOGIT, log1mexp
from .multilevel_inputs import PoolingPriors

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Layout:
    """Where each part of the latent field sits: T thresholds, G groups, k varying slopes."""

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


def log_hyperprior(log_tau: np.ndarray, priors: PoolingPriors) -> np.ndarray:
    """log HalfNormal(tau) + log tau (the Jacobian of the log scale), summed over the k SDs; (R,)."""
    tau = np.exp(log_tau)
    s = priors.tau_scale
    return np.sum(0.5 * math.log(2 / math.pi) - math.log(s) - 0.5 * (tau / s) ** 2 + log_tau, axis=1)


@dataclass
class Patterns:
    """The distinct (predictor row, outcome code) pairs of the data and how many cases share each: every case of a
    pair has the same likelihood term, so each draw's log-likelihood is a weighted sum over the pairs. Also the
    number of cases at each outcome level."""

    X: np.ndarray
    y: np.ndarray
    count: np.ndarray
    level_count: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray, n_levels: int) -> Patterns:
        rows, count = np.unique(np.column_stack([X, y]), axis=0, return_counts=True)
        level_count = np.bincount(y, minlength=n_levels).astype(float)
        return cls(rows[:, :-1], rows[:, -1].astype(int), count.astype(float), level_count)


def log_likelihood(alpha: np.ndarray, coef: np.ndarray, pat: Patterns) -> np.ndarray:
    """The ordered logit's log-likelihood of draws (thresholds alpha (S, K-1), coefficients (S, p)); NaN or -inf
    where the thresholds are not increasing. For a case at level y: log F(alpha_y - eta) + log F(eta - alpha_{y-1})
    + log(1 - e^(alpha_{y-1} - alpha_y)), as `links.Logit.log_probability`; its last term depends on the thresholds
    alone, so it is computed once per draw and level, not per case."""
    K = alpha.shape[1] + 1
    eta = coef @ pat.X.T
    upper, lower = pat.y < K - 1, pat.y > 0  # the levels with an upper, with a lower threshold
    # weighted sums as numpy's own row sums (not BLAS products, whose order of additions differs between CPUs)
    ll = np.sum(LOGIT.log_cdf(alpha[:, pat.y[upper]] - eta[:, upper]) * pat.count[upper], axis=1)
    ll += np.sum(LOGIT.log_cdf(eta[:, lower] - alpha[:, pat.y[lower] - 1]) * pat.count[lower], axis=1)
    if K > 2:
        ll += np.sum(log1mexp(alpha[:, :-1] - alpha[:, 1:]) * pat.level_count[1:-1], axis=1)
    return ll


def log_joint(x: np.ndarray, log_tau: np.ndarray, pat: Patterns, lay: Layout, priors: PoolingPriors) -> np.ndarray:
    """Exact log posterior density (up to one constant) of draws x (S, q) at log tau (S, k); -inf if unordered."""
    T = lay.T
    alpha = x[:, :T]
    ordered = np.all(np.diff(alpha, axis=1) > 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ll = log_likelihood(alpha, x[:, T:], pat)

    def normal(z, sd):
        return -0.5 * (z / sd) ** 2 - np.log(sd) - 0.5 * LOG_2PI

    lp = normal(alpha, priors.threshold_sd).sum(axis=1) + normal(x[:, lay.delta], priors.delta_sd).sum(axis=1)
    tau = np.exp(log_tau)
    for v in range(lay.k):
        mu = x[:, lay.mu.start + v]
        lp += normal(mu, priors.mu_sd) + normal(x[:, lay.slopes(v)] - mu[:, None], tau[:, [v]]).sum(axis=1)
    lp += log_hyperprior(log_tau, priors)
    return np.where(ordered & ~np.isnan(ll), ll + lp, -np.inf)
