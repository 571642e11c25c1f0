"""One pinned dependency set: pyproject.toml's pins, requirements.txt and environment.yml agree."""

import re
import subprocess
import sys
import tomllib

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
    # `-p upgrading.compendium` (pyproject.toml) ran before nbval imported jsonschema, in this worker too
    assert "jsonschema" in sys.modules and "rfc3987_syntax" in sys.modules
    assert sys.modules["rfc3987_syntax"] is None


def test_the_command_line_imports_nbformat_without_the_iri_grammar_and_still_validates_notebooks():
    script = (
        "import sys; import upgrading.compendium.pipeline; import nbformat; "
        "nb = nbformat.read('notebooks/01_codebook.ipynb', as_version=4); nbformat.validate(nb); "
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code'}); "
        "failed = False\n"
        "try: nbformat.validate(bad)\n"
        "except nbformat.ValidationError: failed = True\n"
        "print(sys.modules['rfc3987_syntax'], failed)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["None", "True"]
