"""Small helpers shared by tests: the repository root and README parsing."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from upgrading.paths import ROOT

README = ROOT / "README.md"
#: The simulated sheets of record (first and second coder), where every test finds them: repository-relative (as
#: notebook parameters and messages name them) and absolute.
SIMULATED_SHEET_NAME = "data/raw/coding_sheet_simulated.csv"
SECOND_CODER_SHEET_NAME = "data/raw/coding_sheet_simulated_second_coder.csv"
SIMULATED_SHEET = ROOT / SIMULATED_SHEET_NAME
SECOND_CODER_SHEET = ROOT / SECOND_CODER_SHEET_NAME


def readme_commands() -> list[str]:
    """Non-comment lines of the README's first fenced code block."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def exhibit_rows() -> list[tuple[str, str, str]]:
    """README exhibit list: `| figures/NAME | NN_notebook.ipynb | caption |` rows as (exhibit, notebook, caption)."""
    pattern = r"^\|\s*`?(figures/[^`|\s]+)`?\s*\|\s*`?(\d\d_[a-z0-9_]+\.ipynb)`?\s*\|\s*(.*?)\s*\|\s*$"
    return [m.groups() for m in re.finditer(pattern, README.read_text(encoding="utf-8"), re.M)]


def git_tracked(*pathspecs: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *pathspecs], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line]


def run_cli(*args: str, timeout: int = 300, repo: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the `upgrading` console entry in a subprocess, as a user would (in `repo`, with its own package)."""
    env = dict(os.environ, PYTHONPATH=str(repo / "src")) if repo != ROOT else None
    return subprocess.run(
        [sys.executable, "-m", "upgrading.compendium.cli", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def copy_repository(target: Path) -> Path:
    """A copy of every tracked file, so that a test can run notebooks without touching the committed ones."""
    for rel in git_tracked():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target / rel)
    return target


def likert_columns() -> list[str]:
    """The codebook's 0-3 score columns, in codebook order (what a coder types as whole numbers)."""
    from upgrading.study.codebook import load_codebook

    return [v.name for v in load_codebook().variables if v.scale is not None]


#: R's reference for links, nominal effects, predictions and marginal effects (`reference/README.md`).
INTERPRETATION_REF = ROOT / "tests" / "reference" / "interpretation_ref.json"
SECTORAL_GROUPS = [
    "traditional_manufacturing",
    "natural_resource_based",
    "complex_product_systems",
    "specialised_suppliers",
]


def interpretation_case(name: str):
    """(R's reference case, its data typed as the R script types it)."""
    import json

    import pandas as pd

    case = json.loads(INTERPRETATION_REF.read_text())["cases"][name]
    if case["data"] == "wine.csv":
        data = pd.read_csv(ROOT / "tests" / "reference" / "wine.csv")
        data["temp"] = pd.Categorical(data["temp"], categories=["cold", "warm"])
        data["contact"] = pd.Categorical(data["contact"], categories=["no", "yes"])
    else:
        data = pd.read_csv(ROOT / "tests" / "reference" / "pooling" / case["data"])
        data["sectoral_group"] = pd.Categorical(data["sectoral_group"], categories=SECTORAL_GROUPS)
        data["leader_driven"] = data["governance"].isin(["quasi_hierarchy", "hierarchy"]).astype(int)
    return case, data


def r_parameter_name(name: str, nominal: bool = False) -> str:
    """Our parameter name as R's clm names it: 'temp[T.warm]' -> 'tempwarm'; with nominal effects a threshold
    'j|k' is 'j|k.(Intercept)' and 'j|k.contact[T.yes]' is 'j|k.contactyes'."""
    r = re.sub(r"\[T\.([^\]]+)\]", r"\1", name)
    if nominal and "|" in r and "." not in r:
        return f"{r}.(Intercept)"
    return r


def digest(path: Path) -> str:
    """sha256 of a file: to show a sheet was only read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refused(path: Path, check) -> list:
    """The problems `check` (validation) reports for an invalid sheet, which it must leave unchanged."""
    import pytest

    from upgrading.study.sheet_report import CodingSheetError

    before = digest(path)
    with pytest.raises(CodingSheetError) as err:
        check(path)
    assert digest(path) == before, "validation must never modify its input"
    return err.value.problems


def labelled_cases(simulated: bool, generated: bool = True):
    """An empty cases frame carrying the provenance a narrative reads (`coding.load_sheet` sets both): simulated,
    and, of a simulated sheet, whether the compendium's own simulator generated it (`coding.from_generator`)."""
    import pandas as pd

    cases = pd.DataFrame()
    cases.attrs.update(simulated=simulated, generated=simulated and generated)
    return cases
