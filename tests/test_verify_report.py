"""Reviewer kit: the manifest check, the HTML report (links and images resolve; in a real browser:
test_report_browser.py), CITATION.cff against the CFF 1.2.0 schema, Binder."""

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
import yaml
from helpers import SECOND_CODER_SHEET_NAME, SIMULATED_SHEET_NAME

from upgrading import paths
from upgrading.compendium import codings, registry, verify
from upgrading.compendium.cli import main
from upgrading.paths import ROOT


def test_committed_exhibits_match_the_manifest():
    report = verify.verify()
    assert report.ok, report.lines()


def _copy_figures(tmp_path):
    shutil.copytree(ROOT / "figures", tmp_path / "figures")
    shutil.copy(ROOT / verify.MANIFEST, tmp_path / verify.MANIFEST)
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path


@pytest.mark.parametrize("csv", sorted(p.name for p in (ROOT / "figures").glob("*.csv")))
def test_appending_a_line_to_any_csv_is_named(tmp_path, csv):
    root = _copy_figures(tmp_path)
    with open(root / "figures" / csv, "a") as handle:
        handle.write("tampered,row\n")
    report = verify.verify(root)
    assert report.changed == [f"figures/{csv}"] and not report.missing and not report.extra


def test_missing_and_extra_exhibits_are_named(tmp_path):
    root = _copy_figures(tmp_path)
    (root / "figures" / "codebook.md").unlink()
    (root / "figures" / "unlisted.png").write_bytes(b"x")
    report = verify.verify(root)
    assert report.missing == ["figures/codebook.md"] and report.extra == ["figures/unlisted.png"]


def test_a_changed_coding_sheet_names_the_exhibits_it_makes_stale_and_the_notebooks_to_rerun(tmp_path):
    root = _copy_figures(tmp_path)
    with open(root / SECOND_CODER_SHEET_NAME, "a") as handle:
        handle.write("\n")
    entries = verify.load_manifest(root)["exhibits"]
    made_from = sorted(
        e for e, entry in entries.items() if SECOND_CODER_SHEET_NAME in [s["path"] for s in entry["coding_sheets"]]
    )
    (line,) = verify.verify(root).stale_sheets
    named = line.split(" were made from it (")[1].split(")")[0].split(", ")
    assert named == [Path(e).name for e in made_from] and "figures/reliability.csv" in made_from
    assert "claims_verdicts.csv" not in named and "power_table.csv" not in named  # not made from it
    notebooks = sorted({entries[e]["notebook"] for e in made_from})
    assert line.startswith(f"{SECOND_CODER_SHEET_NAME} changed since {len(made_from)} exhibits")
    assert line.endswith(f"rerun {', '.join(notebooks)} (upgrading run --only {','.join(n[:2] for n in notebooks)})")


def test_editing_only_the_second_coders_sheet_leaves_the_exhibits_of_the_first_coding_fresh(tmp_path):
    """cases_left_out is made from the first coding alone (its registry entry reads `coding_path` only): the manifest
    records that sheet only, so a change to the second coder's sheet does not call it stale; reliability is."""
    root = _copy_figures(tmp_path)
    entries = verify.load_manifest(root)["exhibits"]
    for suffix in ("csv", "md"):
        assert [s["path"] for s in entries[f"figures/cases_left_out.{suffix}"]["coding_sheets"]] == [
            SIMULATED_SHEET_NAME
        ]
    with open(root / SECOND_CODER_SHEET_NAME, "a") as handle:
        handle.write("\n")
    (line,) = verify.verify(root).stale_sheets
    named = line.split(" were made from it (")[1].split(")")[0].split(", ")
    assert "reliability.csv" in named and "disagreements.md" in named
    assert not [name for name in named if name.startswith("cases_left_out")], named


