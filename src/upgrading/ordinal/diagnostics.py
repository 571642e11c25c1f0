"""Checks a reviewer asks for on an ordered logit: proportional odds (Brant), robustness to single cases
(leave one out), and exact within-group association tests for groups of about a dozen cases.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import UpgradingError
from .batch import Batch
from .engine import GRADIENT_TOL, newton
from .penalised import jeffreys_fit, keep_higher, several_maxima
from .results import CumulativeLinkResults
from .separation import directions

# ---------------------------------------------------------------------------------------------------------
# Brant (1990) test of proportional odds
# ---------------------------------------------------------------------------------------------------------


def _variables(design) -> list[tuple[str, list[int]]]:
    """Each model term (a factor, a numeric variable, an interaction) with the indices of its design columns.

    From patsy's term slices when the design has them; otherwise by the column names with their levels
    (`[T.b]`, `[b]`) removed, which is how patsy names a term's columns.
    """
    info = getattr(design, "design_info", None)
    names = list(design.names)
    if info is not None and hasattr(info, "term_name_slices"):
        out = []
        for term, part in info.term_name_slices.items():
            index = [names.index(c) for c in info.column_names[part] if c in names]
            if index:
                out.append((term, index))
        if sorted(k for _, index in out for k in index) == list(range(len(names))):
            return out
    groups: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        groups.setdefault(re.sub(r"\[[^\]]*\]", "", name), []).append(k)
    return list(groups.items())


BRANT_COLUMNS = ["scope", "term", "columns", "chi2", "df", "p_value", "note"]


def _brant_tests(d) -> list[tuple[str, str, list[int]]]:
    """(scope, term, design columns) of every test: each column, each model term, all columns."""
    p = d.X.shape[1]
    return (
        [("column", name, [k]) for k, name in enumerate(d.names)]
        + [("variable", term, index) for term, index in _variables(d)]
        + [("omnibus", "omnibus", list(range(p)))]
    )


def _brant_undefined(tests, n_levels: int, note: str) -> pd.DataFrame:
    """Every test's row with NaN and the reason it is undefined."""
    rows = [
        {
            "scope": scope,
            "term": term,
            "columns": len(index),
            "chi2": np.nan,
            "df": max(n_levels - 2, 0) * len(index),
            "p_value": np.nan,
            "note": note,
        }
        for scope, term, index in tests
    ]
    return pd.DataFrame(rows, columns=BRANT_COLUMNS)


def _binary_logits(d):
    """The K-1 binary logits 1(y > m), fitted as one batch, or why they cannot be used (separated, unconverged)."""
    K = d.n_levels
    splits = Batch(
        np.stack([(d.y > m).astype(int) for m in range(K - 1)]),
        np.tile(d.X, (K - 1, 1, 1)),
        np.tile(d.weights, (K - 1, 1)),
        2,
        list(d.names),
    )
    fits = newton(splits)
    separated = np.any(directions(splits, fits.theta) != 0, axis=1)
    if any(separated):
        cuts = [f"y > {d.levels[m]}" for m, s in enumerate(separated) if s]
        return None, f"undefined: the binary logit(s) {', '.join(cuts)} are separated"
    if not np.all(fits.converged):
        cuts = [f"y > {d.levels[m]}" for m, c in enumerate(fits.converged) if not c]
        return None, f"undefined: the binary logit(s) {', '.join(cuts)} did not converge"
    return fits, ""


def _stacked_slopes(d, fits) -> tuple[np.ndarray, np.ndarray]:
    """The binary logits' slopes stacked (K-1)p, and their joint covariance: inverse information blocks on the
    diagonal, (X'W_m X)^-1 (X'W_ml X) (X'W_l X)^-1 off it, W_ml = diag(pi_l - pi_m pi_l)."""
    K, (n, p) = d.n_levels, d.X.shape
    X1 = np.column_stack([np.ones(n), d.X])
    slopes, inverse, fitted = [], [], []
    for m in range(K - 1):
        alpha, beta = fits.theta[m, 0], fits.theta[m, 1:]
        prob = special.expit(d.X @ beta - alpha)  # P(y > m)
        slopes.append(beta)
        fitted.append(prob)
        inverse.append(np.linalg.inv((X1.T * (d.weights * prob * (1 - prob))) @ X1))
    V = np.zeros(((K - 1) * p, (K - 1) * p))
    for m in range(K - 1):
        for l in range(m, K - 1):
            if l == m:
                block = inverse[m]
            else:
                W = d.weights * (fitted[l] - fitted[m] * fitted[l])
                block = inverse[m] @ ((X1.T * W) @ X1) @ inverse[l]
            V[m * p : (m + 1) * p, l * p : (l + 1) * p] = block[1:, 1:]
            V[l * p : (l + 1) * p, m * p : (m + 1) * p] = block[1:, 1:].T
    return np.concatenate(slopes), V


