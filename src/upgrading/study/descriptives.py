"""Descriptive tables: how upgrading, collective efficiency and governance are spread across sectoral groups.

Each function takes typed cases (`coding.load_cases`) and returns a tidy DataFrame, one row per group (and
form), in codebook order, ready for an exhibit. Statistics use the cases coded on their variable; where a sheet
has codes that are not reported, a `not_reported` column (or one per variable) counts them.
"""

from __future__ import annotations

import pandas as pd

from .codebook import load_codebook


def _group_order(cases: pd.DataFrame) -> list[str]:
    return [g for g in load_codebook().group_codes if (cases["sectoral_group"] == g).any()]


def upgrading_by_group(cases: pd.DataFrame) -> pd.DataFrame:
    """Per group and form of upgrading: cases coded, mean score, share at medium or high (2-3), and counts 0-3
    (and the cases whose score is not reported, where there are any)."""
    cb = load_codebook()
    rows = []
    for form in cb.upgrading_forms:
        for group in _group_order(cases) + ["all"]:
            column = cases[form] if group == "all" else cases.loc[cases["sectoral_group"] == group, form]
            scores = column.dropna()
            counts = scores.value_counts().reindex(range(4), fill_value=0)
            rows.append(
                {
                    "form": form,
                    "sectoral_group": group,
                    "cases": len(scores),
                    "mean": scores.mean(),
                    "share_medium_or_high": (scores >= 2).mean(),
                    **{f"score_{k}": int(counts[k]) for k in range(4)},
                    "not_reported": int(column.isna().sum()),
                }
            )
    return _only_if_missing(pd.DataFrame(rows))


def _only_if_missing(table: pd.DataFrame) -> pd.DataFrame:
    """The table without its not-reported counts where nothing is missing (so a complete sheet's tables keep
    their columns)."""
    empty = [c for c in table if c.startswith("not_reported") and not table[c].any()]
    return table.drop(columns=empty)


def governance_by_group(cases: pd.DataFrame) -> pd.DataFrame:
    """Per group: number of cases in each governance form, and the share that is leader-driven."""
    cb = load_codebook()
    # As text first: recasting a categorical column onto fewer categories (a group with no case) is deprecated.
    table = pd.crosstab(
        pd.Categorical(cases["sectoral_group"].astype(str), categories=_group_order(cases)),
        pd.Categorical(cases["governance"].astype(str), categories=list(cb.governance_levels)),
        dropna=False,
    )
    table.index.name, table.columns.name = "sectoral_group", None
    table = table.reset_index()
    table.columns = [str(c) for c in table.columns]
    levels = list(cb.governance_levels)
    table["cases"] = table[levels].sum(axis=1)
    table["share_leader_driven"] = table[list(cb.leader_levels)].sum(axis=1) / table["cases"]
    groups = cases["sectoral_group"].astype(str)
    table["not_reported"] = [int(cases.loc[groups == g, "governance"].isna().sum()) for g in table["sectoral_group"]]
    return _only_if_missing(table)


def collective_efficiency_by_group(cases: pd.DataFrame) -> pd.DataFrame:
    """Per group: mean external economies, joint actions and collective efficiency (each over the cases coded on
    it), the CE counts 0-3, and each variable's not-reported cases where there are any."""
    variables = ("external_economies", "joint_actions", "collective_efficiency")
    rows = []
    for group in _group_order(cases) + ["all"]:
        sub = cases if group == "all" else cases[cases["sectoral_group"] == group]
        counts = sub["collective_efficiency"].value_counts().reindex(range(4), fill_value=0)
        rows.append(
            {
                "sectoral_group": group,
                "cases": len(sub),
                **{f"mean_{v}": sub[v].mean() for v in variables},
                **{f"collective_efficiency_{k}": int(counts[k]) for k in range(4)},
                **{f"not_reported_{v}": int(sub[v].isna().sum()) for v in variables},
            }
        )
    return _only_if_missing(pd.DataFrame(rows))


def cases_by_group(cases: pd.DataFrame) -> pd.DataFrame:
    """Number of cases and industries per sectoral group."""
    rows = []
    for group in _group_order(cases):
        sub = cases[cases["sectoral_group"] == group]
        industries = sub["industry"].value_counts()
        rows.append(
            {
                "sectoral_group": group,
                "cases": len(sub),
                "industries": ", ".join(f"{k} ({v})" for k, v in sorted(industries.items())),
            }
        )
    return pd.DataFrame(rows)