def test_a_changed_first_coding_makes_pooling_power_stale_but_not_the_power_table(tmp_path):
    """pooling_power runs at the first coding's number of cases (notebook 07's `pooled_cases = None`), so the
    manifest records that sheet for it and a change to it calls it stale; power_table and power_curves cover every
    studied size whatever the sheet and stay fresh. Neither reads the second coder's sheet."""
    root = _copy_figures(tmp_path)
    entries = verify.load_manifest(root)["exhibits"]
    for suffix in ("csv", "md"):
        assert [s["path"] for s in entries[f"figures/pooling_power.{suffix}"]["coding_sheets"]] == [
            SIMULATED_SHEET_NAME
        ]
    notes = (root / "figures" / "pooling_power.md").read_text()
    assert "with 50 cases (the first coding's number of cases, or the nearest studied) and effect scale(s) 1 " in notes
    with open(root / SIMULATED_SHEET_NAME, "a") as handle:
        handle.write("\n")
    (line,) = verify.verify(root).stale_sheets
    named = line.split(" were made from it (")[1].split(")")[0].split(", ")
    assert "pooling_power.csv" in named and "pooling_power.md" in named
    assert not [name for name in named if name.startswith(("power_table", "power_curves"))], named
    shutil.copy(ROOT / SIMULATED_SHEET_NAME, root / SIMULATED_SHEET_NAME)  # the first coding as it was
    with open(root / SECOND_CODER_SHEET_NAME, "a") as handle:
        handle.write("\n")
    (line,) = verify.verify(root).stale_sheets
    assert "pooling_power" not in line


def _with_first_coding_of_02(root: Path, first: dict) -> dict:
    """The copy's manifest with every exhibit of notebook 02 made from `first` instead (as after
    `run --only 02 --coding ...`, which keeps the second coder's sheet); returns the manifest."""
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for entry in manifest["exhibits"].values():
        if entry["notebook"] == "02_coding.ipynb":
            entry["coding_sheets"] = [first, *entry["coding_sheets"][1:]]
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    return manifest


SIMULATED_DIGEST = verify.sha256(ROOT / SIMULATED_SHEET_NAME)
#: the notebooks made from the simulated first coding besides 02, with their exhibits made from a coding sheet (07's
#: power table and curves are simulated by design, made from no sheet: exempt; pooling_power runs at the sheet's size)
OTHER_NOTEBOOKS = (
    "03_descriptives.ipynb (12 exhibits), 04_models.ipynb (26 exhibits), 05_claims.ipynb (4 exhibits), "
    "06_robustness.ipynb (6 exhibits), 07_power.ipynb (6 exhibits)"
)


@pytest.mark.parametrize(
    "first, named, option",
    [
        ({"path": "B.csv", "sha256": "b" * 64}, "B.csv (SHA-256 bbbbbbbbbbbb...)", ["--coding", "B.csv"]),
        (  # another worksheet of one workbook: another coding
            {"path": SIMULATED_SHEET_NAME, "sha256": SIMULATED_DIGEST, "worksheet": "recoded"},
            f"{SIMULATED_SHEET_NAME}, worksheet 'recoded' (SHA-256 {SIMULATED_DIGEST[:12]}...)",
            ["--coding", SIMULATED_SHEET_NAME, "--sheet", "recoded"],
        ),
        (  # the same sheet as it was before an edit: another coding
            {"path": SIMULATED_SHEET_NAME, "sha256": "0" * 64},
            f"{SIMULATED_SHEET_NAME} (SHA-256 000000000000...)",
            ["--coding", SIMULATED_SHEET_NAME],
        ),
    ],
)
def test_exhibits_made_from_two_first_codings_fail_verify_naming_each_and_the_full_runs(
    tmp_path, monkeypatch, capsys, first, named, option
):
    """Notebook 02 run on another first coding than 03-07: verify fails, naming each coding (path, worksheet,
    checksum) with its notebooks and their exhibits, and the full runs, one per coding, that make them one."""
    root = _copy_figures(tmp_path)
    assert verify.verify(root).codings == []  # 02's exhibits name two sheets, 03's one: the same first coding
    _with_first_coding_of_02(root, first)
    report = verify.verify(root)
    (line,) = report.codings
    assert not report.ok and f"codings: {line}" in report.lines()
    full = f"`upgrading run {' '.join(option)} --second-coder {SECOND_CODER_SHEET_NAME}` or "
    runs = "`upgrading run`" if first["sha256"] == "0" * 64 else full + "`upgrading run`"  # an edit: the sheet now
    assert line == (
        f"the exhibits were made from 2 different first codings: {named} by 02_coding.ipynb (8 exhibits); "
        f"{SIMULATED_SHEET_NAME} (SHA-256 {SIMULATED_DIGEST[:12]}...) by {OTHER_NOTEBOOKS}. Rerun every notebook "
        f"on one coding: {runs}"
    )
    monkeypatch.setattr(verify, "verify", lambda: report)
    assert main(["verify"]) == 1
    assert f"  codings: {line}" in capsys.readouterr().err