def _equal_slopes_test(index: list[int], b: np.ndarray, V: np.ndarray, n_levels: int, p: int) -> dict:
    """Wald test that the slopes of columns `index` are equal at every cut point: contrasts beta_1k - beta_mk,
    m = 2..K-1; undefined where their covariance is singular."""
    D = []
    for k in index:
        for m in range(1, n_levels - 1):
            r = np.zeros((n_levels - 1) * p)
            r[k], r[m * p + k] = 1.0, -1.0
            D.append(r)
    if not D:
        return {"df": 0, "note": "undefined: the model has no slope to test"}
    D = np.array(D)
    diff, cov = D @ b, D @ V @ D.T
    eig = np.linalg.eigvalsh(cov)
    if not np.all(np.isfinite(eig)) or eig.min() <= 1e-12 * max(eig.max(), 1e-300):
        return {"df": len(D), "note": "undefined: the covariance of the cut-point differences is singular"}
    chi2 = float(diff @ np.linalg.solve(cov, diff))
    return {"df": len(D), "chi2": chi2, "p_value": float(stats.chi2.sf(chi2, len(D)))}


def brant_test(result: CumulativeLinkResults) -> pd.DataFrame:
    """Brant's Wald test that each slope is the same at every cut point: per design column, per variable, overall.

    Fits the K-1 binary logits 1(y > m), stacks their slopes with the full covariance (`_stacked_slopes`), and
    tests equality across cut points. `scope`: "column" (one design column, df K-2), "variable" (all the columns
    of one model term jointly, e.g. every level of a factor or of an interaction, df (K-2) x columns; unlike a
    column's test it does not depend on the reference level), "omnibus" (all columns, df (K-2)p). Liberal in
    small samples. If a binary logit is separated (infinite slopes), has not converged, or the contrasts'
    covariance is singular, the rows say so in `note`, with NaN instead of a number.
    """
    d = result.design
    tests = _brant_tests(d)
    if result.link.name != "logit" or d.Z is not None:
        return _brant_undefined(
            tests, d.n_levels, "Brant's test is for the proportional-odds logit: use the nominal test (nominal_test)"
        )
    if d.n_levels < 3:
        return _brant_undefined(tests, d.n_levels, "two outcome levels: proportional odds holds trivially")
    fits, why = _binary_logits(d)
    if fits is None:
        return _brant_undefined(tests, d.n_levels, why)
    b, V = _stacked_slopes(d, fits)
    rows = [
        {"scope": scope, "term": term, "columns": len(index), "chi2": np.nan, "p_value": np.nan, "note": ""}
        | _equal_slopes_test(index, b, V, d.n_levels, d.X.shape[1])
        for scope, term, index in tests
    ]
    return pd.DataFrame(rows, columns=BRANT_COLUMNS)


# ---------------------------------------------------------------------------------------------------------
# Leave one case out
# ---------------------------------------------------------------------------------------------------------


