"""`upgrading verify --rerun`: every notebook run again in a temporary copy of the compendium, with the parameters
it was last run with, and every exhibit whose fresh bytes differ from the committed ones named.

A run's parameters are its command line (`upgrading run --coding SHEET ...`), which the notebooks it wrote keep in
their injected-parameters cell; a plain `upgrading run` runs the declared defaults. So the rerun reads each
committed notebook's injected parameters and gives them back as `upgrading run` options (`rerun_commands`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import paths
from ..errors import UpgradingError
from .executed import RUN_OPTIONS, injected_parameters
from .pipeline import discover
from .verify import Report, sha256


def rerun_commands(root: Path, copy: Path) -> list[list[str]]:
    """The `upgrading` argument lists that remake the notebooks of the compendium at `root` in its copy at
    `copy`. One plain run where no notebook has injected parameters; one run with the options of the parameters
    where all were given by one command (every notebook that declares a parameter has it, the others none);
    otherwise one run per stretch of notebooks, in order, with the same parameters. A parameter given as None
    (`upgrading run --coding` sets `second_coder_path = None`) is what leaving out its option gives."""
    import papermill

    notebooks = discover(root / "notebooks")
    given = {}
    for notebook in notebooks:
        injected = injected_parameters(notebook)
        given[notebook] = {k: v for k, v in injected.items() if v is not None}
        unknown = sorted(set(injected) - set(RUN_OPTIONS))
        if unknown:
            raise UpgradingError(
                f"notebooks/{notebook.name} was run with parameters that `upgrading run` does not set "
                f"({', '.join(unknown)}), so a rerun cannot remake it; run it again with `upgrading run` first"
            )
    distinct = {tuple(sorted(p.items())) for p in given.values() if p}
    if not distinct:
        return [["run", "--quiet"]]  # every notebook on its defaults: one run, two notebooks at a time
    if len(distinct) == 1:
        (one,) = distinct
        declared = {nb: set(papermill.inspect_notebook(str(nb))) for nb in notebooks}
        if all(given[nb] == {k: v for k, v in one if k in declared[nb]} for nb in notebooks):
            return [["run", "--quiet", *_options(dict(one), root, copy)]]
    stretches: list[tuple[dict, list[str]]] = []
    for notebook in notebooks:
        if stretches and stretches[-1][0] == given[notebook]:
            stretches[-1][1].append(notebook.name[:2])
        else:
            stretches.append((given[notebook], [notebook.name[:2]]))
    return [["run", "--quiet", "--only", ",".join(numbers), *_options(p, root, copy)] for p, numbers in stretches]


def _options(given: dict, root: Path, copy: Path) -> list[str]:
    """`upgrading run` options for injected parameters; a sheet as the copy reaches it: its recorded path where
    the copy holds that file, else the original's absolute path."""
    options = []
    for name, option in RUN_OPTIONS.items():
        value = given.get(name)
        if value is None:
            continue
        if name.endswith("_path") and not (copy / value).is_file():
            value = str((root / value).resolve())
        options += [option, str(value)]
    return options


def _copy_compendium(target: Path, root: Path | None = None) -> None:
    """The compendium's files (git's tracked files that exist, else every file but the environment and caches)."""
    root = paths.ROOT if root is None else root
    try:
        files = (
            subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
            .stdout.decode()
            .split("\0")
        )
        files = [f for f in files if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "report", "__pycache__"}
        files = [
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(root).parts)
        ]
    for rel in files:
        if not (root / rel).is_file():  # tracked, but deleted (a run on a sheet without a second coding)
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target / rel)


def verify_rerun(echo=print) -> Report:
    """Rerun every notebook in a temporary copy, with the parameters it last ran with, and compare its fresh
    exhibits with the committed ones."""
    with tempfile.TemporaryDirectory(prefix="upgrading-verify-") as tmp:
        copy = Path(tmp) / "compendium"
        _copy_compendium(copy)
        env = dict(os.environ, PYTHONPATH=str(copy / "src"))
        echo("rerunning every notebook in a temporary copy (the committed files are not touched) ...")
        for command in rerun_commands(paths.ROOT, copy):
            result = subprocess.run(
                [sys.executable, "-m", "upgrading.compendium.cli", *command],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode != 0:
                raise UpgradingError("the rerun failed: " + (result.stderr.strip().splitlines() or ["?"])[-1])
        fresh = {p.relative_to(copy).as_posix(): sha256(p) for p in (copy / "figures").rglob("*") if p.is_file()}
    committed = {p.relative_to(paths.ROOT).as_posix(): sha256(p) for p in paths.FIGURES.rglob("*") if p.is_file()}
    report = Report()
    report.missing = sorted(set(committed) - set(fresh))
    report.extra = sorted(set(fresh) - set(committed))
    report.changed = sorted(p for p in set(fresh) & set(committed) if fresh[p] != committed[p])
    return report
