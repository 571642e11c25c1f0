"""Repository-wide rules: exhibits listed in the README with their notebook, no machine paths committed."""

import getpass
import json
import re
from pathlib import Path

import nbformat

from helpers import exhibit_rows, git_tracked, readme_commands
from upgrading.compendium.paths import FIGURES, ROOT
from upgrading.compendium.pipeline import exhibits_written

ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|root|work|tmp|Users|mnt|opt|var/folders)/[\w.\-]+"
                           r"|[A-Za-z]:\\\\?(?:Users|Documents)")


def test_readme_first_block_has_exactly_two_commands():
    assert len(readme_commands()) == 2


def test_every_exhibit_is_listed_with_the_notebook_that_writes_it():
    rows = exhibit_rows()
    on_disk = sorted(f"figures/{p.name}" for p in FIGURES.iterdir() if p.is_file())
    assert on_disk, "no exhibits under figures/"
    missing = [f for f in on_disk if f not in rows]
    assert not missing, f"exhibits not in the README's exhibit list: {missing}"
    stale = [f for f in rows if not (ROOT / f).exists()]
    assert not stale, f"README lists exhibits that do not exist: {stale}"
    for exhibit, notebook in rows.items():
        written = exhibits_written(nbformat.read(ROOT / "notebooks" / notebook, as_version=4))
        assert exhibit in written, f"README says {notebook} writes {exhibit}, but its outputs do not show it"


def test_each_exhibit_comes_from_exactly_one_notebook():
    makers = {}
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for exhibit in exhibits_written(nbformat.read(nb, as_version=4)):
            assert makers.setdefault(exhibit, nb.name) == nb.name, f"{exhibit}: {makers[exhibit]} and {nb.name}"


def test_no_absolute_paths_or_user_names_in_committed_outputs():
    user = getpass.getuser()
    home = str(Path.home())
    offenders = []
    for rel in git_tracked("notebooks", "figures", "data", "README.md", "manifest.json"):
        path = ROOT / rel
        if path.suffix.lower() in {".png", ".pdf", ".xlsx"}:
            text = path.read_bytes().decode("latin-1")
        else:
            text = path.read_text(encoding="utf-8")
        if ABSOLUTE_PATH.search(text) or str(ROOT) in text or (home != "/" and home in text):
            offenders.append(rel)
        if user not in {"root", "runner", "user"} and re.search(rf"\b{re.escape(user)}\b", text):
            offenders.append(rel)
    assert not offenders, f"machine paths or user names in: {offenders}"


def test_notebooks_have_a_parameters_cell_and_clean_metadata():
    for rel in git_tracked("notebooks/*.ipynb"):
        raw = json.loads((ROOT / rel).read_text())
        tags = [c.get("metadata", {}).get("tags", []) for c in raw["cells"]]
        assert any("parameters" in t for t in tags), f"{rel} has no papermill parameters cell"
        assert "papermill" not in raw["metadata"], rel
        for cell in raw["cells"]:
            assert "execution" not in cell.get("metadata", {}), rel
            assert "papermill" not in cell.get("metadata", {}), rel