def test_a_stale_sheet_of_a_compendium_of_two_codings_is_answered_with_a_full_run(tmp_path):
    """Rerunning only the notebooks a changed sheet makes stale, each with the parameters it last ran with, would
    keep 02 on its own coding: the stale line names the full runs instead of `run --only`."""
    root = _copy_figures(tmp_path)
    (root / "B.csv").write_text("case_id\n")
    _with_first_coding_of_02(root, {"path": "B.csv", "sha256": verify.sha256(root / "B.csv")})
    with open(root / SECOND_CODER_SHEET_NAME, "a") as handle:
        handle.write("\n")
    (line,) = verify.verify(root).stale_sheets
    assert "--only" not in line
    assert line.endswith(
        "the exhibits were not all made from one coding: rerun every notebook on one, "
        f"`upgrading run --coding B.csv --second-coder {SECOND_CODER_SHEET_NAME}` or `upgrading run`)"
    )


def test_two_second_codings_fail_verify_and_a_compendium_without_one_needs_no_option(tmp_path):
    """Reliability on one second coding, the robustness and coding-error exhibits on another: named as two second
    codings. Where no exhibit was made from a second coding, the full run gives none (`--coding` alone)."""
    root = _copy_figures(tmp_path)
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for exhibit, entry in manifest["exhibits"].items():
        if Path(exhibit).stem in ("reliability", "disagreements"):
            entry["coding_sheets"][1] = {"path": "D.csv", "sha256": "d" * 64}
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    (line,) = verify.verify(root).codings
    assert line.startswith(
        "the exhibits were made from 2 different second codings: D.csv (SHA-256 dddddddddddd...) by 02_coding.ipynb "
        f"(6 exhibits); {SECOND_CODER_SHEET_NAME} (SHA-256 "
    )
    assert line.endswith(f"`upgrading run --coding {SIMULATED_SHEET_NAME} --second-coder D.csv` or `upgrading run`")
    for entry in manifest["exhibits"].values():
        entry["coding_sheets"] = entry["coding_sheets"][:1]
    assert codings.full_runs(manifest["exhibits"]) == [f"upgrading run --coding {SIMULATED_SHEET_NAME}"]


def test_a_notebook_run_without_the_second_coding_the_others_had_fails_verify(tmp_path):
    """`upgrading run --only 06 --coding <the first coding>` (no `--second-coder`) beside notebooks 02 and 07 run
    with one: "no second coding" is a coding too (a cold review: verify passed)."""
    root = _copy_figures(tmp_path)
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for entry in manifest["exhibits"].values():
        if entry["notebook"] == "06_robustness.ipynb":
            entry["coding_sheets"] = entry["coding_sheets"][:1]
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    (line,) = verify.verify(root).codings
    assert line.startswith("the exhibits were made from 2 different second codings: ")
    assert "; no second coding by 06_robustness.ipynb (" in line
    assert line.endswith(f"`upgrading run` or `upgrading run --coding {SIMULATED_SHEET_NAME}`")
    # notebooks that read no second coding (03, 04, 05) never count as "no second coding"
    without = codings.used(manifest["exhibits"], "second_coder_path")[None]
    assert {manifest["exhibits"][e]["notebook"] for e in without} == {"06_robustness.ipynb"}


def test_the_report_warns_in_its_provenance_when_the_exhibits_name_two_first_codings(tmp_path, monkeypatch):
    from upgrading.compendium import report

    root = _copy_figures(tmp_path)
    manifest = _with_first_coding_of_02(root, {"path": "B.csv", "sha256": "b" * 64})
    monkeypatch.setattr(report.paths, "ROOT", root)
    monkeypatch.setattr(verify, "load_manifest", lambda root=None: manifest)
    lines = report._provenance_lines()
    (line,) = verify.verify(root).codings
    assert lines[-1] == (
        f"**Warning: the exhibits were not all made from the same coding.** {line[:1].upper()}{line[1:]}."
    )
    assert "- `B.csv` (SHA-256 `" + "b" * 64 + "`): file not present." in lines


