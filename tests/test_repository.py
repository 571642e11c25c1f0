"""Repository-wide rules: the README's exhibit list is the registry's, no machine paths committed."""

import getpass
import json
import re
import shlex
from pathlib import Path

from helpers import exhibit_rows, git_tracked, readme_commands

from upgrading.compendium import registry
from upgrading.paths import FIGURES, ROOT

ABSOLUTE_PATH = re.compile(
    r"(?<![\w.])/(?:home|root|work|tmp|Users|mnt|opt|var/folders)/[\w.\-]+"
    r"|[A-Za-z]:\\\\?(?:Users|Documents)"
)


def test_readme_first_block_has_exactly_two_commands():
    assert len(readme_commands()) == 2


def test_readme_exhibit_list_is_the_registry():
    readme, declared = exhibit_rows(), registry.load().rows()
    assert [r[0] for r in readme] == [r[0] for r in declared], "README and registry list different exhibits"
    for row, expected in zip(readme, declared):
        assert row == expected, f"README row {row} differs from the registry's {expected}"
    assert registry.load().markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_committed_exhibits_are_exactly_the_registered_ones():
    on_disk = sorted(f"figures/{p.name}" for p in FIGURES.iterdir() if p.is_file())
    assert on_disk == sorted(registry.load().files())


def test_every_registered_notebook_exists():
    notebooks = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {e.notebook for e in registry.load().exhibits} <= notebooks


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


def test_every_module_handed_out_first_is_one_the_suite_collects():
    import tomllib

    from conftest import LONGEST_FIRST

    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    options = shlex.split(addopts)
    assert "--no-loadscope-reorder" in options  # else xdist reorders the modules and the order is lost
    line_2_tier = options[options.index("-m") + 1]
    assert set(LONGEST_FIRST) == {line_2_tier, "slow"}, "one order per tier: line 2's (-m in addopts) and the slower"
    for tier, modules in LONGEST_FIRST.items():
        assert len(set(modules)) == len(modules), tier
        for module in modules:
            assert (ROOT / module).is_file(), f"tests/conftest.py LONGEST_FIRST names {module}, which does not exist"


def test_line_2_and_the_readmes_second_bash_block_are_every_test_between_them():
    """`.ci/run` runs README line 2, then the one command of the README's second bash block: between them every test
    runs only if line 2 leaves out exactly the tests marked slow and that block selects exactly those."""
    import tomllib

    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    options = shlex.split(addopts)
    assert options[options.index("-m") + 1] == "not slow"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 2, "README: the slower tier's command is the second ```bash block, which .ci/run runs"
    commands = [ln.strip() for ln in blocks[1].splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(commands) == 1, commands
    assert shlex.split(commands[0]) == [".venv/bin/python", "-m", "pytest", "-m", "slow"], commands[0]
