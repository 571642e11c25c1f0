"""'Not reported' in a coding sheet: an empty cell, NR or 'not reported' (any case, surrounding spaces ignored) is
a missing value where the codebook allows one, counted in the report; near misses are refused with a suggestion;
collective efficiency follows its rule; typed cases hold missing values only where there are some."""

import hashlib

import pandas as pd
import pytest
from helpers import SIMULATED_SHEET, refused
from openpyxl import Workbook, load_workbook

from upgrading.compendium.cli import main
from upgrading.paths import DATA_PROCESSED
from upgrading.study import template
from upgrading.study.codebook import load_codebook
from upgrading.study.coding import load_sheet, to_cases, write_processed
from upgrading.study.sheet_report import CodingSheetError
from upgrading.study.validation import check_sheet

CB = load_codebook()
FRAME = pd.read_csv(SIMULATED_SHEET, dtype=str, keep_default_na=False).astype(object)
SCORES = [v.name for v in CB.variables if v.scale is not None]
NR_HINT = "did you mean 'NR' (not reported)?"


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv(tmp_path, frame, name="sheet.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def _workbook(path, frame):
    """`frame` as a workbook: digits as number cells, empty text as empty cells, anything else as typed."""
    book = Workbook()
    ws = book.active
    ws.title = "coding"
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([int(v) if v.isdigit() else (v or None) for v in row])
    book.save(path)
    return path


def _with_not_reported():
    """The simulated sheet with not-reported cells written every accepted way (rows 0-5: lines 2-7)."""
    frame = FRAME.copy()
    frame.loc[0, "functional_upgrading"] = ""
    frame.loc[1, "functional_upgrading"] = "NR"
    frame.loc[2, "functional_upgrading"] = " not reported "
    frame.loc[3, "governance"] = "Not Reported"
    frame.loc[4, "product_upgrading"] = "nr"
    frame.loc[5, "governance"] = "   "
    return frame


def test_empty_cells_and_declared_spellings_are_not_reported_and_counted_once_per_column(tmp_path):
    path = _csv(tmp_path, _with_not_reported())
    before = _digest(path)
    cases, report = load_sheet(path)
    assert _digest(path) == before
    assert len(cases) == 50
    assert cases["functional_upgrading"].isna().tolist()[:4] == [True, True, True, False]
    assert cases["governance"].isna().sum() == 2 and cases["product_upgrading"].isna().sum() == 1
    assert (
        cases.drop(columns=["functional_upgrading", "governance", "product_upgrading", "leader_driven"])
        .notna()
        .all()
        .all()
    )
    assert [str(n) for n in report.not_reported] == [
        "column governance: 2 cells read as not reported ('Not Reported' 1, empty 1) (first at line 5)",
        "column product_upgrading: 1 cell read as not reported ('nr' 1) (first at line 6)",
        "column functional_upgrading: 3 cells read as not reported (empty 1, 'NR' 1, ' not reported ' 1) "
        "(first at line 2)",
    ]
    assert report.normalisations == () and report.derivations == ()
    assert [line for line in report.lines() if line.startswith("not reported: ")] == [
        f"not reported: {n}" for n in report.not_reported
    ]


def test_a_workbook_reads_empty_cells_and_nr_as_not_reported_located_by_cell(tmp_path):
    path = _workbook(tmp_path / "coding.xlsx", _with_not_reported())
    cases, report = load_sheet(path)
    assert cases["functional_upgrading"].isna().sum() == 3 and cases["governance"].isna().sum() == 2
    governance, product, functional = report.not_reported
    assert (governance.first, governance.written) == ("line 5, cell G5", (("Not Reported", 1), ("", 1)))
    assert (functional.first, functional.cells) == ("line 2, cell J2", 3)
    assert product.written == (("nr", 1),)


@pytest.mark.parametrize("written", ["N/R", "n.a.", "-", "?", "NA", "na", "n/a", "None"])
@pytest.mark.parametrize("column", ["functional_upgrading", "governance"])
def test_near_misses_of_not_reported_are_refused_with_the_declared_spelling_suggested(tmp_path, written, column):
    frame = FRAME.copy()
    frame.loc[3, column] = written
    (problem,) = refused(_csv(tmp_path, frame), check_sheet)
    assert (problem.line, problem.case_id, problem.column, problem.value) == (5, "SIM-04", column, written)
    assert problem.message == ("unknown category" if column == "governance" else "wrong type: not a whole number")
    assert problem.hint == NR_HINT and NR_HINT in str(problem)


def test_near_misses_in_a_workbook_are_refused_with_the_suggestion(tmp_path):
    frame = FRAME.copy()
    frame.loc[0, "external_economies"] = "N/R"
    frame.loc[1, "governance"] = "-"
    problems = refused(_workbook(tmp_path / "bad.xlsx", frame), check_sheet)
    assert [(p.cell, p.value, p.hint) for p in problems] == [("D2", "N/R", NR_HINT), ("G3", "-", NR_HINT)]


@pytest.mark.parametrize("column", ["case_id", "sectoral_group", "industry", "coding_source"])
@pytest.mark.parametrize("written", ["", "NR", " not reported "])
def test_a_required_column_may_not_be_not_reported(tmp_path, column, written):
    frame = FRAME.copy()
    frame.loc[6, column] = written
    (problem,) = refused(_csv(tmp_path, frame), check_sheet)
    assert (problem.line, problem.column) == (8, column)
    if written:
        assert problem.message == f"not reported, but {column} may not be missing" and problem.value == written
    else:
        assert problem.message == "missing value" and problem.value is None


def _scores(frame, row, ee, ja, ce):
    for column, value in zip(("external_economies", "joint_actions", "collective_efficiency"), (ee, ja, ce)):
        frame.loc[row, column] = value


def test_collective_efficiency_not_reported_is_set_by_the_rule_and_reported(tmp_path):
    frame = FRAME.copy()
    _scores(frame, 0, "3", "2", "NR")  # floor((3 + 2 + 1) / 2) = 3
    _scores(frame, 1, "0", "1", "")  # floor((0 + 1 + 1) / 2) = 1
    _scores(frame, 2, "NR", "1", "NR")  # nothing to apply the rule to: stays not reported
    cases, report = load_sheet(_csv(tmp_path, frame))
    assert cases["collective_efficiency"].tolist()[:3] == [3, 1, pd.NA]
    (derived,) = [d for d in report.derivations if d.applied]
    assert (derived.column, derived.cells, derived.first) == ("collective_efficiency", 2, "line 2")
    line = next(line for line in report.lines() if line.startswith("derived: "))
    assert "column collective_efficiency" in line and "2 cells" in line
    assert "floor((external_economies + joint_actions + 1) / 2)" in line
    not_reported = {n.column: n.cells for n in report.not_reported}
    assert not_reported == {"external_economies": 1, "collective_efficiency": 1}  # the 2 set by the rule are not


def test_collective_efficiency_coded_with_a_component_not_reported_is_kept_and_reported(tmp_path):
    frame = FRAME.copy()
    _scores(frame, 0, "NR", "2", "3")
    _scores(frame, 1, "", "", "0")
    cases, report = load_sheet(_csv(tmp_path, frame))
    assert cases["collective_efficiency"].dtype == "int64" and cases["collective_efficiency"].tolist()[:2] == [3, 0]
    assert cases["external_economies"].isna().tolist()[:2] == [True, True]
    assert cases["joint_actions"].tolist()[:2] == [2, pd.NA]
    (kept,) = report.derivations
    assert (kept.applied, kept.cells, kept.first) == (False, 2, "line 2")
    assert any(
        line.startswith("not derived: column collective_efficiency: coded in 2 cells") for line in report.lines()
    )


def test_collective_efficiency_against_two_coded_components_is_still_an_error(tmp_path):
    frame = FRAME.copy()
    _scores(frame, 0, "3", "3", "1")
    _scores(frame, 1, "0", "NR", "3")  # a component not reported: not checked
    (problem,) = refused(_csv(tmp_path, frame), check_sheet)
    assert (problem.line, problem.column, problem.value) == (2, "collective_efficiency", "1")
    assert "codebook rule" in problem.message and problem.allowed.startswith("3 for")


def test_typed_cases_use_nullable_types_only_where_a_value_is_missing(tmp_path):
    cases, _ = load_sheet(_csv(tmp_path, _with_not_reported()))
    dtypes = {c: str(cases[c].dtype) for c in SCORES}
    assert dtypes == {c: "Int64" if c in ("product_upgrading", "functional_upgrading") else "int64" for c in SCORES}
    assert cases["functional_upgrading"].tolist()[:4] == [
        pd.NA,
        pd.NA,
        pd.NA,
        int(FRAME.loc[3, "functional_upgrading"]),
    ]
    governance = cases["governance"]
    assert isinstance(governance.dtype, pd.CategoricalDtype)
    assert list(governance.cat.categories) == list(CB.governance_levels)  # no category for "not reported"
    assert governance.isna().tolist()[3] and (governance.cat.codes[governance.isna()] == -1).all()
    leader = cases["leader_driven"]
    assert str(leader.dtype) == "Int64" and leader.isna().equals(governance.isna())
    coded = governance.notna()
    assert (leader[coded] == governance[coded].isin(CB.leader_levels).astype(int)).all()
    assert str(cases["sectoral_group"].dtype) == "category" and cases["sectoral_group"].notna().all()


def test_write_processed_writes_not_reported_as_an_empty_cell(tmp_path):
    cases, _ = load_sheet(_csv(tmp_path, _with_not_reported()))
    target = write_processed(cases, tmp_path / "out" / "cases.csv")
    written = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert written.loc[:2, "functional_upgrading"].tolist() == ["", "", ""]
    assert written.loc[3, "governance"] == written.loc[3, "leader_driven"] == ""
    assert written.loc[4, "product_upgrading"] == ""
    assert (
        (written.drop(columns=["functional_upgrading", "governance", "product_upgrading", "leader_driven"]) != "")
        .all()
        .all()
    )


def test_a_sheet_without_missing_codes_gives_exactly_todays_typed_cases_and_processed_csv(tmp_path):
    cases, report = load_sheet(SIMULATED_SHEET)
    assert report.not_reported == () and report.derivations == ()
    expected = {
        **{c: "int64" for c in SCORES},
        **{c: "category" for c in ("sectoral_group", "governance")},
        "leader_driven": "int64",
    }
    assert {c: str(cases[c].dtype) for c in expected} == expected
    assert str(cases["case_id"].dtype) == str(FRAME["case_id"].astype(str).dtype)
    target = write_processed(cases, tmp_path / "cases.csv")
    assert target.read_bytes() == (DATA_PROCESSED / "cases.csv").read_bytes()
    # typing the validated text frame directly gives the same frame as the one-call loader
    frame, _ = check_sheet(SIMULATED_SHEET)
    pd.testing.assert_frame_equal(to_cases(frame), cases, check_like=False)


def test_the_template_offers_nr_and_a_workbook_filled_with_nr_validates(tmp_path, capsys):
    path = template.write_template(tmp_path / "coding.xlsx")
    book = load_workbook(path)
    ws = book["coding"]
    column = {c.value: c.column for c in ws[1]}
    letter = {c.value: c.column_letter for c in ws[1]}
    validations = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert validations[f"{letter['governance']}2"].formula1.endswith(',NR"')
    assert '"NR"' in validations[f"{letter['functional_upgrading']}2"].formula1
    assert "NR" not in validations[f"{letter['sectoral_group']}2"].formula1  # required: no NR offered
    assert "Not reported by the case study" in ws[f"{letter['governance']}1"].comment.text
    assert "Required" in ws[f"{letter['industry']}1"].comment.text
    codebook_text = [str(c.value) for row in book["codebook"].iter_rows() for c in row if c.value is not None]
    assert any(t.startswith("Not reported: ") for t in codebook_text)
    for r, row in enumerate(FRAME.itertuples(index=False), start=2):
        for name in CB.columns:
            value = getattr(row, name)
            ws.cell(r, column[name]).value = int(value) if value.isdigit() else value
    ws.cell(2, column["functional_upgrading"]).value = "NR"
    ws.cell(3, column["governance"]).value = "NR"
    ws.cell(4, column["intersectoral_upgrading"]).value = "not reported"
    ws.cell(5, column["process_upgrading"]).value = None
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    assert main(["validate", str(filled)]) == 0
    out = capsys.readouterr().out
    assert "worksheet 'coding': valid coding sheet, 50 cases (simulated)" in out
    assert "  not reported: column governance: 1 cell read as not reported ('NR' 1) (first at line 3, cell G3)" in out
    assert (
        "  not reported: column process_upgrading: 1 cell read as not reported (empty 1) (first at line 5, cell I5)"
        in out
    )
    cases, _ = load_sheet(filled)
    assert cases["functional_upgrading"].isna().sum() == 1 and str(cases["functional_upgrading"].dtype) == "Int64"


def test_validate_prints_the_not_reported_lines_and_refuses_near_misses(tmp_path, capsys):
    good = _csv(tmp_path, _with_not_reported(), "incomplete.csv")
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "incomplete.csv: valid coding sheet, 50 cases (simulated)" in out
    assert out.count("  not reported: column ") == 3
    assert "not reported: column functional_upgrading: 3 cells read as not reported" in out
    frame = _with_not_reported()
    frame.loc[7, "governance"] = "N/A"
    frame.loc[8, "industry"] = "NR"
    bad = _csv(tmp_path, frame, "typo.csv")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err and "got 'N/A'" in err and NR_HINT in err
    assert "column industry: not reported, but industry may not be missing; got 'NR'" in err


def test_a_codebook_that_requires_collective_efficiency_never_derives_it(tmp_path):
    from importlib import resources

    from upgrading.study.codebook import parse

    text = (resources.files("upgrading") / "data" / "codebook.toml").read_text(encoding="utf-8")
    entry = text.index('name = "collective_efficiency"')
    end = text.index("may_be_missing = true", entry) + len("may_be_missing = true")
    strict = parse(text[:end].removesuffix("true") + "false" + text[end:])
    assert "collective_efficiency" not in strict.may_be_missing
    frame = FRAME.copy()
    _scores(frame, 0, "2", "2", "NR")
    with pytest.raises(CodingSheetError) as err:
        check_sheet(_csv(tmp_path, frame), codebook=strict)
    (problem,) = err.value.problems
    assert (problem.column, problem.message) == (
        "collective_efficiency",
        "not reported, but collective_efficiency may not be missing",
    )
    assert err.value.report.derivations == ()