def test_a_workbook_recorded_once_per_worksheet_counts_each_exhibit_once(tmp_path):
    """A workbook holding both codings is recorded twice per exhibit (one entry per worksheet): a change to it
    makes each exhibit stale once."""
    root = _copy_figures(tmp_path)
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for entry in manifest["exhibits"].values():
        entry["coding_sheets"] = [{"path": "both.xlsx", "sha256": "0" * 64}] * 2
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    (root / "both.xlsx").write_bytes(b"changed")
    (line,) = verify.verify(root).stale_sheets
    assert line.startswith(f"both.xlsx changed since {len(manifest['exhibits'])} exhibits were made from it (")


def test_a_recorded_sheet_that_is_not_found_is_named_but_is_no_mismatch(tmp_path, monkeypatch, capsys):
    root = _copy_figures(tmp_path)
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for exhibit in ("figures/reliability.csv", "figures/reliability.md"):
        manifest["exhibits"][exhibit]["coding_sheets"].append({"path": "../absent.xlsx", "sha256": "0" * 64})
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    report = verify.verify(root)
    assert report.ok and report.unchecked_sheets == [
        "../absent.xlsx was not found, so the 2 exhibits made from it could not be checked against it"
    ]
    assert verify.verify(_copy_figures(tmp_path / "clean")).unchecked_sheets == []
    monkeypatch.setattr(verify, "verify", lambda: report)
    assert main(["verify"]) == 0
    assert capsys.readouterr().out.startswith("note: ../absent.xlsx was not found")


