"""Inter-coder reliability of a double-coded sheet: Krippendorff's alpha with bootstrap intervals.

Alpha comes from the maintained `krippendorff` package: ordinal metric for the 0-3 scales, nominal for
governance and sectoral group. Intervals are a nonparametric case bootstrap: cases (the units) are resampled
with replacement and alpha is recomputed on each resample, observed *and* expected disagreement alike, and the
2.5% and 97.5% percentiles are reported (the resamples' alphas batched by `bootstrap_alphas`, bit for bit the
package's). This is not Hayes & Krippendorff's (2007) bootstrap, which resamples pairable values while holding the
expected disagreement of the full sample fixed; the case bootstrap also carries the uncertainty of the expected
disagreement. Where every resample gives the same alpha (for example,
no disagreement at all), the interval is degenerate and the table says so instead of passing it off as a
measure of precision.

The second coding may cover any subset of the first coding's cases (the usual design double-codes a fifth or
a third of them): alpha, agreement and disagreements are computed on the cases both coders coded, and
`double_coding` says which cases those are and which were coded once. A second-coder case that the first
coding does not hold is an error naming it. Computing on the overlap is what Krippendorff's alpha does with
missing codes anyway (a unit coded once is not pairable and adds nothing); the bootstrap resamples the
double-coded cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import interim
from ..errors import UpgradingError
from .codebook import Codebook, load_codebook
from .settings import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .wording import percent_of


def reliability_variables(codebook: Codebook | None = None) -> dict[str, str]:
    """Variables whose agreement is reported, with their level of measurement (from the codebook)."""
    cb = codebook or load_codebook()
    levels = {}
    for v in cb.variables:
        if v.kind == "ordinal":
            levels[v.name] = "ordinal"
        elif v.kind == "nominal":
            levels[v.name] = "nominal"
    return levels


@dataclass(frozen=True)
class DoubleCoding:
    """Which of the first coding's cases the second coder coded too, in the first coding's order."""

    double_coded: tuple[str, ...]
    coded_once: tuple[str, ...]

    @property
    def cases(self) -> int:
        return len(self.double_coded) + len(self.coded_once)

    def sentence(self) -> str:
        """One sentence for a notebook: how many cases were double-coded, and which were not."""
        n, total = len(self.double_coded), self.cases
        if not self.coded_once:
            return f"All {total} cases were coded by both coders."
        return (
            f"{n} of the {total} cases ({percent_of(n, total)}) were coded by both coders; reliability is computed on "
            f"them. Coded by the first coder only ({len(self.coded_once)}): {', '.join(self.coded_once)}."
        )


def double_coding(first: pd.DataFrame, second: pd.DataFrame, second_name: str = "second coder") -> DoubleCoding:
    """The cases both codings hold and those only the first holds; a case only the second holds is an error."""
    ids = [str(c) for c in first["case_id"]]
    known = set(ids)
    extra = [str(c) for c in second["case_id"] if str(c) not in known]
    if extra:
        raise UpgradingError(
            f"the {second_name} coded {len(extra)} case{'s' if len(extra) != 1 else ''} that the "
            f"first coding does not hold: {', '.join(extra)}; the second coding may cover any "
            "subset of the first coding's cases, but no others"
        )
    second_ids = {str(c) for c in second["case_id"]}
    both = tuple(c for c in ids if c in second_ids)
    if not both:
        raise UpgradingError(f"the {second_name} coded none of the first coding's cases")
    return DoubleCoding(both, tuple(c for c in ids if c not in second_ids))


def pair_up(
    first: pd.DataFrame, second: pd.DataFrame, first_name: str = "first coder", second_name: str = "second coder"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align two codings by case id on the cases both hold (the double-coded ones, in the first coding's
    order); refuse a second coding holding cases the first does not. See `double_coding` for which cases."""
    both = list(double_coding(first, second, second_name).double_coded)
    a = first.assign(case_id=first["case_id"].astype(str)).set_index("case_id")
    b = second.assign(case_id=second["case_id"].astype(str)).set_index("case_id")
    return a.loc[both], b.loc[both]


def _codes(a: pd.Series, b: pd.Series, level: str) -> np.ndarray:
    """Coders x units codes as floats, NaN where a coder did not report the variable (alpha skips those)."""
    if level == "nominal":
        categories = sorted(set(map(str, a.dropna())) | set(map(str, b.dropna())))
        lookup = {c: k for k, c in enumerate(categories)}
        return np.array([[np.nan if pd.isna(x) else lookup[str(x)] for x in s] for s in (a, b)], dtype=float)
    return np.vstack([a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)])


def alpha(data: np.ndarray, level: str) -> float:
    """Krippendorff's alpha of a coders x units array; NaN when undefined (a single value observed)."""
    domain = np.unique(data[~np.isnan(data)])
    return alpha_from_counts(value_counts(data, domain), domain, level)


