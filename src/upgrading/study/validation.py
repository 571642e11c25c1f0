"""Normalising a sheet's cells to the codebook's spelling and validating them against the codebook.

Columns
    Every codebook column must be present, in any order. Columns that are not in the codebook (a coder's
    `notes` or `comments`) are kept in the file, never read by the analysis, and listed in the report as
    ignored; when such a column is close to a codebook column that is missing (`procces_upgrading`), the
    missing-column problem says "is it ...?" and the ignored column says "did you mean ...?".

Normalisation (every one applied is listed in the report, once per column and value; nothing else changes)
    - surrounding spaces in any cell or column name are removed;
    - a column name or category written in another case or with spaces or hyphens for underscores is read as
      the codebook's spelling: `Quasi-hierarchy` and `QUASI HIERARCHY` as `quasi_hierarchy`, `Governance` as
      `governance`, `textile and garments` as `Textile and garments` (industries follow the same rule);
    - a 0-3 score written as a whole number with a decimal point, `2.0` or `"2.00"`, is read as `2`
      (an Excel number cell holding 2 is simply 2: Excel stores every number as a float, so that is not a
      normalisation and is not reported).
    Anything else is refused with the problem located (file, worksheet, line, spreadsheet cell, case, column),
    the value as typed, what is allowed and, for near misses, a "did you mean".

Not reported (the codebook's `[missing]`; every cell so read is counted in the report, once per column)
    - in a variable that may be missing, an empty cell or a declared spelling (`NR`, `not reported`, in any case,
      surrounding spaces ignored) is read as not reported, a missing value;
    - in a variable that may not be missing (case id, sectoral group, industry, coding source) it is an error:
      "missing value" for an empty cell, "not reported, but ... may not be missing" for a written spelling;
    - a near miss of a declared spelling (`N/R`, `n.a.`, `NA`, `-`, `?`) is refused like any other bad value,
      with "did you mean 'NR' (not reported)?";
    - collective efficiency not reported while both its components are coded is set by the codebook's rule, and
      the report says so; coded while a component is not reported, it is kept (the component stays missing)
      and the report says so too. A coded score that differs from the rule on two coded components is an error.

Validation is declarative: a pandera schema built from the codebook, run lazily on the normalised cells so that
every problem is found in one pass. The input file is only ever read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from .codebook import Codebook, Variable, collective_efficiency, load_codebook
from .sheet_report import (
    CodingSheetError,
    Derivation,
    IgnoredColumn,
    Normalisation,
    NotReportedCells,
    Problem,
    SheetReport,
)
from .sheets import HEADER_LINE, RawSheet, display_name, is_empty_cell, read_sheet
from .spelling import column_guess, did_you_mean, spelling_key

CASE_ID_FORBIDDEN = r"[\x00-\x1f\x7f]"  # line breaks and other control characters
WHOLE_NUMBER_TEXT = re.compile(r"\d+\.0+")


def _number_text(value) -> str:
    # Excel stores every number as a float: a whole one is the integer the coder typed.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _line(where: str) -> int:
    """The line number of a location ('line 15, cell D15' is 15), to list normalisations in the sheet's order, not
    in the text's ('line 15' before 'line 3')."""
    return int(re.match(r"line (\d+)", where).group(1))


