"""Partial pooling in the study: each form of upgrading fitted by the partially pooled ordered logit
(`upgrading.ordinal.partially_pooled`, the model of tests/reference/pooling/MODEL.md), beside the no-pooling
(by-group) and complete-pooling fits of `models`.

- no pooling: the by-group model's reported fit (`models.MODELS["by_group"]`; ML, or Jeffreys-penalised where ML is
  separated), one collective-efficiency and one leader-driven slope per sectoral group, estimated separately;
- partial pooling: the same slopes drawn from a common distribution whose between-group SDs (tau) are estimated;
  posterior mean, 95% equal-tailed credible interval and P(> 0);
- complete pooling: one collective-efficiency and one leader-driven slope for all groups, with a shift per group
  (`models.MODELS["complete_pooling"]`), the tau -> 0 limit of the partially pooled model.

The priors are read from `data/pooling.toml` (each with its reason); change them there and rerun. Any sheet that
validates runs: a group with no cases keeps its rows with the reason, an outcome that cannot be modelled keeps one
row saying why, and a posterior the approximation cannot vouch for (PSIS k-hat too high, mass at the grid's edge)
is reported as unreliable, its numbers withheld.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .. import interim, package_data
from ..errors import UpgradingError
from ..ordinal import ACCURACY, PartiallyPooledResults, PoolingPriors, PoolingSettings, partially_pooled
from ..ordinal.multilevel_inputs import DEFAULT, FAST
from ..ordinal.multilevel_results import QUANTILES
from .codebook import load_codebook
from .models import ModelFit, estimates_table, fit_models
from .reasons import complete_cases_note, no_cases_reason
from .register import DecisionLevels
from .settings import KEY_PREDICTORS

#: the varying predictors, in the order of MODEL.md's symbols (beta: collective efficiency, gamma: leader-driven)
SYMBOL = {"collective_efficiency": "beta", "leader_driven": "gamma"}
#: the estimator's fast setting (coarser grid, fewer draws), used by the design analysis's pooled arm
FAST_SETTINGS: PoolingSettings = FAST
METHODS = ("no pooling", "partial pooling", "complete pooling")
#: the agreement bar with the NUTS reference posteriors (tests/test_pooling.py, notebook 04 and the benchmark use
#: it): every posterior mean within 0.1 posterior SD, SD within 10%, the 5% and 95% quantiles within 0.15 SD
#: (the references' own Monte Carlo errors are about 0.01-0.04 SD), P(> 0) within 0.03 absolute: the tolerance of
#: the estimator's accuracy rule (`ordinal.ACCURACY`), declared there once
TOLERANCE = {"mean": ACCURACY.mean, "sd": ACCURACY.sd, "q05": ACCURACY.quantile, "q95": ACCURACY.quantile,
             "p_positive": ACCURACY.p_positive}  # fmt: skip


def load_priors() -> PoolingPriors:
    """The study's priors: `src/upgrading/data/pooling.toml`, where each has its reason."""
    return PoolingPriors.from_toml(package_data.load("pooling.toml"))


def outcome_levels() -> list[int]:
    """All levels of the 0-3 upgrading scale (kept even where a level is never observed)."""
    return list(range(len(load_codebook().scales["likert_0_3"].labels)))


@dataclass
class PooledFit:
    """The partially pooled fit of one form, or why it could not be made."""

    form: str
    result: PartiallyPooledResults | None
    error: str = ""
    left_out: int = 0  # cases without the form or a key predictor coded (complete-case analysis)
    cases: int = 0
    sheet_groups: tuple[str, ...] = ()  # the groups with cases on the sheet, before complete cases were taken

    def absent(self, group: str) -> str:
        """Why a group has no slope: no case on the sheet, or none with the fit's variables coded."""
        if group in self.sheet_groups:
            return (
                f"no case in this group has {self.form}, collective efficiency and governance coded; "
                + self.complete_note
            )
        return "; ".join(n for n in ("no cases in this group", self.complete_note) if n)

    @property
    def complete_note(self) -> str:
        """'' when every case has the fit's variables, else how many it used."""
        return complete_cases_note(self.cases - self.left_out, self.cases)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else f"not estimable: {self.error}"

    @cached_property
    def _quantiles(self) -> dict:
        return {}

    def intervals(self, levels: DecisionLevels) -> pd.DataFrame:
        """The ends of the equal-tailed credible intervals at the verdict rule's two levels (1 - alpha and
        1 - equivalence_alpha; columns: the four probabilities) of every group slope, computed once per levels:
        the same numbers as `result.conf_int(alpha)` and `conf_int(equivalence_alpha)`."""
        probabilities = [levels.alpha / 2, 1 - levels.alpha / 2]
        probabilities += [levels.equivalence_alpha / 2, 1 - levels.equivalence_alpha / 2]
        if levels not in self._quantiles:
            self._quantiles[levels] = self.result.quantiles(probabilities, cols=self.result.p_positive.index)
        return self._quantiles[levels]


