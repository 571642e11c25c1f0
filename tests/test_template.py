"""The coding workbook: its structure, its round trip (template -> filled with openpyxl -> validate -> load),
the case list that pre-fills it, and what it refuses to do."""

import hashlib

import pandas as pd
import pytest
from helpers import SIMULATED_SHEET, likert_columns
from openpyxl import load_workbook

from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.paths import DATA_RAW
from upgrading.study import template
from upgrading.study.codebook import load_codebook
from upgrading.study.coding import load_sheet
from upgrading.study.sheet_report import CodingSheetError

CB = load_codebook()
GOOD = SIMULATED_SHEET
SIMULATED = pd.read_csv(GOOD, dtype=str, keep_default_na=False)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def case_list(tmp_path):
    path = tmp_path / "cases.csv"
    listed = SIMULATED[["case_id", "sectoral_group", "industry"]].copy()
    listed["case_id"] = [f"Case {k}" for k in range(1, 51)]
    listed.loc[0, "sectoral_group"] = "Traditional manufacturing"  # the label: read as the code
    listed["remarks"] = "from the 2007 book"
    listed.to_csv(path, index=False)
    return path


def test_the_workbook_has_validations_comments_a_frozen_header_and_the_codebook(tmp_path):
    path = template.write_template(tmp_path / "blank.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["coding", "codebook"]
    ws = book["coding"]
    assert [c.value for c in ws[1]] == list(CB.columns)
    assert ws.freeze_panes == "B2"
    letter = {c.value: c.column_letter for c in ws[1]}
    validations = {str(dv.sqref).split(":")[0][:-1]: dv for dv in ws.data_validations.dataValidation}
    for v in CB.variables:
        head = ws[f"{letter[v.name]}1"]
        assert v.definition in head.comment.text
        dv = validations.get(letter[v.name])
        if v.scale is not None:  # every score may be not reported: a whole number 0-3, or NR / not reported
            c = f"{letter[v.name]}2"
            assert (dv.type, dv.formula2) == ("custom", None)
            assert dv.formula1 == f'IF(ISNUMBER({c}),AND({c}=INT({c}),{c}>=0,{c}<=3),OR({c}="NR",{c}="not reported"))'
            assert str(dv.sqref) == f"{letter[v.name]}2:{letter[v.name]}1001"
        elif v.categories:
            offered = [*v.allowed, "NR"] if v.may_be_missing else list(v.allowed)
            assert dv.type == "list" and dv.formula1 == '"' + ",".join(offered) + '"'
        elif v.name == "industry":
            assert dv.type == "list" and "Textile and garments" in dv.formula1
        else:
            assert dv is None
        if dv is not None:
            assert dv.showErrorMessage and dv.errorStyle == "stop"
    text = [str(c.value) for row in book["codebook"].iter_rows() for c in row if c.value is not None]
    assert "Sectoral groups (an industry must be one of its group's industries)" in text
    assert "Textile and garments, Footwear, Furniture, Tile" in text
    assert all(v.definition in text for v in CB.variables)


def test_the_bytes_are_deterministic(tmp_path, case_list):
    one = template.write_template(tmp_path / "one.xlsx", cases=case_list)
    two = template.write_template(tmp_path / "two.xlsx", cases=case_list)
    assert one.read_bytes() == two.read_bytes()


def test_round_trip_template_filled_with_openpyxl_validates_and_loads(tmp_path, case_list, capsys):
    before = _digest(case_list)
    path = template.write_template(tmp_path / "coding.xlsx", cases=case_list)
    assert _digest(case_list) == before, "the case list is only read"
    book = load_workbook(path)
    ws = book["coding"]
    column = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, column["case_id"]).value == "Case 1"
    assert ws.cell(2, column["sectoral_group"]).value == "traditional_manufacturing"
    assert ws.cell(51, column["industry"]).value == SIMULATED["industry"].iloc[-1]
    assert ws.cell(2, column["governance"]).value is None
    # a coder fills in every score and category, as numbers and list choices, and keeps a notes column
    for r, row in enumerate(SIMULATED.itertuples(index=False), start=2):
        for name in likert_columns():
            ws.cell(r, column[name]).value = int(getattr(row, name))
        ws.cell(r, column["governance"]).value = row.governance
        ws.cell(r, column["coding_source"]).value = "Author (2007), chapter 3"
    notes = len(column) + 1
    ws.cell(1, notes).value = "notes"
    ws.cell(5, notes).value = "check the export share"
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    before = _digest(filled)
    assert main(["validate", str(filled)]) == 0
    out = capsys.readouterr().out
    assert "worksheet 'coding': valid coding sheet, 50 cases" in out and "'notes' (column M)" in out
    cases, report = load_sheet(filled)
    assert _digest(filled) == before
    assert list(cases["case_id"]) == [f"Case {k}" for k in range(1, 51)]
    expected = load_sheet(GOOD)[0]
    for name in CB.columns:
        if name not in ("case_id", "coding_source"):
            assert list(cases[name].astype(str)) == list(expected[name].astype(str)), name
    assert [c.name for c in report.ignored_columns] == ["notes"] and report.normalisations == ()


