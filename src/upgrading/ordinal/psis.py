"""Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024) and weighted quantiles.

Generic: importance ratios in, smoothed weights and k-hat out. k-hat, the shape of the generalised Pareto fitted
to the largest ratios, says whether a weighted estimate can be trusted; more draws do not fix a high k-hat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: the largest k-hat at which PSIS estimates are reliable however many draws there are
KHAT_MAX = 0.7


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
    fitted to them (capped at the largest raw ratio), which tames the variance a few huge ratios would cause.
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


def weighted_quantiles(
    values: np.ndarray, weights: np.ndarray, probs: Sequence[float], order: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles (len(probs), m) of the columns of a weighted sample (S, m): the weighted ECDF, linear between the
    mid-points of the weights (Hazen's rule when the weights are equal). `order` (S, m): each column's
    ascending order, if already known (`sort_order`)."""
    order = sort_order(values) if order is None else order
    out = np.empty((len(probs), values.shape[1]))
    for j in range(values.shape[1]):
        xs, ws = values[order[:, j], j], weights[order[:, j]]
        mid = np.cumsum(ws) - 0.5 * ws
        out[:, j] = np.interp(probs, mid, xs)
    return out


def sort_order(values: np.ndarray) -> np.ndarray:
    """Each column's ascending order (S, m), by numpy's default (unstable, and fastest) sort: the columns are
    continuous draws, which do not tie, so every sort kernel gives the same order."""
    return np.stack([np.argsort(values[:, j]) for j in range(values.shape[1])], axis=1)