def test_a_rerun_gives_each_notebook_the_parameters_it_last_ran_with(tmp_path):
    """`verify --rerun` remakes the notebooks as they were last run: on their defaults, one plain run; after one
    `run --coding SHEET`, one run with that option (notebooks that do not declare it get nothing from it, as
    then); after runs with different sheets, one run per stretch of notebooks with the same injected parameters.
    A sheet as the copy reaches it: its recorded path if the copy holds it, else the original's absolute path."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from upgrading.compendium import rerun
    from upgrading.errors import UpgradingError

    root, copy = tmp_path / "compendium", tmp_path / "copy"
    (root / "notebooks").mkdir(parents=True)
    (copy / "data" / "raw").mkdir(parents=True)
    (copy / "data" / "raw" / "mine.csv").write_text("id\n")
    good, second = str((tmp_path / "good.xlsx").resolve()), str((tmp_path / "second.csv").resolve())
    sheets = 'coding_path = "data/raw/simulated.csv"\nsecond_coder_path = "data/raw/second.csv"\ncoding_sheet = None'

    def write(name, injected=None):
        declared = new_code_cell(sheets if name != "01_a.ipynb" else "x = 1")
        declared.metadata["tags"] = ["parameters"]
        cells = [declared]
        if injected is not None:
            cells.append(new_code_cell("# Parameters\n" + injected))
            cells[-1].metadata["tags"] = ["injected-parameters"]
        nb = new_notebook(
            cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        )
        nbformat.write(nb, root / "notebooks" / name)

    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb", "04_d.ipynb"):
        write(name)
    assert rerun.rerun_commands(root, copy) == [["run", "--quiet"]]
    outside = 'coding_path = "../good.xlsx"\nsecond_coder_path = None\ncoding_sheet = "cases"\n'
    for name in ("02_b.ipynb", "03_c.ipynb", "04_d.ipynb"):
        write(name, outside)
    assert rerun.injected_parameters(root / "notebooks" / "02_b.ipynb") == {
        "coding_path": "../good.xlsx", "second_coder_path": None, "coding_sheet": "cases",
    }  # fmt: skip
    assert rerun.rerun_commands(root, copy) == [["run", "--quiet", "--coding", good, "--sheet", "cases"]]
    write("04_d.ipynb", 'coding_path = "data/raw/mine.csv"\nsecond_coder_path = "../second.csv"\n')
    assert rerun.rerun_commands(root, copy) == [
        ["run", "--quiet", "--only", "01"],
        ["run", "--quiet", "--only", "02,03", "--coding", good, "--sheet", "cases"],
        ["run", "--quiet", "--only", "04", "--coding", "data/raw/mine.csv", "--second-coder", second],
    ]
    write("04_d.ipynb")  # `run --coding ../good.xlsx --only 02,03`: 04 declares the sheet but ran on its default
    assert rerun.rerun_commands(root, copy) == [
        ["run", "--quiet", "--only", "01"],
        ["run", "--quiet", "--only", "02,03", "--coding", good, "--sheet", "cases"],
        ["run", "--quiet", "--only", "04"],
    ]
    write("01_a.ipynb", "replicates = 3\n")
    with pytest.raises(UpgradingError, match=r"01_a.ipynb was run with parameters .*\(replicates\)"):
        rerun.rerun_commands(root, copy)


def test_the_copy_for_a_rerun_leaves_out_tracked_files_a_run_deleted(tmp_path):
    import subprocess

    from upgrading.compendium import rerun

    root = tmp_path / "compendium"
    (root / "figures").mkdir(parents=True)
    for name in ("kept.csv", "deleted.csv"):
        (root / "figures" / name).write_text("data\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    (root / "figures" / "deleted.csv").unlink()  # as a run without a second coding removes reliability.*
    rerun._copy_compendium(tmp_path / "copy", root)
    assert sorted(p.name for p in (tmp_path / "copy").rglob("*") if p.is_file()) == ["kept.csv"]


def test_cli_verify_exit_codes(capsys):
    assert main(["verify"]) == 0
    assert "matches" in capsys.readouterr().out


def test_manifest_names_a_notebook_and_sheet_for_every_exhibit():
    entries = verify.load_manifest()["exhibits"]
    first, second = SIMULATED_SHEET_NAME, SECOND_CODER_SHEET_NAME
    for exhibit, entry in entries.items():
        assert (ROOT / "notebooks" / entry["notebook"]).exists(), exhibit
        sheets = [s["path"] for s in entry["coding_sheets"]]
        # 01 reads no sheet; 02 and 06 read both coders'; 07 simulates its own data by design (its power table and
        # curves declare `sheets = []`; pooling_power, at the first coding's size, `["coding_path"]`), and its
        # coding-error exhibits are calibrated to both coders' alphas
        declared = registry.load().exhibit_of(exhibit).sheets
        expected = (
            []
            if entry["notebook"].startswith("01_") or declared == ()
            else [first]
            if declared == ("coding_path",)  # cases_left_out: the first coding's cases; pooling_power: its size
            else [first, second]
            if entry["notebook"].startswith(("02_", "06_", "07_"))
            else [first]
        )
        assert sheets == expected, exhibit
        for sheet in entry["coding_sheets"]:
            assert sheet["sha256"] == verify.sha256(ROOT / sheet["path"])


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if tag in ("a", "img", "script", "link") and attrs.get(key):
                self.targets.append(attrs[key])


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    assert main(["report", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_pages_made_by_one_shared_exporter_are_those_of_a_new_exporter_per_page(report_dir):
    """One exporter writes every page of a report (its template compiled once): the pages written after others,
    the last notebooks' and the index, are byte for byte what a new exporter makes of that notebook alone."""
    import nbformat
    from nbconvert import HTMLExporter

    from upgrading.compendium import pipeline, report

    def alone(nb):
        return report.REMOTE_SCRIPT.sub("", HTMLExporter(template_name="lab").from_notebook_node(nb)[0])

    notebooks = pipeline.discover()
    for notebook in notebooks[-2:]:
        page = report_dir / "notebooks" / f"{notebook.stem}.html"
        assert page.read_text(encoding="utf-8") == alone(nbformat.read(notebook, as_version=4)), page.name
    pages = {n.name: f"notebooks/{n.stem}.html" for n in notebooks}
    assert (report_dir / "index.html").read_text(encoding="utf-8") == alone(report._index_notebook(pages))