def test_a_half_filled_workbook_is_refused_cell_by_cell(tmp_path, case_list):
    path = template.write_template(tmp_path / "coding.xlsx", cases=case_list)
    with pytest.raises(CodingSheetError) as err:
        load_sheet(path)
    problems = err.value.problems
    # the scores and the governance form may be not reported (empty); the source of every case may not
    assert len(problems) == 50 and {(p.column, p.message) for p in problems} == {("coding_source", "missing value")}
    first = problems[0]
    assert (first.worksheet, first.line, first.cell, first.case_id, first.column) == (
        "coding",
        2,
        "L2",
        "Case 1",
        "coding_source",
    )


def test_case_list_problems_are_located_and_the_list_is_refused(tmp_path):
    path = tmp_path / "cases.xlsx"
    pd.DataFrame(
        {
            "Case ID": ["A", "B", "A", "C"],
            "sectoral group": ["software", "Specialised suppliers", "Traditional manufacturing", "CoPS"],
            "industry": ["Software", "Sofware", "Footwear", "Aircraft"],
        }
    ).to_excel(path, index=False)
    with pytest.raises(CodingSheetError) as err:
        template.write_template(tmp_path / "t.xlsx", cases=path)
    found = {(p.cell, p.message, p.hint) for p in err.value.problems}
    assert any(c == "B2" and m == "unknown category" for c, m, _ in found)
    assert any(c == "C3" and h == "did you mean 'Software'?" for c, _, h in found)
    assert any(c == "A4" and m == "duplicate case id" for c, m, _ in found)
    assert any(c == "B5" for c, _, _ in found)
    assert not (tmp_path / "t.xlsx").exists()


def test_it_never_overwrites_a_workbook_nor_writes_under_raw(tmp_path, capsys):
    path = template.write_template(tmp_path / "mine.xlsx")
    stamp = _digest(path)
    with pytest.raises(UpgradingError, match="not overwritten"):
        template.write_template(path)
    assert main(["template", str(path)]) == 2 and "--force" in capsys.readouterr().err
    assert _digest(path) == stamp
    with pytest.raises(UpgradingError, match="data/raw"):
        template.write_template(DATA_RAW / "template.xlsx")
    with pytest.raises(UpgradingError, match=".xlsx"):
        template.write_template(tmp_path / "template.csv")


def test_long_dropdown_lists_move_to_a_hidden_sheet(tmp_path, monkeypatch):
    monkeypatch.setattr(template, "INLINE_LIMIT", 50)
    book = template.build_workbook()
    assert book["lists"].sheet_state == "hidden"
    formulas = {dv.formula1 for dv in book["coding"].data_validations.dataValidation if dv.type == "list"}
    assert "'lists'!$A$2:$A$5" in formulas  # the four sectoral groups
    assert '"market,network,quasi_hierarchy,hierarchy,NR"' in formulas