def value_counts(data: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """Units x values matrix of how many coders gave each value (krippendorff's `value_counts` input)."""
    return np.stack([(data == v).sum(axis=0) for v in domain], axis=1) if len(domain) else np.zeros((data.shape[1], 0))


def alpha_from_counts(counts: np.ndarray, domain: np.ndarray, level: str) -> float:
    """Alpha from a units x values count matrix; resampling its rows is the case bootstrap. NaN where it is
    undefined: a single value observed, or no unit coded by both coders (a variable each coder reported for
    different cases)."""
    import krippendorff

    if np.count_nonzero(counts.sum(axis=0)) < 2 or not (counts.sum(axis=1) >= 2).any():
        return float("nan")
    return float(krippendorff.alpha(value_counts=counts, value_domain=list(domain), level_of_measurement=level))


def bootstrap_alphas(counts: np.ndarray, domain: np.ndarray, level: str, draws: np.ndarray) -> np.ndarray:
    """`alpha_from_counts(counts[idx], domain, level)` for every resample `idx` (row) of `draws`, batched.

    The `krippendorff` package computes one alpha per call, and a 2,000-resample bootstrap spends its time in the
    calls. Here every resample's coincidence matrix is the sum of its units' contributions, added in the resample's
    order, and the package's later steps (expected coincidences, distances, the ratio) follow it operation for
    operation, so each alpha is bit for bit the package's (the tests hold every resample to it). NaN where
    `alpha_from_counts` gives NaN."""
    counts = np.asarray(counts)
    n_values = counts.shape[1]
    if n_values > 8:  # numpy sums more than 8 values pairwise: one call per resample, the package's own
        return np.array([alpha_from_counts(counts[idx], domain, level) for idx in draws])
    eye = np.eye(n_values)
    pairable = np.maximum(counts.sum(axis=1), 2)
    contribution = np.divide(
        counts[..., np.newaxis] * counts[:, np.newaxis, :] - counts[:, np.newaxis, :] * eye[np.newaxis, ...],
        (pairable - 1).reshape((-1, 1, 1)),
        dtype=float,
    )
    observed = contribution[draws[:, 0]]
    for column in draws.T[1:]:  # the package's sum over units: in order, one unit at a time
        observed += contribution[column]
    n_v = observed.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.divide(
            n_v[:, :, np.newaxis] * n_v[:, np.newaxis, :] - n_v[:, :, np.newaxis] * eye,
            (n_v.sum(axis=1) - 1).reshape((-1, 1, 1)),
        )
        distance = _distances(n_v, level)
        ratio = (observed * distance).reshape(len(draws), -1).sum(axis=1) / (expected * distance).reshape(
            len(draws), -1
        ).sum(axis=1)
    values = 1 - ratio
    totals = np.zeros((len(draws), n_values), dtype=counts.dtype)
    for column in draws.T:
        totals += counts[column]
    defined = (np.count_nonzero(totals, axis=1) >= 2) & (counts.sum(axis=1) >= 2)[draws].any(axis=1)
    return np.where(defined, values, np.nan)


def _distances(n_v: np.ndarray, level: str) -> np.ndarray:
    """The package's squared distances between values, for each resample's pairable values `n_v` (B, V): nominal
    (0 or 1) or ordinal (the values between two, themselves counted half, summed in the package's order)."""
    resamples, n_values = n_v.shape
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(n_values), (resamples, n_values, n_values))
    if level != "ordinal":
        raise ValueError(f"level must be 'nominal' or 'ordinal', not {level!r}")
    distance = np.empty((resamples, n_values, n_values))
    for i in range(n_values):
        for j in range(n_values):
            low, high = min(i, j), max(i, j)
            rest = np.zeros(resamples)  # numpy adds the first value to the sum of the others, begun at 0
            for k in range(low + 1, high + 1):
                rest += n_v[:, k]
            between = n_v[:, low] + rest if high > low else n_v[:, low]
            distance[:, i, j] = (between - np.divide(n_v[:, low] + n_v[:, high], 2)) ** 2
    return distance


