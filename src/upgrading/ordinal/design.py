"""From a formula and a data frame to what a fit needs: outcome codes, predictor matrix, weights, names.

Bad data are refused here, naming the variable (single observed outcome level, a predictor without variance,
an empty factor level, missing values, an unordered outcome, collinear predictors).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import UpgradingError

NO_VARIANCE = "no variance ("  # how a reason for a column that does not vary begins: "no variance (every case has 0)"


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
    Z: np.ndarray | None = None  # nominal effects' columns (n, m): one coefficient per threshold each
    nominal_names: list[str] = field(default_factory=list)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def threshold_names(self) -> list[str]:
        """R's names of the thresholds: 'lower|upper' outcome levels."""
        return [f"{self.levels[j]}|{self.levels[j + 1]}" for j in range(self.n_levels - 1)]

    @property
    def nominal_parameter_names(self) -> list[str]:
        """R's names of the nominal effects, 'lower|upper.column', column by column (as `clm` orders them)."""
        return [f"{t}.{z}" for z in self.nominal_names for t in self.threshold_names]

    def exog(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """The predictor matrix of new rows, built as for the estimation data (for prediction), and the nominal
        effects' columns (None without nominal effects)."""
        import patsy

        try:
            matrix = np.asarray(patsy.build_design_matrices([self.design_info], data, NA_action="raise")[0])
        except patsy.PatsyError as error:
            raise UpgradingError(f"the new rows cannot be predicted: {error}".split("\n")[0]) from None
        columns = list(self.design_info.column_names)

        def pick(names):
            return matrix[:, [columns.index(n) for n in names]].astype(float)

        return pick(self.names), (pick(self.nominal_names) if self.Z is not None else None)


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


@dataclass(frozen=True)
class _Formula:
    """A parsed formula and the data columns it uses."""

    text: str
    outcome: str
    rhs: str
    used: tuple[str, ...]


def _parse_formula(formula: str, data: pd.DataFrame) -> _Formula:
    if "~" not in formula:
        raise UpgradingError(f"formula {formula!r} needs the form 'outcome ~ predictors'")
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    if lhs not in data.columns:
        columns = ", ".join(map(str, data.columns))
        raise UpgradingError(f"outcome {lhs!r} is not a column of the data; columns: {columns}")
    if re.search(r"(^|[+\s])(0|-\s*1)(\s|\+|$)", rhs):
        raise UpgradingError("remove '0 +' / '- 1' from the formula: the thresholds play the intercept's part")
    used = [c for c in data.columns if c == lhs or re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", rhs)]
    return _Formula(formula, lhs, rhs, tuple(used))


def formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """The columns of `data` a formula uses: its outcome, then the columns its predictors are made from."""
    parsed = _parse_formula(formula, data)
    return [parsed.outcome] + [c for c in parsed.used if c != parsed.outcome]


def complete_rows(formula: str, data: pd.DataFrame) -> np.ndarray:
    """Which rows have every column the formula uses (complete-case analysis, as R's `na.omit`)."""
    return data[formula_columns(formula, data)].notna().all(axis=1).to_numpy()


def predictor_columns(formula: str, data: pd.DataFrame | None) -> list[str]:
    """The columns of `data` that the predictors of `formula` are made from ([] without data)."""
    if data is None:
        return []
    parsed = _parse_formula(formula, data)
    return [c for c in parsed.used if c != parsed.outcome]


def _columns(parsed: _Formula, data: pd.DataFrame) -> dict[str, pd.Series]:
    """The formula's columns, each taken once (a column access copies the frame's attrs), refusing missing values."""
    series = {c: data[c] for c in parsed.used}
    missing = {c: int(s.isna().sum()) for c, s in series.items() if _has_missing(s)}
    if missing:
        raise UpgradingError(
            "missing values in "
            + ", ".join(f"{c!r} ({k} rows)" for c, k in missing.items())
            + "; drop or impute them before fitting"
        )
    return series


def _has_missing(values: pd.Series) -> bool:
    """Whether a column has missing values (straight from its array where pandas' check would be slow)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return bool((values.array.codes < 0).any())
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else ""
    if kind in "iub" and kind:
        return False
    if kind == "f":
        return bool(np.isnan(values.to_numpy()).any())
    return bool(values.hasnans)


#: Above this many rows, the predictor matrix is built for the distinct rows of the formula's columns only and
#: copied out (patsy's terms are computed row by row, and factors in `C()` are converted value by value).
DISTINCT_ROWS_FROM = 200


def _distinct(columns: dict) -> tuple[dict, np.ndarray] | None:
    """The distinct rows of the predictor columns and, for every row, which of them it is (None if not worth it)."""
    if not columns or len(next(iter(columns.values()))) < DISTINCT_ROWS_FROM:
        return None
    frame = pd.DataFrame(columns)
    inverse = frame.groupby(list(frame.columns), sort=False, observed=True, dropna=False).ngroup().to_numpy()
    first = np.unique(inverse, return_index=True)[1]
    return {c: v[first] for c, v in columns.items()}, inverse


def _predictor_matrix(parsed: _Formula, series: dict[str, pd.Series], data: pd.DataFrame):
    """(X without the intercept, column names, patsy design info) of every row of `data`."""
    import patsy

    # patsy evaluates plain arrays (pd.Categorical for factors) much faster than DataFrame columns
    predictors = {c: s for c, s in series.items() if c != parsed.outcome}
    columns = {
        c: (s.array if isinstance(s.dtype, pd.CategoricalDtype) else s.to_numpy()) for c, s in predictors.items()
    }
    try:
        info = _design_info(parsed.rhs, _signature(predictors))
        distinct = _distinct(columns)
        if distinct is None:
            matrix = np.asarray(patsy.build_design_matrices([info], columns, NA_action="raise")[0])
        else:
            rows, inverse = distinct
            matrix = np.asarray(patsy.build_design_matrices([info], rows, NA_action="raise")[0])[inverse]
    except (patsy.PatsyError, TypeError):
        info = patsy.dmatrix(parsed.rhs, data, NA_action="raise").design_info
        matrix = np.asarray(patsy.build_design_matrices([info], data, NA_action="raise")[0])
    names = list(info.column_names)
    if "Intercept" not in names:
        raise UpgradingError("the formula must keep the intercept (it is absorbed by the thresholds)")
    keep = [k for k, n in enumerate(names) if n != "Intercept"]
    return matrix[:, keep].astype(float), [names[k] for k in keep], info


def _outcome(parsed: _Formula, values: pd.Series) -> tuple[np.ndarray, list]:
    if len(values) == 0:
        raise UpgradingError("no cases: nothing to model")
    y, levels = _outcome_codes(values, parsed.outcome)
    if len(levels) < 2:
        raise UpgradingError(
            f"outcome {parsed.outcome!r} has a single observed level ({levels[0]!r}); nothing to model"
        )
    return y, levels


def _outcome_parts(parsed: _Formula, values: pd.Series):
    """A function of the rows of one part giving `_outcome` of those rows: integer scores straight from numpy
    (the observed levels in order, as `_outcome_codes` has them), anything else through `_outcome_codes`."""
    if not (pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        return lambda rows: _outcome(parsed, values.iloc[rows])
    array = values.to_numpy()

    def integer_outcome(rows):
        if len(rows) == 0:
            raise UpgradingError("no cases: nothing to model")
        observed, codes = np.unique(array[rows], return_inverse=True)
        if len(observed) < 2:
            raise UpgradingError(
                f"outcome {parsed.outcome!r} has a single observed level ({observed[0].item()!r}); nothing to model"
            )
        return codes.astype(int), observed.tolist()

    return integer_outcome


def _nominal_columns(info, nominal: str) -> list[int]:
    """The design columns of the nominal terms (`~ term + term`), each of which must be a term of the formula."""
    text = nominal.strip()
    text = text[1:] if text.startswith("~") else text
    wanted = [part.strip() for part in text.split("+") if part.strip()]
    terms = {name: part for name, part in info.term_name_slices.items() if name != "Intercept"}
    unknown = [w for w in wanted if w not in terms]
    if unknown or not wanted:
        raise UpgradingError(
            f"nominal term(s) {unknown or [nominal]} are not terms of the formula; its terms: {', '.join(terms)}"
        )
    intercept = 1 if "Intercept" in info.column_names else 0
    return sorted({k - intercept for w in wanted for k in range(*terms[w].indices(len(info.column_names)))})


def _with_nominal(design: Design, nominal: str | None) -> Design:
    """The design with the nominal terms' columns moved from X to Z (their location effects would be aliased
    with the threshold-specific ones, as in R's `clm(nominal = ...)`). A column the design already left out
    (`aliased`: an empty group, no variance, collinear) stays out with its reason, so the nominal fit has exactly
    the proportional-odds fit's estimable columns. For a column of zeros (an empty group) this is what R's `clm`
    does; for one constant at another value, or collinear, `clm` would keep some threshold-specific directions
    (the group's own threshold spacing): left out here by choice, so the test is of the predictor alone."""
    if nominal is None:
        return design
    all_names = [n for n in design.design_info.column_names if n != "Intercept"]
    wanted = [all_names[k] for k in _nominal_columns(design.design_info, nominal)]
    z_names = [n for n in wanted if n in design.names]
    left_out = [n for n in wanted if n not in z_names]
    if not z_names or not set(left_out) <= set(design.aliased):
        reasons = "; ".join(f"{n}: {design.aliased.get(n, 'left out of the design')}" for n in left_out)
        raise UpgradingError(f"nominal column(s) that cannot be estimated: {reasons}")
    keep = [k for k, n in enumerate(design.names) if n not in z_names]
    Z = design.X[:, [design.names.index(n) for n in z_names]]
    return replace(design, X=design.X[:, keep], names=[design.names[k] for k in keep], Z=Z, nominal_names=z_names)


def build_design(
    formula: str, data: pd.DataFrame, freq_weights=None, aliased: str = "raise", nominal: str | None = None
) -> Design:
    """Parse `outcome ~ predictors` (patsy syntax, treatment contrasts) into a Design, refusing bad data.

    Predictors that cannot be estimated (a factor level with no cases, a column without variance, a column
    collinear with earlier ones or the thresholds) raise an error naming them (`aliased="raise"`), or are left
    out and listed with the reason in `design.aliased` (`aliased="drop"`, as R's `clm` drops aliased terms).
    `nominal` (`"~ term + ..."`, terms of the formula) gives those terms one coefficient per threshold.
    """
    if aliased not in ("raise", "drop"):
        raise ValueError(f"aliased must be 'raise' or 'drop', not {aliased!r}")
    parsed = _parse_formula(formula, data)
    series = _columns(parsed, data)
    X, names, info = _predictor_matrix(parsed, series, data)
    y, levels = _outcome(parsed, series[parsed.outcome])
    weights = np.ones(len(y)) if freq_weights is None else np.asarray(freq_weights, dtype=float)
    if weights.shape != y.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise UpgradingError("freq_weights must be one finite, non-negative number per row")
    if nominal is not None:
        _nominal_columns(info, nominal)  # refuse an unknown term before anything else
    if aliased == "raise":
        _check_predictors(X, names, weights)
        design = Design(y, X, weights, levels, names, parsed.outcome, formula, info)
    else:
        design = _without_aliased(Design(y, X, weights, levels, names, parsed.outcome, formula, info))
    return _with_nominal(design, nominal)


def build_designs(formula: str, data: pd.DataFrame, parts, labels) -> list[Design | UpgradingError]:
    """One design per label: the rows of `data` whose `parts` value is that label, each exactly the design
    `build_design(formula, rows, aliased="drop")` builds, or the error it raises (a label with no rows: "no cases");
    the predictors of all parts come from one patsy call. For the many data sets of a simulation study, or the
    sheets of a sensitivity analysis, stacked in one frame.
    """
    parsed = _parse_formula(formula, data)
    series = _columns(parsed, data)
    X, names, info = (None, None, None) if len(data) == 0 else _predictor_matrix(parsed, series, data)
    parts = np.asarray(parts)
    order = np.argsort(parts, kind="stable")
    found, starts = np.unique(parts[order], return_index=True)
    bounds = dict(zip(found.tolist(), zip(starts, list(starts[1:]) + [len(order)])))
    designs: list[Design | UpgradingError] = []
    outcome = _outcome_parts(parsed, series[parsed.outcome])
    for label in labels:
        start, stop = bounds.get(label, (0, 0))
        rows = order[start:stop]
        try:
            y, levels = outcome(rows)
        except UpgradingError as error:
            designs.append(error)
            continue
        designs.append(Design(y, X[rows], np.ones(len(rows)), levels, names, parsed.outcome, formula, info))
    fitted = [d for d in designs if isinstance(d, Design)]
    dropped = aliased_columns(fitted)
    out, k = [], 0
    for design in designs:
        if isinstance(design, Design):
            design = _drop(design, dropped[k])
            k += 1
        out.append(design)
    return out


def _drop(design: Design, dropped: dict[str, str]) -> Design:
    if not dropped:
        return design
    keep = [k for k, name in enumerate(design.names) if name not in dropped]
    return replace(design, X=design.X[:, keep], names=[design.names[k] for k in keep], aliased=dropped)


def _without_aliased(design: Design) -> Design:
    return _drop(design, aliased_columns([design])[0])


#: A design passes the full-rank screen of `aliased_columns` when the smallest singular value of [1, X] (used
#: rows) exceeds this multiple of sqrt(n) times the largest: then no column is within the sequential rule's
#: tolerance (1e-9 absolute, 1e-5 relative, np.allclose's) of a combination of the others, so none is dropped.
SCREEN = 2e-5


def aliased_columns(designs: list[Design]) -> list[dict[str, str]]:
    """For each design, the columns that cannot be estimated, with the reason: constant ones, then, in order,
    each one that adds no rank to the thresholds and the columns kept before it (`_aliased_columns`). Designs of
    one shape are screened together: one batched singular value decomposition clears the full-rank ones."""
    out: list[dict[str, str]] = [{} for _ in designs]
    shapes: dict[tuple, list[int]] = {}
    for k, d in enumerate(designs):
        shapes.setdefault((d.X.shape, tuple(d.names), bool(np.all(d.weights > 0))), []).append(k)
    for (shape, _, all_used), members in shapes.items():
        if not all_used or shape[1] == 0:
            for k in members:
                out[k] = _aliased_columns(designs[k].X, designs[k].names, designs[k].weights)
            continue
        X = np.stack([designs[k].X for k in members])
        constant = np.any(np.all(X == X[:, :1, :], axis=1), axis=1)
        full = np.concatenate([np.ones(X.shape[:2] + (1,)), X], axis=2)
        s = np.linalg.svd(full, compute_uv=False)
        clear = ~constant & (s[:, -1] > SCREEN * np.sqrt(shape[0]) * s[:, 0])
        for k in np.asarray(members)[~clear]:
            out[k] = _aliased_columns(designs[k].X, designs[k].names, designs[k].weights)
    return out


def _constant_reason(name: str, column: np.ndarray) -> str:
    level = re.search(r"\[(?:T\.)?([^\]]+)\]", name)
    if level and np.all(column == 0):
        if name.endswith("]"):
            return f"factor level {level.group(1)!r} has no cases"
        # an interaction with the level: no cases of it, or the other factor 0 in every one of them
        return f"every case has 0 (no case of level {level.group(1)!r} has a nonzero {name[level.end() + 1 :]})"
    return f"{NO_VARIANCE}every case has {column[0]:g})"


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
                problems.append(f"{name}: {NO_VARIANCE}every case has {col[0]:g})")
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
    problems = [f"{name}: {NO_VARIANCE}every case has {x[0]:g})" for name, x in columns.items() if np.all(x == x[0])]
    if problems:
        raise UpgradingError("predictors that cannot be estimated: " + "; ".join(problems))