class _Normaliser:
    """Turns raw cells into the codebook's spelling, recording every documented normalisation it applies."""

    def __init__(self, cb: Codebook):
        self.vocabulary = {v.name: [str(a) for a in v.allowed] for v in cb.variables if v.allowed}
        industries = [i for g in cb.sectoral_groups for i in g.all_industries]
        if "industry" in cb.columns:
            self.vocabulary.setdefault("industry", industries)
        self.scales = {v.name for v in cb.variables if v.scale is not None}
        self.seen: dict[tuple[str, str, str], list] = {}
        self.not_reported = cb.not_reported
        self.may_be_missing = set(cb.may_be_missing)
        self.unreported: dict[str, list[tuple[str, str]]] = {}  # column -> [(where, the cell as typed)]

    def __call__(self, column: str, value, where: str):
        """The cell as text in the codebook's spelling (pd.NA when empty or not reported: whether that is allowed
        is the schema's `nullable`; where it is, the cell is counted for the report)."""
        if is_empty_cell(value) or self.not_reported.matches(value):
            if column in self.may_be_missing:
                self.unreported.setdefault(column, []).append((where, "" if is_empty_cell(value) else value))
            return pd.NA
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return str(value)  # a date or a truth value: refused later as it is
        if not isinstance(value, str):
            return _number_text(value)
        text = value.strip()
        result = text
        allowed = self.vocabulary.get(column)
        if column in self.scales and WHOLE_NUMBER_TEXT.fullmatch(text) and int(float(text)) in map(int, allowed):
            result = str(int(float(text)))
        elif allowed is not None and text not in allowed:
            matches = [a for a in allowed if spelling_key(a) == spelling_key(text)]
            if len(matches) == 1:
                result = matches[0]
        if result != value:
            accepted = allowed is None or result in allowed
            if accepted:
                key = (column, value, result) if result != text else (column, "", "(surrounding spaces removed)")
                self.seen.setdefault(key, []).append(where)
        return result

    def records(self, columns: list[str]) -> tuple[Normalisation, ...]:
        order = {c: k for k, c in enumerate(columns)}
        return tuple(
            Normalisation(c, o, n, len(w), w[0])
            for (c, o, n), w in sorted(self.seen.items(), key=lambda kv: (order.get(kv[0][0], -1), _line(kv[1][0])))
        )

    def unreported_records(self, columns, derived: frozenset[str] = frozenset()) -> tuple[NotReportedCells, ...]:
        """The cells read as not reported, once per column in codebook order, except those `derived` (cells
        a rule has set, located as `where`)."""
        records = []
        for column in columns:
            cells = [(where, typed) for where, typed in self.unreported.get(column, []) if where not in derived]
            if cells:
                written = tuple(Counter(typed for _, typed in cells).items())
                records.append(NotReportedCells(column, len(cells), cells[0][0], written))
        return tuple(records)


def _layout(raw: RawSheet, cb: Codebook, normaliser: _Normaliser):
    """Map the sheet's columns to the codebook's: codebook column -> position; the columns ignored."""
    expected = list(cb.columns)
    names = [str(h).strip() if not is_empty_cell(h) else "" for h in raw.header]
    at = raw.columns_at
    found: dict[str, list[int]] = {}
    for k, n in enumerate(names):
        if n in expected:
            found.setdefault(n, []).append(k)
            if str(raw.header[k]) != n:
                normaliser.seen[("(column names)", str(raw.header[k]), n)] = [raw.where(HEADER_LINE, at[k])]
    for k, n in enumerate(names):
        if n and n not in expected:
            matches = [c for c in expected if spelling_key(c) == spelling_key(n)]
            if len(matches) == 1 and matches[0] not in found:
                found[matches[0]] = [k]
                normaliser.seen[("(column names)", n, matches[0])] = [raw.where(HEADER_LINE, at[k])]
    problems = []
    for column, ks in found.items():
        if len(ks) > 1:
            where = ", ".join(raw.position(at[k]).removeprefix("column ") for k in ks)
            problems.append(
                Problem(
                    raw.file,
                    f"column {column!r} appears {len(ks)} times (columns {where}); keep one",
                    HEADER_LINE,
                    worksheet=raw.worksheet,
                    cell=raw.cell(HEADER_LINE, at[ks[1]]),
                    column=column,
                )
            )
    used = {k for ks in found.values() for k in ks}
    missing = [c for c in expected if c not in found]
    ignored = tuple(
        IgnoredColumn(names[k], raw.position(at[k]), column_guess(names[k], missing) if missing and names[k] else None)
        for k in range(len(names))
        if k not in used
    )
    return {c: ks[0] for c, ks in found.items()}, ignored, problems


def _uncoded(frame: pd.DataFrame, cb: Codebook) -> tuple[str, ...]:
    """The case ids of rows with every coded variable (the scores and governance) not reported."""
    coded = [c for c in cb.may_be_missing if c in frame]
    if not coded or "case_id" not in frame:
        return ()
    empty = frame[coded].isna().all(axis=1)
    return tuple(str(v) for v in frame.loc[empty, "case_id"])


