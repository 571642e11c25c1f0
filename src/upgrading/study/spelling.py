"""When two spellings name the same thing, and which allowed spelling a near miss was meant to be.

One rule for every name a coder types: worksheet names (reading), column names and categories (validation),
and a case list's columns, groups and industries (the template).
"""

from __future__ import annotations

import difflib
import os
import re

import pandas as pd


def spelling_key(value: object) -> str:
    """The key under which two spellings count as the same: case, surrounding spaces, spaces and hyphens
    (as underscores) ignored. `Quasi-hierarchy`, ` quasi hierarchy` and `quasi_hierarchy` share a key."""
    return re.sub(r"[\s\-_]+", "_", str(value).strip().lower())


def letters_key(value: object) -> str:
    """Letters and digits only, in lower case: `n/a`, `N.A.` and `na` share the key `na` (near misses of a
    declared spelling are compared on it)."""
    return re.sub(r"[\W_]+", "", str(value).casefold())


def column_guess(name: object, columns) -> str | None:
    """The codebook column a sheet's column name may be: as `did_you_mean`, but stricter (a column name is short,
    so a loose match such as 'Instructions' for 'joint_actions' misleads), and an abbreviation that begins exactly
    one column's name ('Gov' for 'governance') counts."""
    key = spelling_key(name) if name is not None else ""

    def abbreviates(a: str, b: str) -> bool:  # the shorter begins the longer, and has 3 characters or more
        short, long = sorted((a, b), key=len)
        return len(short) >= 3 and long.startswith(short)

    normalised = {spelling_key(c): c for c in map(str, columns)}
    if key in normalised:
        return f"did you mean {normalised[key]!r}?"
    starting = [c for k, c in normalised.items() if abbreviates(key, k)]
    if len(starting) == 1:
        return f"did you mean {starting[0]!r}?"
    close = difflib.get_close_matches(key, list(normalised), n=1, cutoff=0.8)  # no shared-stem rule: too loose
    return f"did you mean {normalised[close[0]]!r}?" if close else None


def did_you_mean(value: object, choices) -> str | None:
    """The closest allowed spelling of a near-miss category (case, spaces, hyphens and typos forgiven)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    normalised = {spelling_key(c): c for c in map(str, choices)}
    key = spelling_key(value)
    if key in normalised:
        return f"did you mean {normalised[key]!r}?"
    # A shared stem of 4+ characters ('textiles' / 'Textile and garments') beats edit distance.
    stems = [(len(os.path.commonprefix([key, n])), n) for n in normalised]
    best_stem = max(stems, default=(0, None))
    if best_stem[0] >= 4:
        return f"did you mean {normalised[best_stem[1]]!r}?"
    close = difflib.get_close_matches(key, list(normalised), n=1, cutoff=0.6)
    return f"did you mean {normalised[close[0]]!r}?" if close else None