@pytest.mark.slow
def test_report_links_and_images_resolve_offline(report_dir):
    pages = sorted(report_dir.rglob("*.html"))
    assert (report_dir / "index.html") in pages and len(pages) == 1 + len(list((ROOT / "notebooks").glob("*.ipynb")))
    parsed = {}
    for page in pages:
        links = _Links()
        links.feed(page.read_text(encoding="utf-8"))
        parsed[page] = links
    broken = []
    for page, links in parsed.items():
        for target in links.targets:
            url = urlparse(target)
            if url.scheme in ("http", "https"):
                broken.append(f"{page.name}: remote {target}")  # the report must work offline
                continue
            if url.scheme == "data" or target.startswith("#") and not url.path:
                continue
            path = (page.parent / unquote(url.path)).resolve()
            if not path.exists():
                broken.append(f"{page.name}: {target}")
            elif url.fragment and path.suffix == ".html":
                if unquote(url.fragment) not in parsed[path].ids:
                    broken.append(f"{page.name}: {target} (no such anchor)")
    assert not broken, broken


def test_report_index_maps_every_exhibit_and_states_provenance(report_dir):
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    for exhibit in verify.load_manifest()["exhibits"]:
        assert exhibit in index, exhibit
    assert "SIMULATED" in index and "SHA-256" in index and "statsmodels" in index
    assert str(ROOT) not in index


CFF_SCHEMA = Path(__file__).parent / "schemas" / "cff-1.2.0.schema.json"  # provenance: tests/schemas/README.md


