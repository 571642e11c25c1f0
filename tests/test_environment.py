"""One pinned dependency set: pyproject.toml's pins, requirements.txt and environment.yml agree."""

import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from helpers import readme_commands

from upgrading.paths import ROOT


def _lock() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_environment_yml_pins_equal_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip == _lock()


def test_every_lock_line_is_an_exact_pin():
    for line in _lock():
        assert re.match(r"^[A-Za-z0-9_.\-]+==[^\s;]+( ; .+)?$", line), line


def test_pyproject_pins_are_the_locked_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    locked = {}
    for line in _lock():
        name, version = line.split(" ;")[0].split("==")
        locked.setdefault(name.lower().replace("_", "-"), set()).add(version)
    for spec in direct:
        name, version = spec.split("==")
        name = re.sub(r"\[.*\]$", "", name)  # dask[distributed]: the extra's packages are locked on their own
        assert version in locked.get(name.lower().replace("_", "-"), set()), f"{spec} is not in requirements.txt"


def test_readme_installs_from_the_lock_into_dot_venv():
    setup, tests = readme_commands()
    assert "python3 -m venv .venv" in setup and "-r requirements.txt" in setup
    assert re.search(r"uv==\d+\.\d+\.\d+", setup), "the installer itself is pinned"
    assert setup.rstrip().endswith("upgrading run")
    assert "pytest" in tests and tests.startswith(".venv/bin/")


def test_the_test_processes_import_nbformat_without_the_iri_grammar():
    # `-p upgrading.start_up` (pyproject.toml) imported jsonschema before nbval did, in this worker too
    import jsonschema

    assert "rfc3987_syntax" not in sys.modules
    assert not {"iri", "iri-reference"} & set(jsonschema.FormatChecker.checkers)


@pytest.mark.slow
def test_the_command_line_imports_nbformat_without_the_iri_grammar_and_still_validates_notebooks():
    script = (
        "import sys\n"
        "from upgrading.compendium.cli import main\n"
        "main(['run', '--only', '99'])\n"  # refused (no such notebook), after the start-up and nbformat's import
        "import nbformat, jsonschema\n"
        "assert 'nbformat' in sys.modules and 'rfc3987_syntax' not in sys.modules\n"
        "nbformat.validate(nbformat.read('notebooks/01_codebook.ipynb', as_version=4))\n"
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code'})\n"
        "try: nbformat.validate(bad)\n"
        "except nbformat.ValidationError: print('invalid notebook refused')\n"
        "import rfc3987_syntax\n"  # the package itself can still be imported
        "print('iri' in jsonschema.FormatChecker.checkers)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[-3:] == ["invalid notebook refused", "False", ""]
