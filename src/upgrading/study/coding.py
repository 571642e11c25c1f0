"""Coding sheets: read one (CSV or .xlsx), validate it against the codebook, return typed cases.

Validation is declarative: a pandera schema built from the codebook, run lazily so that every problem is found
in one pass. Each problem is reported with file, line, case id, column, the bad value, what is allowed and, for
near-miss category spellings, a "did you mean". The input file is only ever read.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..compendium import paths
from ..errors import UpgradingError
from .codebook import Codebook, collective_efficiency, load_codebook

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
SIMULATED_MARK = "simulated"
HEADER_LINE = 1  # data row i (0-based) sits on line i + 2 of the file: line 1 is the header


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

    def __str__(self) -> str:
        where = self.file + (f", line {self.line}" if self.line is not None else "")
        parts = [where]
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


class CodingSheetError(UpgradingError):
    """A coding sheet that does not satisfy the codebook; carries every problem found."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{file} is not a valid coding sheet ({len(problems)} {noun}):\n{lines}")


def _display_name(path: Path) -> str:
    # As typed when relative; repository-relative inside the compendium; else the file name only, so that
    # no notebook output ever shows a machine path.
    return paths.relative(path) if path.is_absolute() else path.as_posix()


def did_you_mean(value: object, choices) -> str | None:
    """The closest allowed spelling of a near-miss category (case, spaces, hyphens and typos forgiven)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    def norm(s):
        return re.sub(r"[\s\-]+", "_", str(s).strip().lower())
    normalised = {norm(c): c for c in map(str, choices)}
    if norm(value) in normalised:
        return f"did you mean {normalised[norm(value)]!r}?"
    key = norm(value)
    # A shared stem of 4+ characters ('textiles' / 'Textile and garments') beats edit distance.
    stems = [(len(os.path.commonprefix([key, n])), n) for n in normalised]
    best_stem = max(stems, default=(0, None))
    if best_stem[0] >= 4:
        return f"did you mean {normalised[best_stem[1]]!r}?"
    close = difflib.get_close_matches(key, list(normalised), n=1, cutoff=0.6)
    return f"did you mean {normalised[close[0]]!r}?" if close else None


def _cell_text(value) -> object:
    # Excel stores 2 as 2.0; a whole float is the integer the coder typed. Empty cells become missing.
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return pd.NA
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text if text else pd.NA


def read_sheet(path: str | Path, display: str | None = None) -> pd.DataFrame:
    """Read a sheet as text cells (nothing coerced yet), refusing files that are not sheets at all."""
    path = Path(path)
    name = display or _display_name(path)
    if not path.exists():
        raise CodingSheetError(name, [Problem(name, "file not found")])
    if path.is_dir():
        raise CodingSheetError(name, [Problem(name, "is a folder, not a coding sheet file")])
    data = path.read_bytes()
    if not data.strip():
        raise CodingSheetError(name, [Problem(name, "the file is empty; expected a header line and one row "
                                                    "per case")])
    if path.suffix.lower() in EXCEL_SUFFIXES:
        try:
            frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
        except Exception as error:  # openpyxl raises many types for a broken workbook
            raise CodingSheetError(name, [Problem(name, f"cannot be read as an Excel workbook ({error})")]) from None
    else:
        if data[:4] == b"PK\x03\x04":
            raise CodingSheetError(name, [Problem(name, "looks like an Excel workbook; save it with the .xlsx "
                                                        "suffix or export it as CSV")])
        if b"\x00" in data[:8192]:
            raise CodingSheetError(name, [Problem(name, "is a binary file, not a CSV text file")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise CodingSheetError(name, [Problem(name, f"is not UTF-8 text (byte {error.start}); save the "
                                                        "sheet as CSV UTF-8")]) from None
        import io

        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
        except pd.errors.ParserError as error:
            raise CodingSheetError(name, [Problem(name, f"is not a well-formed CSV table ({error})")]) from None
        except pd.errors.EmptyDataError:
            raise CodingSheetError(name, [Problem(name, "has no header line")]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.map(_cell_text).astype(object)
    if frame.empty:
        raise CodingSheetError(name, [Problem(name, "has a header but no cases")])
    return frame


def build_schema(codebook: Codebook | None = None):
    """The pandera schema of a coding sheet, derived from the codebook (text cells, so bad values survive)."""
    import pandera.pandas as pa

    cb = codebook or load_codebook()
    columns = {}
    for v in cb.variables:
        checks = []
        if v.kind == "identifier":
            checks.append(pa.Check.str_matches(CASE_ID_PATTERN, name="case_id_format"))
        elif v.allowed:
            checks.append(pa.Check.isin([str(a) for a in v.allowed], name="allowed_values"))
        columns[v.name] = pa.Column(object, nullable=False, unique=v.kind == "identifier", checks=checks,
                                    coerce=False)
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
        # Only rows whose three scores are valid as text ('3', not '3.0') are checked; the rest are
        # already reported by the column checks.
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


def _problems_from(failures: pd.DataFrame, frame: pd.DataFrame, name: str, cb: Codebook) -> list[Problem]:
    ids = frame["case_id"] if "case_id" in frame.columns else pd.Series(pd.NA, index=frame.index)
    expected, present = list(cb.columns), list(frame.columns)
    first_line = {}
    if "case_id" in frame.columns:
        for i, cid in frame["case_id"].items():
            if pd.notna(cid):
                first_line.setdefault(cid, i + HEADER_LINE + 1)
    problems, seen = [], set()

    def where(index):
        i = int(index)
        cid = ids.get(i)
        return i + HEADER_LINE + 1, (None if pd.isna(cid) else str(cid))

    for row in failures.itertuples(index=False):
        check, column = str(row.check), row.column
        if check == "column_in_dataframe":
            missing = str(row.failure_case)
            hint = did_you_mean(missing, [c for c in present if c not in expected])
            problems.append(Problem(name, f"required column {missing!r} is missing", line=HEADER_LINE,
                                    hint=hint.replace("did you mean", "is it") if hint else None))
            continue
        if check == "column_in_schema":
            extra = str(row.failure_case)
            problems.append(Problem(name, f"unknown column {extra!r}", line=HEADER_LINE,
                                    allowed=", ".join(expected), hint=did_you_mean(extra, expected)))
            continue
        if row.index is None or pd.isna(row.index):
            problems.append(Problem(name, f"check {check} failed on column {column}: {row.failure_case}"))
            continue
        line, cid = where(row.index)
        if check in ("industry_in_group", "collective_efficiency_rule"):
            key = (check, line)
            if key in seen:
                continue
            seen.add(key)
            i = int(row.index)
            if check == "industry_in_group":
                group = cb.group(frame.at[i, "sectoral_group"])
                problems.append(Problem(name, f"industry is not one of the industries of {group.code}",
                                        line, cid, "industry", frame.at[i, "industry"],
                                        "; ".join(group.all_industries),
                                        did_you_mean(frame.at[i, "industry"], group.all_industries)))
            else:
                ee, ja = int(frame.at[i, "external_economies"]), int(frame.at[i, "joint_actions"])
                problems.append(Problem(name, "does not follow the codebook rule floor((external_economies + "
                                        "joint_actions + 1) / 2)", line, cid, "collective_efficiency",
                                        frame.at[i, "collective_efficiency"],
                                        f"{collective_efficiency(ee, ja)} for external_economies={ee}, "
                                        f"joint_actions={ja}"))
            continue
        variable = cb.variable(column)
        value = row.failure_case
        if check == "not_nullable":
            problems.append(Problem(name, "missing value", line, cid, column, None, _allowed_text(variable)))
        elif check == "field_uniqueness":
            if first_line.get(value) == line:
                continue  # the first use is fine; every repeat is reported with a pointer to it
            problems.append(Problem(name, "duplicate case id", line, cid, column, value,
                                    hint=f"first used on line {first_line.get(value)}"))
        elif check == "case_id_format":
            problems.append(Problem(name, "case id must start with a letter or digit and hold only letters, "
                                    "digits, '.', '_' or '-'", line, cid, column, value))
        elif variable.scale is not None:
            kind = "out of range" if re.fullmatch(r"[+-]?\d+(\.0+)?", str(value)) else \
                "wrong type: not a whole number"
            problems.append(Problem(name, kind, line, cid, column, value, _allowed_text(variable)))
        else:
            problems.append(Problem(name, "unknown category", line, cid, column, value, _allowed_text(variable),
                                    did_you_mean(value, variable.allowed)))
    column_order = {c: k for k, c in enumerate(expected)}
    problems.sort(key=lambda p: (p.line if p.line is not None else 0, column_order.get(p.column, -1)))
    return problems


def _allowed_text(variable) -> str:
    if variable.scale is not None:
        return ", ".join(f"{lvl} ({lab})" for lvl, lab in zip(variable.scale.levels, variable.scale.labels))
    if variable.categories:
        return ", ".join(variable.allowed)
    return "any non-empty text"


def validate(path: str | Path, codebook: Codebook | None = None, display: str | None = None) -> pd.DataFrame:
    """Validate a sheet; return it as text cells, or raise CodingSheetError listing every problem.

    `display` is how the file is named in messages (the command line passes the path as the user typed it).
    """
    import pandera.pandas as pa

    cb = codebook or load_codebook()
    path = Path(path)
    name = display or _display_name(path)
    frame = read_sheet(path, display=name)
    try:
        build_schema(cb).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise CodingSheetError(name, _problems_from(errors.failure_cases, frame, name, cb)) from None
    return frame


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


def load_cases(path: str | Path) -> pd.DataFrame:
    """Validate and type a coding sheet in one call; `attrs` records its file and whether it is simulated."""
    path = paths.resolve(path)
    cases = to_cases(validate(path))
    cases.attrs["source_file"] = paths.relative(path)
    cases.attrs["simulated"] = is_simulated(cases)
    return cases


def provenance(cases: pd.DataFrame) -> str:
    """One line saying what data an exhibit is made from; simulated data say so in capitals."""
    source = cases.attrs.get("source_file", "a coding sheet")
    if cases.attrs.get("simulated", is_simulated(cases)):
        return (f"SIMULATED DATA ({source}): a simulated coding sheet, not the study's coding; results "
                "illustrate the method and are not findings about Latin American clusters.")
    return f"Coded data: {source}, {len(cases)} cases."


@dataclass(frozen=True)
class Mistake:
    """A typical coder's mistake: the value written into `column` (None: the first row's case id, a repeat)."""

    column: str
    value: str | None
    description: str


#: The mistakes `typical_mistakes_report` plants in a copy of a sheet, one per row from the first.
TYPICAL_MISTAKES = (
    Mistake("governance", "quasi-hierarchy", "a hyphen instead of an underscore"),
    Mistake("joint_actions", "high", "a word for a number"),
    Mistake("product_upgrading", "4", "a score out of range"),
    Mistake("functional_upgrading", "", "an empty cell"),
    Mistake("case_id", None, "a repeated case id"),
)


def typical_mistakes_report(path: str | Path, mistakes: tuple[Mistake, ...] = TYPICAL_MISTAKES,
                            name: str = "corrupted_copy.csv") -> CodingSheetError:
    """What a coder sees: validate a copy of a valid sheet with `mistakes` planted, one per row; return the error.

    The copy (CSV, named `name`) is written to a temporary folder that is deleted afterwards; the sheet at `path`
    (CSV or .xlsx) is only read. Raises UpgradingError if the sheet has too few rows or if validation misses a
    planted mistake, so the demonstration cannot silently show nothing.
    """
    import tempfile

    frame = read_sheet(paths.resolve(path))
    if len(frame) < max(2, len(mistakes)):
        raise UpgradingError(f"the sheet has {len(frame)} cases; planting {len(mistakes)} mistakes needs "
                             f"{max(2, len(mistakes))}")
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


def write_processed(cases: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write validated, typed cases as CSV (default `data/processed/cases.csv`), only if the bytes change."""
    target = paths.resolve(path) if path is not None else paths.DATA_PROCESSED / "cases.csv"
    if target.resolve().is_relative_to(paths.DATA_RAW.resolve()):
        raise UpgradingError("processed cases are never written under data/raw/: raw data are immutable")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = cases.to_csv(index=False, lineterminator="\n")
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target
