"""Property-based: random corruptions never crash validation and are never accepted."""

import string

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upgrading.study.codebook import load_codebook
from upgrading.study.coding import CodingSheetError, validate
from upgrading.compendium.paths import DATA_RAW

GOOD_LINES = (DATA_RAW / "coding_sheet_simulated.csv").read_text().splitlines()
HEADER = GOOD_LINES[0].split(",")
CB = load_codebook()
INDUSTRIES = {g.code: set(g.all_industries) for g in CB.sectoral_groups}


def oracle_valid(header: list[str], rows: list[list[str]]) -> bool:
    """An independent, loop-based statement of the codebook's rules (the validator must agree)."""
    if header != list(CB.columns) or not rows:
        return False
    ids = [r[0].strip() for r in rows]
    if len(set(ids)) != len(ids):
        return False
    for r in rows:
        if len(r) != len(header):
            return False
        cell = {c: v.strip() for c, v in zip(header, r)}
        if any(v == "" for v in cell.values()):
            return False
        for v in CB.variables:
            if v.allowed and cell[v.name] not in {str(a) for a in v.allowed}:
                return False
        if cell["industry"] not in INDUSTRIES[cell["sectoral_group"]]:
            return False
        if (int(cell["external_economies"]) + int(cell["joint_actions"]) + 1) // 2 != int(cell["collective_efficiency"]):
            return False
        if not (cell["case_id"][0].isalnum() and all(ch.isalnum() or ch in "._-" for ch in cell["case_id"])):
            return False
    return True


junk = st.one_of(
    st.sampled_from(["", " ", "4", "-1", "2.5", "3.0", "high", "Market", "quasi-hierarchy", "NaN", "None",
                     "software", "SIM-01", "0", "1", "2", "3", "market", "hierarchy", "Footwear", "Software"]),
    st.text(alphabet=string.ascii_letters + string.digits + " _-.", max_size=12),
)


@st.composite
def corrupted(draw):
    rows = [line.split(",") for line in GOOD_LINES[1:]]
    header = list(HEADER)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cell", "cell", "cell", "drop_column", "rename_column", "duplicate_row"]))
        if kind == "cell":
            r, c = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
            rows[r][c] = draw(junk)
        elif kind == "drop_column" and len(header) > 2:
            c = draw(st.integers(0, len(header) - 1))
            header.pop(c)
            for row in rows:
                row.pop(c)
        elif kind == "rename_column":
            c = draw(st.integers(0, len(header) - 1))
            header[c] = draw(st.sampled_from(["governnace", "Case ID", "extra", header[c] + "_x"]))
        elif kind == "duplicate_row":
            rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
    return header, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corrupted())
def test_validate_never_crashes_and_never_accepts_an_invalid_value(tmp_path, case):
    header, rows = case
    if len(set(header)) != len(header):
        return  # a CSV with two columns of one name is not a sheet pandas can represent; see the next test
    path = tmp_path / "corrupted.csv"
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    path.write_text(text)
    try:
        validate(path)
        accepted = True
    except CodingSheetError as error:
        accepted = False
        assert error.problems and all(str(p) for p in error.problems)
    assert path.read_text() == text
    assert accepted == oracle_valid(header, rows)


def test_repeated_column_names_are_refused(tmp_path):
    path = tmp_path / "twice.csv"
    lines = list(GOOD_LINES)
    lines[0] = lines[0].replace("joint_actions", "external_economies")
    path.write_text("\n".join(lines) + "\n")
    try:
        validate(path)
    except CodingSheetError as error:
        assert any("joint_actions" in str(p) for p in error.problems)
    else:
        raise AssertionError("a sheet with a repeated column name was accepted")
