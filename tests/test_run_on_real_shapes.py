"""End to end on a sheet shaped like a real one: `upgrading run --coding` on a coding workbook made with
`upgrading template` and filled in with openpyxl (three sectoral groups, one of two cases, a notes column, codes
not reported as empty cells and `NR`), with a second coder who coded a subsample in a second worksheet of the same
workbook (and left some codes not reported too). Runs in a temporary copy of the repository."""

import hashlib
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from helpers import SIMULATED_SHEET, copy_repository, likert_columns, run_cli
from openpyxl import load_workbook

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)

SIMULATED = pd.read_csv(SIMULATED_SHEET)
SCORES = likert_columns()


#: Cells left not reported in the workbook: (column, as written), at these positions among the cases outside the
#: two-case group.
NOT_REPORTED = [("intersectoral_upgrading", None), ("governance", "NR"), ("functional_upgrading", "not reported")]
NOT_REPORTED_ROWS = [3, 5, 7]
#: The double-coded cases (rows of the workbook's coding, every third) whose governance the second coder did not report.
SECOND_NR = [9, 24]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cell(value):
    """A workbook cell's value from a pandas one: empty where not reported, whole numbers as integers."""
    if pd.isna(value):
        return None
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) else value


def _cli(repo, *args):
    return run_cli(*args, timeout=900, repo=repo)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    repo = copy_repository(tmp_path_factory.mktemp("compendium"))
    user = tmp_path_factory.mktemp("user")
    chosen = SIMULATED[SIMULATED["sectoral_group"] != "specialised_suppliers"]
    cps = chosen.index[chosen["sectoral_group"] == "complex_product_systems"]
    chosen = chosen.drop(index=cps[2:]).reset_index(drop=True)  # complex product systems: two cases
    cases_list = user / "cases.csv"
    chosen.assign(case_id=[f"Cluster {k + 1}" for k in range(len(chosen))])[
        ["case_id", "sectoral_group", "industry"]
    ].to_csv(cases_list, index=False)
    workbook = user / "coding.xlsx"
    assert _cli(repo, "template", str(workbook), "--cases", str(cases_list)).returncode == 0
    book = load_workbook(workbook)
    ws = book["coding"]
    column = {c.value: c.column for c in ws[1]}
    for r, row in enumerate(chosen.itertuples(index=False), start=2):
        for name in SCORES:
            ws.cell(r, column[name]).value = int(getattr(row, name))
        ws.cell(r, column["governance"]).value = row.governance
        ws.cell(r, column["coding_source"]).value = "Coder A (2026), from the published case study"
    for offset, (name, written) in zip(NOT_REPORTED_ROWS, NOT_REPORTED):  # a larger group's cases
        ws.cell(2 + int(chosen.index[chosen["sectoral_group"] != "complex_product_systems"][offset]),
                column[name]).value = written  # fmt: skip
    ws.cell(1, len(column) + 1).value = "notes"
    ws.cell(3, len(column) + 1).value = "export share unclear"
    book.save(workbook)
    coded = pd.read_excel(workbook, sheet_name="coding").drop(columns="notes")
    sub = coded.iloc[::3].copy()  # a third of the cases double-coded, in a worksheet of the same workbook
    sub.loc[sub.index[0], "product_upgrading"] = (sub["product_upgrading"].iloc[0] + 1) % 4
    sub["governance"] = sub["governance"].where(sub["governance"].isna() | ~sub.index.isin(SECOND_NR), "NR")
    ws = book.create_sheet("second_coder")
    ws.append(list(sub.columns))
    for row in sub.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    book.save(workbook)
    digests = {p: _digest(p) for p in (workbook, cases_list)}
    raw = {p.name: _digest(p) for p in (repo / "data/raw").iterdir()}
    result = _cli(
        repo, "run", "--coding", str(workbook), "--sheet", "coding", "--second-coder", str(workbook),
        "--second-coder-sheet", "second_coder", "--only", "02,03,04,05,06", "--quiet",
    )  # fmt: skip
    return repo, result, digests, raw, len(coded), len(sub)


