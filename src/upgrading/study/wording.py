"""How a count of cases is written as a share in a sentence: a whole percent, an exact half rounded up; a clause
said alone as a sentence; items listed in prose.

Python's format rounds the binary float, and an exact half to even: 2 of 80 cases (2.5%) read "2%" and 5 of 200
(2.5%) "2%", where the counts say 3%. A reader works the share out from the two counts beside it, so it is
computed from them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable


def percent_of(count: int, total: int) -> str:
    """`count` of `total` as a whole percent, halves up: 2 of 80 -> "3%", 1 of 3 -> "33%"."""
    count, total = int(count), int(total)
    if total <= 0:
        raise ValueError(f"a share needs a positive total, not {total}")
    return f"{(200 * count + total) // (2 * total)}%"


def sentence(clause: str) -> str:
    """A clause written to be read mid-sentence ("first coding: ...") as a sentence of its own: first letter capital."""
    return clause[:1].upper() + clause[1:]


def series(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def p_value(p: float) -> str:
    """A p-value to three decimals ('0.019'), or in scientific notation where three decimals would read 0
    ('2.1e-04', not 'p = 0.000', which says the p-value is zero and disagrees with its table)."""
    return f"{p:.3f}" if round(p, 3) > 0 else f"{p:.1e}"


__all__ = ["p_value", "percent_of", "sentence", "series"]