def build_schema(codebook: Codebook | None = None):
    """The pandera schema of a coding sheet, derived from the codebook (text cells, so bad values survive)."""
    import pandera.pandas as pa

    cb = codebook or load_codebook()
    columns = {}
    for v in cb.variables:
        checks = []
        if v.kind == "identifier":
            checks.append(pa.Check(lambda s: ~s.astype(str).str.contains(CASE_ID_FORBIDDEN), name="case_id_format"))
        elif v.allowed:
            checks.append(pa.Check.isin([str(a) for a in v.allowed], name="allowed_values"))
        columns[v.name] = pa.Column(
            object, nullable=v.may_be_missing, unique=v.kind == "identifier", checks=checks, coerce=False
        )
    group_industries = {g.code: set(g.all_industries) for g in cb.sectoral_groups}

    def industry_in_group(df: pd.DataFrame) -> pd.Series:
        if not {"sectoral_group", "industry"} <= set(df.columns):
            return pd.Series(True, index=df.index)  # the missing column is reported on its own
        allowed = df["sectoral_group"].map(group_industries)
        known = allowed.notna() & df["industry"].notna()
        ok = [ind in allow for ind, allow in zip(df["industry"][known], allowed[known])]
        result = pd.Series(True, index=df.index)
        result[known] = ok
        return result

    def collective_efficiency_rule(df: pd.DataFrame) -> pd.Series:
        names = ("external_economies", "joint_actions", "collective_efficiency")
        if not set(names) <= set(df.columns):
            return pd.Series(True, index=df.index)  # the missing column is reported on its own
        # Only rows whose three scores are valid are checked; the rest are already reported by the column checks.
        valid = pd.concat({c: df[c].isin(["0", "1", "2", "3"]) for c in names}, axis=1).all(axis=1)
        parts = {c: pd.to_numeric(df[c].where(valid), errors="coerce") for c in names}
        expected = collective_efficiency(parts["external_economies"], parts["joint_actions"])
        return ~valid | (expected == parts["collective_efficiency"])

    frame_checks = []
    if {"sectoral_group", "industry"} <= set(cb.columns):
        frame_checks.append(pa.Check(industry_in_group, name="industry_in_group"))
    if {"external_economies", "joint_actions", "collective_efficiency"} <= set(cb.columns):
        frame_checks.append(pa.Check(collective_efficiency_rule, name="collective_efficiency_rule"))
    return pa.DataFrameSchema(columns, strict=True, checks=frame_checks, coerce=False)