def leave_one_out(result: CumulativeLinkResults) -> pd.DataFrame:
    """Refit without each case in turn; return every slope's full-sample value and its range over the refits.

    The n refits are one batch on the engine (a left-out case has weight 0), warm-started at the full-sample
    fit, with the same objective as `result` (a Jeffreys-penalised one under another link than the logit, whose
    objective can have several maxima, also from `penalised.jeffreys_fit`'s starts, keeping the highest). A refit
    that cannot be estimated (an outcome level left with no cases, a predictor left constant, predictors left
    collinear: a slope no longer identified, such as a group's slope when the predictor is left constant within
    that group) or that does not converge is skipped and counted, with the reasons in `skipped`; an unpenalised
    refit whose ML estimates are infinite (the separation check's direction) contributes +-inf to the range.
    `attrs["left_out"]`: the rows whose refit is in the range (a skipped refit leaves the influence of its case
    untested).
    """
    d = result.design
    n, K = len(d.y), d.n_levels
    keep = ~np.eye(n, dtype=bool)
    reasons: list[str] = []
    usable = []
    for i in range(n):
        X = d.X[keep[i]]
        if len(np.unique(d.y[keep[i]])) < K:
            reasons.append("an outcome level left empty")
        elif np.any(np.all(X == X[0], axis=0)):
            reasons.append("a predictor left constant")
        elif np.linalg.matrix_rank(np.column_stack([np.ones(len(X)), X])) <= X.shape[1]:
            reasons.append("predictors left collinear (a slope no longer identified)")
        else:
            usable.append(i)
    rows = np.array(usable, dtype=int)
    est = np.full((0, len(d.names)), np.nan)
    if len(rows):
        batch = Batch.of(d, len(rows), d.weights[None, :] * keep[rows], link=result.link)
        start = np.tile(result.theta, (len(rows), 1)) if np.all(np.isfinite(result.theta)) else None
        fits = newton(batch, result.penalty, start=start, prior=result.prior)
        if several_maxima(batch, result.penalty):  # the highest of the warm start's and `jeffreys_fit`'s maxima
            keep_higher(fits, jeffreys_fit(batch, result.prior, tol=GRADIENT_TOL))
        theta = fits.theta.copy()
        ok = fits.converged.copy()
        if result.penalty is None and result.prior is None:
            direction = directions(batch, fits.theta)
            separated = np.any(direction != 0, axis=1)
            theta = np.where(direction != 0, np.copysign(np.inf, direction), theta)
            ok |= separated  # a separated ML refit never converges; its infinite terms are named instead
        reasons += ["the refit did not converge"] * int(np.sum(~ok))
        est = theta[ok, batch.n_thresholds :]
        rows = rows[ok]
    counts = pd.Series(reasons, dtype=object).value_counts(sort=False)
    table = pd.DataFrame(
        {
            "term": d.names,
            "estimate": result.slopes.to_numpy(),
            "loo_min": est.min(axis=0) if len(est) else np.nan,
            "loo_max": est.max(axis=0) if len(est) else np.nan,
            "refits": len(est),
            "refits_failed": n - len(est),
            "skipped": "; ".join(f"{k}: {why}" for why, k in counts.items()),
        }
    )
    table.attrs["left_out"] = rows  # the case (row of the design) each refit in the range left out
    return table


# ---------------------------------------------------------------------------------------------------------
# Exact (permutation) tests of ordinal association inside a group
# ---------------------------------------------------------------------------------------------------------


#: Largest table of the exact null's dynamic programme (arrangement states x values of S, int64 cells, 8 bytes
#: each: 40 MB). Every group of the study (n <= 20, scores 0-3) needs under 10^5; beyond it, Monte Carlo.
EXACT_MAX_CELLS = 5_000_000


@dataclass
class KendallNull:
    """Exact permutation null of Kendall's S: each attainable S and the number of distinct arrangements of the
    multiset of y (x fixed) that give it; `n_arrangements` = n! / prod(m_v!) is their total."""

    support: np.ndarray
    counts: list[int]
    n_arrangements: int

    def count(self, mask: np.ndarray) -> int:
        """Exact (integer) number of arrangements whose S satisfies `mask` (a boolean over `support`)."""
        return sum(c for c, keep in zip(self.counts, mask) if keep)


