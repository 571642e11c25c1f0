"""What a coder is told about a sheet: each problem, located as precisely as it allows, and the report of what
reading the sheet ignored, normalised, read as not reported, derived and skipped.

These are the messages' words; reading (`sheets`) and validation (`validation`) decide what to say.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UpgradingError

#: The separators a CSV sheet may use, with the name the report gives them.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


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


def _cells(n: int) -> str:
    return f"{n} cell{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class NotReportedCells:
    """The cells of one column read as "not reported" (a missing value), counted by how they were written."""

    column: str
    cells: int
    first: str  # where the first occurs, e.g. "line 7, cell G7"
    written: tuple[tuple[str, int], ...]  # (the cell as typed, "" for an empty one; how many cells)

    def __str__(self) -> str:
        how = ", ".join(f"{repr(w) if w.strip() else 'empty'} {n}" for w, n in self.written)
        return f"column {self.column}: {_cells(self.cells)} read as not reported ({how}) (first at {self.first})"


@dataclass(frozen=True)
class Derivation:
    """A derived column (collective efficiency) where a part of the rule's inputs is not reported: `applied`, its
    not-reported cells set by the codebook `rule` from coded components; else coded cells kept although a
    component is not reported."""

    column: str
    cells: int
    first: str
    applied: bool
    rule: str
    components: tuple[str, ...]

    def __str__(self) -> str:
        parts = " and ".join(self.components)
        if self.applied:
            return (
                f"column {self.column}: not reported in {_cells(self.cells)} whose {parts} are coded; set by the "
                f"codebook rule, {self.rule} (first at {self.first})"
            )
        return (
            f"column {self.column}: coded in {_cells(self.cells)} where {parts} are not both coded; kept as coded, "
            f"the component not reported stays missing (first at {self.first})"
        )


@dataclass(frozen=True)
class SheetReport:
    """What reading a sheet did besides returning its cases: columns ignored, values normalised, cells read as
    not reported, collective efficiency set by its rule (or kept beside a component not reported), rows skipped."""

    file: str
    worksheet: str | None
    cases: int
    ignored_columns: tuple[IgnoredColumn, ...] = ()
    normalisations: tuple[Normalisation, ...] = ()
    empty_rows: tuple[int, ...] = ()
    delimiter: str | None = None
    not_reported: tuple[NotReportedCells, ...] = ()
    derivations: tuple[Derivation, ...] = ()
    uncoded: tuple[str, ...] = ()  # cases with no code at all (a row left unfilled?)

    def lines(self) -> list[str]:
        """One line per ignored column, normalisation, column with cells not reported, rule applied or not
        applied to a derived column, and run of skipped rows (empty when nothing to say)."""
        out = [str(c) for c in self.ignored_columns]
        out += [f"normalised: {n}" for n in self.normalisations]
        out += [f"not reported: {n}" for n in self.not_reported]
        out += [f"{'derived' if d.applied else 'not derived'}: {d}" for d in self.derivations]
        if self.empty_rows:
            out.append(
                f"skipped {len(self.empty_rows)} empty row{'s' if len(self.empty_rows) != 1 else ''} "
                f"(line{'s' if len(self.empty_rows) != 1 else ''} {_ranges(self.empty_rows)})"
            )
        if self.delimiter and self.delimiter != ",":
            out.append(f"read as {DELIMITERS[self.delimiter]}-separated values")
        if self.uncoded:
            more = len(self.uncoded) - 5
            shown = ", ".join(self.uncoded[:5]) + (f" and {more} more" if more > 0 else "")
            out.append(
                f"{len(self.uncoded)} case{'s' if len(self.uncoded) != 1 else ''} with no code at all, every coded "
                f"variable not reported ({shown}): rows left to fill in? They are counted among the cases but enter no "
                "model or test"
            )
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


def _ranges(numbers) -> str:
    numbers = sorted(numbers)
    spans, start = [], numbers[0]
    for prev, cur in zip(numbers, numbers[1:] + [None]):
        if cur is None or cur != prev + 1:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(spans)
