"""Property-based: random corruptions never crash validation and are never accepted."""

import string

import pytest
from helpers import SIMULATED_SHEET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upgrading.study.codebook import load_codebook
from upgrading.study.sheet_report import CodingSheetError
from upgrading.study.validation import validate

GOOD_LINES = (SIMULATED_SHEET).read_text().splitlines()
HEADER = GOOD_LINES[0].split(",")
CB = load_codebook()
INDUSTRIES = {g.code: set(g.all_industries) for g in CB.sectoral_groups}
#: Stated here independently of the codebook: the columns that may never be "not reported", and how it is written.
REQUIRED = {"case_id", "sectoral_group", "industry", "coding_source"}
NOT_REPORTED = {"", "nr", "not reported"}  # after removing surrounding spaces, in any case


def _key(text: str) -> str:
    out, gap = "", False
    for ch in text.strip().lower():
        if ch.isspace() or ch in "-_":
            gap = True
            continue
        out += ("_" if gap and out else "") + ch
        gap = False
    return out


def _spelled(column: str, text: str) -> str | None:
    """The codebook spelling of a cell under the documented normalisation, or None when it is refused."""
    text = text.strip()
    variable = CB.variable(column)
    if variable.scale is not None:
        whole, _, zeros = text.partition(".")
        if whole.isdigit() and (not _ or (zeros and set(zeros) == {"0"})) and int(whole) in variable.scale.levels:
            return text if not _ else str(int(whole))
        return None
    choices = [str(a) for a in variable.allowed] or (
        sorted({i for g in INDUSTRIES.values() for i in g}) if column == "industry" else None
    )
    if choices is None:
        return text
    if text in choices:
        return text
    hits = [c for c in choices if _key(c) == _key(text)]
    return hits[0] if len(hits) == 1 else None


def oracle_valid(header: list[str], rows: list[list[str]]) -> bool:
    """An independent, loop-based statement of the codebook's rules and the documented normalisation
    (the validator must agree): whitespace stripped, whole numbers written 2.0 read as 2, categories and
    industries matched ignoring case, spaces, hyphens and underscores; extra columns ignored; an empty cell, NR
    or 'not reported' (any case) allowed outside the required columns, collective efficiency then checked only
    when it and both its components are coded."""
    exact = [h.strip() for h in header]
    named = {}  # column position -> codebook column: exact names first, then names equal but for spelling
    for k, h in enumerate(exact):
        if h in CB.columns:
            if h in named.values():
                return False  # a codebook column twice
            named[k] = h
    for k, h in enumerate(exact):
        if k not in named:
            hits = [c for c in CB.columns if _key(c) == _key(h)]
            if len(hits) == 1 and hits[0] not in named.values():
                named[k] = hits[0]
    if sorted(named.values()) != sorted(CB.columns):
        return False
    header = [named.get(k, f"ignored {k}") for k in range(len(header))]
    rows = [r for r in rows if any(v.strip() for v in r)]
    if not rows:
        return False
    ids = [r[header.index("case_id")].strip() for r in rows]
    if len(set(ids)) != len(ids):
        return False
    for r in rows:
        if len(r) != len(header):
            return False
        cell = {c: v for c, v in zip(header, r) if c in CB.columns}
        missing = {c for c, v in cell.items() if v.strip().lower() in NOT_REPORTED}
        if missing & REQUIRED:
            return False
        spelled = {c: _spelled(c, v) for c, v in cell.items() if c not in missing}
        if any(v is None for v in spelled.values()):
            return False
        if spelled["industry"] not in INDUSTRIES[spelled["sectoral_group"]]:
            return False
        scores = ("external_economies", "joint_actions", "collective_efficiency")
        if not missing & set(scores):
            ee, ja, ce = (int(spelled[c]) for c in scores)
            if (ee + ja + 1) // 2 != ce:
                return False
    return True


junk = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "4",
            "-1",
            "2.5",
            "3.0",
            "high",
            "Market",
            "quasi-hierarchy",
            "NaN",
            "None",
            "NR",
            " not reported ",
            "Not Reported",
            "N/R",
            "n.a.",
            "NA",
            "-",
            "software",
            "SIM-01",
            "0",
            "1",
            "2",
            "3",
            "market",
            "hierarchy",
            "Footwear",
            "Software",
        ]
    ),
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


@pytest.mark.slow
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
