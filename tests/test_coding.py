"""Validation of coding sheets: every kind of bad sheet refused, every problem located, input untouched."""

import hashlib
import shutil

import pandas as pd
import pytest
from helpers import SIMULATED_SHEET, SIMULATED_SHEET_NAME, refused

from upgrading.compendium.cli import main
from upgrading.study.coding import load_cases
from upgrading.study.sheet_report import CodingSheetError
from upgrading.study.spelling import did_you_mean
from upgrading.study.validation import validate

GOOD = SIMULATED_SHEET


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sheet(tmp_path):
    """A writable copy of the good sheet, as text rows."""
    lines = GOOD.read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]

    def write(hdr=None, body=None, name="sheet.csv"):
        path = tmp_path / name
        path.write_text("\n".join(",".join(r) for r in [hdr or header, *(body if body is not None else rows)]) + "\n")
        return path

    return header, rows, write


def test_good_sheet_validates_and_is_unchanged():
    before = _digest(GOOD)
    frame = validate(GOOD)
    assert len(frame) == 50
    assert _digest(GOOD) == before


def test_kind_1_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    (problem,) = refused(path, validate)
    assert "empty" in problem.message


def test_kind_1b_header_only(sheet):
    header, rows, write = sheet
    (problem,) = refused(write(body=[]), validate)
    assert "no cases" in problem.message


def test_kind_2_binary_and_non_csv_files(tmp_path):
    binary = tmp_path / "sheet.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    assert "binary" in refused(binary, validate)[0].message
    latin = tmp_path / "latin.csv"
    latin.write_bytes("case_id\nCaf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in refused(latin, validate)[0].message
    zipped = tmp_path / "workbook.csv"
    pd.read_csv(GOOD).to_excel(tmp_path / "real.xlsx", index=False)
    shutil.copy(tmp_path / "real.xlsx", zipped)
    assert "Excel workbook" in refused(zipped, validate)[0].message


def test_kind_3_missing_columns_with_the_misspelt_one_named(sheet):
    header, rows, write = sheet
    k = header.index("governance")
    hdr = [*header[:k], "governnace", *header[k + 1 :]]
    path = write(hdr=hdr)
    before = _digest(path)
    with pytest.raises(CodingSheetError) as err:
        validate(path)
    assert _digest(path) == before
    (problem,) = err.value.problems
    assert "required column 'governance' is missing" in str(problem) and "is it 'governnace'?" in str(problem)
    assert problem.line == 1
    (ignored,) = err.value.report.ignored_columns
    assert ignored.name == "governnace" and ignored.hint == "did you mean 'governance'?"


def test_kind_4_out_of_range_and_wrong_type_all_reported_at_once(sheet):
    header, rows, write = sheet
    rows[0][header.index("product_upgrading")] = "4"
    rows[1][header.index("process_upgrading")] = "2.5"
    rows[2][header.index("joint_actions")] = "high"
    rows[3][header.index("external_economies")] = "-1"
    problems = refused(write(), validate)
    found = {(p.line, p.case_id, p.column, p.value) for p in problems}
    assert (2, "SIM-01", "product_upgrading", "4") in found
    assert (3, "SIM-02", "process_upgrading", "2.5") in found
    assert (4, "SIM-03", "joint_actions", "high") in found
    assert (5, "SIM-04", "external_economies", "-1") in found
    kinds = {p.column: p.message for p in problems}
    assert kinds["product_upgrading"] == "out of range" and kinds["joint_actions"].startswith("wrong type")
    assert all("0 (absent)" in p.allowed for p in problems if p.column != "collective_efficiency")


def test_kind_5_unknown_categories_with_did_you_mean(sheet):
    header, rows, write = sheet
    rows[0][header.index("governance")] = "Quasi-Hierarchi"
    rows[1][header.index("sectoral_group")] = "software"
    rows[2][header.index("industry")] = "Textiles"
    problems = {p.column: p for p in refused(write(), validate)}
    assert problems["governance"].hint == "did you mean 'quasi_hierarchy'?"
    assert problems["governance"].value == "Quasi-Hierarchi"
    assert "market, network, quasi_hierarchy, hierarchy" in problems["governance"].allowed
    assert problems["sectoral_group"].value == "software"
    assert problems["industry"].hint == "did you mean 'Textile and garments'?"


def test_kind_6_missing_values_where_the_codebook_requires_a_value(sheet):
    header, rows, write = sheet
    rows[4][header.index("governance")] = ""  # governance may be not reported: no problem
    rows[5][header.index("coding_source")] = "  "
    rows[6][header.index("sectoral_group")] = ""
    rows[7][header.index("industry")] = "NR"
    rows[8][header.index("case_id")] = " "
    problems = refused(write(), validate)
    assert {(p.line, p.column, p.message) for p in problems} == {
        (7, "coding_source", "missing value"),
        (8, "sectoral_group", "missing value"),
        (9, "industry", "not reported, but industry may not be missing"),
        (10, "case_id", "missing value"),
    }


def test_kind_7_duplicate_case_ids(sheet):
    header, rows, write = sheet
    rows[9][0] = rows[2][0]
    (problem,) = refused(write(), validate)
    assert (problem.line, problem.case_id, problem.message) == (11, "SIM-03", "duplicate case id")
    assert problem.hint == "first used on line 4"


def test_cross_column_rules(sheet):
    header, rows, write = sheet
    rows[0][header.index("collective_efficiency")] = str((int(rows[0][header.index("collective_efficiency")]) + 1) % 4)
    rows[1][header.index("industry")] = "Software"  # a traditional-manufacturing case
    problems = {p.column: p for p in refused(write(), validate)}
    assert "codebook rule" in problems["collective_efficiency"].message
    assert "industries of traditional_manufacturing" in problems["industry"].message


def test_xlsx_sheets_are_read_with_line_numbers(tmp_path):
    frame = pd.read_csv(GOOD)
    good = tmp_path / "coding.xlsx"
    frame.to_excel(good, index=False)
    assert len(validate(good)) == 50
    frame.loc[3, "governance"] = "hierarchical"
    bad = tmp_path / "bad.xlsx"
    frame.to_excel(bad, index=False)
    (problem,) = refused(bad, validate)
    assert (problem.line, problem.column, problem.hint) == (5, "governance", "did you mean 'hierarchy'?")


def test_typed_cases():
    cases = load_cases(GOOD)
    assert cases["product_upgrading"].dtype == "int64"
    assert list(cases["governance"].cat.categories) == ["market", "network", "quasi_hierarchy", "hierarchy"]
    assert set(cases["leader_driven"]) <= {0, 1}
    assert (cases["leader_driven"] == cases["governance"].isin(["quasi_hierarchy", "hierarchy"])).all()
    assert cases.attrs["source_file"] == SIMULATED_SHEET_NAME


def test_did_you_mean_stays_quiet_for_nonsense():
    assert did_you_mean("zzzz", ["market", "network"]) is None


def test_cli_validate_reports_all_problems_without_traceback(sheet, capsys):
    header, rows, write = sheet
    rows[0][header.index("governance")] = "marker"
    rows[1][header.index("product_upgrading")] = "9"
    path = write()
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err and "did you mean 'market'" in err and str(path) in err
    assert "Traceback" not in err
    assert main(["validate", str(GOOD)]) == 0
    assert "50 cases (simulated)" in capsys.readouterr().out
