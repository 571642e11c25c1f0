"""Sheets of any shape: workbooks (first or named worksheet) located by worksheet and cell, coders' own columns
ignored and listed, documented normalisations accepted and reported, everything else refused; input untouched."""

import hashlib

import pandas as pd
import pytest
from helpers import SIMULATED_SHEET
from openpyxl import Workbook, load_workbook

from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.paths import DATA_PROCESSED, DATA_RAW
from upgrading.study.coding import load_sheet, write_processed
from upgrading.study.sheet_report import CodingSheetError
from upgrading.study.validation import check_sheet

GOOD = SIMULATED_SHEET
FRAME = pd.read_csv(GOOD, dtype=str, keep_default_na=False).astype(object)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _workbook(path, frame, title="Sheet1", before=()):
    """Write `frame` as a workbook with real number cells for numeric text; `before` adds worksheets first."""
    book = Workbook()
    book.remove(book.active)
    for name in before:
        book.create_sheet(name)["A1"] = "not the coding"
    ws = book.create_sheet(title)
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([int(v) if isinstance(v, str) and v.isdigit() else v for v in row])
    book.save(path)
    return path


def _refused(path, **kwargs):
    before = _digest(path)
    with pytest.raises(CodingSheetError) as err:
        check_sheet(path, **kwargs)
    assert _digest(path) == before, "reading must never modify the sheet"
    return err.value


def test_workbook_problems_name_the_worksheet_and_the_cell(tmp_path):
    frame = FRAME.copy()
    frame.loc[5, "governance"] = "hierarchical"  # row 7 of the worksheet, column G
    frame.loc[8, "product_upgrading"] = 5  # row 10, column H
    error = _refused(_workbook(tmp_path / "coding.xlsx", frame, title="Coding"))
    governance, product = error.problems
    assert (governance.worksheet, governance.line, governance.cell) == ("Coding", 7, "G7")
    assert governance.hint == "did you mean 'hierarchy'?"
    assert (product.cell, product.value, product.message) == ("H10", 5, "out of range")
    assert "coding.xlsx, worksheet 'Coding', line 7, cell G7, case SIM-06, column governance" in str(governance)


def test_a_formula_without_a_stored_result_is_named_not_taken_for_a_code_not_reported(tmp_path):
    """A workbook written by a program that does not compute formulas (openpyxl) keeps a formula cell's text but
    no result: read as values the cell looks empty, which would pass for "not reported" and be derived silently."""
    path = _workbook(tmp_path / "coding.xlsx", FRAME, title="Coding")
    book = load_workbook(path)
    column = list(FRAME.columns).index("collective_efficiency") + 1
    cell = book["Coding"].cell(row=9, column=column)
    cell.value = "=ROUND((D9+E9)/2,0)"
    book.save(path)
    (problem,) = _refused(path).problems
    assert (problem.worksheet, problem.line, problem.cell, problem.column) == ("Coding", 9, cell.coordinate,
                                                                              "collective_efficiency")  # fmt: skip
    assert problem.case_id == FRAME.loc[7, "case_id"] and problem.value == "=ROUND((D9+E9)/2,0)"
    assert "holds a formula without a stored result" in problem.message


def test_the_first_worksheet_by_default_or_a_named_one(tmp_path):
    book = _workbook(tmp_path / "book.xlsx", FRAME, title="cases", before=["intro"])
    assert "worksheet 'intro', line 1: row 1 holds 0 of the codebook's 12 column names (worksheet 'cases' has " \
        "them in row 1" in str(_refused(book))  # fmt: skip
    cases, report = load_sheet(book, sheet="cases")
    assert len(cases) == 50 and report.worksheet == cases.attrs["worksheet"] == "cases"
    error = _refused(book, sheet="case")
    assert "no worksheet named 'case'" in str(error) and "did you mean 'cases'?" in str(error)
    assert "has no worksheets" in str(_refused(GOOD, sheet="cases"))