@dataclass
class _SchemaFailures:
    """Turns pandera's failure cases into problems a coder can act on, each located in the sheet."""

    frame: pd.DataFrame  # normalised cells
    raw_values: pd.DataFrame  # the same cells as typed
    raw: RawSheet
    positions: dict[str, int]  # codebook column -> position among the sheet's kept columns
    ignored: tuple[IgnoredColumn, ...]
    cb: Codebook
    rules: ClassVar[tuple[str, ...]] = ("industry_in_group", "collective_efficiency_rule")

    def __post_init__(self):
        frame = self.frame
        self.ids = frame["case_id"] if "case_id" in frame.columns else pd.Series(pd.NA, index=frame.index)
        self.first_line = {}  # case id -> the line it is first used on
        for i, cid in self.ids.items():
            if pd.notna(cid):
                self.first_line.setdefault(cid, self.raw.lines[i])

    def problems(self, failures: pd.DataFrame) -> list[Problem]:
        """Every problem, once (a row-wide rule is reported once per row), by line and codebook column order."""
        problems, seen = [], set()
        for row in failures.itertuples(index=False):
            check, column = str(row.check), row.column
            if check == "column_in_dataframe":
                problems.append(self._missing_column(str(row.failure_case)))
            elif row.index is None or pd.isna(row.index):
                problems.append(
                    Problem(
                        self.raw.file,
                        f"check {check} failed on column {column}: {row.failure_case}",
                        worksheet=self.raw.worksheet,
                    )
                )
            elif check in self.rules:
                if (check, int(row.index)) not in seen:
                    seen.add((check, int(row.index)))
                    problems.append(self._broken_rule(check, int(row.index)))
            elif (problem := self._bad_cell(check, int(row.index), column, row.failure_case)) is not None:
                problems.append(problem)
        column_order = {c: k for k, c in enumerate(self.cb.columns)}
        problems.sort(key=lambda p: (p.line if p.line is not None else 0, column_order.get(p.column, -1)))
        return problems

    def _located(self, i: int, column: str, message: str, value=None, allowed=None, hint=None) -> Problem:
        cid = self.ids.get(i)
        line = self.raw.lines[i]
        k = self.raw.columns_at[self.positions[column]] if column in self.positions else None
        return Problem(
            self.raw.file,
            message,
            line,
            None if pd.isna(cid) else str(cid),
            column,
            value,
            allowed,
            hint,
            worksheet=self.raw.worksheet,
            cell=self.raw.cell(line, k),
        )

    def _missing_column(self, missing: str) -> Problem:
        """A missing codebook column, with the ignored column it may be ("is it ...?")."""
        hint = column_guess(missing, [c.name for c in self.ignored if c.name])
        return Problem(
            self.raw.file,
            f"required column {missing!r} is missing",
            line=HEADER_LINE,
            hint=hint.replace("did you mean", "is it") if hint else None,
            worksheet=self.raw.worksheet,
        )

    def _broken_rule(self, check: str, i: int) -> Problem:
        """A row that breaks a rule across columns: an industry outside its group, or a derived score."""
        frame, raw_values = self.frame, self.raw_values
        if check == "industry_in_group":
            group = self.cb.group(frame.at[i, "sectoral_group"])
            return self._located(
                i,
                "industry",
                f"industry is not one of the industries of {group.code}",
                raw_values.at[i, "industry"],
                "; ".join(group.all_industries),
                did_you_mean(frame.at[i, "industry"], group.all_industries),
            )
        ee, ja = int(frame.at[i, "external_economies"]), int(frame.at[i, "joint_actions"])
        return self._located(
            i,
            "collective_efficiency",
            "does not follow the codebook rule floor((external_economies + joint_actions + 1) / 2)",
            raw_values.at[i, "collective_efficiency"],
            f"{collective_efficiency(ee, ja)} for external_economies={ee}, joint_actions={ja}",
        )

    def _bad_cell(self, check: str, i: int, column: str, failure_case) -> Problem | None:
        """One cell the codebook refuses (None for the first use of a repeated case id: each repeat points to it)."""
        variable = self.cb.variable(column)
        value = self.raw_values.at[i, column]
        not_reported = self.cb.not_reported
        if check == "not_nullable":
            if not_reported.matches(value):
                message = f"{not_reported.label}, but {column} may not be missing"
                return self._located(i, column, message, value, _allowed_text(variable))
            return self._located(i, column, "missing value", None, _allowed_text(variable))
        if check == "field_uniqueness":
            first = self.first_line.get(failure_case)
            if first == self.raw.lines[i]:
                return None
            return self._located(i, column, "duplicate case id", value, hint=f"first used on line {first}")
        if check == "case_id_format":
            return self._located(i, column, "case id holds a line break or another control character", value)
        if variable.scale is not None:
            text = self.frame.at[i, column]
            kind = "out of range" if re.fullmatch(r"[+-]?\d+(\.0+)?", str(text)) else "wrong type: not a whole number"
            hint = not_reported.suggestion(value) if variable.may_be_missing else None
            return self._located(i, column, kind, value, _allowed_text(variable), hint)
        hint = not_reported.suggestion(value) if variable.may_be_missing else None
        return self._located(
            i,
            column,
            "unknown category",
            value,
            _allowed_text(variable),
            hint or did_you_mean(self.frame.at[i, column], variable.allowed),
        )


def _allowed_text(variable: Variable) -> str:
    if variable.scale is not None:
        return ", ".join(f"{lvl} ({lab})" for lvl, lab in zip(variable.scale.levels, variable.scale.labels))
    if variable.categories:
        return ", ".join(variable.allowed)
    return "any non-empty text"


