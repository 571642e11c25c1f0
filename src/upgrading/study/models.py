"""The study's models, end to end: for each form of upgrading, a pooled model and a model with a
collective-efficiency and a leader-driven slope per sectoral group; ML with a separation check, the Firth fit
reported wherever ML is separated; tidy estimates, diagnostics, leave-one-out ranges and exact tests.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ordinal import OrderedLogit, OrderedLogitResults, brant_test, group_association_tests, leave_one_out
from .codebook import load_codebook
from .settings import PERMUTATIONS

MODELS = {
    "pooled": "{form} ~ collective_efficiency + C(governance) + C(sectoral_group)",
    "by_group": "{form} ~ C(sectoral_group) + C(sectoral_group):collective_efficiency"
                " + C(sectoral_group):leader_driven",
}
KEY_PREDICTORS = ("collective_efficiency", "leader_driven")


def formula(model: str, form: str) -> str:
    """The formula of one of the study's models (`MODELS`) for one form of upgrading. The only place the
    formulas are written: notebook 04's tables, the claims register's table cells (`cell_model`) and the design
    analysis all use them."""
    return MODELS[model].format(form=form)


@dataclass
class ModelFit:
    form: str
    model: str
    ml: OrderedLogitResults
    firth: OrderedLogitResults

    @property
    def separated(self) -> bool:
        return self.ml.separation.separated

    @property
    def reported(self) -> OrderedLogitResults:
        """The fit the compendium reports: ML, or the Firth fit where ML does not exist (separation)."""
        return self.firth if self.separated else self.ml


def parse_term(term: str) -> tuple[str, str]:
    """(sectoral group or 'all', predictor) of a model term, e.g. C(sectoral_group)[x]:leader_driven."""
    m = re.fullmatch(r"C\(sectoral_group\)\[(?:T\.)?([^\]]+)\]:(\w+)", term)
    if m:
        return m.group(1), m.group(2)
    m = re.fullmatch(r"C\((\w+)\)\[(?:T\.)?([^\]]+)\]", term)
    if m:
        return ("all", f"{m.group(1)}:{m.group(2)}")
    return "all", term


def fit_models(cases: pd.DataFrame, forms=None) -> list[ModelFit]:
    """ML and Firth fits of every model for every form of upgrading."""
    forms = forms or load_codebook().upgrading_forms
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation is reported in the tables, not as warnings
        for form in forms:
            for model, template in MODELS.items():
                ordinal_model = OrderedLogit.from_formula(template.format(form=form), cases)
                fits.append(ModelFit(form, model, ordinal_model.fit(warn=False),
                                     ordinal_model.fit("jeffreys", warn=False)))
    return fits


def estimates_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Tidy estimates of the reported fits, with the term split into sectoral group and predictor."""
    tables = []
    for fit in fits:
        table = fit.reported.tidy()
        # the study's exhibits still call the penalised fit "firth" (open issue: name it Jeffreys everywhere)
        table["method"] = table["method"].replace({"jeffreys": "firth"})
        table.insert(0, "model", fit.model)
        table.insert(0, "form", fit.form)
        parts = table["term"].map(parse_term)
        table.insert(3, "sectoral_group", [p[0] for p in parts])
        table.insert(4, "predictor", [p[1] for p in parts])
        table["ml_separated"] = fit.separated
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def diagnostics_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Per model: separation, Brant test, Hessian condition, convergence, and how far Firth moves ML."""
    rows = []
    for fit in fits:
        brant = brant_test(fit.ml).set_index("term").loc["omnibus"]
        finite = np.isfinite(fit.ml.slopes.to_numpy())
        shift = np.abs(fit.firth.slopes.to_numpy() - fit.ml.slopes.to_numpy())[finite]
        rows.append({
            "form": fit.form, "model": fit.model, "cases": int(fit.ml.nobs), "slopes": len(fit.ml.slopes),
            "ml_separated": fit.separated,
            "separated_terms": "; ".join(t for t in fit.ml.separation.terms if not t.startswith("threshold")),
            "reported": "firth" if fit.separated else "ml",
            "brant_chi2": brant["chi2"], "brant_df": int(brant["df"]), "brant_p": brant["p_value"],
            "brant_note": brant["note"],
            "ml_hessian_condition": fit.ml.hessian_condition, "ml_converged": fit.ml.converged,
            "firth_converged": fit.firth.converged,
            "max_abs_firth_minus_ml": float(shift.max()) if shift.size else np.nan,
        })
    return pd.DataFrame(rows)


def leave_one_out_table(fits: list[ModelFit]) -> pd.DataFrame:
    """Range of every key slope of the reported fits when each case is left out in turn."""
    tables = []
    for fit in fits:
        table = leave_one_out(fit.reported)
        parts = table["term"].map(parse_term)
        table.insert(0, "reported", "firth" if fit.separated else "ml")
        table.insert(0, "model", fit.model)
        table.insert(0, "form", fit.form)
        table["sectoral_group"] = [p[0] for p in parts]
        table["predictor"] = [p[1] for p in parts]
        tables.append(table[table["predictor"].isin(KEY_PREDICTORS)])
    return pd.concat(tables, ignore_index=True)


def exact_tests_table(cases: pd.DataFrame, n_resamples: int = PERMUTATIONS, seed: int = 2005) -> pd.DataFrame:
    """Within each sectoral group, permutation tests of each form with collective efficiency and with
    leader-driven governance (Kendall's tau-b)."""
    return group_association_tests(cases, load_codebook().upgrading_forms, KEY_PREDICTORS,
                                   n_resamples=n_resamples, seed=seed)
