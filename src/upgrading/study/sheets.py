"""Reading a coding sheet's cells as they are, before any normalisation, refusing files that are not sheets.

What is read
    A CSV file (UTF-8; comma-, semicolon- or tab-separated, decided from the header line) or an Excel workbook
    (.xlsx/.xlsm; its first worksheet, or the worksheet named with `sheet=`). Line 1 holds the column names;
    every later row that is not entirely empty is one case, in any number and with ids of any form (any text
    without line breaks or control characters, unique in the sheet). Entirely empty rows are skipped and
    reported; columns with neither a name nor any value are formatting, not content, and are dropped.

Every row keeps where it sits in the file (CSV line or spreadsheet row, and the cell in a workbook), so that a
problem found later is located there. The input file is only ever read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import paths
from .sheet_report import DELIMITERS, CodingSheetError, Problem
from .spelling import did_you_mean, spelling_key

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
HEADER_LINE = 1  # line 1 (spreadsheet row 1) holds the column names
LEADING_ROWS = 20  # how far down a header that is not in row 1 is looked for (to say where it is)


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
    other_headers: dict[str, list[object]] = field(default_factory=dict)  # a workbook's other worksheets: row 1
    leading: list[tuple[int, list[object]]] = field(default_factory=list)  # the first rows below row 1, uncut

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


def display_name(path: Path) -> str:
    """How messages name a file: as typed when relative; repository-relative inside the compendium; else the
    file name only, so that no notebook output ever shows a machine path."""
    return paths.relative(path) if path.is_absolute() else path.as_posix()


def is_empty_cell(value) -> bool:
    """Nothing typed: no value, NaN, or only spaces."""
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
    leading = [(k + 2, _split_every_way(line)) for k, line in enumerate(text.splitlines()[1:LEADING_ROWS])]
    if not records or not any(c.strip() for c in records[0]):
        raise HeaderNotInRowOne(name, "has no header line: line 1 must hold the column names", None, leading, {})
    header, width = records[0], len(records[0])
    sheet = RawSheet(name, None, list(header), [], [], delimiter=delimiter, leading=leading)
    for record, line in zip(records[1:], lines[1:]):
        if len(record) > width and any(c.strip() for c in record[width:]):
            sheet.problems.append(
                Problem(
                    name,
                    f"the row has {len(record)} cells but the header names {width} "
                    f"column{'s' if width != 1 else ''} (a separator inside a value needs quotes)",
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
    names = [ws.title for ws in book.worksheets]  # (chart sheets hold no cells)
    if not names:
        raise _refuse(name, "has no worksheet with cells (only chart sheets)")
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
    others = {
        other.title: list(next(other.iter_rows(max_row=1, values_only=True), ()))
        for other in book.worksheets
        if other.title != ws.title
    }
    leading = [(k + 2, row) for k, row in enumerate(rows[1:LEADING_ROWS])]
    if not rows or all(is_empty_cell(v) for v in rows[0]):
        message = "has no header row: row 1 must hold the column names"
        raise HeaderNotInRowOne(name, message, ws.title, leading, others)
    width = max(len(r) for r in rows)
    rows = [(r + [None] * width)[:width] for r in rows]
    lines = list(range(2, len(rows) + 1))
    sheet = RawSheet(name, ws.title, rows[0], rows[1:], lines, other_headers=others, leading=leading)
    sheet.problems += _formulas_without_values(path, name, ws.title, rows)
    return sheet


def _formulas_without_values(path: Path, name: str, worksheet: str, rows: list[list]) -> list[Problem]:
    """Cells that hold a formula but no stored result (a workbook written by a program that does not compute
    formulas, e.g. openpyxl): read as values they look empty, and would pass for codes not reported."""
    if not any(v is None for r in rows for v in r):
        return []
    from openpyxl import load_workbook

    header = [str(h) if h is not None else "" for h in rows[0]]
    case = header.index("case_id") if "case_id" in header else None
    problems = []
    for line in load_workbook(path, data_only=False)[worksheet].iter_rows(min_row=2):
        for cell in line:
            formula = getattr(cell.value, "text", cell.value)  # an array formula keeps its text in `text`
            if isinstance(formula, str) and formula.startswith("=") and rows[cell.row - 1][cell.column - 1] is None:
                problems.append(
                    Problem(
                        name,
                        "holds a formula without a stored result (the workbook was saved by a program that does not "
                        "compute formulas): open and save it in Excel or LibreOffice, or type the value",
                        line=cell.row,
                        case_id=None if case is None else rows[cell.row - 1][case],
                        column=header[cell.column - 1] or None,
                        value=formula,
                        worksheet=worksheet,
                        cell=cell.coordinate,
                    )
                )
    return problems


def _drop_formatting(raw: RawSheet) -> RawSheet:
    """Drop columns with neither a name nor any value (formatting, not content) and entirely empty rows."""
    keep = [
        k for k, h in enumerate(raw.header) if not is_empty_cell(h) or any(not is_empty_cell(r[k]) for r in raw.rows)
    ]
    raw.header = [raw.header[k] for k in keep]
    raw.rows = [[r[k] for k in keep] for r in raw.rows]
    raw.columns_at = keep
    filled = [(r, line) for r, line in zip(raw.rows, raw.lines) if not all(is_empty_cell(v) for v in r)]
    raw.empty_rows = [line for r, line in zip(raw.rows, raw.lines) if all(is_empty_cell(v) for v in r)]
    raw.rows, raw.lines = [r for r, _ in filled], [line for _, line in filled]
    return raw


class HeaderNotInRowOne(Exception):
    """Row 1 is empty: what to refuse with, and where to look for the header (`_header_hint`)."""

    def __init__(self, name, message, worksheet, leading, other_headers):
        super().__init__(message)
        self.name, self.message, self.worksheet = name, message, worksheet
        self.leading, self.other_headers = leading, other_headers


def _split_every_way(line: str) -> list[str]:
    """A CSV line's cells split at every delimiter the reader accepts (a title line above the header may use
    another one than the header, so the header is looked for under each)."""
    cells = []
    for delimiter in DELIMITERS:
        try:
            cells += next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
    return cells


def _header_hint(leading, other_headers: dict, expected, unit: str) -> str | None:
    """Where the column names `expected` are when row 1 does not hold them: a lower row of this sheet (the first
    that holds more than half of them) or another worksheet's row 1; None when neither does."""
    keys = {spelling_key(n) for n in expected}

    def holds(cells) -> int:
        return len({spelling_key(str(v).strip()) for v in cells if not is_empty_cell(v)} & keys)

    half = len(keys) // 2
    lower = next(((line, n) for line, cells in leading if (n := holds(cells)) > half), None)
    if lower:
        return f"{unit} {lower[0]} holds {lower[1]} of them: delete the {unit}s above it, so that they are in {unit} 1"
    sheets = [title for title, header in other_headers.items() if holds(header) > half]
    if len(sheets) == 1:
        return f"worksheet {sheets[0]!r} has them in row 1: name it with --sheet {sheets[0]!r}"
    if sheets:
        listed = ", ".join(repr(t) for t in sheets[:-1]) + f" and {sheets[-1]!r}"
        return f"worksheets {listed} have them in row 1: name one with --sheet, e.g. --sheet {sheets[0]!r}"
    return None


