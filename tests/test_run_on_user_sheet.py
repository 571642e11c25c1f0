"""End to end: `upgrading run --coding PATH` validates a user's sheet, then reruns the notebooks on it.

Runs in a temporary copy of the repository, so the committed notebooks and exhibits are never touched.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import SIMULATED_SHEET_NAME, copy_repository, run_cli

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)


@pytest.fixture(scope="module")
def copy_of_repo(tmp_path_factory):
    return copy_repository(tmp_path_factory.mktemp("compendium"))


def _cli(repo, *args):
    return run_cli(*args, timeout=600, repo=repo)


def _raw_digests(repo):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (repo / "data" / "raw").iterdir()}


def test_the_copy_imports_its_own_package(copy_of_repo):
    env = dict(os.environ, PYTHONPATH=str(copy_of_repo / "src"))
    out = subprocess.run(
        [sys.executable, "-c", "from upgrading.paths import ROOT; print(ROOT)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str(copy_of_repo)


def test_a_bad_user_sheet_is_refused_before_any_notebook_runs(copy_of_repo, tmp_path):
    bad = tmp_path / "my_sheet.csv"
    frame = pd.read_csv(copy_of_repo / SIMULATED_SHEET_NAME)
    frame.loc[0, "governance"] = "Hierarchical"  # refused; "Hierarchy " would be read as hierarchy
    frame.loc[2, "product_upgrading"] = 5
    frame.to_csv(bad, index=False)
    before = hashlib.sha256((copy_of_repo / "notebooks/02_coding.ipynb").read_bytes()).hexdigest()
    result = _cli(copy_of_repo, "run", "--coding", str(bad), "--quiet")
    assert result.returncode == 2
    assert "2 problems" in result.stderr and "Traceback" not in result.stderr
    assert hashlib.sha256((copy_of_repo / "notebooks/02_coding.ipynb").read_bytes()).hexdigest() == before


def test_a_user_csv_runs_through_the_coding_notebook_without_a_second_coder(copy_of_repo, tmp_path):
    user = tmp_path / "my_coding.csv"
    frame = pd.read_csv(copy_of_repo / SIMULATED_SHEET_NAME)
    frame["case_id"] = [f"C{k:03d}" for k in range(len(frame))]
    frame["coding_source"] = "Author (2003), case study"
    frame["product_upgrading"] = 3 - frame["product_upgrading"]
    frame.to_csv(user, index=False)
    raw_before = _raw_digests(copy_of_repo)
    result = _cli(copy_of_repo, "run", "--coding", str(user), "--only", "02", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "02_coding.ipynb" in result.stdout
    assert _raw_digests(copy_of_repo) == raw_before, "data/raw must never be written by an analysis step"
    notebook = (copy_of_repo / "notebooks/02_coding.ipynb").read_text()
    assert "C000" in notebook and "SIMULATED DATA" not in notebook
    assert "No second coding was supplied" in notebook
    assert not (copy_of_repo / "figures/reliability.csv").exists()
    processed = pd.read_csv(copy_of_repo / "data/processed/cases.csv")
    assert list(processed["case_id"][:2]) == ["C000", "C001"]
    assert processed["product_upgrading"].mean() == pytest.approx(
        (3 - pd.read_csv(copy_of_repo / SIMULATED_SHEET_NAME)["product_upgrading"]).mean()
    )
    # the notebook and the manifest name the sheet from the repository root, not by this machine's absolute path
    relative = Path(os.path.relpath(user.resolve(), copy_of_repo.resolve())).as_posix()
    assert str(user) not in notebook and f'coding_path = \\"{relative}\\"' in notebook  # (JSON-escaped)
    manifest = json.loads((copy_of_repo / "manifest.json").read_text())
    assert {"path": relative, "sha256": hashlib.sha256(user.read_bytes()).hexdigest()} in (
        manifest["exhibits"]["figures/cases_left_out.csv"]["coding_sheets"]
    )
    # so `verify` finds the sheet again; 02 alone on it, 03-07 on the simulated sheet: two first codings, named with
    # the full runs that make them one (the user's sheet first: 02 is the lowest-numbered notebook made from it)
    result = _cli(copy_of_repo, "verify")
    runs = f"Rerun every notebook on one coding: `upgrading run --coding {relative}` or `upgrading run`"
    assert (
        result.returncode == 1 and "codings: the exhibits were made from 2 different first codings: " in result.stderr
    )
    assert f"{relative} (SHA-256 " in result.stderr and "...) by 02_coding.ipynb (2 exhibits); " in result.stderr
    assert runs in result.stderr
    with open(user, "a") as handle:
        handle.write("\n")
    result = _cli(copy_of_repo, "verify")
    assert result.returncode == 1 and f"{relative} changed since" in result.stderr
    assert "--only" not in result.stderr  # rerunning 02 alone would keep the compendium on two codings
    assert (
        "rerun 02_coding.ipynb (the exhibits were not all made from one coding: rerun every notebook on one, "
        f"`upgrading run --coding {relative}` or `upgrading run`)"
    ) in result.stderr
    # a later plain run is on the simulated sheet again, and the manifest says so
    assert _cli(copy_of_repo, "run", "--only", "02", "--quiet").returncode == 0
    notebook = (copy_of_repo / "notebooks/02_coding.ipynb").read_text()
    assert "C000" not in notebook and "injected-parameters" not in notebook
    assert _cli(copy_of_repo, "verify").returncode == 0
