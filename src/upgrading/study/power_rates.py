"""The design analysis read for a sheet: the rates beside its claims (how often the claims check gets a claim of
that kind and group right, wrong or inconclusive on sheets simulated with this sheet's shape), and the studied
number of cases that stands for it in notebook 07.

A sheet's shape is its number of cases in each sectoral group; the design's sheets have every code reported and
follow the documented generator otherwise. Where the sheet's groups are the generator's split of its number of
cases (the simulated sheet), the cell is the study's own, so its rates are `power_table`'s rows at that number of
cases where notebook 07 runs it, and the two notebooks share its replicates through `data/interim/`.
"""

from __future__ import annotations

import pandas as pd

from .codebook import load_codebook
from .power import CASES, EFFECT_SCALES, KINDS, MIN_CASES, REPLICATES, SEED, design_cell, run, summarise
from .register import Register
from .simulate import group_sizes, load_parameters

#: What a claim's design rates are, where the design analysis does not score it.
NOT_STUDIED = "not scored by the design analysis (it scores the table's cells)"
#: Added to the design note of a claim whose group has no cases on the sheet: its rates say it cannot be decided,
#: not how often a test of it goes wrong (notebook 06's reading leaves such claims out of its ranges).
NO_CASES = "no cases of this group on sheets of this shape, so no replicate can decide the claim"
CLAIM_RATES = ["p_right", "mcse_right", "p_wrong", "mcse_wrong", "p_inconclusive", "mcse_inconclusive"]


def rates_by_claim(
    summary: pd.DataFrame,
    register: Register,
    n_cases: int,
    effect_scale: float = 1.0,
    cell_note: str | None = None,
    source: str = "power_table",
) -> pd.DataFrame:
    """For each claim of `register` (rows, in order, indexed by id): the power table's rates of its scope (its
    sectoral group) and kind of claim at one design cell, `design_scope`, `design_kind` and a `design_note` (which
    cell: `cell_note`, else its cases and scale; and the exhibit it is a cell of, `source`, if any); a claim the
    design analysis does not score (a textual claim) has no rates and says so."""
    cell = design_cell(summary, n_cases, effect_scale).set_index(["scope", "kind"])
    where = f"{n_cases} cases, effect scale {effect_scale:g}" if cell_note is None else cell_note
    rows = []
    for claim in register.claims:
        row = {"id": claim.id, "design_scope": "", "design_kind": "", "design_note": NOT_STUDIED}
        key = (claim.sectoral_group, KINDS[claim.expected])
        if claim.kind == "table cell" and key in cell.index:
            row |= {"design_scope": key[0], "design_kind": key[1]} | cell.loc[key, CLAIM_RATES].to_dict()
            replicates = int(cell.loc[key, "replicates"])
            row["design_note"] = f"no pooling, {where}, {replicates} replicates" + (f" ({source})" if source else "")
        rows.append(row)
    columns = ["id", "design_scope", "design_kind", *CLAIM_RATES, "design_note"]
    return pd.DataFrame(rows).reindex(columns=columns).set_index("id")


def sheet_shape(cases: pd.DataFrame) -> tuple[int, ...]:
    """A sheet's number of cases in each sectoral group, in codebook order (0 for a group it does not have)."""
    counts = cases["sectoral_group"].astype(str).value_counts()
    return tuple(int(counts.get(code, 0)) for code in load_codebook().group_codes)


def rates_at_sheet_shape(
    register: Register, cases: pd.DataFrame, replicates: int = REPLICATES, seed: int = SEED
) -> pd.DataFrame:
    """`rates_by_claim` on sheets of this sheet's shape (its cases in each sectoral group) at the documented effect
    sizes: the design analysis's replicates of that one cell, kept in data/interim/ (`power.run(cache=True)`).
    Where the shape is the generator's split of the sheet's number of cases, the cell is the study's own (shared
    with notebook 07's `power_table` where it runs that number of cases)."""
    shape = sheet_shape(cases)
    n = sum(shape)
    generator = group_sizes(load_parameters(), n)
    own = n >= MIN_CASES and shape == tuple(generator[code] for code in load_codebook().group_codes)
    raw = run(replicates, (n,), (1.0,), seed, progress=False, cache=True, groups=None if own else shape)
    by_group = "/".join(map(str, shape))
    split = "the generator's split" if own else "as in this sheet"
    note = f"{n} cases ({by_group} by sectoral group, {split}), effect scale 1"
    in_table = own and n in CASES and 1.0 in EFFECT_SCALES  # a cell of power_table at notebook 07's committed settings
    rates = rates_by_claim(summarise(raw), register, n, 1.0, note, source="power_table" if in_table else "")
    empty = [code for code, size in zip(load_codebook().group_codes, shape) if size == 0]
    absent = rates["design_scope"].isin(empty)
    rates.loc[absent, "design_note"] = rates.loc[absent, "design_note"] + f"; {NO_CASES}"
    return rates


def study_size(sheet_cases: int | None, cases=CASES, params: dict | None = None) -> int:
    """The number of cases that stands for the study in notebook 07's headline rows, its reading and its
    coding-error arm: the coded sheet's own number of cases (`sheet_cases`; without a sheet, the simulated sheet's,
    the generator's group sizes summed), or the nearest number of cases studied (a tie: the smaller)."""
    if sheet_cases is None:
        sheet_cases = sum((params or load_parameters())["group_sizes"].values())
    return int(min(cases, key=lambda n: (abs(n - sheet_cases), n)))


def headline(sheet: pd.DataFrame | None, base: int, cases=CASES) -> str:
    """Notebook 07's words for the design cell that stands for a sheet: its number of cases (the studied one
    nearest the sheet's, where they differ) and, where the sheet's groups are not the generator's split of that
    number, that the rows use the generator's split while notebook 06 uses the sheet's own."""
    text = f"At {base} cases"
    if sheet is not None and len(sheet) != base:
        tied = sorted(n for n in cases if n != base and abs(n - len(sheet)) == abs(base - len(sheet)))
        text += (
            f" (the studied size nearest this sheet's {len(sheet)})"
            if not tied
            else f" (of the studied sizes {base} and {tied[0]}, equally near this sheet's {len(sheet)}, the smaller)"
        )
    text += " with the documented effects (scale 1)"
    generator = group_sizes(load_parameters(), base)
    split = tuple(generator[code] for code in load_codebook().group_codes)
    if sheet is not None and sheet_shape(sheet) != split:
        text += (
            f", on sheets split {'/'.join(map(str, split))} by sectoral group as the generator splits {base} cases "
            f"(notebook 06 scores this sheet's claims on sheets of its own {'/'.join(map(str, sheet_shape(sheet)))})"
        )
    return text + ":"


__all__ = [
    "CLAIM_RATES",
    "NOT_STUDIED",
    "headline",
    "rates_at_sheet_shape",
    "rates_by_claim",
    "sheet_shape",
    "study_size",
]
