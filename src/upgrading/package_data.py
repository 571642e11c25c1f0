"""The package's data files (`src/upgrading/data/*.toml`), read one way: parsed once, deeply frozen.

Every caller gets the same object, so it must not be changed: tables are `FrozenDict`s and arrays tuples, and
an attempt to change one raises `TypeError`. A caller who wants a variant (a test, a user's own register) builds
a new object from it. Typed views (the codebook, the claims register, the exhibit registry, the pooling priors)
are built on top of this by the modules that own each file.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


class FrozenDict(dict):
    """A dict that cannot be changed after it is made (and can still be pickled and compared as a dict)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("package data are shared and read-only: build a new dict instead of changing this one")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # frozen, so hashable (values must be hashable too: they are frozen as well)
        return hash(tuple(sorted(self.items(), key=lambda item: str(item[0]))))


def freeze(value: Any) -> Any:
    """A deep, read-only copy: dicts become FrozenDicts and lists tuples."""
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def text(name: str) -> str:
    """The text of a package data file, e.g. `text("claims.toml")`."""
    return resources.files("upgrading").joinpath(f"data/{name}").read_text(encoding="utf-8")


@cache
def load(name: str) -> FrozenDict:
    """A package TOML file, parsed and frozen (cached: parsed once per process)."""
    return freeze(tomllib.loads(text(name)))


def thaw(value: Any) -> Any:
    """A deep, changeable copy of frozen package data (dicts and lists), for a variant of a data file."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value
