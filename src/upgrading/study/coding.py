"""Coding sheets as the analysis uses them: typed cases, where they come from, the processed copy, and what a
coder sees when a sheet is wrong.

`load_sheet(path)` reads a sheet (`sheets`), normalises and validates it against the codebook (`validation`)
and returns typed cases with the report of what was ignored, normalised and read as not reported; a sheet that
does not satisfy the codebook raises `CodingSheetError` (defined in `sheet_report`, importable from here, where
callers catch it) listing every problem. The input file is only ever read.

Not reported in typed cases
    A cell the sheet reads as "not reported" (an empty cell, `NR` or `not reported`, in a variable the codebook
    lets be missing) is a missing value in the typed cases, and nothing else is:
    - a column with no missing value keeps exactly its type: `int64` scores, the codebook's categorical for
      groups and governance, text as `str`; `leader_driven` is `int64` 0/1;
    - a score column with a missing value becomes pandas' nullable `Int64`, the missing cells `<NA>`;
    - a categorical column keeps its categories (in codebook order); its missing cells are NaN (code -1), never
      a category of their own;
    - `leader_driven` is missing (`Int64` `<NA>`) where governance is, else 0/1;
    - text columns (case id, industry, coding source) are required by the codebook, so never missing; a text
      column a codebook lets be missing would hold NaN;
    - collective efficiency set by the codebook's rule (not reported, both components coded) is a code like
      any other: the report, not the typed cases, says which cells were set.
    Analyses decide what to do with missing values (e.g. complete cases per analysis); `pandas.isna` finds them
    in every column. `write_processed` writes each one as an empty cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import paths
from ..errors import UpgradingError
from .codebook import Codebook, Variable, load_codebook
from .sheet_report import CodingSheetError, SheetReport
from .sheets import HEADER_LINE
from .validation import check_sheet, validate

SIMULATED_MARK = "simulated"


def to_cases(frame: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """Typed cases from a validated sheet: integer scores, categorical groups and governance, `leader_driven`;
    not-reported cells are missing values (see the module docstring for how each type holds them)."""
    cb = codebook or load_codebook()
    cases = frame[list(cb.columns)].copy()
    for v in cb.variables:
        cases[v.name] = _typed(cases[v.name], v)
    leader = cases["governance"].isin(cb.leader_levels).astype(int)
    missing = cases["governance"].isna()
    cases["leader_driven"] = leader.astype("Int64").mask(missing) if missing.any() else leader
    return cases


def _typed(column: pd.Series, variable: Variable) -> pd.Series:
    """One validated column typed: today's type when nothing is missing, a type that holds missing values else."""
    missing = column.isna()
    if variable.scale is not None:
        if not missing.any():
            return column.astype(int)
        return pd.Series([pd.NA if m else int(x) for x, m in zip(column, missing)], index=column.index, dtype="Int64")
    if variable.categories:
        return pd.Series(pd.Categorical(column.where(~missing), categories=list(variable.allowed)), index=column.index)
    return column.astype(str) if not missing.any() else column.astype(str).where(~missing)


def is_simulated(cases: pd.DataFrame) -> bool:
    """True when any row is not a real coding: its `coding_source` starts with 'simulated' (any case), as the
    simulator's rows and rows invented to try the compendium do (results are then not empirical findings)."""
    return bool(cases["coding_source"].astype(str).str.strip().str.lower().str.startswith(SIMULATED_MARK).any())


def from_generator(cases: pd.DataFrame) -> bool:
    """True when every row is the compendium's own simulator's (`upgrading simulate`: its `coding_source` and case
    ids). Only of such a sheet may a text say it was generated from the documented assumptions, with the signs of
    the source's table; a sheet a user labels simulated (cases invented to try the compendium) is simulated too,
    but was not generated here."""
    from .simulate import load_parameters

    params = load_parameters()
    ids = cases["case_id"].astype(str)
    return bool(
        len(cases)
        and (cases["coding_source"].astype(str).str.strip() == params["coding_source"]).all()
        and ids.str.startswith(f"{params['case_id_prefix']}-").all()
    )


def load_sheet(
    path: str | Path, sheet: str | None = None, display: str | None = None
) -> tuple[pd.DataFrame, SheetReport]:
    """Read, validate and type a coding sheet (CSV or workbook) in one call: the cases and the report of what
    was ignored, normalised, read as not reported and derived. `attrs` of the cases record the file, the worksheet
    and whether it is simulated.

    Relative paths are taken from the repository root (as notebook parameters are).
    """
    path = paths.resolve(path)
    frame, report = check_sheet(path, display=display, sheet=sheet)
    cases = to_cases(frame)
    cases.attrs["source_file"] = paths.relative(path)
    cases.attrs["worksheet"] = report.worksheet
    cases.attrs["simulated"] = is_simulated(cases)
    cases.attrs["generated"] = from_generator(cases)
    return cases, report


def load_cases(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Validate and type a coding sheet in one call (`load_sheet` without the report)."""
    return load_sheet(path, sheet)[0]


def write_processed(cases: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write validated cases to `data/processed/cases.csv` (or `path`), only if the bytes would change; a value
    not reported is an empty cell.

    Refuses to write under `data/raw/`, which holds inputs only.
    """
    target = paths.resolve(path) if path is not None else paths.DATA_PROCESSED / "cases.csv"
    return paths.write_output(target, cases.to_csv(index=False, lineterminator="\n", na_rep=""))


def _source(cases: pd.DataFrame) -> str:
    """The file (and worksheet, where one was read) a set of cases was read from."""
    source = cases.attrs.get("source_file", "a coding sheet")
    if cases.attrs.get("worksheet"):
        source += f", worksheet {cases.attrs['worksheet']!r}"
    return source


def _simulated(cases: pd.DataFrame) -> bool:
    return bool(cases.attrs.get("simulated", is_simulated(cases)))


def provenance(cases: pd.DataFrame, second: pd.DataFrame | None = None) -> str:
    """One line saying what data an exhibit is made from; simulated data say so in capitals. With `second` (a
    second coding compared with `cases`, as reliability is), both codings are named, each with its file and
    worksheet."""
    if second is None:
        if _simulated(cases):
            return (
                f"SIMULATED DATA ({_source(cases)}): a simulated coding sheet, not the study's coding; results "
                "illustrate the method and are not findings about Latin American clusters."
            )
        return f"Coded data: {_source(cases)}, {len(cases)} cases."
    codings = (("first", cases), ("second", second))
    simulated = [role for role, coding in codings if _simulated(coding)]
    if simulated:
        named = "; ".join(f"{role} coding {_source(coding)}" for role, coding in codings)
        which = "simulated coding sheets" if len(simulated) == 2 else f"the {simulated[0]} coding is simulated"
        return (
            f"SIMULATED DATA ({named}): {which}, not the study's coding; results illustrate the method and are "
            "not findings about Latin American clusters."
        )
    return "Coded data: " + "; ".join(f"{role} coding {_source(c)}, {len(c)} cases" for role, c in codings) + "."


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
    Mistake("functional_upgrading", "n.a.", "'not reported' written another way"),
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
