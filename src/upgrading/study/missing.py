"""What a coding sheet does not report, and what each analysis leaves out because of it (notebook 02).

Every analysis uses the cases that have its variables coded (complete-case analysis, as R's `na.omit`): each form
of upgrading's models use the cases with that form, collective efficiency and governance coded (leader-driven
governance is derived from governance, so it is missing where governance is).
"""

from __future__ import annotations

import pandas as pd

from ..ordinal import formula_columns
from .codebook import load_codebook
from .models import MODELS, formula
from .reasons import coded_variable


def not_reported_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Per variable that may be not reported and sectoral group (and all groups): cases, cases not reported and
    their share; only the variables with at least one case not reported."""
    cb = load_codebook()
    groups = cases["sectoral_group"].astype(str)
    rows = []
    for variable in cb.may_be_missing:
        if variable not in cases or not cases[variable].isna().any():
            continue
        for group in [g for g in cb.group_codes if (groups == g).any()] + ["all"]:
            values = cases[variable] if group == "all" else cases.loc[groups == group, variable]
            missing = int(values.isna().sum())
            rows.append({"variable": variable, "sectoral_group": group, "cases": len(values),
                         "not_reported": missing, "share": missing / len(values)})  # fmt: skip
    return pd.DataFrame(rows, columns=["variable", "sectoral_group", "cases", "not_reported", "share"])


def model_variables(form: str, cases: pd.DataFrame) -> list[str]:
    """The coded variables the models of one form use (every model of `models.MODELS`), derived ones replaced by
    the variable they come from."""
    columns = [c for model in MODELS for c in formula_columns(formula(model, form), cases)]
    return list(dict.fromkeys(coded_variable(c) for c in columns))


def left_out_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Per form of upgrading, every case its models leave out, with the variables it does not report."""
    rows = []
    for form in load_codebook().upgrading_forms:
        variables = model_variables(form, cases)
        absent = cases[variables].isna()
        for index in absent.index[absent.any(axis=1)]:
            rows.append(
                {
                    "form": form,
                    "case_id": str(cases.at[index, "case_id"]),
                    "sectoral_group": str(cases.at[index, "sectoral_group"]),
                    "not_reported": ", ".join(v for v in variables if absent.at[index, v]),
                }
            )
    return pd.DataFrame(rows, columns=["form", "case_id", "sectoral_group", "not_reported"])
