"""Checks a reviewer asks for on an ordered logit: proportional odds (Brant), robustness to single cases
(leave one out), and exact within-group association tests for groups of about a dozen cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import UpgradingError
from .engine import Batch, newton
from .results import OrderedLogitResults
from .separation import directions

# ---------------------------------------------------------------------------------------------------------
# Brant (1990) test of proportional odds
# ---------------------------------------------------------------------------------------------------------


def brant_test(result: OrderedLogitResults) -> pd.DataFrame:
    """Brant's Wald test that each slope is the same at every cut point, per predictor and overall.

    Fits the K-1 binary logits 1(y > m), stacks their slopes with the full covariance (cross blocks
    (X'W_m X)^-1 (X'W_ml X) (X'W_l X)^-1, W_ml = diag(pi_l - pi_m pi_l)), and tests equality across cut points:
    df = K-2 per predictor, (K-2)p overall. Liberal in small samples. If any binary logit is separated its
    slopes are infinite and the test is undefined: the row says so instead of giving a number.
    """
    d = result.design
    K, (n, p) = d.n_levels, d.X.shape
    columns = ["term", "chi2", "df", "p_value", "note"]
    if K < 3:
        return pd.DataFrame([{"term": "omnibus", "chi2": np.nan, "df": 0, "p_value": np.nan,
                              "note": "two outcome levels: proportional odds holds trivially"}], columns=columns)
    X1 = np.column_stack([np.ones(n), d.X])
    splits = Batch(np.stack([(d.y > m).astype(int) for m in range(K - 1)]), np.tile(d.X, (K - 1, 1, 1)),
                   np.tile(d.weights, (K - 1, 1)), 2, list(d.names))  # the K-1 binary logits, one batch
    fits = newton(splits)
    separated = np.any(directions(splits, fits.theta) != 0, axis=1)
    slopes, infos, fitted = [], [], []
    for m in range(K - 1):
        alpha, beta = fits.theta[m, 0], fits.theta[m, 1:]
        prob = special.expit(d.X @ beta - alpha)  # P(y > m)
        slopes.append(beta)
        fitted.append(prob)
        infos.append((X1.T * (d.weights * prob * (1 - prob))) @ X1)
    if any(separated):
        cuts = [f"y > {d.levels[m]}" for m, s in enumerate(separated) if s]
        note = f"undefined: the binary logit(s) {', '.join(cuts)} are separated"
        return pd.DataFrame([{"term": t, "chi2": np.nan, "df": K - 2, "p_value": np.nan, "note": note}
                             for t in d.names] + [{"term": "omnibus", "chi2": np.nan, "df": (K - 2) * p,
                                                   "p_value": np.nan, "note": note}], columns=columns)
    inv = [np.linalg.inv(info) for info in infos]
    V = np.zeros(((K - 1) * p, (K - 1) * p))
    for m in range(K - 1):
        for l in range(m, K - 1):
            if l == m:
                block = inv[m]
            else:
                W = d.weights * (fitted[l] - fitted[m] * fitted[l])
                block = inv[m] @ ((X1.T * W) @ X1) @ inv[l]
            V[m * p:(m + 1) * p, l * p:(l + 1) * p] = block[1:, 1:]
            V[l * p:(l + 1) * p, m * p:(m + 1) * p] = block[1:, 1:].T
    b = np.concatenate(slopes)
    rows = []

    def wald(D):
        diff = D @ b
        return float(diff @ np.linalg.solve(D @ V @ D.T, diff))

    def contrasts(index: list[int]) -> np.ndarray:
        D = []
        for k in index:
            for m in range(1, K - 1):
                r = np.zeros((K - 1) * p)
                r[k], r[m * p + k] = 1.0, -1.0
                D.append(r)
        return np.array(D)

    for k, name in enumerate(d.names):
        chi2 = wald(contrasts([k]))
        rows.append({"term": name, "chi2": chi2, "df": K - 2, "p_value": float(stats.chi2.sf(chi2, K - 2)),
                     "note": ""})
    chi2 = wald(contrasts(list(range(p))))
    rows.append({"term": "omnibus", "chi2": chi2, "df": (K - 2) * p,
                 "p_value": float(stats.chi2.sf(chi2, (K - 2) * p)), "note": ""})
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------------------
# Leave one case out
# ---------------------------------------------------------------------------------------------------------


def leave_one_out(result: OrderedLogitResults) -> pd.DataFrame:
    """Refit without each case in turn; return every slope's full-sample value and its range over the refits.

    The n refits are one batch on the engine (a left-out case has weight 0), warm-started at the full-sample
    fit, with the same objective as `result`. A refit that cannot be estimated (an outcome level or a
    predictor's variation left with no cases) is counted and skipped; an unpenalised refit whose ML estimates
    are infinite (the separation check's direction) contributes +-inf to the range.
    """
    d = result.design
    n, K = len(d.y), d.n_levels
    keep = ~np.eye(n, dtype=bool)
    usable = []
    for i in range(n):
        X = d.X[keep[i]]
        usable.append(len(np.unique(d.y[keep[i]])) == K and not np.any(np.all(X == X[0], axis=0)))
    rows = np.flatnonzero(usable)
    failed = n - len(rows)
    est = np.full((len(rows), len(d.names)), np.nan)
    if len(rows):
        batch = Batch.of(d, len(rows), d.weights[None, :] * keep[rows])
        start = np.tile(result.theta, (len(rows), 1)) if np.all(np.isfinite(result.theta)) else None
        fits = newton(batch, result.penalty, start=start, prior=result.prior)
        theta = fits.theta.copy()
        if result.penalty is None and result.prior is None:
            direction = directions(batch, fits.theta)
            theta = np.where(direction != 0, np.copysign(np.inf, direction), theta)
        est = theta[:, K - 1:]
    return pd.DataFrame({
        "term": d.names, "estimate": result.slopes.to_numpy(),
        "loo_min": est.min(axis=0) if len(est) else np.nan, "loo_max": est.max(axis=0) if len(est) else np.nan,
        "refits": len(est), "refits_failed": failed,
    })


# ---------------------------------------------------------------------------------------------------------
# Exact (permutation) tests of ordinal association inside a group
# ---------------------------------------------------------------------------------------------------------


def _tau_b_statistic(x: np.ndarray):
    sx = np.sign(x[:, None] - x[None, :])
    n = len(x)
    n0 = n * (n - 1) / 2
    ties_x = (np.sum(sx == 0) - n) / 2

    def statistic(y, axis=-1):
        y = np.asarray(y, dtype=float)
        sy = np.sign(y[..., :, None] - y[..., None, :])
        ties_y = (np.sum(sy == 0, axis=(-2, -1)) - n) / 2
        concordance = np.sum(sx * sy, axis=(-2, -1)) / 2
        return concordance / np.sqrt((n0 - ties_x) * (n0 - ties_y))

    return statistic


def permutation_association(x, y, n_resamples: int = 9999, seed: int = 2005) -> dict:
    """Kendall's tau-b between x and y with a two-sided permutation p-value (exact when n! <= n_resamples).

    tau-b handles the many ties of 0-3 scores, where the exact null tables of kendalltau do not apply.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3:
        raise UpgradingError(f"an association test needs at least 3 cases, not {n}")
    for name, v in (("x", x), ("y", y)):
        if np.all(v == v[0]):
            return {"n": n, "tau_b": np.nan, "p_value": np.nan, "method": f"undefined: {name} has no variance",
                    "resamples": 0}
    statistic = _tau_b_statistic(x)
    exact = special.factorial(n) <= n_resamples
    res = stats.permutation_test((y,), statistic, permutation_type="pairings", vectorized=True,
                                 n_resamples=n_resamples, alternative="two-sided",
                                 rng=np.random.default_rng(seed))
    return {"n": n, "tau_b": float(res.statistic), "p_value": float(res.pvalue),
            "method": "exact" if exact else "Monte Carlo", "resamples": int(special.factorial(n)) if exact
            else n_resamples}


def group_association_tests(cases: pd.DataFrame, outcomes, predictors, group: str = "sectoral_group",
                            n_resamples: int = 9999, seed: int = 2005) -> pd.DataFrame:
    """Permutation tests of each outcome with each predictor inside each group (independent seeded streams)."""
    rows = []
    groups = [g for g in pd.unique(cases[group].astype(str))]
    streams = np.random.SeedSequence(seed).spawn(len(groups) * len(outcomes) * len(predictors))
    k = 0
    for g in groups:
        sub = cases[cases[group].astype(str) == g]
        for outcome in outcomes:
            for predictor in predictors:
                result = permutation_association(sub[predictor], sub[outcome], n_resamples,
                                                 seed=int(streams[k].generate_state(1)[0]))
                k += 1
                rows.append({group: g, "outcome": outcome, "predictor": predictor, **result})
    return pd.DataFrame(rows)
