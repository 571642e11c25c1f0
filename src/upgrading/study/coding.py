"""Coding sheets: read one (CSV or .xlsx), validate it against the codebook, return typed cases.

What is read
    A CSV file (UTF-8; comma-, semicolon- or tab-separated, decided from the header line) or an Excel workbook
    (.xlsx/.xlsm; its first worksheet, or the worksheet named with `sheet=`). Line 1 holds the column names;
    every later row that is not entirely empty is one case, in any number and with ids of any form (any text
    without line breaks or control characters, unique in the sheet). Entirely empty rows are skipped and
    reported.

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

Validation is declarative: a pandera schema built from the codebook, run lazily on the normalised cells so that
every problem is found in one pass. The input file is only ever read.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import paths
from ..errors import UpgradingError
from .codebook import Codebook, Variable, collective_efficiency, load_codebook

CASE_ID_FORBIDDEN = r"[\x00-\x1f\x7f]"  # line breaks and other control characters
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
SIMULATED_MARK = "simulated"
HEADER_LINE = 1  # line 1 (spreadsheet row 1) holds the column names
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
WHOLE_NUMBER_TEXT = re.compile(r"\d+\.0+")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a sheet, located as precisely as the problem allows."""

    file: str
    message: str
    line: int | None = None
    case_id: str | None = None
    column: str | None = None
    value: object = None
    allowed: str | None = None
    hint: str | None = None
    worksheet: str | None = None
    cell: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.worksheet is not None:
            parts.append(f"worksheet {self.worksheet!r}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.cell:
            parts.append(f"cell {self.cell}")
        if self.case_id:
            parts.append(f"case {self.case_id}")
        if self.column:
            parts.append(f"column {self.column}")
        text = ": ".join([", ".join(parts), self.message])
        if self.value is not None:
            text += f"; got {self.value!r}"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass(frozen=True)
class IgnoredColumn:
    """A column of the sheet that is not in the codebook: kept in the file, never read by the analysis."""

    name: str
    position: str  # spreadsheet column letter for a workbook, column number for a CSV
    hint: str | None = None

    def __str__(self) -> str:
        what = f"column {self.name!r}" if self.name else "a column with no name that holds values"
        text = f"{what} ({self.position}) is not in the codebook: kept in the file, ignored by the analysis"
        return text + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class Normalisation:
    """One documented normalisation applied to one column: `original` was read as `normalised`."""

    column: str
    original: str
    normalised: str
    cells: int
    first: str  # where it first occurs, e.g. "line 7, cell G7"

    def __str__(self) -> str:
        if self.column == "(column names)":
            return f"column name {self.original!r} read as {self.normalised!r} ({self.first})"
        if self.normalised == "(surrounding spaces removed)":
            return (
                f"column {self.column}: surrounding spaces removed in {self.cells} "
                f"cell{'s' if self.cells != 1 else ''} (first at {self.first})"
            )
        return (
            f"column {self.column}: {self.original!r} read as {self.normalised!r} in {self.cells} "
            f"cell{'s' if self.cells != 1 else ''} (first at {self.first})"
        )


@dataclass(frozen=True)
class SheetReport:
    """What reading a sheet did besides returning its cases: columns ignored, values normalised, rows skipped."""

    file: str
    worksheet: str | None
    cases: int
    ignored_columns: tuple[IgnoredColumn, ...] = ()
    normalisations: tuple[Normalisation, ...] = ()
    empty_rows: tuple[int, ...] = ()
    delimiter: str | None = None

    def lines(self) -> list[str]:
        """One line per ignored column, normalisation and run of skipped rows (empty when nothing to say)."""
        out = [str(c) for c in self.ignored_columns]
        out += [f"normalised: {n}" for n in self.normalisations]
        if self.empty_rows:
            out.append(
                f"skipped {len(self.empty_rows)} empty row{'s' if len(self.empty_rows) != 1 else ''} "
                f"(line{'s' if len(self.empty_rows) != 1 else ''} {_ranges(self.empty_rows)})"
            )
        if self.delimiter and self.delimiter != ",":
            out.append(f"read as {DELIMITERS[self.delimiter]}-separated values")
        return out

    def __str__(self) -> str:
        where = self.file + (f", worksheet {self.worksheet!r}" if self.worksheet is not None else "")
        lines = self.lines()
        head = f"{where}: {self.cases} cases"
        return head + ("".join(f"\n  - {line}" for line in lines) if lines else "; nothing ignored or normalised")


class CodingSheetError(UpgradingError):
    """A coding sheet that does not satisfy the codebook; carries every problem found."""

    def __init__(self, file: str, problems: list[Problem], report: SheetReport | None = None):
        self.file = file
        self.problems = problems
        self.report = report
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{file} is not a valid coding sheet ({len(problems)} {noun}):\n{lines}")


@dataclass
class RawSheet:
    """A sheet's cells as read, before any normalisation, with where each row sits in the file."""

    file: str
    worksheet: str | None
    header: list[object]
    rows: list[list[object]]
    lines: list[int]  # file line (CSV) or spreadsheet row (workbook) of each row
    empty_rows: list[int] = field(default_factory=list)
    delimiter: str | None = None
    problems: list[Problem] = field(default_factory=list)
    columns_at: list[int] = field(default_factory=list)  # original position of each kept column

    def position(self, k: int) -> str:
        """How a user finds column k (0-based): its letter in a workbook, its number in a CSV."""
        if self.worksheet is not None:
            from openpyxl.utils import get_column_letter

            return f"column {get_column_letter(k + 1)}"
        return f"column {k + 1}"

    def cell(self, line: int, k: int | None) -> str | None:
        if self.worksheet is None or k is None:
            return None
        from openpyxl.utils import get_column_letter

        return f"{get_column_letter(k + 1)}{line}"

    def where(self, line: int, k: int | None) -> str:
        cell = self.cell(line, k)
        return f"line {line}" + (f", cell {cell}" if cell else "")


def _ranges(numbers) -> str:
    numbers = sorted(numbers)
    spans, start = [], numbers[0]
    for prev, cur in zip(numbers, numbers[1:] + [None]):
        if cur is None or cur != prev + 1:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(spans)


def _display_name(path: Path) -> str:
    # As typed when relative; repository-relative inside the compendium; else the file name only, so that
    # no notebook output ever shows a machine path.
    return paths.relative(path) if path.is_absolute() else path.as_posix()


def spelling_key(value: object) -> str:
    """The key under which two spellings count as the same: case, surrounding spaces, spaces and hyphens
    (as underscores) ignored. `Quasi-hierarchy`, ` quasi hierarchy` and `quasi_hierarchy` share a key."""
    return re.sub(r"[\s\-_]+", "_", str(value).strip().lower())


def did_you_mean(value: object, choices) -> str | None:
    """The closest allowed spelling of a near-miss category (case, spaces, hyphens and typos forgiven)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    normalised = {spelling_key(c): c for c in map(str, choices)}
    key = spelling_key(value)
    if key in normalised:
        return f"did you mean {normalised[key]!r}?"
    # A shared stem of 4+ characters ('textiles' / 'Textile and garments') beats edit distance.
    stems = [(len(os.path.commonprefix([key, n])), n) for n in normalised]
    best_stem = max(stems, default=(0, None))
    if best_stem[0] >= 4:
        return f"did you mean {normalised[best_stem[1]]!r}?"
    close = difflib.get_close_matches(key, list(normalised), n=1, cutoff=0.6)
    return f"did you mean {normalised[close[0]]!r}?" if close else None


def _is_empty(value) -> bool:
    return (
        value is None or (isinstance(value, float) and pd.isna(value)) or (isinstance(value, str) and not value.strip())
    )


def _refuse(name: str, message: str, worksheet: str | None = None):
    return CodingSheetError(name, [Problem(name, message, worksheet=worksheet)])


def _read_csv(data: bytes, name: str) -> RawSheet:
    if data[:4] == b"PK\x03\x04":
        raise _refuse(name, "looks like an Excel workbook; save it with the .xlsx suffix or export it as CSV")
    if b"\x00" in data[:8192]:
        raise _refuse(name, "is a binary file, not a CSV text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _refuse(name, f"is not UTF-8 text (byte {error.start}); save the sheet as CSV UTF-8") from None
    first_line = text.splitlines()[0] if text.splitlines() else ""
    delimiter = next((d for d in DELIMITERS if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records, lines, previous = [], [], 0
    try:
        for record in reader:
            records.append(record)
            lines.append(previous + 1)
            previous = reader.line_num
    except csv.Error as error:
        raise _refuse(name, f"is not a well-formed CSV table (line {reader.line_num}: {error})") from None
    if not records or not any(c.strip() for c in records[0]):
        raise _refuse(name, "has no header line: line 1 must hold the column names")
    header, width = records[0], len(records[0])
    sheet = RawSheet(name, None, list(header), [], [], delimiter=delimiter)
    for record, line in zip(records[1:], lines[1:]):
        if len(record) > width and any(c.strip() for c in record[width:]):
            sheet.problems.append(
                Problem(
                    name,
                    f"the row has {len(record)} cells but the header names {width} "
                    "columns (a separator inside a value needs quotes)",
                    line,
                )
            )
        sheet.rows.append((record + [""] * width)[:width])
        sheet.lines.append(line)
    return sheet


def _read_workbook(path: Path, name: str, worksheet: str | None) -> RawSheet:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, data_only=True)
    except Exception as error:  # openpyxl raises many types for a broken workbook
        raise _refuse(name, f"cannot be read as an Excel workbook ({error})") from None
    names = book.sheetnames
    if worksheet is None:
        ws = book.worksheets[0]
    elif worksheet in names:
        ws = book[worksheet]
    else:
        hint = did_you_mean(worksheet, names)
        raise CodingSheetError(
            name,
            [
                Problem(
                    name, f"has no worksheet named {worksheet!r}", allowed=", ".join(repr(n) for n in names), hint=hint
                )
            ],
        )
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    if not rows or all(_is_empty(v) for v in rows[0]):
        raise _refuse(name, "has no header row: row 1 must hold the column names", ws.title)
    width = max(len(r) for r in rows)
    rows = [(r + [None] * width)[:width] for r in rows]
    return RawSheet(name, ws.title, rows[0], rows[1:], list(range(2, len(rows) + 1)))


def read_sheet(path: str | Path, display: str | None = None, sheet: str | None = None) -> RawSheet:
    """Read a sheet's cells as they are (nothing normalised yet), refusing files that are not sheets at all.

    `sheet` names the worksheet of a workbook (default: the first); a CSV file has none.
    """
    path = Path(path)
    name = display or _display_name(path)
    if not path.exists():
        raise _refuse(name, "file not found")
    if path.is_dir():
        raise _refuse(name, "is a folder, not a coding sheet file")
    data = path.read_bytes()
    if not data.strip():
        raise _refuse(name, "the file is empty; expected a header line and one row per case")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        raw = _read_workbook(path, name, sheet)
    elif sheet is not None:
        raise _refuse(name, f"is a CSV file, which has no worksheets; drop the worksheet name {sheet!r}")
    else:
        raw = _read_csv(data, name)
    # Columns with neither a name nor any value are formatting, not content.
    keep = [k for k, h in enumerate(raw.header) if not _is_empty(h) or any(not _is_empty(r[k]) for r in raw.rows)]
    raw.header = [raw.header[k] for k in keep]
    raw.rows = [[r[k] for k in keep] for r in raw.rows]
    raw.columns_at = keep
    filled = [(r, line) for r, line in zip(raw.rows, raw.lines) if not all(_is_empty(v) for v in r)]
    raw.empty_rows = [line for r, line in zip(raw.rows, raw.lines) if all(_is_empty(v) for v in r)]
    raw.rows, raw.lines = [r for r, _ in filled], [line for _, line in filled]
    return raw


def _number_text(value) -> str:
    # Excel stores every number as a float: a whole one is the integer the coder typed.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Normaliser:
    """Turns raw cells into the codebook's spelling, recording every documented normalisation it applies."""

    def __init__(self, cb: Codebook):
        self.vocabulary = {v.name: [str(a) for a in v.allowed] for v in cb.variables if v.allowed}
        industries = [i for g in cb.sectoral_groups for i in g.all_industries]
        if "industry" in cb.columns:
            self.vocabulary.setdefault("industry", industries)
        self.scales = {v.name for v in cb.variables if v.scale is not None}
        self.seen: dict[tuple[str, str, str], list] = {}

    def __call__(self, column: str, value, where: str):
        """The cell as text in the codebook's spelling (pd.NA when empty)."""
        if _is_empty(value):
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
            for (c, o, n), w in sorted(self.seen.items(), key=lambda kv: (order.get(kv[0][0], -1), kv[1][0]))
        )


