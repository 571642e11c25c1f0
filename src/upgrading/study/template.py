"""A coding workbook for coders: the codebook's columns with dropdowns, 0-3 checks and definitions.

`write_template(path)` writes an .xlsx workbook whose first worksheet, `coding`, has one row per case and the
codebook's columns in order: a dropdown (list data validation) for every categorical column and for the
industry, a whole-number 0-3 validation for every Likert column, the codebook definition and allowed values as
a comment on each header, and a frozen header row (and case-id column). Where the codebook lets a variable be
"not reported", its dropdown offers `NR` and its 0-3 check also accepts `NR` and `not reported` (any case); an
empty cell is not reported too, and each header's comment says so (or that the column is required). The second
worksheet, `codebook`, holds the codebook table, how to write "not reported" and where, the governance forms
and the sectoral groups with their industries. With `cases` (a CSV or
workbook listing case ids and, optionally, other codebook columns such as `sectoral_group` and `industry`) the
rows are pre-filled. A filled workbook is read by `coding.load_sheet` and `upgrading run --coding` as it is.

The bytes are deterministic: document properties and zip entry times are fixed, so the same codebook and case
list always give the same file.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path

import pandas as pd

from .. import paths
from ..errors import UpgradingError
from .codebook import (
    Codebook,
    SectoralGroup,
    Variable,
    categories_table,
    codebook_table,
    load_codebook,
    not_reported_table,
    sectoral_groups_table,
)
from .sheet_report import CodingSheetError, Problem
from .sheets import RawSheet, read_sheet
from .spelling import did_you_mean, spelling_key

CODING_SHEET = "coding"
CODEBOOK_SHEET = "codebook"
LISTS_SHEET = "lists"  # only when a dropdown's values do not fit in Excel's 255-character inline list
VALIDATED_ROWS = 1000  # rows below the header that carry the dropdowns and checks (more with a longer case list)
FIXED_TIME = datetime.datetime(2005, 1, 1)  # document properties; the zip entries get 1980-01-01 (zip's epoch)
INLINE_LIMIT = 255


def _comment_text(cb: Codebook, name: str) -> str:
    v = cb.variable(name)
    lines = [f"{v.label}: {v.definition}"]
    if v.scale is not None:
        lines.append("Whole number: " + ", ".join(f"{lvl} {lab}" for lvl, lab in zip(v.scale.levels, v.scale.labels)))
    elif v.categories:
        lines.append("One of: " + ", ".join(v.allowed))
    if name in cb.derived:
        lines.append("Rule: " + cb.derived[name]["rule"])
    if name == "industry":
        lines.append("One of the industries of the case's sectoral group (see the codebook sheet).")
    if v.may_be_missing:
        lines.append(f"Not reported by the case study: {cb.not_reported.written} (any case).")
    else:
        lines.append(f"Required: may not be left empty or {cb.not_reported.label}.")
    return "\n".join(lines)


def _choices(cb: Codebook, name: str) -> list[str] | None:
    v = cb.variable(name)
    if v.categories:
        return [str(a) for a in v.allowed] + _not_reported_choice(cb, v)
    if name == "industry":
        return [i for g in cb.sectoral_groups for i in g.all_industries]
    return None


def _not_reported_choice(cb: Codebook, v: Variable) -> list[str]:
    """The dropdown's option for "not reported" (the first declared spelling), where the variable may be missing."""
    return [cb.missing_spellings[0]] if v.may_be_missing and cb.missing_spellings else []


def _score_validation(cb: Codebook, v: Variable, first_cell: str):
    """A whole number on the variable's scale; where it may be missing, also a declared spelling of "not reported"
    (Excel compares text in any case). IF, not AND, so that a text cell never reaches INT (an error in Excel)."""
    from openpyxl.worksheet.datavalidation import DataValidation

    low, high = min(v.scale.levels), max(v.scale.levels)
    spellings = cb.missing_spellings if v.may_be_missing else ()
    if spellings:
        c = first_cell
        written = ",".join(f'{c}="{s}"' for s in spellings)
        formula = f"IF(ISNUMBER({c}),AND({c}=INT({c}),{c}>={low},{c}<={high}),OR({written}))"
        dv = DataValidation(type="custom", formula1=formula, allow_blank=True)
        dv.error = f"{v.name}: a whole number from {low} to {high}; if not reported, {cb.not_reported.written}"
    else:
        dv = DataValidation(type="whole", operator="between", formula1=str(low), formula2=str(high), allow_blank=True)
        dv.error = f"{v.name}: a whole number from {low} to {high}"
    dv.prompt = ", ".join(f"{lvl} {lab}" for lvl, lab in zip(v.scale.levels, v.scale.labels))
    if spellings:
        dv.prompt += f"; {spellings[0]}: {cb.not_reported.label}"
    return dv


