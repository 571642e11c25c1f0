"""Intermediate results kept between runs, under `data/interim/` (git-ignored): a long Monte Carlo study is run
once per checkout state, and a later run of the same notebook with the same settings and the same code reads it.

A stored result is reused only when its key matches exactly: the caller's settings, every file of the package
(code and data: any change to the estimator, the claims check or the generator makes a new key), and the
versions of the libraries the numbers depend on. `upgrading verify --rerun` and CI's first line run in a fresh
copy, which has no `data/interim/`, so they always compute; the test suite's rerun of a notebook (nbval) is
what reads it, so that it does not run the same Monte Carlo twice.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

from . import paths

#: Libraries whose versions a stored result depends on (their arithmetic makes the numbers).
LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels", "patsy")


@cache
def package_digest() -> str:
    """SHA-256 over every file of the installed package (path and bytes), and the libraries' versions."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    for library in LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}\0".encode())
    return digest.hexdigest()


def frame_digest(frame) -> str | None:
    """A data frame's identity in a key (None for None): its rows as CSV and its `attrs` (where a sheet came from)."""
    if frame is None:
        return None
    text = frame.to_csv(index=False, lineterminator="\n") + json.dumps(frame.attrs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_of(name: str, settings: dict) -> str:
    """The key of a result: its name, its settings (JSON) and the package's digest."""
    text = json.dumps({"name": name, "settings": settings, "package": package_digest()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def cached(name: str, settings: dict, compute: Callable[[], object]):
    """`compute()`, or what an earlier call with the same name, settings and package stored; a new result
    replaces the older ones of the same name, so the folder holds one per name."""
    found = lookup(name, settings)
    return found if found is not None else store(name, settings, compute())


def _target(name: str, settings: dict) -> Path:
    return paths.DATA_INTERIM / f"{name}-{key_of(name, settings)}.pickle"


def lookup(name: str, settings: dict):
    """What an earlier `store` (or `cached`) kept under this name, settings and package; None if nothing."""
    target = _target(name, settings)
    try:
        with target.open("rb") as stored:
            return pickle.load(stored)
    except (FileNotFoundError, EOFError, pickle.UnpicklingError, AttributeError):
        return None  # absent, replaced by another writer meanwhile, or unreadable: computed again


def store(name: str, settings: dict, result):
    """Keep `result` under this name, settings and package, replacing the older results of the same name; return
    it."""
    target = _target(name, settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    for older in target.parent.glob(f"{name}-*.pickle"):
        if older != target:
            older.unlink(missing_ok=True)  # (notebooks run side by side may clean up the same file)
    paths.replace_atomically(target, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return result