def test_coders_columns_are_kept_ignored_and_listed(tmp_path, capsys):
    frame = FRAME.copy()
    frame.insert(3, "notes", "checked against the 2004 report")
    frame["comments"] = ""
    path = tmp_path / "with_notes.csv"
    frame.to_csv(path, index=False)
    cases, report = load_sheet(path)
    assert "notes" not in cases.columns and len(cases) == 50
    assert [(c.name, c.position, c.hint) for c in report.ignored_columns] == [
        ("notes", "column 4", None),
        ("comments", "column 14", None),
    ]
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("'notes'") == 1 and "ignored by the analysis" in out


def test_a_misspelt_codebook_column_is_a_typo_not_a_note(tmp_path, capsys):
    path = tmp_path / "typo.csv"
    FRAME.rename(columns={"process_upgrading": "procces_upgrading"}).to_csv(path, index=False)
    error = _refused(path)
    (problem,) = error.problems
    assert "required column 'process_upgrading' is missing (is it 'procces_upgrading'?)" in str(problem)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "'procces_upgrading'" in err and "did you mean 'process_upgrading'?" in err


def test_documented_normalisations_are_accepted_and_each_reported_once(tmp_path):
    frame = FRAME.copy()
    frame.loc[0, "governance"] = "Quasi-hierarchy"  # SIM-01 is quasi_hierarchy
    frame.loc[[1, 2], "governance"] = " market"  # SIM-02 and SIM-03 are market
    frame.loc[3, "product_upgrading"] = "2.0"  # SIM-04 has 2
    frame.loc[0, "industry"] = "textile and garments"
    frame.loc[4, "coding_source"] = "simulated  "
    frame = frame.rename(columns={"joint_actions": "Joint actions"})
    path = tmp_path / "loose.csv"
    frame.to_csv(path, index=False)
    before = _digest(path)
    cases, report = load_sheet(path)
    assert _digest(path) == before
    expected = load_sheet(GOOD)[0]
    pd.testing.assert_frame_equal(cases.reset_index(drop=True), expected.reset_index(drop=True))
    shown = [str(n) for n in report.normalisations]
    assert shown == [
        "column name 'Joint actions' read as 'joint_actions' (line 1)",
        "column industry: 'textile and garments' read as 'Textile and garments' in 1 cell (first at line 2)",
        "column governance: 'Quasi-hierarchy' read as 'quasi_hierarchy' in 1 cell (first at line 2)",
        "column governance: surrounding spaces removed in 2 cells (first at line 3)",
        "column product_upgrading: '2.0' read as '2' in 1 cell (first at line 5)",
        "column coding_source: surrounding spaces removed in 1 cell (first at line 6)",
    ]
    # listed in the sheet's line order, not the text's (new-user trial: "first at line 15", "line 27", "line 3")
    frame.loc[13, "product_upgrading"] = f"{frame.loc[13, 'product_upgrading']}.0"  # line 15
    frame.loc[1, "product_upgrading"] = f" {frame.loc[1, 'product_upgrading']}"  # line 3
    frame.to_csv(path, index=False)
    lines = [str(n) for n in load_sheet(path)[1].normalisations if "product_upgrading" in str(n)]
    assert [line.rsplit("line ", 1)[1] for line in lines] == ["3)", "5)", "15)"]


