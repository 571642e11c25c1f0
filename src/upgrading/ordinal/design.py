"""From a formula and a data frame to what a fit needs: outcome codes, predictor matrix, weights, names.

Bad data are refused here, naming the variable (single observed outcome level, a predictor without variance,
an empty factor level, missing values, an unordered outcome, collinear predictors).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import UpgradingError


class ModelWarning(UserWarning):
    """A model ran, but something about the data deserves the reader's attention."""


@dataclass
class Design:
    """What a fit needs: outcome codes 0..K-1, predictor matrix (no intercept), weights, names."""

    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    levels: list
    names: list[str]
    outcome: str
    formula: str = ""
    design_info: object = None
    aliased: dict = field(default_factory=dict)  # columns dropped as not estimable: name -> reason

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def threshold_names(self) -> list[str]:
        """R's names of the thresholds: 'lower|upper' outcome levels."""
        return [f"{self.levels[j]}|{self.levels[j + 1]}" for j in range(self.n_levels - 1)]

    def exog(self, data: pd.DataFrame) -> np.ndarray:
        """The predictor matrix of new rows, built as for the estimation data (for prediction)."""
        import patsy

        matrix = np.asarray(patsy.build_design_matrices([self.design_info], data, NA_action="raise")[0])
        keep = [k for k, n in enumerate(self.design_info.column_names) if n in self.names]
        return matrix[:, keep].astype(float)


@lru_cache(maxsize=256)
def _design_info(rhs: str, signature: tuple):
    # Cached per formula and per the dtypes/categories of the columns it uses; patsy's build is the slow part.
    import patsy

    frame = pd.DataFrame({name: pd.Series(sample, dtype=dtype) for name, dtype, sample in signature})
    return patsy.dmatrix(rhs, frame, NA_action="raise").design_info


def _signature(series: dict[str, pd.Series]) -> tuple:
    """The dtypes (and categories) of the formula's predictors: what patsy's design info depends on."""
    items = []
    for c, col in series.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            items.append((c, col.dtype, tuple(col.dtype.categories[:1])))
        else:
            items.append((c, col.dtype, tuple(col.iloc[:1])))
    return tuple(items)


def _outcome_codes(values: pd.Series, name: str) -> tuple[np.ndarray, list]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.dtype.ordered:
            raise UpgradingError(
                f"outcome {name!r} is an unordered categorical; an ordered logit needs an order: use integer "
                "scores or pd.Categorical(..., ordered=True)"
            )
        declared = list(values.dtype.categories)
        observed = [c for c in declared if (values == c).any()]
        empty = [c for c in declared if c not in observed]
        if empty:
            warnings.warn(
                f"outcome {name!r}: level(s) {empty} have no cases and are left out of the model "
                f"(thresholds are estimated between observed levels {observed})",
                ModelWarning,
                stacklevel=4,
            )
        codes = values.cat.codes.to_numpy()
        remap = {declared.index(c): k for k, c in enumerate(observed)}
        return np.array([remap[c] for c in codes]), observed
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        observed = sorted(values.unique().tolist())
    elif pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
        observed = sorted(values.unique().tolist())
    else:
        raise UpgradingError(
            f"outcome {name!r} is not ordered (dtype {values.dtype}); an ordered logit needs integer scores "
            "or an ordered categorical"
        )
    return np.searchsorted(np.asarray(observed), values.to_numpy()).astype(int), observed


