"""Marks the figures share: the reason a cell, row or panel has no number, read from its table's `note`."""

from __future__ import annotations

from collections.abc import Iterable

from .models import reason_of


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken between words (a longer word keeps its own line)."""
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + ([current] if current else [])


def reason(notes: Iterable) -> str:
    """The distinct reasons among a table's `notes` ('; ' between), each without its complete-case count (a count
    of cases used is no reason a number is missing); '' where they give none."""
    parts = [reason_of(note) for note in notes if isinstance(note, str)]
    return "; ".join(dict.fromkeys(part for part in parts if part))