def _layout(raw: RawSheet, cb: Codebook, normaliser: _Normaliser):
    """Map the sheet's columns to the codebook's: codebook column -> position; the columns ignored."""
    expected = list(cb.columns)
    names = [str(h).strip() if not _is_empty(h) else "" for h in raw.header]
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
        IgnoredColumn(names[k], raw.position(at[k]), did_you_mean(names[k], missing) if missing and names[k] else None)
        for k in range(len(names))
        if k not in used
    )
    return {c: ks[0] for c, ks in found.items()}, ignored, problems


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
        columns[v.name] = pa.Column(object, nullable=False, unique=v.kind == "identifier", checks=checks, coerce=False)
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


def _problems_from(
    failures: pd.DataFrame,
    frame: pd.DataFrame,
    raw_values: pd.DataFrame,
    raw: RawSheet,
    positions: dict[str, int],
    ignored: tuple[IgnoredColumn, ...],
    cb: Codebook,
) -> list[Problem]:
    name, ws = raw.file, raw.worksheet
    at = raw.columns_at
    ids = frame["case_id"] if "case_id" in frame.columns else pd.Series(pd.NA, index=frame.index)
    expected = list(cb.columns)
    first_line = {}
    for i, cid in ids.items():
        if pd.notna(cid):
            first_line.setdefault(cid, raw.lines[i])
    problems, seen = [], set()

    def located(i, column, message, value=None, allowed=None, hint=None):
        cid = ids.get(i)
        line = raw.lines[i]
        k = at[positions[column]] if column in positions else None
        return Problem(
            name,
            message,
            line,
            None if pd.isna(cid) else str(cid),
            column,
            value,
            allowed,
            hint,
            worksheet=ws,
            cell=raw.cell(line, k),
        )

    for row in failures.itertuples(index=False):
        check, column = str(row.check), row.column
        if check == "column_in_dataframe":
            missing = str(row.failure_case)
            hint = did_you_mean(missing, [c.name for c in ignored if c.name])
            problems.append(
                Problem(
                    name,
                    f"required column {missing!r} is missing",
                    line=HEADER_LINE,
                    hint=hint.replace("did you mean", "is it") if hint else None,
                    worksheet=ws,
                )
            )
            continue
        if row.index is None or pd.isna(row.index):
            problems.append(Problem(name, f"check {check} failed on column {column}: {row.failure_case}", worksheet=ws))
            continue
        i = int(row.index)
        if check in ("industry_in_group", "collective_efficiency_rule"):
            if (check, i) in seen:
                continue
            seen.add((check, i))
            if check == "industry_in_group":
                group = cb.group(frame.at[i, "sectoral_group"])
                problems.append(
                    located(
                        i,
                        "industry",
                        f"industry is not one of the industries of {group.code}",
                        raw_values.at[i, "industry"],
                        "; ".join(group.all_industries),
                        did_you_mean(frame.at[i, "industry"], group.all_industries),
                    )
                )
            else:
                ee, ja = int(frame.at[i, "external_economies"]), int(frame.at[i, "joint_actions"])
                problems.append(
                    located(
                        i,
                        "collective_efficiency",
                        "does not follow the codebook rule floor((external_economies + joint_actions + 1) / 2)",
                        raw_values.at[i, "collective_efficiency"],
                        f"{collective_efficiency(ee, ja)} for external_economies={ee}, joint_actions={ja}",
                    )
                )
            continue
        variable = cb.variable(column)
        value = raw_values.at[i, column]
        if check == "not_nullable":
            problems.append(located(i, column, "missing value", None, _allowed_text(variable)))
        elif check == "field_uniqueness":
            if first_line.get(row.failure_case) == raw.lines[i]:
                continue  # the first use is fine; every repeat is reported with a pointer to it
            problems.append(
                located(
                    i, column, "duplicate case id", value, hint=f"first used on line {first_line.get(row.failure_case)}"
                )
            )
        elif check == "case_id_format":
            problems.append(located(i, column, "case id holds a line break or another control character", value))
        elif variable.scale is not None:
            text = frame.at[i, column]
            kind = "out of range" if re.fullmatch(r"[+-]?\d+(\.0+)?", str(text)) else "wrong type: not a whole number"
            problems.append(located(i, column, kind, value, _allowed_text(variable)))
        else:
            problems.append(
                located(
                    i,
                    column,
                    "unknown category",
                    value,
                    _allowed_text(variable),
                    did_you_mean(frame.at[i, column], variable.allowed),
                )
            )
    column_order = {c: k for k, c in enumerate(expected)}
    problems.sort(key=lambda p: (p.line if p.line is not None else 0, column_order.get(p.column, -1)))
    return problems