def _list_validation(book, cb: Codebook, name: str, choices: list[str]):
    """A dropdown of `choices`, inline or, when Excel cannot hold it inline, from the hidden lists worksheet."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    formula = _inline(choices)
    if formula is None:
        if LISTS_SHEET not in book.sheetnames:
            book.create_sheet(LISTS_SHEET).sheet_state = "hidden"
        lists = book[LISTS_SHEET]
        col = get_column_letter(lists.max_column + (1 if lists.max_row > 1 or lists["A1"].value else 0))
        lists[f"{col}1"] = name
        for r, choice in enumerate(choices, start=2):
            lists[f"{col}{r}"] = choice
        formula = f"'{LISTS_SHEET}'!${col}$2:${col}${len(choices) + 1}"
    dv = DataValidation(type="list", formula1=formula, allow_blank=True)
    dv.error = f"{name}: choose a value from the list"
    dv.prompt = "choose from the list" if name != "industry" else "an industry of the case's sectoral group"
    if cb.variable(name).may_be_missing and cb.missing_spellings:
        dv.prompt += f" ({cb.missing_spellings[0]}: {cb.not_reported.label})"
    return dv


def _inline(choices: list[str]) -> str | None:
    """An inline list formula, or None when Excel cannot hold it inline (too long, or a comma in a value)."""
    formula = '"' + ",".join(choices) + '"'
    if len(formula) > INLINE_LIMIT or any("," in c or '"' in c for c in choices):
        return None
    return formula


PREFILLED = ("case_id", "sectoral_group", "industry", "coding_source")


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _case_list(path: str | Path, cb: Codebook) -> pd.DataFrame:
    """Case ids and, when listed, sectoral groups, industries and coding sources, checked and in the codebook's
    spelling (the same normalisation as a coding sheet's); any other column is ignored."""
    path = Path(path)
    name = path.name
    raw = read_sheet(path, display=name)
    columns = _case_list_columns(raw, cb)
    records, problems, first_line = [], [], {}
    for row, line in zip(raw.rows, raw.lines):
        record = {c: _text(row[k]) for c, k in columns.items()}

        def problem(column, message, allowed=None, hint=None, record=record, line=line, row=row):
            cell = raw.cell(line, raw.columns_at[columns[column]])
            problems.append(
                Problem(
                    name,
                    message,
                    line,
                    record["case_id"],
                    column,
                    row[columns[column]],
                    allowed,
                    hint,
                    worksheet=raw.worksheet,
                    cell=cell,
                )
            )

        _check_case_id(record, line, first_line, problem)
        group = _spell_group(record, cb, problem)
        _spell_industry(record, group, cb, problem)
        records.append(record)
    if problems:
        raise CodingSheetError(name, problems)
    if not records:
        raise CodingSheetError(name, [Problem(name, "lists no cases", worksheet=raw.worksheet)])
    return pd.DataFrame(records, columns=list(columns), dtype=object)


def _case_list_columns(raw: RawSheet, cb: Codebook) -> dict[str, int]:
    """Where the case list holds each column it may pre-fill: the codebook's spelling first, then any spelling
    of it. Refuses a list without case ids."""
    header = ["" if h is None else str(h).strip() for h in raw.header]
    columns = {}
    for c in (c for c in PREFILLED if c in cb.columns):
        hits = [k for k, h in enumerate(header) if h == c] or [
            k for k, h in enumerate(header) if spelling_key(h) == spelling_key(c)
        ]
        if hits:
            columns[c] = hits[0]
    if "case_id" not in columns:
        raise CodingSheetError(
            raw.file,
            [
                Problem(
                    raw.file,
                    "a case list needs a case_id column",
                    line=1,
                    worksheet=raw.worksheet,
                    hint=did_you_mean("case_id", header),
                )
            ],
        )
    return columns


def _check_case_id(record: dict, line: int, first_line: dict[str, int], problem) -> None:
    """Every case listed once, with an id; `first_line` remembers where each id was first used."""
    if record["case_id"] is None:
        problem("case_id", "missing case id")
    elif record["case_id"] in first_line:
        problem("case_id", "duplicate case id", hint=f"first used on line {first_line[record['case_id']]}")
    else:
        first_line[record["case_id"]] = line


def _spell_group(record: dict, cb: Codebook, problem) -> SectoralGroup | None:
    """The listed sectoral group in the codebook's spelling (None when not listed or unknown, which is reported)."""
    if record.get("sectoral_group") is None:
        return None
    groups = {spelling_key(g.code): g for g in cb.sectoral_groups}
    group = groups.get(spelling_key(record["sectoral_group"]))
    if group is None:
        problem(
            "sectoral_group",
            "unknown category",
            ", ".join(cb.group_codes),
            did_you_mean(record["sectoral_group"], cb.group_codes),
        )
    else:
        record["sectoral_group"] = group.code
    return group


def _spell_industry(record: dict, group: SectoralGroup | None, cb: Codebook, problem) -> None:
    """The listed industry in the codebook's spelling: one of its group's, or of any group when none is listed.
    Under an unknown group the industry is not judged (the group is reported)."""
    if record.get("industry") is None:
        return
    choices = group.all_industries if group is not None else [i for g in cb.sectoral_groups for i in g.all_industries]
    hits = [i for i in choices if spelling_key(i) == spelling_key(record["industry"])]
    if hits:
        record["industry"] = hits[0]
    elif group is not None or record.get("sectoral_group") is None:
        problem(
            "industry",
            "industry is not one of the industries"
            + (f" of {group.code}" if group is not None else " of the codebook"),
            "; ".join(choices),
            did_you_mean(record["industry"], choices),
        )


def build_workbook(cases: pd.DataFrame | None = None, codebook: Codebook | None = None):
    """The template as an openpyxl Workbook (see the module docstring)."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    cb = codebook or load_codebook()
    book = Workbook()
    ws = book.active
    ws.title = CODING_SHEET
    columns = list(cb.columns)
    ws.append(columns)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    rows = 0 if cases is None else len(cases)
    if cases is not None:
        for record in cases.to_dict("records"):
            ws.append([_cell(cb, c, record.get(c)) for c in columns])
    last = 1 + max(VALIDATED_ROWS, rows)
    for k, name in enumerate(columns, start=1):
        letter = get_column_letter(k)
        head = ws.cell(row=1, column=k)
        head.font, head.fill = bold, fill
        comment = Comment(_comment_text(cb, name), "codebook")
        comment.width, comment.height = 420, 180
        head.comment = comment
        ws.column_dimensions[letter].width = max(14, min(len(name) + 4, 28))
        v = cb.variable(name)
        target = f"{letter}2:{letter}{last}"
        if v.scale is not None:
            dv = _score_validation(cb, v, f"{letter}2")
        elif (choices := _choices(cb, name)) is not None:
            dv = _list_validation(book, cb, name, choices)
        else:
            continue
        dv.errorTitle, dv.promptTitle = "Not allowed by the codebook", v.label
        dv.showErrorMessage, dv.showInputMessage, dv.errorStyle = True, True, "stop"
        ws.add_data_validation(dv)
        dv.add(target)
    ws.freeze_panes = "B2"
    _codebook_sheet(book.create_sheet(CODEBOOK_SHEET, index=1), cb, bold, Alignment)
    book.properties.creator = "upgrading template"
    book.properties.created = book.properties.modified = FIXED_TIME
    book.properties.lastModifiedBy = None
    return book


def _cell(cb: Codebook, column: str, value):
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    if cb.variable(column).scale is not None:
        return int(value)
    return str(value)


def _codebook_sheet(ws, cb: Codebook, bold, alignment) -> None:
    def table(title: str, frame: pd.DataFrame) -> None:
        if ws.max_row > 1:
            ws.append([])
        ws.append([title])
        ws.cell(row=ws.max_row, column=1).font = bold
        ws.append(list(frame.columns))
        for cell in ws[ws.max_row]:
            cell.font = bold
        for row in frame.itertuples(index=False):
            ws.append([str(v) for v in row])

    table("Codebook: one row per column of the coding sheet", codebook_table(cb))
    nr = cb.not_reported
    table(f"Not reported: {nr.rule}. {nr.why}", not_reported_table(cb))
    table("Governance forms", categories_table(cb, "governance"))
    table("Sectoral groups (an industry must be one of its group's industries)", sectoral_groups_table(cb))
    for letter, width in zip("ABCDEFGH", (24, 18, 26, 12, 40, 60, 40, 40)):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows():
        for cell in row:
            cell.alignment = alignment(wrap_text=True, vertical="top")


def _deterministic_bytes(book) -> bytes:
    from openpyxl.writer.excel import ExcelWriter

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).write_data()  # save_workbook would stamp the current time
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def write_template(
    path: str | Path,
    cases: str | Path | pd.DataFrame | None = None,
    codebook: Codebook | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the coding workbook to `path` (.xlsx); `cases` pre-fills case ids, groups and industries.

    Refuses to overwrite an existing file (a coder's filled workbook) unless `overwrite`, and to write under
    `data/raw/`, which holds inputs only.
    """
    cb = codebook or load_codebook()
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise UpgradingError(f"{path.name}: the template is an Excel workbook; give a path ending in .xlsx")
    if paths.under_raw(path):
        raise UpgradingError("data/raw/ holds the compendium's input sheets only; write the template elsewhere")
    if path.exists() and not overwrite:
        raise UpgradingError(
            f"{path.name} exists; it may be a filled workbook, so it is not overwritten "
            "(choose another name, or pass --force)"
        )
    if cases is not None and not isinstance(cases, pd.DataFrame):
        cases = _case_list(cases, cb)
    return paths.write_output(path, _deterministic_bytes(build_workbook(cases, cb)))