def _header_misplaced(raw: RawSheet, expected) -> CodingSheetError | None:
    """Row 1 holds at most half of the column names `expected`, and they are found elsewhere: one problem saying
    where (every other problem would follow from the misplaced header)."""
    keys = {spelling_key(n) for n in expected}
    found = len({spelling_key(str(h).strip()) for h in raw.header if not is_empty_cell(h)} & keys)
    unit = "line" if raw.worksheet is None else "row"
    hint = _header_hint(raw.leading, raw.other_headers, expected, unit) if found <= len(keys) // 2 else None
    if hint is None:
        return None
    message = f"{unit} 1 holds {found} of the codebook's {len(keys)} column names"
    return CodingSheetError(raw.file, [Problem(raw.file, message, HEADER_LINE, hint=hint, worksheet=raw.worksheet)])


def read_sheet(path: str | Path, display: str | None = None, sheet: str | None = None, expected=()) -> RawSheet:
    """Read a sheet's cells as they are (nothing normalised yet), refusing files that are not sheets at all.

    `sheet` names the worksheet of a workbook (default: the first); a CSV file has none. `expected`: the column
    names row 1 should hold (the codebook's); where row 1 lacks them and a lower row or another worksheet holds
    them, the sheet is refused with that one problem, saying where.
    """
    try:
        raw = _read(path, display, sheet)
    except HeaderNotInRowOne as missing:
        unit = "line" if missing.worksheet is None else "row"
        hint = _header_hint(missing.leading, missing.other_headers, expected, unit) if expected else None
        problem = Problem(missing.name, missing.message, hint=hint, worksheet=missing.worksheet)
        raise CodingSheetError(missing.name, [problem]) from None
    misplaced = _header_misplaced(raw, expected) if expected else None
    if misplaced is not None:
        raise misplaced
    return raw


def worksheet_read(path: str | Path, sheet: str | None = None) -> str | None:
    """The worksheet that reading `path` takes: `sheet`, else a workbook's first; None for a CSV file (it has
    none) or a workbook that cannot be opened (reading it would have refused it)."""
    path = Path(path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return None
    if sheet is not None:
        return sheet
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True)
    except Exception:  # openpyxl raises many types for a broken or absent workbook
        return None
    try:
        return book.worksheets[0].title if book.worksheets else None
    finally:
        book.close()


def _read(path: str | Path, display: str | None, sheet: str | None) -> RawSheet:
    """`read_sheet`'s reading."""
    path = Path(path)
    name = display or display_name(path)
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
    return _drop_formatting(raw)