def build_design(formula: str, data: pd.DataFrame, freq_weights=None, aliased: str = "raise") -> Design:
    """Parse `outcome ~ predictors` (patsy syntax, treatment contrasts) into a Design, refusing bad data.

    Predictors that cannot be estimated (a factor level with no cases, a column without variance, a column
    collinear with earlier ones or the thresholds) raise an error naming them (`aliased="raise"`), or are left
    out and listed with the reason in `design.aliased` (`aliased="drop"`, as R's `clm` drops aliased terms).
    """
    if aliased not in ("raise", "drop"):
        raise ValueError(f"aliased must be 'raise' or 'drop', not {aliased!r}")
    if "~" not in formula:
        raise UpgradingError(f"formula {formula!r} needs the form 'outcome ~ predictors'")
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    if lhs not in data.columns:
        columns = ", ".join(map(str, data.columns))
        raise UpgradingError(f"outcome {lhs!r} is not a column of the data; columns: {columns}")
    if re.search(r"(^|[+\s])(0|-\s*1)(\s|\+|$)", rhs):
        raise UpgradingError("remove '0 +' / '- 1' from the formula: the thresholds play the intercept's part")
    used = [c for c in data.columns if c == lhs or re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", rhs)]
    series = {c: data[c] for c in used}  # each column taken once (a column access copies the frame's attrs)
    missing = {c: int(s.isna().sum()) for c, s in series.items() if s.hasnans}
    if missing:
        raise UpgradingError(
            "missing values in "
            + ", ".join(f"{c!r} ({k} rows)" for c, k in missing.items())
            + "; drop or impute them before fitting"
        )
    import patsy

    # patsy evaluates plain arrays (pd.Categorical for factors) much faster than DataFrame columns
    predictors = {c: s for c, s in series.items() if c != lhs}
    columns = {
        c: (s.array if isinstance(s.dtype, pd.CategoricalDtype) else s.to_numpy()) for c, s in predictors.items()
    }
    try:
        info = _design_info(rhs, _signature(predictors))
        matrix = np.asarray(patsy.build_design_matrices([info], columns, NA_action="raise")[0])
    except (patsy.PatsyError, TypeError):
        info = patsy.dmatrix(rhs, data, NA_action="raise").design_info
        matrix = np.asarray(patsy.build_design_matrices([info], data, NA_action="raise")[0])
    names = list(info.column_names)
    if "Intercept" not in names:
        raise UpgradingError("the formula must keep the intercept (it is absorbed by the thresholds)")
    keep = [k for k, n in enumerate(names) if n != "Intercept"]
    X = matrix[:, keep].astype(float)
    names = [names[k] for k in keep]
    if len(data) == 0:
        raise UpgradingError("no cases: nothing to model")
    y, levels = _outcome_codes(series[lhs], lhs)
    if len(levels) < 2:
        raise UpgradingError(f"outcome {lhs!r} has a single observed level ({levels[0]!r}); nothing to model")
    weights = np.ones(len(y)) if freq_weights is None else np.asarray(freq_weights, dtype=float)
    if weights.shape != y.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise UpgradingError("freq_weights must be one finite, non-negative number per row")
    if aliased == "raise":
        _check_predictors(X, names, weights)
        return Design(y, X, weights, levels, names, lhs, formula, info)
    dropped = _aliased_columns(X, names, weights)
    keep = [k for k, name in enumerate(names) if name not in dropped]
    return Design(y, X[:, keep], weights, levels, [names[k] for k in keep], lhs, formula, info, dropped)


def _constant_reason(name: str, column: np.ndarray) -> str:
    level = re.search(r"\[(?:T\.)?([^\]]+)\]", name)
    if level and np.all(column == 0):
        return f"factor level {level.group(1)!r} has no cases"
    return f"no variance (every case has {column[0]:g})"


def _aliased_columns(X: np.ndarray, names: list[str], weights: np.ndarray) -> dict[str, str]:
    """Columns that cannot be estimated, in order: constant ones, then each one that adds no rank to the
    thresholds and the columns kept before it (named with the columns it is a combination of)."""
    used = weights > 0
    dropped: dict[str, str] = {}
    kept = [np.ones(used.sum())]
    kept_names: list[str] = []
    for k, name in enumerate(names):
        column = X[used, k]
        if np.all(column == column[0]):
            dropped[name] = _constant_reason(name, column)
            continue
        basis = np.column_stack(kept)
        coef, *_ = np.linalg.lstsq(basis, column, rcond=None)
        if np.allclose(basis @ coef, column, atol=1e-9 * max(1.0, np.abs(column).max())):
            partners = [kept_names[j - 1] for j in np.flatnonzero(np.abs(coef) > 1e-8) if j > 0]
            dropped[name] = "collinear with " + (", ".join(partners) if partners else "the thresholds")
            continue
        kept.append(column)
        kept_names.append(name)
    return dropped


def _check_predictors(X: np.ndarray, names: list[str], weights: np.ndarray) -> None:
    used = weights > 0
    problems = []
    for k, name in enumerate(names):
        col = X[used, k]
        if np.all(col == col[0]):
            level = re.search(r"\[(?:T\.)?([^\]]+)\]$", name)
            if level and np.all(col == 0):
                problems.append(f"{name}: factor level {level.group(1)!r} has no cases")
            else:
                problems.append(f"{name}: no variance (every case has {col[0]:g})")
    if problems:
        raise UpgradingError("predictors that cannot be estimated: " + "; ".join(problems))
    full = np.column_stack([np.ones(used.sum()), X[used]])
    rank = np.linalg.matrix_rank(full)
    if rank < full.shape[1]:
        _, _, vt = np.linalg.svd(full)
        null = vt[-1]
        involved = [names[k - 1] for k in np.flatnonzero(np.abs(null) > 1e-8) if k > 0]
        raise UpgradingError("predictors are collinear (with each other or the thresholds): " + ", ".join(involved))


# -- the same refusals, for estimators that take columns rather than a formula (`multilevel`) ---------------------


def refuse_missing(columns: dict[str, pd.Series]) -> None:
    """Refuse missing values, naming each column and how many rows: which rows to drop is the user's decision."""
    missing = {c: int(s.isna().sum()) for c, s in columns.items() if s.hasnans}
    if missing:
        raise UpgradingError(
            "missing values in "
            + ", ".join(f"{c!r} ({k} rows)" for c, k in missing.items())
            + "; drop or impute them before fitting"
        )


def ordered_levels(values: pd.Series, name: str) -> list:
    """An outcome's levels in order: an ordered categorical's categories (all declared, observed or not), or the
    sorted distinct scores of boolean, integer or whole-number values. Anything else has no order: refused."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.dtype.ordered:
            raise UpgradingError(
                f"outcome {name!r} is an unordered categorical; an ordered logit needs an order: use integer "
                "scores or pd.Categorical(..., ordered=True)"
            )
        return list(values.dtype.categories)
    if (
        pd.api.types.is_bool_dtype(values)
        or pd.api.types.is_integer_dtype(values)
        or (pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0))
    ):
        return sorted(values.unique().tolist())
    raise UpgradingError(
        f"outcome {name!r} is not ordered (dtype {values.dtype}); an ordered logit needs integer scores "
        "or an ordered categorical"
    )


def refuse_constant(columns: dict[str, np.ndarray]) -> None:
    """Refuse predictors without variance, naming them: their slopes cannot be told from the thresholds."""
    problems = [f"{name}: no variance (every case has {x[0]:g})" for name, x in columns.items() if np.all(x == x[0])]
    if problems:
        raise UpgradingError("predictors that cannot be estimated: " + "; ".join(problems))