def _cff_errors(cff: dict) -> list[str]:
    import jsonschema

    schema = json.loads(CFF_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(cff), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_citation_cff_is_valid_against_the_cff_1_2_0_schema():
    # read as CFF tools read it (YAML, safe loader): an unquoted date would load as a date and fail, as it should
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    errors = _cff_errors(cff)
    assert not errors, "CITATION.cff does not validate against the CFF 1.2.0 schema:\n" + "\n".join(errors)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{cff["version"]}"' in pyproject, "CITATION.cff and pyproject.toml disagree on the version"


def test_the_cff_schema_rejects_what_cff_forbids():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    broken = dict(cff, authors=[], license="Not-A-License", unknown_key=1)
    errors = "\n".join(_cff_errors(broken))
    assert "authors" in errors and "Not-A-License" in errors and "unknown_key" in errors, errors


def test_binder_can_build_from_environment_yml():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    post = (ROOT / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post


def test_the_manifest_records_no_coding_sheet_for_exhibits_simulated_by_design():
    entries = verify.load_manifest()["exhibits"]
    assert entries["figures/power_table.csv"]["coding_sheets"] == []
    assert [s["path"] for s in entries["figures/power_coding_error.csv"]["coding_sheets"]] == [
        SIMULATED_SHEET_NAME,
        SECOND_CODER_SHEET_NAME,
    ]


def test_the_report_never_deletes_a_folder_it_did_not_write(tmp_path, report_dir, capsys):
    """`--out` names a folder with a user's files, a file, the repository or one of its own folders (directly or
    through a symlink): refused, nothing deleted; a folder an earlier report wrote (its marker, or the layout of a
    report made before the marker) or an empty one may be replaced."""
    from upgrading.compendium import report

    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "thesis.txt").write_text("three years of work\n")
    assert main(["report", "--out", str(mine)]) != 0
    assert "not written by `upgrading report`" in " ".join(capsys.readouterr().err.split())
    assert (mine / "thesis.txt").read_text() == "three years of work\n"
    (tmp_path / "a file").write_text("x")
    for refused in (mine, tmp_path / "a file", ROOT / "src", ROOT):
        assert report._replaceable(refused.resolve()), refused
    (tmp_path / "empty").mkdir()
    assert report._replaceable(tmp_path / "empty") is None and report._replaceable(tmp_path / "new") is None
    assert report._replaceable((ROOT / "figures" / "report").resolve())  # a new folder inside the compendium's own
    (tmp_path / "raw link").symlink_to(ROOT / "data" / "raw")
    assert report._replaceable((tmp_path / "raw link" / "report").resolve())  # data/raw/ through a symlink
    earlier = tmp_path / "earlier"  # a report written before the marker existed
    (earlier / "notebooks").mkdir(parents=True)
    (earlier / "index.html").write_text("<html></html>")
    assert report._replaceable(earlier) is None
    assert (report_dir / report.MARKER).is_file() and report._replaceable(report_dir) is None


@pytest.mark.slow
def test_a_report_is_rewritten_in_place_over_an_earlier_one(report_dir):
    """Rerunning into the same folder replaces its content but keeps the folder (a shell may be inside it)."""
    inode = report_dir.stat().st_ino
    (report_dir / "stale.html").write_text("from an older report")
    assert main(["report", "--out", str(report_dir)]) == 0
    assert report_dir.stat().st_ino == inode and not (report_dir / "stale.html").exists()
    assert (report_dir / "index.html").is_file()


def _two_worksheet_workbook(path: Path) -> Path:
    """A workbook holding both codings, as a user keeps them: a coded first worksheet, a simulated second."""
    frame = pd.read_csv(ROOT / SIMULATED_SHEET_NAME, dtype=str, keep_default_na=False)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.assign(coding_source="Coder A, from the case study").to_excel(
            writer, sheet_name="first_coder", index=False
        )
        frame.to_excel(writer, sheet_name="second_coder", index=False)
    return path


def test_two_worksheets_of_one_workbook_are_two_manifest_entries_and_a_csv_entry_is_unchanged(tmp_path):
    """The manifest records the worksheet read (the one named, else the workbook's first), so the two codings of one
    workbook are two distinguishable entries; a CSV has no worksheet and its entry is path and checksum only, as
    before. The checksum is the whole file's."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    book = _two_worksheet_workbook(tmp_path / "my_coding.xlsx")
    cell = new_code_cell(
        f'coding_path = "{book}"\ncoding_sheet = "first_coder"\nsecond_coder_path = "{book}"\n'
        'second_coder_sheet = "second_coder"'
    )
    cell.metadata["tags"] = ["parameters"]
    notebook = tmp_path / "02_x.ipynb"
    nbformat.write(
        new_notebook(
            cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        ),
        notebook,
    )
    relative, digest = paths.from_root(book), verify.sha256(book)
    entries = verify._sheet_entries(verify._sheets_of(notebook, {}))
    assert entries == [
        {"path": relative, "sha256": digest, "worksheet": "first_coder"},
        {"path": relative, "sha256": digest, "worksheet": "second_coder"},
    ]
    first_only = verify._sheet_entries(verify._sheets_of(notebook, {"coding_sheet": None}, ("coding_path",)))
    assert first_only == [{"path": relative, "sha256": digest, "worksheet": "first_coder"}]  # the first, by name
    simulated = verify._sheet_entries([(SIMULATED_SHEET_NAME, None)])
    assert simulated == [{"path": SIMULATED_SHEET_NAME, "sha256": verify.sha256(ROOT / SIMULATED_SHEET_NAME)}]


def test_verify_and_the_report_index_read_each_worksheet_of_a_workbook(tmp_path, monkeypatch):
    """`verify` checks a workbook recorded once per worksheet against the file's checksum (unchanged: no mismatch;
    absent: each exhibit counted once in the note), and the report's provenance names each worksheet with its own
    status (the coded first worksheet is not called simulated because the second is)."""
    from upgrading.compendium import report

    root = _copy_figures(tmp_path / "copy")
    book = _two_worksheet_workbook(root / "both.xlsx")
    manifest = json.loads((root / verify.MANIFEST).read_text())
    for entry in manifest["exhibits"].values():
        entry["coding_sheets"] = [
            {"path": "both.xlsx", "sha256": verify.sha256(book), "worksheet": name}
            for name in ("first_coder", "second_coder")
        ]
    (root / verify.MANIFEST).write_text(json.dumps(manifest))
    result = verify.verify(root)
    assert result.ok and result.stale_sheets == [] and result.unchecked_sheets == []
    book.unlink()
    (note,) = verify.verify(root).unchecked_sheets
    assert note.startswith(f"both.xlsx was not found, so the {len(manifest['exhibits'])} exhibits made from it")
    assert [s["worksheet"] for s in verify.coding_sheets(manifest)] == ["first_coder", "second_coder"]
    _two_worksheet_workbook(book)
    monkeypatch.setattr(report.paths, "ROOT", root)
    monkeypatch.setattr(verify, "load_manifest", lambda root=None: manifest)
    rows = report._provenance()
    assert [(r["sheet"], r["worksheet"], r["simulated"]) for r in rows] == [
        ("both.xlsx", "first_coder", False),
        ("both.xlsx", "second_coder", True),
    ]
