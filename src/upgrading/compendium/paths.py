"""Where things live in the compendium, resolved from the package's own location, never from the cwd.

Every path a notebook prints goes through `relative()`, so no committed output holds a machine path.
"""

from __future__ import annotations

from pathlib import Path


def _find_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "notebooks").is_dir():
            return parent
    raise RuntimeError(
        "the upgrading package is not inside its compendium (no pyproject.toml and notebooks/ above it); "
        "install it with `pip install -e .` from a clone"
    )


ROOT = _find_root()
NOTEBOOKS = ROOT / "notebooks"
FIGURES = ROOT / "figures"
DATA_RAW = ROOT / "data" / "raw"
DATA_PROCESSED = ROOT / "data" / "processed"


def relative(path: str | Path) -> str:
    """The path as a reader should see it: relative to the repository root when inside it (POSIX form)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.name


def resolve(path: str | Path) -> Path:
    """A notebook parameter path: relative paths are taken from the repository root, not the cwd."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p
