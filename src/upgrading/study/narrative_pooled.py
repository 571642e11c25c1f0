"""The sentences of notebook 05 that set the partially pooled verdicts beside the no-pooling ones: every number in
them is read from the verdicts table, and simulated data are said to be simulated (moved from `narrative_models`,
which notebook 05 still calls them through)."""

from __future__ import annotations

import pandas as pd

from .narrative import on_the_sheet, one_group, reasons_counted, series
from .reasons import reason_of

# 05 · claims, pooled verdicts ------------------------------------------------------------------------------


def _estimated_by_one(slope: pd.DataFrame, by_group: pd.Series, by_pooling: pd.Series) -> str:
    """The claims that one method estimates and the other cannot, and those neither can (with the reasons)."""
    parts = []
    for mask, what in (
        (by_group & ~by_pooling, "only the no-pooling fit estimates"),
        (~by_group & by_pooling, "only the partially pooled posterior estimates"),
    ):
        if mask.any():
            parts.append(f"{what} {series(slope.loc[mask, 'id'])}")
    neither = slope[~by_group & ~by_pooling]
    if len(neither):
        reasons = neither["note"].fillna("").map(reason_of).replace("", "reason not recorded")
        parts.append(f"{len(neither)} neither can estimate, inconclusive in both (no-pooling reasons: "
                     f"{reasons_counted(reasons)})")  # fmt: skip
    return (" " + "; ".join(parts)[0].upper() + "; ".join(parts)[1:] + ".") if parts else ""


def pooled_verdicts_summary(verdicts: pd.DataFrame, cases: pd.DataFrame) -> str:
    """How the partially pooled verdicts compare with the no-pooling ones on the group-slope claims: agreement is
    counted where both give an estimate (a claim neither can estimate is "inconclusive" in both, which is no
    agreement), and the claims only one can estimate are named."""
    slope = verdicts[verdicts["verdict_pooled"] != "not applicable"]
    raw = slope["verdict"].value_counts()
    pooled = slope["verdict_pooled"].value_counts()
    by_group, by_pooling = slope["estimate"].notna(), slope["pooled_estimate"].notna()
    both = slope[by_group & by_pooling]
    same = both["verdict"] == both["verdict_pooled"]
    differ = both[~same]

    def counts(c):
        return ", ".join(f"{int(c.get(v, 0))} {v}" for v in ("consistent", "contradicted", "inconclusive"))

    text = (
        f"Of the {len(slope)} claims that are a group's slope, the no-pooling fit gives {counts(raw)}; the "
        f"partially pooled posterior, by the same rule, gives {counts(pooled)}. "
        + (
            (f"Of the {len(both)} that both estimate, the" if len(both) < len(slope) else "The")
            + f" two agree on {int(same.sum())}"
            + ("; they differ on " if len(differ) else ".")
            + "; ".join(f"{r.id} {r.verdict} → {r.verdict_pooled}" for r in differ.itertuples())
            + ("." if len(differ) else "")
            if len(both)
            else "No claim is estimated by both."
        )
        + _estimated_by_one(slope, by_group, by_pooling)
        + (
            " With one sectoral group on the sheet, partial pooling has no other group to borrow strength from: "
            "its verdicts differ from no pooling's only through the model's priors."
            if one_group(cases)
            else " Partial pooling narrows a group's interval by borrowing from the other groups, which can turn an "
            "inconclusive verdict into a decided one, and pulls a group toward the others, which can hide a "
            "group that truly differs; `07_power` measures both tendencies as properties of the design."
        )
    )
    if cases.attrs.get("simulated"):
        text += f" {on_the_sheet(cases)} neither column is a finding about Latin American clusters."
    return text