def kendall_s(x, y) -> int:
    """S = sum over pairs i < j of sign(x_i - x_j) sign(y_i - y_j): concordant minus discordant pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return int(np.sum(np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :]))) // 2


def _tied_pairs(v: np.ndarray) -> int:
    counts = np.unique(v, return_counts=True)[1]
    return int(np.sum(counts * (counts - 1) // 2))


def _multinomial(counts) -> int:
    counts = [int(c) for c in counts]
    return math.factorial(sum(counts)) // math.prod(math.factorial(c) for c in counts)


def _compositions(total: int, caps: np.ndarray) -> np.ndarray:
    """Every r with sum(r) = total and 0 <= r_l <= caps_l, one per row."""
    out: list[list[int]] = []

    def extend(prefix: list[int], left: int) -> None:
        level = len(prefix)
        if level == len(caps) - 1:
            if left <= caps[level]:
                out.append(prefix + [left])
            return
        for k in range(min(left, int(caps[level])) + 1):
            extend(prefix + [k], left - k)

    extend([], total)
    return np.array(out, dtype=np.int64).reshape(-1, len(caps))


def _null_cells(a: np.ndarray, b: np.ndarray) -> int:
    n = len(a)
    return int(np.prod(np.unique(b, return_counts=True)[1] + 1)) * (n * (n - 1) + 1)


def _s_null_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of S over the distinct arrangements of the multiset b against a fixed a, without listing them.

    S depends on an arrangement only through how many of each b value fall in each tie group of a. Going
    through a's tie groups in increasing order, the state is how many of each b value are already placed (at
    most prod(m_l + 1) states) with the distribution of S so far. Putting r_l items of b level l into the next
    group, of size c, adds sum_l r_l (placed below l - placed above l) to S (pairs inside a group are tied in a)
    and can be done in c! / prod(r_l!) distinct ways. Integer arithmetic throughout: the counts are exact.
    """
    n = len(a)
    groups = np.unique(a, return_counts=True)[1]
    m = np.unique(b, return_counts=True)[1].astype(np.int64)
    smax = n * (n - 1) // 2
    radix = np.cumprod(np.r_[1, m[:-1] + 1])
    n_states = int(np.prod(m + 1))
    placed = (np.arange(n_states)[:, None] // radix) % (m + 1)  # state -> items of each b level placed so far
    below = np.cumsum(placed, axis=1) - placed
    balance = below - (placed.sum(axis=1, keepdims=True) - np.cumsum(placed, axis=1))
    total_placed = placed.sum(axis=1)
    # int64 is exact while the total (which bounds every partial count) stays below 2**63
    dtype = np.int64 if _multinomial(m) < 2**62 else object
    dist = np.zeros((n_states, 2 * smax + 1), dtype=dtype)
    dist[0, smax] = 1
    k = 0
    for c in groups:
        c = int(c)
        new = np.zeros_like(dist)
        layer = np.flatnonzero(total_placed == k)
        reach = k * (k - 1) // 2  # |S| over the first k items
        cols = np.arange(smax - reach, smax + reach + 1)
        for r in _compositions(c, m):
            src = layer[np.all(placed[layer] + r <= m, axis=1)]
            if not len(src):
                continue
            ways = math.factorial(c) // math.prod(math.factorial(int(v)) for v in r)
            shift = balance[src] @ r  # one state goes to one state: no index repeats within a composition
            new[(src + int(r @ radix))[:, None], cols[None, :] + shift[:, None]] += ways * dist[src][:, cols]
        dist = new
        k += c
    counts = dist[n_states - 1]
    support = np.flatnonzero(counts)
    return support - smax, counts[support]


def kendall_null_distribution(x, y, max_cells: int = EXACT_MAX_CELLS) -> KendallNull | None:
    """The exact null of S with x fixed and y permuted uniformly, or None when its table exceeds `max_cells`.

    S is symmetric in x and y, and so is the law of the x-by-y table under uniform pairing, so the programme
    runs over whichever variable has fewer states, and the counts are converted to arrangements of y.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    m_x, m_y = (np.unique(v, return_counts=True)[1] for v in (x, y))
    swap = _null_cells(y, x) < _null_cells(x, y)
    if min(_null_cells(x, y), _null_cells(y, x)) > max_cells:
        return None
    support, counts = _s_null_counts(y, x) if swap else _s_null_counts(x, y)
    counts = [int(c) for c in counts]
    if swap:  # a table N is prod(m_y!)/prod(N!) arrangements of x and prod(m_x!)/prod(N!) arrangements of y
        num = math.prod(math.factorial(int(c)) for c in m_x)
        den = math.prod(math.factorial(int(c)) for c in m_y)
        counts = [c * num // den for c in counts]
    total = _multinomial(m_y)
    if sum(counts) != total:  # a broken programme must not pass for an exact test
        raise UpgradingError(f"exact Kendall null: counts sum to {sum(counts)}, not {total} arrangements")
    return KendallNull(np.asarray(support, dtype=np.int64), counts, total)


def _s_of_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    sx = np.sign(x[:, None] - x[None, :]).astype(np.int8)
    sy = np.sign(ys[:, :, None] - ys[:, None, :]).astype(np.int8)
    return np.einsum("ij,rij->r", sx, sy, dtype=np.int64) // 2


def permutation_association(x, y, n_resamples: int, seed: int, max_cells: int = EXACT_MAX_CELLS) -> dict:
    """Kendall's tau-b between x and y with permutation p-values (x fixed, y permuted uniformly).

    Exact whenever the null's dynamic programme fits in `max_cells` (every group of the study): all distinct
    arrangements of the multiset of y are counted, p-values are exact rationals (stored as floats). Otherwise
    `n_resamples` seeded random permutations, p = (1 + hits) / (1 + draws), with Monte Carlo standard error
    sqrt(p(1-p)/draws); the `method` says which. tau-b's denominator is the same in every arrangement, so all
    comparisons are on the integer S.

    Two-sided p-values: with ties the null of S is not symmetric, and the two usual definitions differ (either
    way). `p_value` = P(|S| >= |s|), the study's choice; `p_two_sided_doubled` = min(1, 2 min(p_ge, p_le)).
    `p_ge` = P(S >= s), `p_le` = P(S <= s). A test that cannot be computed (fewer than two cases, or a variable
    without variance) has NaNs and a `reason`. Two cases are tested: both arrangements are as extreme, so
    `p_value` is 1, as the enumeration gives it.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if len(y) != n or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise UpgradingError("an association test needs x and y of one length, without missing values")
    arrangements = _multinomial(np.unique(y, return_counts=True)[1]) if n else 0
    result = {
        "n": n,
        "tau_b": np.nan,
        "S": np.nan,
        "p_value": np.nan,
        "p_two_sided_doubled": np.nan,
        "p_ge": np.nan,
        "p_le": np.nan,
        "method": "not computed",
        "arrangements": arrangements,
        "draws": 0,
        "mc_se": np.nan,
        "reason": "",
    }
    if n < 2:
        result["reason"] = ("no cases" if n == 0 else "one case") + ": no association to test"
        return result
    for name, v in (("x", x), ("y", y)):
        if np.all(v == v[0]):
            result["reason"] = f"undefined: {name} has no variance"
            return result
    s = kendall_s(x, y)
    n0 = n * (n - 1) // 2
    result.update({"S": s, "tau_b": s / math.sqrt((n0 - _tied_pairs(x)) * (n0 - _tied_pairs(y)))})
    null = kendall_null_distribution(x, y, max_cells)
    if null is not None:
        total = null.n_arrangements
        p = {
            key: float(Fraction(null.count(mask), total))
            for key, mask in (
                ("p_ge", null.support >= s),
                ("p_le", null.support <= s),
                ("p_value", np.abs(null.support) >= abs(s)),
            )
        }
        method, draws, se = f"exact ({total:,} distinct arrangements)", 0, 0.0
    else:
        rng = np.random.default_rng(seed)
        sims = np.concatenate(
            [
                _s_of_rows(x, rng.permuted(np.tile(y, (min(2000, n_resamples - start), 1)), axis=1))
                for start in range(0, n_resamples, 2000)
            ]
        )
        p = {
            key: (1 + int(np.sum(hit))) / (1 + n_resamples)
            for key, hit in (("p_ge", sims >= s), ("p_le", sims <= s), ("p_value", np.abs(sims) >= abs(s)))
        }
        draws, se = n_resamples, math.sqrt(p["p_value"] * (1 - p["p_value"]) / n_resamples)
        method = f"Monte Carlo ({n_resamples:,} draws, MC SE {se:.2g})"
    result.update(p)
    result.update(
        {"p_two_sided_doubled": min(1.0, 2 * min(p["p_ge"], p["p_le"])), "method": method, "draws": draws, "mc_se": se}
    )
    return result


def association_seed(seed: int, *key) -> int:
    """The seed of one test's Monte Carlo draws, from a root seed and the test's identity (e.g. group, outcome,
    predictor): the same test gets the same draws whichever other tests are run, and in whatever order."""
    words = tuple(zlib.crc32(str(part).encode("utf-8")) for part in key)
    return int(np.random.SeedSequence(seed, spawn_key=words).generate_state(1)[0])


def group_association_tests(cases: pd.DataFrame, outcomes, predictors, group: str, n_resamples: int, seed: int):
    """Permutation tests of each outcome with each predictor inside each group, on the cases that have both
    (complete pairs; `missing` counts the others); each test's draws (where any are needed) come from
    `association_seed(seed, group, outcome, predictor)`."""
    rows = []
    groups = [g for g in pd.unique(cases[group].astype(str))]
    for g in groups:
        sub = cases[cases[group].astype(str) == g]
        for outcome in outcomes:
            for predictor in predictors:
                draws = association_seed(seed, g, outcome, predictor)
                pair = sub[[predictor, outcome]].dropna()
                result = permutation_association(pair[predictor], pair[outcome], n_resamples, seed=draws)
                rows.append({group: g, "outcome": outcome, "predictor": predictor, **result,
                             "missing": len(sub) - len(pair)})  # fmt: skip
    return pd.DataFrame(rows)
