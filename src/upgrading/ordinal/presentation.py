"""How a cumulative link fit is shown: `tidy` (R broom's one row per slope) and `summary` (a statsmodels
`Summary`, with `as_text`, `as_html` and `as_latex`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METHOD_LABELS = {
    None: "maximum likelihood",
    "jeffreys": "maximum Jeffreys-penalised likelihood",
    "br": "mean bias reduction (adjusted score equations)",
}


def tidy(results, alpha: float = 0.05, conf_int: str | None = None) -> pd.DataFrame:
    """One row per slope: estimate, SE, test statistic, p, interval and odds ratios (R broom's `tidy`).

    `conf_int` is 'wald' or 'profile' (default: profile for a Jeffreys-penalised fit, Wald otherwise); the
    statistic and p-value are the test that goes with the interval (Wald z, or the signed root of the
    likelihood-ratio statistic: of the penalised likelihood for a penalised fit, as `test` says), so a p-value below
    alpha means 0 lies outside the 1 - alpha interval.
    """
    kind = conf_int or ("profile" if results.penalty == "jeffreys" else "wald")
    if kind not in ("wald", "profile"):
        raise ValueError(f"conf_int must be 'wald' or 'profile', not {conf_int!r}")
    slopes = list(results.design.names)
    ci = results.conf_int(alpha, slopes) if kind == "wald" else results.profile_conf_int(alpha, slopes)
    if kind == "wald":
        statistic, p_value, test = results.tvalues[slopes].values, results.pvalues[slopes].values, "Wald z"
    else:
        statistic = np.array([results.signed_root(c, 0.0)[0] for c in slopes])
        penalised = results.penalty is not None or results.prior is not None  # the objective the profile maximises
        test = f"{'penalised ' if penalised else ''}likelihood ratio (signed root)"
        p_value = 2 * stats.norm.sf(np.abs(statistic))
    table = pd.DataFrame(
        {
            "term": slopes,
            "estimate": results.params[slopes].values,
            "std_error": results.bse[slopes].values,
            "statistic": statistic,
            "p_value": p_value,
            "conf_low": ci[0].values,
            "conf_high": ci[1].values,
        }
    )
    odds = results.link.name == "logit"  # exp(slope) is an odds ratio for the logit link only
    for name, column in (("odds_ratio", "estimate"), ("or_conf_low", "conf_low"), ("or_conf_high", "conf_high")):
        table[name] = np.exp(table[column]) if odds else np.nan
    table["method"] = results.method
    table["interval"] = kind
    table["test"] = test
    diverging = dict(zip(results.model.engine_names, results.diverging))
    table["separated"] = [bool(diverging[t]) or t in results.separation.terms for t in slopes]
    table["note"] = [results.interval_note(c, alpha) if kind == "profile" else "" for c in slopes]
    if results.design.aliased:  # one row per term left out, with the reason instead of a number
        rows = pd.DataFrame(
            {
                "term": list(results.design.aliased),
                "note": list(results.design.aliased.values()),
                "method": results.method,
                "interval": kind,
                "test": test,
                "separated": False,
            }
        )
        table = pd.concat([table, rows], ignore_index=True)
    return table


def summary(results, alpha: float = 0.05):
    """A statsmodels `Summary` (`as_text()`, `as_html()`, `as_latex()`): model facts, then every parameter."""
    from statsmodels.iolib.summary2 import Summary

    d = results.design
    status = (
        "separated: ML estimates of " + ", ".join(results.separation.terms) + " are infinite"
        if results.diverging.any()
        else f"{results.converged} ({results.n_iter} iterations)"
    )
    info = {
        "Model:": f"Cumulative link ({'proportional' if d.Z is None else 'partial proportional'} odds)",
        "Outcome:": d.outcome,
        "Method:": METHOD_LABELS[results.penalty] + (" with a Gaussian prior" if results.prior is not None else ""),
        "Link:": f"{results.link.name}; P(Y <= j) = F(threshold_j - x'beta)",
        "Observations:": f"{results.nobs:g}",
        "Outcome levels:": ", ".join(map(str, d.levels)),
        "Log-likelihood:": f"{results.llf:.4f}",
        "AIC:": f"{results.aic:.4f}",
        "BIC:": f"{results.bic:.4f}",
        "Converged:": status,
        "Condition number:": f"{results.hessian_condition:.3g}",
    }
    if results.penalty == "jeffreys":
        info["Penalised log-lik.:"] = f"{results.objective:.4f}"
    smry = Summary()
    smry.add_title(f"Cumulative link model ({results.link.name}): {d.formula}")
    smry.add_dict(info, ncols=2)
    ci = results.conf_int(alpha)
    table = pd.DataFrame(
        {
            "coef": results.params,
            "std err": results.bse,
            "z": results.tvalues,
            "P>|z|": results.pvalues,
            f"[{alpha / 2:g}": ci[0],
            f"{1 - alpha / 2:g}]": ci[1],
        }
    )
    smry.add_df(table, float_format="%.4f")
    notes = [
        "Intervals are Wald intervals; profile intervals: profile_conf_int(). Standard errors: "
        + (
            "inverse expected information at the penalised estimate."
            if results.penalty
            else "inverse observed information."
        )
    ]
    if results.separation.separated:
        notes.append(
            f"WARNING: the data are separated ({results.separation}); maximum-likelihood estimates of "
            "these terms are infinite"
            + (
                f"; the estimates above, by {METHOD_LABELS[results.penalty]}, are finite."
                if results.penalty
                else "; use penalty='jeffreys'."
            )
        )
    if results.design.aliased:
        left_out = "; ".join(f"{term} ({why})" for term, why in results.design.aliased.items())
        notes.append(f"Left out as not estimable: {left_out}")
    for note in notes:
        smry.add_text(note)
    return smry
