"""A static HTML report a reviewer opens offline, built with nbconvert.

Every notebook is rendered with its outputs; the index page (itself a notebook, rendered by the same
exporter) lists each exhibit of the registry (`data/exhibits.toml`) with its caption and the notebook and cell
that make it, states the data provenance (sheet,
checksum, simulated or not) and the environment (package versions). Remote script tags that nbconvert adds
(require.js, MathJax) are dropped: the notebooks use neither, and the report must not reach for the network.
"""

from __future__ import annotations

import platform
import re
import shutil
from importlib import metadata
from pathlib import Path

import nbformat

from .. import paths
from ..errors import UpgradingError
from . import codings, pipeline, registry, verify

REMOTE_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.I)
PACKAGES = (
    "upgrading",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbformat",
    "nbconvert",
    "pandera",
    "krippendorff",
    "openpyxl",
    "tabulate",
    "ipykernel",
)


def _exporter():
    """nbconvert's HTML exporter with the JupyterLab template; one serves every page of a report, so its template
    is compiled once (its pages are the same as those of one exporter per page)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab")


def _export(nb: nbformat.NotebookNode, exporter) -> str:
    html, _ = exporter.from_notebook_node(nb)
    return REMOTE_SCRIPT.sub("", html)


def _writing_cell(nb: nbformat.NotebookNode, exhibit: str) -> tuple[int, str] | None:
    """(number, id) of the cell whose output says it wrote `exhibit` (the `wrote <path>` line save_* prints)."""
    line = f"wrote {exhibit}"
    for number, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and line in out.get("text", "").splitlines():
                return number, cell.id
    return None


def exhibit_cells() -> list[dict]:
    """Each registered exhibit with its caption, notebook, and the number and id of the cell that writes it
    (None when the committed notebook shows no cell writing it, e.g. reliability without a second coder)."""
    notebooks = {p.name: p for p in pipeline.discover()}
    read: dict[str, nbformat.NotebookNode] = {}
    rows = []
    for exhibit, notebook, caption in registry.load().rows():
        if notebook not in read and notebook in notebooks:
            read[notebook] = nbformat.read(notebooks[notebook], as_version=4)
        found = _writing_cell(read[notebook], exhibit) if notebook in read else None
        rows.append(
            {
                "exhibit": exhibit,
                "notebook": notebook,
                "caption": caption,
                "cell": found[0] if found else None,
                "cell_id": found[1] if found else None,
            }
        )
    return rows


def _environment() -> list[tuple[str, str]]:
    versions = [("python", platform.python_version()), ("platform", platform.system() + " " + platform.machine())]
    for name in PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return versions


def _provenance() -> list[dict]:
    rows = []
    for sheet in verify.coding_sheets():
        path = paths.ROOT / sheet["path"]
        simulated = None
        if path.exists():
            from ..study.coding import is_simulated, load_cases

            simulated = is_simulated(load_cases(path, sheet=sheet.get("worksheet")))
        rows.append(
            {
                "sheet": sheet["path"],
                "worksheet": sheet.get("worksheet"),
                "sha256": sheet["sha256"],
                "simulated": simulated,
            }
        )
    return rows


def _provenance_lines() -> list[str]:
    """The report's "Data provenance" section: each coding sheet the manifest records, with its status, and a
    warning where the exhibits were not all made from the same coding (`codings.mismatches`)."""
    provenance = _provenance()
    lines = ["## Data provenance", ""]
    if not provenance:
        lines.append("No coding sheet is recorded in the manifest; run `upgrading run` first.")
    for row in provenance:
        status = (
            "**SIMULATED**: results illustrate the method and are not findings about Latin American clusters"
            if row["simulated"]
            else "coded data"
            if row["simulated"] is False
            else "file not present"
        )
        worksheet = f", worksheet `{row['worksheet']}`" if row["worksheet"] is not None else ""
        lines.append(f"- `{row['sheet']}`{worksheet} (SHA-256 `{row['sha256']}`): {status}.")
    for line in codings.mismatches(verify.load_manifest().get("exhibits", {})):
        lines += [
            "",
            f"**Warning: the exhibits were not all made from the same coding.** {line[:1].upper()}{line[1:]}.",
        ]
    return lines


def _index_notebook(pages: dict[str, str]) -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell(
            "# Upgrading in Latin American clusters: replication report\n\n"
            "Every notebook of the compendium rendered with its outputs, every exhibit traced to the notebook and "
            "cell that writes it, the data each was made from, and the software that made it. Generated by "
            "`upgrading report`; open offline."
        )
    ]
    cells.append(nbformat.v4.new_markdown_cell("\n".join(_provenance_lines())))
    table = ["## Notebooks", "", "| notebook | page |", "|---|---|"]
    for name, page in pages.items():
        table.append(f"| `{name}` | [{page}]({page}) |")
    cells.append(nbformat.v4.new_markdown_cell("\n".join(table)))
    rows = [
        "## Exhibits",
        "",
        "Every exhibit of the registry (`src/upgrading/data/exhibits.toml`), with its caption; "
        "each links to the file and to the cell that writes it.",
        "",
        "| exhibit | content | notebook | cell |",
        "|---|---|---|---|",
    ]
    for row in exhibit_cells():
        page = pages.get(row["notebook"])
        present = (paths.ROOT / row["exhibit"]).exists()
        file = f"[`{row['exhibit']}`]({row['exhibit']})" if present else f"`{row['exhibit']}` (not written)"
        notebook = f"[{row['notebook']}]({page})" if page else row["notebook"]
        cell = f"[cell {row['cell']}]({page}#cell-id={row['cell_id']})" if page and row["cell"] is not None else ""
        rows.append(f"| {file} | {row['caption']} | {notebook} | {cell} |")
    cells.append(nbformat.v4.new_markdown_cell("\n".join(rows)))
    env = ["## Environment", "", "| package | version |", "|---|---|"]
    env += [f"| {name} | {version} |" for name, version in _environment()]
    cells.append(nbformat.v4.new_markdown_cell("\n".join(env)))
    for number, cell in enumerate(cells):  # fixed ids, not nbformat's random ones: the same report every time
        cell.id = f"index-{number}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["title"] = "Replication report"
    return nb


#: The file that marks a folder as written by `build_report`: only such a folder (or an empty one) is replaced.
MARKER = ".upgrading-report"


#: What a report written before the marker existed holds: such a folder is a report too.
EARLIER_REPORT = {"index.html", "notebooks", "figures"}
#: The compendium's own folders, which never receive a report.
PROTECTED = ("notebooks", "figures", "data", "src", "tests", "benchmarks", ".git")


def _replaceable(out: Path) -> str | None:
    """Why `out` (resolved) may not receive the report (None: it may): the repository or a folder holding it, a
    folder of the compendium's own (figures/, data/, notebooks/, src/, ...), a file, or a folder with content that
    no report wrote (a user's files are never deleted)."""
    root = paths.ROOT.resolve()
    if out == root or root.is_relative_to(out):
        return "it is the repository or a folder holding it"
    if any(out.is_relative_to((root / folder).resolve()) for folder in PROTECTED):
        return "it is inside one of the compendium's own folders (figures/, data/, notebooks/, src/, ...)"
    if out.exists() and not out.is_dir():
        return "it is a file"
    if out.is_dir():
        content = {p.name for p in out.iterdir()}
        earlier = "index.html" in content and content <= EARLIER_REPORT
        if content and MARKER not in content and not earlier:
            return f"it is not empty and was not written by `upgrading report` (no {MARKER} file in it)"
    return None


def _clear(folder: Path) -> None:
    """Empty a folder an earlier report wrote, keeping the folder itself (a shell may be inside it)."""
    for item in folder.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def build_report(out_dir: str | Path) -> Path:
    """Write the report into `out_dir`: a new or empty folder, or one an earlier report wrote (marked by `MARKER`),
    whose content is then replaced; return the index page."""
    out = Path(out_dir).resolve()
    reason = _replaceable(out)
    if reason:
        raise UpgradingError(f"refusing to write the report into {out}: {reason}. Choose a new folder, such as report/")
    if out.exists():
        _clear(out)
    (out / "notebooks").mkdir(parents=True)
    (out / MARKER).write_text("written by `upgrading report`: rerunning it replaces this folder\n", encoding="utf-8")
    pages, exporter = {}, _exporter()
    for notebook in pipeline.discover():
        page = f"notebooks/{notebook.stem}.html"
        (out / page).write_text(_export(nbformat.read(notebook, as_version=4), exporter), encoding="utf-8")
        pages[notebook.name] = page
    shutil.copytree(paths.FIGURES, out / "figures")
    index = out / "index.html"
    index.write_text(_export(_index_notebook(pages), exporter), encoding="utf-8")
    return index