def _derive(
    frame: pd.DataFrame, raw: RawSheet, positions: dict[str, int], cb: Codebook
) -> tuple[tuple[Derivation, ...], frozenset[str]]:
    """Collective efficiency where a part of its rule is not reported (changes `frame` in place): set by the rule
    where it is not reported and both components are coded; kept where it is coded and a component is not
    reported. Returns what the report says, and where the cells set by the rule are."""
    name = "collective_efficiency"
    spec = cb.derived.get(name, {})
    parts = tuple(spec.get("from", ()))
    if len(parts) != 2 or not {name, *parts} <= set(frame.columns) or not cb.variable(name).may_be_missing:
        return (), frozenset()  # a missing column is reported on its own; a required score is never derived
    codes = [str(a) for a in cb.variable(name).allowed]
    coded = {c: frame[c].isin([str(a) for a in cb.variable(c).allowed]) for c in parts}
    applied = frame[name].isna() & coded[parts[0]] & coded[parts[1]]
    kept = frame[name].isin(codes) & (frame[parts[0]].isna() | frame[parts[1]].isna())
    if applied.any():
        values = collective_efficiency(*(pd.to_numeric(frame.loc[applied, c]) for c in parts))
        frame.loc[applied, name] = values.astype(str)
    k = raw.columns_at[positions[name]]
    derivations, where = [], {}
    for rows, is_applied in ((applied, True), (kept, False)):
        if rows.any():
            where[is_applied] = [raw.where(raw.lines[i], k) for i in rows[rows].index]
            derivations.append(
                Derivation(name, len(where[is_applied]), where[is_applied][0], is_applied, spec["rule"], parts)
            )
    return tuple(derivations), frozenset(where.get(True, ()))


def check_sheet(
    path: str | Path, codebook: Codebook | None = None, display: str | None = None, sheet: str | None = None
) -> tuple[pd.DataFrame, SheetReport]:
    """Read and validate a sheet: its codebook columns as text in the codebook's spelling (pd.NA where not
    reported, collective efficiency set by its rule where it applies), and the report of what was ignored,
    normalised, read as not reported and derived. Raises CodingSheetError listing every problem.

    `display` is how the file is named in messages (the command line passes the path as the user typed it);
    `sheet` names the worksheet of a workbook (default: the first).
    """
    import pandera.pandas as pa

    cb = codebook or load_codebook()
    path = Path(path)
    name = display or display_name(path)
    raw = read_sheet(path, display=name, sheet=sheet, expected=cb.columns)
    normaliser = _Normaliser(cb)
    positions, ignored, problems = _layout(raw, cb, normaliser)
    problems = raw.problems + problems
    at = raw.columns_at
    present = [c for c in cb.columns if c in positions]
    raw_values = pd.DataFrame(
        {c: [r[positions[c]] for r in raw.rows] for c in present}, dtype=object, index=pd.RangeIndex(len(raw.rows))
    )
    frame = pd.DataFrame(
        {
            c: [
                normaliser(c, r[positions[c]], raw.where(line, at[positions[c]]))
                for r, line in zip(raw.rows, raw.lines)
            ]
            for c in present
        },
        dtype=object,
        index=pd.RangeIndex(len(raw.rows)),
    )
    derivations, derived = _derive(frame, raw, positions, cb)
    report = SheetReport(
        name,
        raw.worksheet,
        len(frame),
        ignored,
        normaliser.records(["(column names)", *cb.columns]),
        tuple(raw.empty_rows),
        raw.delimiter,
        normaliser.unreported_records(cb.columns, derived),
        derivations,
        _uncoded(frame, cb),
    )
    try:
        build_schema(cb).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = _SchemaFailures(frame, raw_values, raw, positions, ignored, cb)
        problems += failures.problems(errors.failure_cases)
    if not raw.rows:
        problems.append(Problem(name, "has a header but no cases", worksheet=raw.worksheet))
    if problems:
        raise CodingSheetError(name, problems, report)
    return frame, report


def validate(
    path: str | Path, codebook: Codebook | None = None, display: str | None = None, sheet: str | None = None
) -> pd.DataFrame:
    """Validate a sheet; return its codebook columns as text cells, or raise CodingSheetError listing every
    problem (see `check_sheet`, which also returns the report)."""
    return check_sheet(path, codebook, display, sheet)[0]