def _allowed_text(variable: Variable) -> str:
    if variable.scale is not None:
        return ", ".join(f"{lvl} ({lab})" for lvl, lab in zip(variable.scale.levels, variable.scale.labels))
    if variable.categories:
        return ", ".join(variable.allowed)
    return "any non-empty text"


def check_sheet(
    path: str | Path, codebook: Codebook | None = None, display: str | None = None, sheet: str | None = None
) -> tuple[pd.DataFrame, SheetReport]:
    """Read and validate a sheet: its codebook columns as text in the codebook's spelling, and the report of
    what was ignored and normalised. Raises CodingSheetError listing every problem.

    `display` is how the file is named in messages (the command line passes the path as the user typed it);
    `sheet` names the worksheet of a workbook (default: the first).
    """
    import pandera.pandas as pa

    cb = codebook or load_codebook()
    path = Path(path)
    name = display or _display_name(path)
    raw = read_sheet(path, display=name, sheet=sheet)
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
    report = SheetReport(
        name,
        raw.worksheet,
        len(frame),
        ignored,
        normaliser.records(["(column names)", *cb.columns]),
        tuple(raw.empty_rows),
        raw.delimiter,
    )
    try:
        build_schema(cb).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        problems += _problems_from(errors.failure_cases, frame, raw_values, raw, positions, ignored, cb)
    if frame.empty:
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