@pytest.mark.parametrize(
    "column, value, message, hint",
    [
        ("product_upgrading", "2.5", "wrong type: not a whole number", None),
        ("product_upgrading", "3.0.", "wrong type: not a whole number", None),
        ("product_upgrading", "4.0", "out of range", None),
        ("governance", "markets", "unknown category", "did you mean 'market'?"),
        ("governance", "quasi hierarchical", "unknown category", "did you mean 'quasi_hierarchy'?"),
        ("sectoral_group", "Traditional", "unknown category", "did you mean 'traditional_manufacturing'?"),
    ],
)
def test_anything_else_is_refused_with_the_value_as_typed(tmp_path, column, value, message, hint):
    frame = FRAME.copy()
    frame.loc[0, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    problems = [p for p in _refused(path).problems if p.column == column]
    assert [(p.line, p.value, p.message, p.hint) for p in problems] == [(2, value, message, hint)]


def test_any_number_of_cases_ids_of_any_form_and_empty_rows(tmp_path):
    frame = FRAME.iloc[:7].copy()
    frame["case_id"] = ["Sinos Valley (BR)", "12", "Guadalajara/software", "Caso ñ 4", "x", "7.1", "A B"]
    path = tmp_path / "seven.csv"
    lines = frame.to_csv(index=False, lineterminator="\n").splitlines()
    path.write_text("\n".join(lines[:3] + ["", ",,,,,,,,,,,"] + lines[3:]) + "\n", encoding="utf-8")
    cases, report = load_sheet(path)
    assert list(cases["case_id"]) == list(frame["case_id"]) and len(cases) == 7
    assert report.empty_rows == (4, 5) and "skipped 2 empty rows (lines 4-5)" in report.lines()
    bad = tmp_path / "bad_ids.csv"
    frame.loc[2, "product_upgrading"] = "9"
    frame.loc[3, "case_id"] = "x"
    bad.write_text(frame.to_csv(index=False, lineterminator="\n"))
    problems = {(p.line, p.message) for p in _refused(bad).problems}
    assert problems == {(4, "out of range"), (6, "duplicate case id")}


def test_semicolon_separated_and_numeric_cells_of_a_workbook(tmp_path):
    path = tmp_path / "excel_es.csv"
    FRAME.to_csv(path, index=False, sep=";")
    cases, report = load_sheet(path)
    assert len(cases) == 50 and "read as semicolon-separated values" in report.lines()
    numbers = FRAME.copy()
    numbers["case_id"] = [str(k) for k in range(1, 51)]
    cases, report = load_sheet(_workbook(tmp_path / "numbers.xlsx", numbers))
    assert list(cases["case_id"][:3]) == ["1", "2", "3"] and cases["product_upgrading"].dtype == "int64"
    assert report.normalisations == ()


def test_a_row_longer_than_the_header_is_located(tmp_path):
    lines = GOOD.read_text().splitlines()
    lines[3] += ",stray"
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    (problem,) = _refused(path).problems
    assert problem.line == 4 and "13 cells but the header names 12 columns" in problem.message


def test_write_processed_writes_only_when_changed_and_never_under_raw(tmp_path):
    cases, _ = load_sheet(GOOD)
    target = write_processed(cases, tmp_path / "cases.csv")
    assert target.read_text() == (DATA_PROCESSED / "cases.csv").read_text()
    stamp = target.stat().st_mtime_ns
    write_processed(cases, target)
    assert target.stat().st_mtime_ns == stamp
    with pytest.raises(UpgradingError, match="data/raw"):
        write_processed(cases, DATA_RAW / "cases.csv")
    assert not (DATA_RAW / "cases.csv").exists()


def test_run_refuses_before_any_notebook_runs(tmp_path, monkeypatch, capsys):
    from upgrading.compendium import pipeline

    def never(*args, **kwargs):
        raise AssertionError("no notebook may run")

    monkeypatch.setattr(pipeline, "run", never)
    book = _workbook(tmp_path / "book.xlsx", FRAME, title="cases", before=["intro"])
    second = tmp_path / "second.csv"
    FRAME.iloc[:10].assign(case_id=[f"X{k}" for k in range(10)]).to_csv(second, index=False)
    assert main(["run", "--coding", str(GOOD), "--second-coder", str(second), "--quiet"]) == 2
    assert "coded 10 cases that the first coding does not hold: X0, X1" in " ".join(capsys.readouterr().err.split())
    declared = {"coding_path", "second_coder_path"}
    monkeypatch.setattr("papermill.inspect_notebook", lambda path: dict.fromkeys(declared))
    assert main(["run", "--coding", str(book), "--sheet", "cases", "--only", "02", "--quiet"]) == 2
    assert "notebooks that read a sheet but take no worksheet name: 02_coding.ipynb (coding_sheet)" in " ".join(
        capsys.readouterr().err.split()
    )


def test_every_notebook_that_reads_a_sheet_takes_its_worksheet_so_run_passes_sheet_to_all(tmp_path, monkeypatch):
    """`upgrading run --coding BOOK.xlsx --sheet NAME` reaches every notebook: each that takes a sheet path takes
    its worksheet name too, so the run is not refused and every notebook gets the name."""
    import re

    import nbformat
    import papermill

    from upgrading.compendium import pipeline

    for notebook in pipeline.discover():
        declared = set(papermill.inspect_notebook(str(notebook)))
        code = "\n".join(c.source for c in nbformat.read(notebook, 4).cells if c.cell_type == "code")
        for path, sheet in (("coding_path", "coding_sheet"), ("second_coder_path", "second_coder_sheet")):
            assert path not in declared or sheet in declared, (notebook.name, sheet)
            for call in re.findall(rf"load_(?:cases|sheet)\({path}[^)]*\)", code):  # and it is passed on
                assert f"sheet={sheet}" in call, (notebook.name, call)
    passed = []
    monkeypatch.setattr(pipeline, "run", lambda **kw: passed.append(kw["parameters"]) or [])
    book = _workbook(tmp_path / "book.xlsx", FRAME, title="cases", before=["intro"])
    assert main(["run", "--coding", str(book), "--sheet", "cases", "--quiet"]) == 0
    assert passed[0]["coding_sheet"] == "cases" and passed[0]["coding_path"].endswith("book.xlsx")


def test_command_line_paths_are_taken_from_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    FRAME.to_csv("mine.csv", index=False)
    assert main(["validate", "mine.csv"]) == 0
    assert "mine.csv: valid coding sheet, 50 cases" in capsys.readouterr().out
    assert main(["template", "blank.xlsx"]) == 0 and (tmp_path / "blank.xlsx").exists()


def test_a_header_in_the_wrong_place_is_pointed_to_in_one_problem(tmp_path):
    """Row 1 without the codebook's names, or empty: one problem says where they are (another worksheet, to name
    with --sheet; a lower row or line, to move up), whatever delimiter a title line uses; nothing else is listed
    (every other problem would follow from the misplaced header)."""
    from openpyxl.chart import BarChart

    def only_problem(path, **kwargs):
        problems = _refused(path, **kwargs).problems
        assert len(problems) == 1, [str(p) for p in problems]
        return str(problems[0])

    book = _workbook(tmp_path / "book.xlsx", FRAME, title="Data", before=["README"])
    assert "row 1 holds 0 of the codebook's 12 column names (worksheet 'Data' has them in row 1: name it with " \
        "--sheet 'Data')" in only_problem(book)  # fmt: skip
    empty_first = Workbook()  # Excel's default empty Sheet1 first, the coding on the second worksheet
    data = empty_first.create_sheet("coding")
    data.append(list(FRAME.columns))
    empty_first.save(tmp_path / "empty_first.xlsx")
    assert "has no header row" in only_problem(tmp_path / "empty_first.xlsx")
    assert "name it with --sheet 'coding'" in only_problem(tmp_path / "empty_first.xlsx")
    for first_row in (["Coding of the cluster studies, 2026"], []):  # a title row, or a blank row, above
        titled = Workbook()
        ws = titled.active
        ws.title = "coding"
        ws.append(first_row) if first_row else ws.append([None])
        ws.append(list(FRAME.columns))
        for row in FRAME.itertuples(index=False):
            ws.append(list(row))
        titled.save(tmp_path / "titled.xlsx")
        text = only_problem(tmp_path / "titled.xlsx")
        assert "row 2 holds 12 of them: delete the rows above it, so that they are in row 1" in text
    for title in ("title line", "Coding; draft 2", "\n"):
        flat = tmp_path / "flat.csv"
        flat.write_text(f"{title.strip()}\n" + FRAME.to_csv(index=False))
        assert "line 2 holds 12 of them: delete the lines above it" in only_problem(flat), title
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text("Coding, 2026\n" + FRAME.to_csv(index=False, sep=";"))
    assert "line 2 holds 12 of them" in only_problem(semicolons)
    charted = load_workbook(book)
    chart = charted.create_chartsheet("chart")
    chart.add_chart(BarChart())
    charted.save(tmp_path / "charted.xlsx")
    assert "has no worksheet named 'chart'" in only_problem(tmp_path / "charted.xlsx", sheet="chart")


def test_cases_with_no_code_at_all_are_named_in_the_report(tmp_path):
    """Rows whose every coded variable is not reported (a template row never filled in) are valid, and named."""
    from upgrading.study.coding import load_codebook
    from upgrading.study.validation import check_sheet

    frame = FRAME.copy().astype(object)
    coded = list(load_codebook().may_be_missing)
    frame.loc[[2, 7], coded] = ""
    path = tmp_path / "sheet.csv"
    frame.to_csv(path, index=False)
    _, report = check_sheet(path)
    ids = tuple(str(frame.loc[k, "case_id"]) for k in (2, 7))
    assert report.uncoded == ids
    assert any(line.startswith("2 cases with no code at all") and ids[0] in line for line in report.lines())
    _, complete = check_sheet(SIMULATED_SHEET)
    assert complete.uncoded == ()


def test_column_guesses_are_strict_and_know_abbreviations(tmp_path):
    """A missing codebook column is matched to a sheet's column only when they are close ('procces_upgrading') or
    one abbreviates the other ('Gov'), never to a loosely similar one ('Instructions' for 'joint_actions')."""
    frame = FRAME.rename(
        columns={"governance": "Gov", "joint_actions": "Instructions", "process_upgrading": "procces_upgrading"}
    )
    path = tmp_path / "sheet.csv"
    frame.to_csv(path, index=False)
    text = str(_refused(path))
    assert "required column 'governance' is missing (is it 'Gov'?)" in text
    assert "required column 'process_upgrading' is missing (is it 'procces_upgrading'?)" in text
    assert "'joint_actions' is missing (is it" not in text
    from upgrading.study.spelling import column_guess

    assert column_guess("coding_source", ["Coding of the cluster studies, 2026"]) is None  # a shared stem only


def test_validate_applies_a_worksheet_name_to_the_workbooks_among_several_sheets(tmp_path, capsys):
    """`validate --sheet NAME book.xlsx other.csv`: the workbook is read at its named worksheet and the CSV as it
    is; a lone CSV with a worksheet name is still refused (the name would be a mistake)."""
    book = _workbook(tmp_path / "first.xlsx", FRAME, title="Codificación 2026", before=("notes",))
    other = tmp_path / "second.csv"
    FRAME.to_csv(other, index=False)
    assert main(["validate", "--sheet", "Codificación 2026", str(book), str(other)]) == 0
    out = capsys.readouterr().out
    assert "worksheet 'Codificación 2026': valid coding sheet, 50 cases" in out
    assert f"{other}: valid coding sheet, 50 cases" in out
    assert main(["validate", "--sheet", "Codificación 2026", str(other)]) == 1
    assert "has no worksheets" in capsys.readouterr().err
    # several CSVs and no workbook: the worksheet name is a mistake for each of them, not silently ignored
    assert main(["validate", "--sheet", "Codificación 2026", str(other), str(other)]) == 1
    assert capsys.readouterr().err.count("has no worksheets") == 2


def test_run_names_each_coding_it_validated_with_its_worksheet_and_what_reading_it_did(tmp_path, monkeypatch, capsys):
    """New-user trial: `run --coding BOOK --sheet 'Coding v2' --second-coder BOOK --second-coder-sheet 'Second
    coder'` printed only "coding sheet BOOK is valid; running the notebooks on it": neither worksheet, nor the second
    coding, nor its cells read as not reported. Both are named now, each with its worksheet and report."""
    from openpyxl import load_workbook

    from upgrading.compendium import pipeline

    monkeypatch.setattr(pipeline, "run", lambda **kw: [])
    book = _workbook(tmp_path / "book.xlsx", FRAME, title="Coding v2", before=["intro"])
    workbook = load_workbook(book)
    second = workbook.copy_worksheet(workbook["Coding v2"])
    second.title = "Second coder"
    second["J3"] = "NR"  # functional upgrading of the second case
    workbook.save(book)
    args = ["run", "--coding", str(book), "--sheet", "Coding v2", "--second-coder", str(book)]
    assert main([*args, "--second-coder-sheet", "Second coder", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"coding sheet {book}, worksheet 'Coding v2': 50 cases; nothing ignored or normalised" in out
    assert f"second coding {book}, worksheet 'Second coder': 50 cases\n  - not reported: column" in out
    assert "both are valid; running the notebooks on them" in out
    assert main(["run", "--coding", str(GOOD), "--quiet"]) == 0
    assert "it is valid; running the notebooks on it" in capsys.readouterr().out