def fit_form(
    cases: pd.DataFrame,
    form: str,
    priors: PoolingPriors | None = None,
    settings: PoolingSettings | None = None,
    fast: bool = False,
    reported: str = "all",
) -> PooledFit:
    """The partially pooled ordered logit of one form, groups in codebook order (first present = reference), on the
    cases that have the form and both key predictors coded (complete cases). `reported`: what the caller reports,
    which the accuracy rule is checked on: "all" (mu, tau and the group slopes: notebook 04's tables) or "slopes"
    (the group slopes only: the verdicts of the design analysis's pooled arm)."""
    sheet = len(cases)
    on_sheet = tuple(g for g in load_codebook().group_codes if (cases["sectoral_group"].astype(str) == g).any())
    columns = [form, "sectoral_group", *KEY_PREDICTORS]
    complete = cases.dropna(subset=columns)
    counts = {"left_out": sheet - len(complete), "cases": sheet, "sheet_groups": on_sheet}
    if complete.empty:  # the estimator would say "no cases": say which variable no case reports
        return PooledFit(form, None, no_cases_reason("all", cases[columns]), **counts)
    cases = complete
    present = [g for g in load_codebook().group_codes if (cases["sectoral_group"].astype(str) == g).any()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # problems are recorded in the result's status
            result = partially_pooled(
                cases,
                form,
                "sectoral_group",
                list(KEY_PREDICTORS),
                priors or load_priors(),
                levels=outcome_levels(),
                groups=load_codebook().group_codes,
                settings=settings,
                fast=fast,
                warn=False,
                reported=None if reported == "all" else [f"{s}[{g}]" for s in SYMBOL.values() for g in present],
            )
    except UpgradingError as error:
        return PooledFit(form, None, str(error), **counts)
    return PooledFit(form, result, **counts)


def starting_computation(pooled: dict, settings: PoolingSettings = DEFAULT) -> dict | None:
    """What notebook 04 describes as the computation: the settings every form starts from, with the grid points
    and groups of a form fitted at them (a fit that improves itself ends at more draws and a finer grid: the first
    form's final settings are not the start). None where no form was fitted; grid points None where every form
    improved itself."""
    results = [fit.result for fit in pooled.values() if fit.result is not None]
    if not results:
        return None
    start = next((r for r in results if r.settings == settings), None)
    points = None if start is None else start.diagnostics["grid_points"]
    return dict(settings=settings, n_groups=len(results[0].groups), grid_points=points)


def pooled_fits(
    cases: pd.DataFrame,
    forms=None,
    priors: PoolingPriors | None = None,
    settings: PoolingSettings | None = None,
    fast: bool = False,
    cache: bool = False,
) -> dict[str, PooledFit]:
    """The partially pooled fit of every form of upgrading (default: all four), by form. With `cache`, each form's
    fit is kept in data/interim/ (`upgrading.interim`: same sheet, priors, settings and package), so that the
    notebooks that fit the same sheet alike (04's tables, 05's pooled twins) and the test suite's rerun of a
    notebook read it instead of fitting it again."""
    forms = forms or load_codebook().upgrading_forms
    priors = priors or load_priors()
    if not cache:
        return {form: fit_form(cases, form, priors, settings, fast) for form in forms}
    chosen = settings or (FAST if fast else DEFAULT)
    label = "fast" if chosen == FAST else "default" if chosen == DEFAULT else "custom"
    key = {"sheet": interim.frame_digest(cases), "priors": repr(priors), "settings": repr(chosen)}
    return {
        form: interim.cached(f"pooled_fit_{label}_{form}", key, lambda form=form: fit_form(cases, form, priors, chosen))
        for form in forms
    }


def complete_pooling_fits(cases: pd.DataFrame, forms=None) -> list[ModelFit]:
    """The complete-pooling model (`models.MODELS["complete_pooling"]`) of every form."""
    return fit_models(cases, forms, models=("complete_pooling",))


def group_slope(fit: PooledFit, predictor: str, group: str, alpha: float = 0.05) -> dict:
    """Posterior mean, equal-tailed 1 - alpha credible interval and P(> 0) of one group's slope, or a note why not."""
    result = fit.result
    if result is None:
        return {"note": "; ".join(n for n in (fit.status, fit.complete_note) if n)}
    if group not in result.groups:
        return {"note": fit.absent(group)}
    name = f"{SYMBOL[predictor]}[{group}]"
    if not result.ok:
        return {"note": "; ".join(n for n in (result.status, fit.complete_note) if n)}
    notes = [unidentified_slope(fit, predictor, group)] + [
        n
        for n in result.notes  # the estimator's notes on the group, but those `unidentified_slope` says per slope
        if (f"'{group}'" in n and "does not vary within the group" not in n and "has one case" not in n)
        or "one group present" in n
        or "never observed" in n
    ]
    ci = result.conf_int(alpha, cols=[name]).loc[name]
    mcse = result.mcse([name]).loc[name]
    label = {p: name for name, p in QUANTILES.items()}  # the interval's ends among the summaries with an MCSE
    low, high = label.get(alpha / 2, "nan"), label.get(1 - alpha / 2, "nan")
    mcse["nan"] = np.nan  # an interval level without an MCSE (only the summaries' levels have one)
    return {
        "estimate": float(result.params[name]),
        "std_error": float(result.bse[name]),
        "conf_low": float(ci[0]),
        "conf_high": float(ci[1]),
        "p_positive": float(result.p_positive[name]),
        "mcse_estimate": float(mcse["mean"]),
        "mcse_conf_low": float(mcse[low]),
        "mcse_conf_high": float(mcse[high]),
        "mcse_p_positive": float(mcse["p_positive"]),
        "note": "; ".join(n for n in (*notes, fit.complete_note) if n),
    }


def slope_intervals(fit: PooledFit, predictor: str, group: str, levels: DecisionLevels):
    """(1 - alpha interval, 1 - equivalence_alpha interval) of one group's slope from a reliable posterior (the
    verdict rule's levels, `register.levels`), or (None, reason)."""
    result = fit.result
    if result is None or not result.ok:
        return None, fit.status
    if group not in result.groups:
        return None, fit.absent(group)
    unidentified = unidentified_slope(fit, predictor, group)
    if unidentified:
        return None, unidentified
    q = fit.intervals(levels).loc[f"{SYMBOL[predictor]}[{group}]"].to_numpy()
    return ((float(q[0]), float(q[1])), (float(q[2]), float(q[3]))), ""


def unidentified_slope(fit: PooledFit, predictor: str, group: str) -> str:
    """Why the group's own cases cannot tell its slope of `predictor` apart, or "" when they can. Within a group the
    cases see only shift + slopes x predictors: a slope is identified by them only where its predictor's column is
    not a combination of a constant and the other predictors' columns in that group (one case, every case alike,
    or the two predictors moving together). Otherwise the split between the slope and the rest is decided by the
    priors and the other groups (for the reference group, whose shift is fixed at 0, through the thresholds the
    groups share), and a verdict on it would be a verdict on them."""
    data = fit.result.data
    rows = data.V[data.group == data.groups.index(group)]
    design = np.column_stack([np.ones(len(rows)), rows])
    column = 1 + data.varying.index(predictor)
    if np.linalg.matrix_rank(design) > np.linalg.matrix_rank(np.delete(design, column, axis=1)):
        return ""
    values = rows[:, column - 1]
    if np.all(values == 0):  # the slope multiplies 0 in every case: it is not in their likelihood
        cases = (
            "the one case of this group in the fit has" if len(rows) == 1 else "every case of this group in the fit has"
        )
        whose = "its case's" if len(rows) == 1 else "its cases'"
        return f"{cases} {predictor} = 0: the slope does not enter {whose} likelihood, so its value is {PRIOR_DRIVEN}"
    if len(rows) == 1:
        why = "one case of this group in the fit"
    elif np.all(values == values[0]):
        why = f"every case of this group in the fit has {predictor} = {values[0]:g}"
    else:
        others = [name for name in data.varying if name != predictor]
        why = f"{predictor} moves with {' and '.join(others)} in every case of this group in the fit"
    subject = "its case cannot" if len(rows) == 1 else "its cases cannot"
    return (
        f"{why}: {subject} tell this slope apart from the group's shift and other slope, so the split is {PRIOR_DRIVEN}"
    )


#: How `unidentified_slope`'s reasons end: a partially pooled slope whose note says it is set by the priors.
PRIOR_DRIVEN = "the priors' and the other groups', not the group's own"


def prior_driven(notes: pd.Series) -> pd.Series:
    """Which `notes` (of `slopes_table`) say the slope is one the group's own cases cannot identify
    (`unidentified_slope`): its estimate is the priors' and the other groups'."""
    return notes.fillna("").astype(str).str.contains(PRIOR_DRIVEN, regex=False)


def slopes_table(
    cases: pd.DataFrame, pooled: dict[str, PooledFit], fits: list[ModelFit], complete: list[ModelFit]
) -> pd.DataFrame:
    """One row per form, predictor, sectoral group and method: estimate (log odds ratio), 95% interval, and for
    partial pooling P(> 0). `fits`: `models.fit_models` (its by-group fit is the no-pooling one); `complete`:
    `complete_pooling_fits`. Groups without cases keep their rows with the reason."""
    cb = load_codebook()
    forms = list(pooled)
    estimates = estimates_table([f for f in fits if f.model == "by_group" and f.form in forms])
    pooled_rows = estimates_table([f for f in complete if f.form in forms])
    rows = []
    for form in forms:
        for predictor in KEY_PREDICTORS:
            for group in cb.group_codes:
                base = {"form": form, "predictor": predictor, "sectoral_group": group}
                sub = estimates[
                    (estimates["form"] == form)
                    & (estimates["sectoral_group"] == group)
                    & (estimates["predictor"] == predictor)
                ]
                no = _from_estimates(sub, form, estimates)
                rows.append(base | {"method": METHODS[0]} | no)
                rows.append(
                    base
                    | {"method": METHODS[1], "fit": "partial pooling"}
                    | group_slope(pooled[form], predictor, group)
                )
                sub = pooled_rows[(pooled_rows["form"] == form) & (pooled_rows["term"] == predictor)]
                one = _from_estimates(sub, form, pooled_rows)
                if (cases["sectoral_group"].astype(str) == group).sum() == 0:
                    one = {"note": "no cases in this group"}
                rows.append(base | {"method": METHODS[2]} | one)
    columns = [
        "form",
        "predictor",
        "sectoral_group",
        "method",
        "fit",
        "estimate",
        "std_error",
        "conf_low",
        "conf_high",
        "odds_ratio",
        "p_positive",
        "mcse_estimate",
        "mcse_conf_low",
        "mcse_conf_high",
        "mcse_p_positive",
        "note",
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["odds_ratio"] = np.exp(table["estimate"].astype(float))
    return table


def _from_estimates(sub: pd.DataFrame, form: str, estimates: pd.DataFrame) -> dict:
    """A slope's row of `models.estimates_table`, or the reason it has none."""
    if len(sub):
        row = sub.iloc[0]
        note = row.get("note")
        out = {"fit": row["method"], "note": note if isinstance(note, str) else ""}
        if np.isfinite(float(row.get("estimate", np.nan))):
            out |= {k: float(row[k]) for k in ("estimate", "std_error", "conf_low", "conf_high")}
        return out
    model_failed = (estimates["term"] == "") & (estimates["method"] == "not estimable")  # not a term left out
    failed = estimates[(estimates["form"] == form) & model_failed]
    reason = str(failed["note"].iloc[0]) if len(failed) else "no cases in this group"
    return {"fit": "not estimable", "note": reason}


def tau_table(pooled: dict[str, PooledFit], margins: dict[str, float]) -> pd.DataFrame:
    """The between-group SD of each slope: posterior mean, median, 5% and 95% quantiles and P(tau > margin) (the
    claims register's smallest effect that matters), each with its Monte Carlo standard error (`mcse_*`), with the
    fit's status, k-hat, effective draws, grid edge mass and notes: the direct answer to "do the groups differ?"."""
    rows = []
    for form, fit in pooled.items():
        for predictor in KEY_PREDICTORS:
            name = f"tau_{SYMBOL[predictor]}"
            row = {
                "form": form,
                "predictor": predictor,
                "parameter": name,
                "margin": float(margins[predictor]),
                "status": fit.status,
            }
            result = fit.result
            if result is not None:
                d = result.diagnostics
                row |= {
                    "k_hat": d["k_hat"],
                    "k_hat_threshold": d["k_hat_threshold"],
                    "ess": d["ess"],
                    "draws": d["draws"],
                    "attempts": d["attempts"],
                    "grid_points": d["grid_points"],
                    "edge_mass": max(d["edge_mass"].values()),
                    "note": "; ".join([*result.notes, fit.complete_note] if fit.complete_note else result.notes),
                }
                if result.ok:
                    summary = result.posterior_summary().loc[name]
                    mcse = result.mcse([name]).loc[name]
                    p_above, mcse_p_above = result.probability_above_with_mcse(name, row["margin"])
                    row |= {
                        "mean": summary["mean"],
                        "q05": summary["q05"],
                        "q50": summary["q50"],
                        "q95": summary["q95"],
                        "p_above_margin": p_above,
                        "mcse_mean": mcse["mean"],
                        "mcse_q05": mcse["q05"],
                        "mcse_q50": mcse["q50"],
                        "mcse_q95": mcse["q95"],
                        "mcse_p_above_margin": mcse_p_above,
                    }
            rows.append(row)
    columns = [
        "form",
        "predictor",
        "parameter",
        "mean",
        "q05",
        "q50",
        "q95",
        "margin",
        "p_above_margin",
        "status",
        "k_hat",
        "k_hat_threshold",
        "ess",
        "draws",
        "attempts",
        "grid_points",
        "edge_mass",
        "mcse_mean",
        "mcse_q05",
        "mcse_q50",
        "mcse_q95",
        "mcse_p_above_margin",
        "note",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


# ---------------------------------------------------------------------------------------------------------
# Validation against the NUTS reference posteriors (tests/reference/pooling)
# ---------------------------------------------------------------------------------------------------------


def errors(table: pd.DataFrame, reference: dict) -> dict[str, float]:
    """Largest error over the parameters of a `posterior_summary()` against a reference's `parameters`, in the
    units of TOLERANCE."""
    out = dict.fromkeys(TOLERANCE, 0.0)
    for name, r in reference.items():
        ours, sd = table.loc[name], r["sd"]
        out["mean"] = max(out["mean"], abs(ours["mean"] - r["mean"]) / sd)
        out["sd"] = max(out["sd"], abs(ours["sd"] / sd - 1))
        out["q05"] = max(out["q05"], abs(ours["q05"] - r["q05"]) / sd)
        out["q95"] = max(out["q95"], abs(ours["q95"] - r["q95"]) / sd)
        if "p_positive" in r:
            out["p_positive"] = max(out["p_positive"], abs(ours["p_positive"] - r["p_positive"]))
    return out


def reference_agreement(pooled: dict[str, PooledFit], cases: pd.DataFrame, reference_dir: str | Path) -> pd.DataFrame:
    """Per form: the largest error of the partially pooled posterior against the NUTS reference of the same model on
    the same sheet (MODEL.md: 4 chains x 5,000 draws), in units of the declared tolerance (<= 1 passes). Empty when
    the sheet is not the one the references were computed on."""
    reference_dir = Path(reference_dir)
    sheet = reference_dir / "sheet_simulated.csv"
    if not sheet.exists() or not _same_cases(cases, pd.read_csv(sheet)):
        return pd.DataFrame()
    rows = []
    for form, fit in pooled.items():
        path = reference_dir / f"sheet_simulated__{form}.json"
        if fit.result is None or not path.exists():
            continue
        ref = json.loads(path.read_text(encoding="utf-8"))["parameters"]
        e = errors(fit.result.posterior_summary(), ref)
        rows.append(
            {"form": form}
            | {f"{k}_error": v for k, v in e.items()}
            | {"worst_x_tolerance": max(e[k] / TOLERANCE[k] for k in e), "status": fit.status}
        )
    return pd.DataFrame(rows)


def _same_cases(cases: pd.DataFrame, sheet: pd.DataFrame) -> bool:
    columns = ["case_id", "sectoral_group", "collective_efficiency", "governance", *load_codebook().upgrading_forms]
    if len(cases) != len(sheet) or not set(columns) <= set(sheet.columns) | {"leader_driven"}:
        return False
    a = cases[columns].astype(str).reset_index(drop=True)
    b = sheet[columns].astype(str).reset_index(drop=True)
    return bool((a == b).all().all())