def to_cases(frame: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """Typed cases from a validated sheet: integer scores, categorical groups and governance, `leader_driven`."""
    cb = codebook or load_codebook()
    cases = frame[list(cb.columns)].copy()
    for v in cb.variables:
        if v.scale is not None:
            cases[v.name] = cases[v.name].astype(int)
        elif v.categories:
            cases[v.name] = pd.Categorical(cases[v.name], categories=list(v.allowed))
        else:
            cases[v.name] = cases[v.name].astype(str)
    cases["leader_driven"] = cases["governance"].isin(cb.leader_levels).astype(int)
    return cases


def is_simulated(cases: pd.DataFrame) -> bool:
    """True when any row's coding comes from the simulator (results are then not empirical findings)."""
    return bool(cases["coding_source"].astype(str).str.startswith(SIMULATED_MARK).any())


def load_sheet(
    path: str | Path, sheet: str | None = None, display: str | None = None
) -> tuple[pd.DataFrame, SheetReport]:
    """Read, validate and type a coding sheet (CSV or workbook) in one call: the cases and the report of what
    was ignored and normalised. `attrs` of the cases record the file, the worksheet and whether it is simulated.

    Relative paths are taken from the repository root (as notebook parameters are).
    """
    path = paths.resolve(path)
    frame, report = check_sheet(path, display=display, sheet=sheet)
    cases = to_cases(frame)
    cases.attrs["source_file"] = paths.relative(path)
    cases.attrs["worksheet"] = report.worksheet
    cases.attrs["simulated"] = is_simulated(cases)
    return cases, report


def load_cases(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Validate and type a coding sheet in one call (`load_sheet` without the report)."""
    return load_sheet(path, sheet)[0]


def write_processed(cases: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write validated cases to `data/processed/cases.csv` (or `path`), only if the bytes would change.

    Refuses to write under `data/raw/`, which holds inputs only.
    """
    target = paths.resolve(path) if path is not None else paths.DATA_PROCESSED / "cases.csv"
    return paths.write_output(target, cases.to_csv(index=False, lineterminator="\n"))


def provenance(cases: pd.DataFrame) -> str:
    """One line saying what data an exhibit is made from; simulated data say so in capitals."""
    source = cases.attrs.get("source_file", "a coding sheet")
    if cases.attrs.get("worksheet"):
        source += f", worksheet {cases.attrs['worksheet']!r}"
    if cases.attrs.get("simulated", is_simulated(cases)):
        return (
            f"SIMULATED DATA ({source}): a simulated coding sheet, not the study's coding; results "
            "illustrate the method and are not findings about Latin American clusters."
        )
    return f"Coded data: {source}, {len(cases)} cases."


@dataclass(frozen=True)
class Mistake:
    """A typical coder's mistake: the value written into `column` (None: the first row's case id, a repeat)."""

    column: str
    value: str | None
    description: str


#: The mistakes `typical_mistakes_report` plants in a copy of a sheet, one per row from the first.
TYPICAL_MISTAKES = (
    Mistake("governance", "hierarchical", "a misspelt category"),
    Mistake("joint_actions", "high", "a word for a number"),
    Mistake("product_upgrading", "4", "a score out of range"),
    Mistake("functional_upgrading", "", "an empty cell"),
    Mistake("case_id", None, "a repeated case id"),
)


def typical_mistakes_report(
    path: str | Path,
    mistakes: tuple[Mistake, ...] = TYPICAL_MISTAKES,
    name: str = "corrupted_copy.csv",
    sheet: str | None = None,
) -> CodingSheetError:
    """What a coder sees: validate a copy of a valid sheet with `mistakes` planted, one per row; return the error.

    The copy (CSV, named `name`) is written to a temporary folder that is deleted afterwards; the sheet at `path`
    (CSV or .xlsx, worksheet `sheet`) is only read. Raises UpgradingError if the sheet has too few rows or if
    validation misses a planted mistake, so the demonstration cannot silently show nothing.
    """
    import tempfile

    cases, _ = load_sheet(path, sheet=sheet)
    frame = cases[list(load_codebook().columns)].astype(object)  # the sheet's columns, as a coder types them
    if len(frame) < max(2, len(mistakes)):
        raise UpgradingError(
            f"the sheet has {len(frame)} cases; planting {len(mistakes)} mistakes needs {max(2, len(mistakes))}"
        )
    copy = frame.copy()
    for row, mistake in enumerate(mistakes):
        copy.at[row, mistake.column] = frame.at[0, "case_id"] if mistake.value is None else mistake.value
    with tempfile.TemporaryDirectory() as folder:
        corrupted = Path(folder) / name
        copy.to_csv(corrupted, index=False, lineterminator="\n")
        try:
            validate(corrupted, display=name)
        except CodingSheetError as error:
            found = {(p.line, p.column) for p in error.problems}
            missed = [m for row, m in enumerate(mistakes) if (row + HEADER_LINE + 1, m.column) not in found]
            if missed:
                raise UpgradingError(f"validation missed planted mistakes: {missed}") from None
            return error
    raise UpgradingError("validation accepted a sheet with planted mistakes")