def reliability_table(
    first: pd.DataFrame,
    second: pd.DataFrame,
    n_boot: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
    cache: bool = False,
) -> pd.DataFrame:
    """Alpha per variable with a percentile bootstrap interval, plus exact agreement and disagreements.

    Computed on the double-coded cases (`cases`); `first_coder_cases` is how many cases the first coding holds.
    `pairs`: the double-coded cases both coders coded on the variable, the data of alpha (a case one coder did not
    report is not pairable and adds nothing to it) and the denominator of `exact_agreement`; `disagreements`: the
    pairs whose codes differ, so `exact_agreement` is 1 - disagreements / pairs. Where a coder did not report a
    code in some double-coded cases, `not_reported` counts those cases (cases - pairs) and
    `code_vs_not_reported` those of them where the other coder gave a code (listed by `disagreements()`, but not
    counted in `disagreements`); both columns are left out where every double-coded case is coded by both.
    With `cache`, a table already made from the same codings and settings by the same package is read from
    data/interim/ (`upgrading.interim`): notebook 02 makes it, notebook 07 (the coding-error arm's intervals) and
    the test suite's reruns read it.
    """
    if cache:
        key = {"sheets": [interim.frame_digest(first), interim.frame_digest(second)], "n_boot": n_boot}
        key |= {"seed": seed, "level": level}
        return interim.cached("reliability", key, lambda: reliability_table(first, second, n_boot, seed, level))
    a, b = pair_up(first, second)
    rng = np.random.default_rng(seed)
    n = len(a)
    draws = rng.integers(0, n, size=(n_boot, n))  # the same resamples for every variable
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for variable, metric in reliability_variables().items():
        data = _codes(a[variable], b[variable], metric)
        domain = np.unique(data[~np.isnan(data)])
        counts = value_counts(data, domain)
        point = alpha_from_counts(counts, domain, metric)
        boots = bootstrap_alphas(counts, domain, metric, draws) if len(domain) else np.full(n_boot, np.nan)
        boots = boots[~np.isnan(boots)]
        coded = ~np.isnan(data).any(axis=0)  # pairs both coders coded
        agree = float(np.mean(data[0, coded] == data[1, coded])) if coded.any() else float("nan")
        note = ""
        if not len(domain):
            note = "alpha undefined: not reported by either coder in any double-coded case"
        elif not coded.any():
            note = "alpha undefined: no double-coded case has this variable coded by both coders"
        elif not len(boots):
            note = "alpha undefined: a single value observed in every resample"
        elif np.all(boots == boots[0]):
            note = (
                f"degenerate interval: every resample gives alpha = {boots[0]:g} "
                + ("(no disagreement in any case)" if agree == 1 else "")
            ).strip()
        rows.append(
            {
                "variable": variable,
                "metric": metric,
                "cases": n,
                "first_coder_cases": len(first),
                "pairs": int(coded.sum()),
                "disagreements": int(np.sum(data[0, coded] != data[1, coded])),
                "exact_agreement": agree,
                "alpha": point,
                "ci_low": float(np.quantile(boots, lo)) if len(boots) else float("nan"),
                "ci_high": float(np.quantile(boots, hi)) if len(boots) else float("nan"),
                "bootstrap_draws": int(len(boots)),
                "note": note,
                "not_reported": int(np.sum(~coded)),
                "code_vs_not_reported": int(np.sum(np.isnan(data).sum(axis=0) == 1)),
            }
        )
    table = pd.DataFrame(rows)
    return table if table["not_reported"].any() else table.drop(columns=["not_reported", "code_vs_not_reported"])


#: How `disagreements` shows a code a coder did not report.
NOT_REPORTED = "not reported"


def _shown(code) -> str:
    return NOT_REPORTED if pd.isna(code) else str(code)


def disagreements(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Every (double-coded case, variable) on which the codings differ, with both codes: two codes that differ
    (`reliability_table`'s `disagreements`), or a code against "not reported" (its `code_vs_not_reported`), both
    for the coders to reconcile."""
    a, b = pair_up(first, second)
    rows = []
    for variable in reliability_variables():
        first_codes, second_codes = a[variable].map(_shown), b[variable].map(_shown)
        for case_id in a.index[first_codes != second_codes]:
            rows.append(
                {
                    "case_id": case_id,
                    "sectoral_group": str(a.at[case_id, "sectoral_group"]),
                    "variable": variable,
                    "first_coder": first_codes[case_id],
                    "second_coder": second_codes[case_id],
                }
            )
    return pd.DataFrame(rows, columns=["case_id", "sectoral_group", "variable", "first_coder", "second_coder"])


def differences_by_variable(listed: pd.DataFrame) -> pd.DataFrame:
    """Per variable of a `disagreements()` list: how many rows are two codes that differ (`disagreements`) and how
    many a code against "not reported" (`code_vs_not_reported`), as `reliability_table` counts them."""
    against = listed[["first_coder", "second_coder"]].eq(NOT_REPORTED).any(axis=1)
    counts = pd.DataFrame({"variable": listed["variable"], "disagreements": ~against, "code_vs_not_reported": against})
    return counts.groupby("variable", sort=False).sum().astype(int)


def measured_alphas(first: pd.DataFrame, second: pd.DataFrame, variables: dict[str, str] | None = None):
    """Krippendorff's alpha of each variable (default: each reported one, with its metric) on the double-coded
    cases: the `alpha` column of `reliability_table`, without its bootstrap (NaN where alpha is undefined)."""
    a, b = pair_up(first, second)
    return {
        variable: alpha(_codes(a[variable], b[variable], level), level)
        for variable, level in (variables or reliability_variables()).items()
    }
