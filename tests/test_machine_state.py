"""No machine state in any committed output: notebook 01 rerun on "another machine" reproduces its committed copy.

The rerun goes through the project's own runner (`upgrading run --only 01`) in a temporary copy of the
compendium, under a different time zone, locale (with Python's locale coercion off), hash seed and number of
BLAS threads, with an empty home and empty XDG, matplotlib, IPython and Jupyter directories: nothing that an
earlier run left behind can help, and nothing about this machine may show. The notebook, its exhibits and
its manifest entries must come out byte for byte as committed.
"""

import os
import subprocess
import sys

import pytest
from helpers import git_tracked

from upgrading.paths import ROOT

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)

NOTEBOOK = "notebooks/01_codebook.ipynb"


def _new_machine_env(home):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "JUPYTER", "IPYTHON", "MPL", "LC_", "PYTHON", "OMP_", "OPENBLAS", "MKL"))
    }
    dirs = {
        "HOME": home,
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local/share",
        "XDG_RUNTIME_DIR": home / "run",
        "MPLCONFIGDIR": home / "mpl",
        "IPYTHONDIR": home / "ipython",
        "JUPYTER_CONFIG_DIR": home / "jupyter",
        "JUPYTER_DATA_DIR": home / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": home / "jupyter-runtime",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(
        {
            "TZ": "Pacific/Chatham",  # UTC+12:45 (+13:45 in summer): no machine runs in it by accident
            "LANG": "POSIX",
            "LC_ALL": "POSIX",
            "PYTHONCOERCECLOCALE": "0",  # an ASCII locale, not C.UTF-8
            "PYTHONHASHSEED": "4242",
            "OMP_NUM_THREADS": "2",
            "OPENBLAS_NUM_THREADS": "2",
        }
    )
    return env


def test_notebook_01_is_reproduced_byte_for_byte_on_a_new_machine(tmp_path):
    copy = tmp_path / "compendium"
    for rel in git_tracked("pyproject.toml", "manifest.json", "src", "notebooks", "figures", "data"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((ROOT / rel).read_bytes())
    env = _new_machine_env(tmp_path / "home")
    env["PYTHONPATH"] = str(copy / "src")  # the copy's package, so the copy's files are the ones written
    result = subprocess.run(
        [sys.executable, "-m", "upgrading.compendium.cli", "run", "--only", "01", "--quiet"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "01_codebook.ipynb: " in result.stdout and "4 exhibits" in result.stdout, result.stdout
    written = [
        f"figures/{name}" for name in ("codebook.csv", "codebook.md", "sectoral_groups.csv", "sectoral_groups.md")
    ]
    for rel in [NOTEBOOK, "manifest.json", *written]:
        assert (copy / rel).read_bytes() == (ROOT / rel).read_bytes(), f"{rel} differs on the new machine"
