"""The posterior of a partially pooled ordered logit, as weighted draws, summarised the way statsmodels results are.

Every reported quantity (means, SDs, quantiles, P(> 0)) is a weighted summary of the same draws. The results hold
the fit's problems (`multilevel.diagnose`) and carry them into every table, so an unreliable posterior is never
passed off as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .multilevel_inputs import SYMBOLS, PooledData, PoolingPriors, PoolingSettings
from .psis import khat_threshold, sort_order, weighted_quantiles

QUANTILES = {"q025": 0.025, "q05": 0.05, "q50": 0.5, "q95": 0.95, "q975": 0.975}


@dataclass(frozen=True)
class AccuracyRule:
    """What "ok" means for a posterior computed by importance sampling. The tolerance to which it is checked against
    a long NUTS run: posterior means within `mean` posterior SD, SDs within `sd` (relative), quantiles within
    `quantile` SD, P(> 0) within `p_positive`. A fit is "ok" when k-hat is at most its threshold for the number of
    draws (Vehtari et al. 2024), the effective sample size is at least `ess_min`, and every Monte Carlo standard
    error of a reported summary (mean, SD, the 2.5, 5, 50, 95 and 97.5% quantiles, P(> 0)) of a reported
    parameter is at most `mcse_share` of its tolerance (two MCSEs inside it). A fit that cannot reach that bound
    by its last attempt is still accepted where every MCSE is within `accept_share` of its tolerance."""

    ess_min: float = 2000.0
    mean: float = 0.1
    sd: float = 0.10
    quantile: float = 0.15
    p_positive: float = 0.03
    mcse_share: float = 0.5
    accept_share: float = 0.75

    def scaled_mcse(self, mcse: pd.DataFrame, sd: np.ndarray, final: bool = False) -> dict[str, pd.Series]:
        """Each summary's MCSEs (`PartiallyPooledResults.mcse`) over its bound: above 1 misses the rule. The bound
        is `mcse_share` of the tolerance while a fit can still improve itself and, after its last attempt,
        `accept_share` (a looser bound, so that an MCSE estimated just above the stopping bound at one seed and
        just below it at another does not flip the status)."""
        bound = {"mean": self.mean, "SD": self.sd, "quantile": self.quantile, "P(> 0)": self.p_positive}
        out = {"mean": mcse["mean"] / sd / bound["mean"], "SD": mcse["sd"] / sd / bound["SD"]}
        out |= {f"{label} quantile": mcse[label] / sd / bound["quantile"] for label in QUANTILES}
        out["P(> 0)"] = mcse["p_positive"] / bound["P(> 0)"]
        share = self.accept_share if final else self.mcse_share
        return {what: values / share for what, values in out.items()}


ACCURACY = AccuracyRule()


class PartiallyPooledResults:
    """Posterior of a partially pooled ordered logit: params (posterior means), bse (SDs), conf_int() (equal-tailed
    credible intervals), posterior_summary(), summary(), tidy(); `ok`, `notes` and `diagnostics` say how far
    to trust it."""

    def __init__(
        self,
        d: PooledData,
        priors: PoolingPriors,
        settings: PoolingSettings,
        names: list[str],
        draws: np.ndarray,
        weights: np.ndarray,
        k_hat: float,
        grid: dict,
        problems: list[str],
    ):
        self.data = d
        self.priors = priors
        self.settings = settings
        self.outcome = d.outcome
        self.groups = list(d.groups)
        self.symbols = list(SYMBOLS[: len(d.varying)])
        self.k_hat = k_hat
        self.grid = grid
        self.names = names
        self.draws = draws
        self.weights = weights
        self.ess = float(1 / np.sum(weights**2)) if np.all(np.isfinite(weights)) else 0.0
        self.notes = list(d.notes)
        self.problems = list(problems)
        self.ok = not problems
        self.attempts: list[dict] = []  # the settings tried until the accuracy rule passed (`partially_pooled`)
        self.covered: list[str] = self.reported()  # the parameters the accuracy rule is checked on
        self._mcse: dict[str, np.ndarray] = {}  # each parameter's MCSEs, once computed (`mcse`)

    @property
    def status(self) -> str:
        return "ok" if self.ok else "unreliable: " + "; ".join(self.problems)

    @property
    def diagnostics(self) -> dict:
        """k-hat, effective sample size, grid edge mass and size: what the table's status is decided from."""
        return {
            "k_hat": self.k_hat,
            "k_hat_threshold": khat_threshold(self.settings.draws),
            "ess": self.ess,
            "draws": self.settings.draws,
            "grid_points": len(self.grid["weight"]),
            "grid_step": self.settings.grid_step,
            "edge_mass": dict(self.grid["edge_mass"]),
            "unusable_grid_points": int(np.sum(~self.grid["usable"])),
            "seed": self.settings.seed,
            "attempts": len(self.attempts),
        }

    # -- estimates -------------------------------------------------------------------------------------------
    @cached_property
    def params(self) -> pd.Series:
        """Posterior means."""
        return pd.Series(self.weights @ self.draws, index=self.names, name="params")

    @cached_property
    def bse(self) -> pd.Series:
        """Posterior SDs."""
        var = self.weights @ (self.draws - self.params.to_numpy()) ** 2
        return pd.Series(np.sqrt(var), index=self.names, name="bse")

    @cached_property
    def _orders(self) -> dict[int, np.ndarray]:
        return {}

    def _order(self, index: list[int]) -> np.ndarray:
        """The draws of parameters `index` in ascending order, each sorted once for every quantile asked later."""
        for j in index:
            if j not in self._orders:
                self._orders[j] = sort_order(self.draws[:, [j]])[:, 0]
        return np.stack([self._orders[j] for j in index], axis=1)

    def quantiles(self, probs: Sequence[float], cols=None) -> pd.DataFrame:
        """Posterior quantiles (rows: parameters, or `cols`; columns: probs)."""
        names = self.names if cols is None else list(cols)
        index = [self.names.index(n) for n in names]
        q = weighted_quantiles(self.draws[:, index], self.weights, list(probs), self._order(index))
        return pd.DataFrame(q.T, index=names, columns=list(probs))

    def conf_int(self, alpha: float = 0.05, cols=None) -> pd.DataFrame:
        """Equal-tailed 1 - alpha credible intervals (columns 0 and 1, as statsmodels)."""
        q = self.quantiles([alpha / 2, 1 - alpha / 2], cols)
        q.columns = [0, 1]
        return q

    @cached_property
    def p_positive(self) -> pd.Series:
        """P(> 0) of the group slopes."""
        slopes = [n for n in self.names if "[" in n and not n.startswith(("delta[", "theta["))]
        cols = [self.names.index(n) for n in slopes]
        return pd.Series(self.weights @ (self.draws[:, cols] > 0), index=slopes, name="p_positive")

    def probability_above_with_mcse(self, name: str, value: float = 0.0) -> tuple[float, float]:
        """P(parameter > value) and its Monte Carlo standard error from the self-normalised importance weights w:
        Var(sum w h) ~ sum w^2 (h - p)^2 with h = 1(x > value) (`_mcse_of`'s rule, used for P(> 0) there)."""
        above = self.draws[:, self.names.index(name)] > value
        p = self.weights @ above
        return float(p), float(np.sqrt(self.weights**2 @ (above - p) ** 2))

    def reported(self) -> list[str]:
        """The parameters the accuracy rule covers: mu, tau and the group slopes (not the shifts and thresholds)."""
        return [n for n in self.names if not n.startswith(("delta[", "theta["))]

    def mcse(self, cols=None) -> pd.DataFrame:
        """Monte Carlo standard errors of the posterior mean, SD, quantiles and P(> 0) (rows: parameters, or
        `cols`; `_mcse_of`), each parameter's computed once and kept: tables, the accuracy rule and each group slope
        ask for the same ones."""
        names = self.names if cols is None else list(cols)
        for name in names:
            if name not in self._mcse:
                self._mcse[name] = self._mcse_of(name)
        return pd.DataFrame(
            np.array([self._mcse[n] for n in names]).reshape(len(names), len(QUANTILES) + 3),
            index=pd.Index(names, name="parameter"),
            columns=["mean", "sd", *QUANTILES, "p_positive"],
        )

    def _mcse_of(self, name: str) -> np.ndarray:
        """Monte Carlo standard errors of one parameter's posterior mean, SD, quantiles and P(> 0) (`mcse`'s columns),
        from the self-normalised importance weights w: Var(sum w h) ~ sum w^2 (h - E h)^2 (Vehtari et al. 2024),
        with h = x for the mean, (x - m)^2 for the variance (delta method for the SD), 1(x > 0) for P(> 0), and
        1(x <= q_p) for a quantile's probability, carried to the quantile scale as half the distance between the
        quantiles at p -/+ that standard error. One parameter at a time, so its numbers do not depend on which
        others are asked for with it."""
        j = self.names.index(name)
        x, w, w2 = self.draws[:, j], self.weights, self.weights**2
        mean, sd = self.params.iloc[j], self.bse.iloc[j]
        centred = (x - mean) ** 2
        se_mean = np.sqrt(w2 @ centred)
        se_sd = np.sqrt(w2 @ (centred - sd**2) ** 2) / (2 * sd) if sd > 0 else np.nan
        probs = np.array(list(QUANTILES.values()))
        order = self._order([j])[:, 0]
        xs, ws = x[order], w[order]  # the weighted ECDF of `quantiles`, on the sorted draws
        mid, below_w2 = np.cumsum(ws) - 0.5 * ws, np.cumsum(ws**2)
        q = np.interp(probs, mid, xs)
        at = np.searchsorted(xs, q, side="right")  # draws <= q
        w2_below = np.where(at > 0, below_w2[np.maximum(at - 1, 0)], 0.0)
        se_p = np.sqrt(w2_below * (1 - probs) ** 2 + (below_w2[-1] - w2_below) * probs**2)
        spread = (np.interp(np.clip(probs + se_p, 0, 1), mid, xs) - np.interp(np.clip(probs - se_p, 0, 1), mid, xs)) / 2
        return np.array([se_mean, se_sd, *spread, self.probability_above_with_mcse(name)[1]])

    def shortfall(self, rule: AccuracyRule = ACCURACY) -> float | None:
        """How many times the draws the accuracy rule calls for (1 or less: enough), from the effective sample size
        and the largest MCSE against its bound (MCSE ~ 1 / sqrt(draws)); None where k-hat fails."""
        if not self.k_hat <= khat_threshold(self.settings.draws):
            return None
        worst = max(values.fillna(0).max() for values in self._scaled_mcse(rule).values())
        # MCSE ~ draws^-1/2 for a light-tailed weight distribution, draws^-(1-k) for k-hat = k > 1/2 (slower)
        rate = 0.5 if self.k_hat <= 0.5 else 1 - self.k_hat
        return float(max(rule.ess_min / max(self.ess, 1.0), worst ** (1 / rate)))

    def _scaled_mcse(self, rule: AccuracyRule, final: bool = False) -> dict[str, pd.Series]:
        """The covered parameters' MCSEs over their bounds."""
        return rule.scaled_mcse(self.mcse(self.covered), self.bse[self.covered].to_numpy(), final)

    def accuracy_problems(self, rule: AccuracyRule = ACCURACY, final: bool = False) -> list[str]:
        """Where the posterior misses the accuracy rule on the covered parameters (empty when it passes); `final`:
        against the acceptance bound that applies after a fit's last attempt."""
        problems = []
        limit = khat_threshold(self.settings.draws)
        if not self.k_hat <= limit:
            problems.append(f"PSIS k-hat {self.k_hat:.2f} > {limit:.2f}")
        if not self.ess >= rule.ess_min:
            problems.append(f"effective sample size {self.ess:.0f} < {rule.ess_min:.0f}")
        if problems:
            return problems
        for what, values in self._scaled_mcse(rule, final).items():
            worst = values.fillna(0).idxmax()
            if values[worst] > 1:
                problems.append(f"the Monte Carlo SE of the {what} of {worst} is {values[worst]:.2f} times its bound")
        return problems

    def posterior_summary(self) -> pd.DataFrame:
        """mean, sd, q025, q05, q50, q95, q975 of every parameter (MODEL.md's names) and p_positive of the slopes,
        each with its Monte Carlo standard error (`mcse_<summary>`)."""
        table = pd.DataFrame({"mean": self.params, "sd": self.bse})
        q = self.quantiles(list(QUANTILES.values()))
        for name, p in QUANTILES.items():
            table[name] = q[p]
        table["p_positive"] = self.p_positive.reindex(table.index)
        mcse = self.mcse()
        for column in mcse:  # the Monte Carlo standard error of each summary (P(> 0): the slopes' only)
            table[f"mcse_{column}"] = mcse[column].where(table[column].notna()) if column in table else mcse[column]
        table.index.name = "parameter"
        table.attrs["status"] = self.status
        table.attrs["diagnostics"] = self.diagnostics
        return table

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: posterior mean, SD, credible interval, P(> 0), and the fit's status and k-hat."""
        ci = self.conf_int(alpha)
        table = pd.DataFrame(
            {
                "term": self.names,
                "estimate": self.params.values,
                "std_error": self.bse.values,
                "conf_low": ci[0].values,
                "conf_high": ci[1].values,
                "p_positive": self.p_positive.reindex(self.names).values,
            }
        )
        table["method"] = "partial pooling (grid-Laplace + PSIS)"
        table["k_hat"] = self.k_hat
        table["status"] = self.status
        return table

    # -- report ----------------------------------------------------------------------------------------------
    def summary(self, alpha: float = 0.05):
        """A statsmodels `Summary`: model and computation facts, the posterior table, notes and problems."""
        from statsmodels.iolib.summary2 import Summary

        d = self.data
        smry = Summary()
        smry.add_title(f"Partially pooled ordered logit: {d.outcome} by {d.group_column}")
        smry.add_dict(self._facts(), ncols=2)
        table = self.posterior_summary()
        ci = self.conf_int(alpha)
        table = pd.DataFrame(
            {
                "mean": table["mean"],
                "sd": table["sd"],
                f"[{alpha / 2:g}": ci[0],
                f"{1 - alpha / 2:g}]": ci[1],
                "P(>0)": table["p_positive"],
            }
        )
        smry.add_df(table, float_format="%.4f")
        p = self.priors
        smry.add_text(
            f"Priors: mu ~ Normal(0, {p.mu_sd:g}), tau ~ HalfNormal({p.tau_scale:g}), delta ~ Normal(0, "
            f"{p.delta_sd:g}), thresholds ~ Normal(0, {p.threshold_sd:g}) ordered. Logit P(Y <= j) = "
            "theta[j] - eta. Intervals are equal-tailed credible intervals."
        )
        for note in self.notes:
            smry.add_text("Note: " + note)
        for problem in self.problems:
            smry.add_text("WARNING: " + problem)
        return smry

    def _facts(self) -> dict[str, str]:
        """The summary's header: the model, the data, and how the posterior was computed and how well."""
        d = self.data
        return {
            "Model:": "Partially pooled ordered logit",
            "Outcome:": d.outcome,
            "Groups:": f"{d.group_column} ({len(self.groups)}; reference {self.groups[0]})",
            "Varying slopes:": ", ".join(f"{s}: {v}" for s, v in zip(self.symbols, d.varying)),
            "Observations:": str(len(d.y)),
            "Outcome levels:": ", ".join(map(str, d.levels)),
            "Method:": "grid over log tau + Laplace, PSIS-corrected",
            "Grid points:": f"{len(self.grid['weight'])} (step {self.settings.grid_step:g})",
            "Draws / ESS:": f"{self.settings.draws} / {self.ess:.0f}",
            "k-hat:": f"{self.k_hat:.3f} (limit {khat_threshold(self.settings.draws):.2f})",
            "Edge mass:": f"{max(self.grid['edge_mass'].values()):.2g}",
            "Status:": "ok" if self.ok else "UNRELIABLE",
        }

    def __repr__(self) -> str:
        return f"<PartiallyPooledResults {self.outcome!r} by {self.data.group_column!r}, {self.status}>"