def test_the_run_succeeds_and_no_cell_fails(run):
    repo, result, *_ = run
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("02_coding", "03_descriptives", "04_models", "05_claims", "06_robustness"):
        nb = nbformat.read(repo / "notebooks" / f"{name}.ipynb", 4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        assert not [o for o in outputs if o.get("name") == "stderr"], name


def test_inputs_and_raw_data_are_untouched(run):
    repo, _, digests, raw, *_ = run
    assert {p: _digest(p) for p in digests} == digests, "the user's files are only read"
    assert {p.name: _digest(p) for p in (repo / "data/raw").iterdir()} == raw, "data/raw is never written"


def test_reliability_is_computed_on_the_double_coded_subsample(run):
    repo, _, _, _, n_cases, n_second = run
    table = pd.read_csv(repo / "figures/reliability.csv")
    assert set(table["cases"]) == {n_second} and set(table["data"]) == {"coded"}
    assert f"{n_second} of the {n_cases} cases" in (repo / "figures/reliability.md").read_text()
    assert "were coded by both coders" in (repo / "notebooks/02_coding.ipynb").read_text()


def test_groups_absent_or_tiny_keep_rows_with_their_reason(run):
    repo, *_ = run
    estimates = pd.read_csv(repo / "figures/model_estimates.csv")
    by_group = estimates[estimates["model"] == "by_group"]
    absent = by_group[by_group["sectoral_group"] == "specialised_suppliers"]
    assert len(absent) and absent["note"].str.startswith("no cases in this group").all()
    exact = pd.read_csv(repo / "figures/exact_tests.csv")
    tiny = exact[exact["sectoral_group"] == "complex_product_systems"]
    tested = tiny["reason"].fillna("") == ""  # two cases are tested exactly: both arrangements as extreme, p = 1
    assert tested.any() and (tiny.loc[tested, "p_value"] == 1.0).all()
    assert tiny.loc[~tested, "reason"].str.endswith("constant in the group").all()
    verdicts = pd.read_csv(repo / "figures/claims_verdicts.csv")
    soft = verdicts[verdicts["sectoral_group"] == "specialised_suppliers"]
    assert (soft["fit"] == "not estimable").all() and soft["note"].notna().all()


def test_descriptives_are_labelled_as_coded_data_and_computed_on_the_users_cases(run):
    repo, *_ = run
    table = pd.read_csv(repo / "figures/upgrading_by_group.csv")
    assert set(table["data"]) == {"coded"}
    product = table[(table["form"] == "product_upgrading") & (table["sectoral_group"] == "all")]
    chosen = SIMULATED[SIMULATED["sectoral_group"] != "specialised_suppliers"]
    cps = chosen.index[chosen["sectoral_group"] == "complex_product_systems"]
    expected = chosen.drop(index=cps[2:])["product_upgrading"].mean()
    assert product["mean"].iloc[0] == pytest.approx(expected, abs=5e-6)  # the table keeps 6 digits


def test_codes_not_reported_are_left_out_per_form_and_every_model_says_how_many_it_used(run):
    repo, _, _, _, n_cases, _ = run
    left_out = pd.read_csv(repo / "figures/cases_left_out.csv")
    per_form = left_out.groupby("form")["case_id"].nunique().to_dict()
    # governance (every model) for one case; intersectoral and functional upgrading one more case each
    assert per_form == {
        "product_upgrading": 1,
        "process_upgrading": 1,
        "functional_upgrading": 2,
        "intersectoral_upgrading": 2,
    }
    assert set(left_out["data"]) == {"coded"}
    assert "governance" in set(left_out["not_reported"]) and "intersectoral_upgrading" in set(left_out["not_reported"])
    diagnostics = pd.read_csv(repo / "figures/model_diagnostics.csv")
    used = diagnostics.groupby("form")["cases"].max().to_dict()
    assert used == {form: n_cases - k for form, k in per_form.items()}
    assert diagnostics["note"].str.contains(f"of {n_cases} (", regex=False).all()
    notebook = (repo / "notebooks/02_coding.ipynb").read_text()
    assert "**Not reported**" in notebook and "governance in 1 of" in notebook
    upgrading = pd.read_csv(repo / "figures/upgrading_by_group.csv")
    intersectoral = upgrading[(upgrading["form"] == "intersectoral_upgrading") & (upgrading["sectoral_group"] == "all")]
    assert intersectoral[["cases", "not_reported"]].values.tolist() == [[n_cases - 1, 1]]


def test_robustness_crosses_both_codings_with_bounds_for_the_codes_not_reported(run):
    """Notebook 06 on the user's workbook and second coder: both codings, each with both missing-code bounds (the
    workbook leaves two outcome codes not reported), the primary specification equal to the claims check's verdicts,
    the second coding said to hold the double-coded cases, and the design rates at the sheet's own size."""
    repo, _, _, _, n_cases, n_second = run
    table = pd.read_csv(repo / "figures/claims_robustness.csv")
    assert set(table["data"]) == {"coded"} and set(table["coding"]) == {"first", "second"}
    assert {"missing at lowest", "missing at highest"} <= set(table.loc[table["coding"] == "first", "missing"])
    verdicts = pd.read_csv(repo / "figures/claims_verdicts.csv")
    primary = table[table["primary"]]
    assert list(primary["id"]) == list(verdicts["id"]) and list(primary["verdict"]) == list(verdicts["verdict"])
    assert table.loc[table["coding"] == "second", "note"].str.contains(f"{n_second} of {n_cases} cases").all()
    summary = pd.read_csv(repo / "figures/claims_robustness_summary.csv")
    assert len(summary) == len(verdicts) and summary["label"].notna().all()
    assert summary["design_note"].str.contains(f"{n_cases} cases|not scored", regex=True).all()
    assert "**SIMULATED DATA" not in (repo / "notebooks/06_robustness.ipynb").read_text()
    both = f"first coding coding.xlsx, worksheet 'coding', {n_cases} cases; second coding coding.xlsx, worksheet"
    for name in ("claims_robustness.md", "claims_robustness_summary.md"):
        assert f"**Coded data: {both} 'second_coder', {n_second} cases.**" in (repo / "figures" / name).read_text()


def test_both_worksheets_are_named_in_the_reliability_exhibits_the_notebook_and_the_manifest(run):
    """The reliability exhibits name both codings, each with its file and worksheet; notebook 02 shows the second
    coder's worksheet as read (their codes not reported too); the manifest records each worksheet; `verify` names
    the workbook's codings of 02-06 beside the simulated ones of 07, with the runs that make them one."""
    repo, _, digests, _, n_cases, n_second = run
    label = (
        f"Coded data: first coding coding.xlsx, worksheet 'coding', {n_cases} cases; second coding coding.xlsx, "
        f"worksheet 'second_coder', {n_second} cases."
    )
    for exhibit in ("reliability.md", "disagreements.md"):
        assert f"**{label}**" in (repo / "figures" / exhibit).read_text(), exhibit
    notebook = nbformat.read(repo / "notebooks/02_coding.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert f"coding.xlsx, worksheet 'second_coder': {n_second} cases" in printed
    assert "not reported: column governance: 2 cells" in printed.split("worksheet 'second_coder'")[1]
    governance = pd.read_csv(repo / "figures/reliability.csv").set_index("variable").loc["governance"]
    columns = ["cases", "pairs", "disagreements", "code_vs_not_reported", "exact_agreement"]
    assert governance[columns].tolist() == [n_second, n_second - 2, 0, 2, 1]  # the codes both report agree
    workbook = next(path for path in digests if path.name == "coding.xlsx")
    relative = Path(os.path.relpath(workbook.resolve(), repo.resolve())).as_posix()
    manifest = json.loads((repo / "manifest.json").read_text())
    assert manifest["exhibits"]["figures/reliability.csv"]["coding_sheets"] == [
        {"path": relative, "sha256": digests[workbook], "worksheet": "coding"},
        {"path": relative, "sha256": digests[workbook], "worksheet": "second_coder"},
    ]
    result = _cli(repo, "verify")
    assert result.returncode == 1
    assert "2 different first codings" in result.stderr and "2 different second codings" in result.stderr
    assert (
        f"`upgrading run --coding {relative} --sheet coding --second-coder {relative} --second-coder-sheet "
        "second_coder` or `upgrading run`"
    ) in result.stderr
