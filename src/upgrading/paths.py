"""Where the compendium keeps its files, and the one way anything writes an output file.

The repository root is found from the package's own location (never from the cwd), on first use: importing
this module never fails, and only asking for a compendium path outside a clone raises an `UpgradingError`.
`ROOT`, `NOTEBOOKS`, `FIGURES`, `DATA_RAW` and `DATA_PROCESSED` are resolved lazily (PEP 562).

Every path a notebook prints goes through `relative()`, so no committed output holds a machine path, and every
output file goes through `write_output()`, which holds the two rules: nothing is written under `data/raw/`
(inputs only; the documented simulator is the one exception, and says so with `raw=True`), and a file is
rewritten only when its bytes change, so a rerun touches nothing. Where the environment names a write journal
(`WRITE_JOURNAL`, set by the notebook runner for each kernel), every file written is also listed there, so a run
of several notebooks at once knows which outputs are whose.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from .errors import UpgradingError

#: The compendium's folders, relative to the repository root.
FOLDERS = {
    "NOTEBOOKS": "notebooks",
    "FIGURES": "figures",
    "DATA_RAW": "data/raw",
    "DATA_PROCESSED": "data/processed",
    "DATA_INTERIM": "data/interim",
}


@cache
def root() -> Path:
    """The repository root: the first folder above the package holding `pyproject.toml` and `notebooks/`."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "notebooks").is_dir():
            return parent
    raise UpgradingError(
        "the upgrading package is not inside its compendium (no pyproject.toml and notebooks/ above it); "
        "install it with `pip install -e .` from a clone"
    )


def __getattr__(name: str) -> Path:
    if name == "ROOT":
        return root()
    if name in FOLDERS:
        return root() / FOLDERS[name]
    raise AttributeError(f"module 'upgrading.paths' has no attribute {name!r}")


def relative(path: str | Path) -> str:
    """The path as a reader should see it: relative to the repository root when inside it (POSIX form), else
    the file name only."""
    p = Path(path).resolve()
    try:
        return p.relative_to(root()).as_posix()
    except (ValueError, UpgradingError):
        return p.name


def from_root(path: str | Path) -> str:
    """The path as the repository root reaches it (POSIX form; `..` where it lies outside, as a sheet beside the
    compendium): what a notebook parameter and the manifest record, so that neither holds this machine's absolute
    paths and `resolve` finds the file again. Absolute only where no relative path exists (another drive)."""
    p = Path(path).resolve()
    try:
        return Path(os.path.relpath(p, root().resolve())).as_posix()
    except ValueError:
        return p.as_posix()


def resolve(path: str | Path) -> Path:
    """A notebook parameter path: relative paths are taken from the repository root, not the cwd."""
    p = Path(path)
    return p if p.is_absolute() else root() / p


def under_raw(path: str | Path) -> bool:
    """Is `path` inside `data/raw/` (the compendium's inputs)?"""
    try:
        raw = (root() / FOLDERS["DATA_RAW"]).resolve()
    except UpgradingError:
        return False
    return Path(path).resolve().is_relative_to(raw)


def write_output(path: str | Path, data: bytes | str, *, raw: bool = False) -> Path:
    """Write an output file, creating its folder: never under `data/raw/` (unless `raw`, for the documented
    simulator), and only when the bytes differ from the file's, so that a rerun leaves files (and mtimes) alone."""
    path = Path(path)
    if not raw and under_raw(path):
        raise UpgradingError(f"{relative(path)} is under data/raw/, which holds inputs only: no step writes there")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == payload:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _journal(path)
    return replace_atomically(path, payload)


#: The environment variable naming the file where `write_output` lists each file it writes (one absolute path per
#: line, listed before the file changes): the runner's way of telling which outputs a kernel wrote.
WRITE_JOURNAL = "UPGRADING_WRITE_JOURNAL"


def _journal(path: Path) -> None:
    journal = os.environ.get(WRITE_JOURNAL)
    if journal:
        with open(journal, "a", encoding="utf-8") as listing:
            listing.write(f"{path.resolve()}\n")


def journalled(journal: Path) -> set[Path]:
    """The files listed in a write journal (none if it does not exist)."""
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return {Path(line) for line in text.splitlines() if line}


#: The suffix of a file still being written (`replace_atomically`): not an output yet.
PARTIAL = ".partial"


def is_partial(path: Path) -> bool:
    """Is this a file that `replace_atomically` is still writing?"""
    return path.name.startswith(".") and path.name.endswith(PARTIAL)


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete the partial files under `folder` whose writer is gone (a killed kernel's): a partial file's name holds
    its writer's process id, so those of a live writer are left alone. Returns what was deleted."""
    removed = []
    for path in folder.rglob(f".*{PARTIAL}") if folder.is_dir() else ():
        if not path.is_file():
            continue
        try:
            os.kill(int(path.name[: -len(PARTIAL)].rsplit(".", 1)[1].split("-")[0]), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            removed.append(path)
        except (ValueError, IndexError, OverflowError, OSError):  # not ours, or a live process of another user
            continue
    return removed


def replace_atomically(path: Path, payload: bytes) -> Path:
    """Write `payload` to a temporary file beside `path`, then rename it over `path`: a reader (another notebook run
    at the same time, a snapshot of the output folders) sees the old bytes or the new ones, never a part."""
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{PARTIAL}")
    try:
        partial.write_bytes(payload)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
