"""The posterior of a partially pooled ordered logit, as weighted draws, summarised the way statsmodels results are.

Every reported quantity (means, SDs, quantiles, P(> 0)) is a weighted summary of the same draws. The results hold
the fit's problems (`multilevel.diagnose`) and carry them into every table, so an unreliable posterior is never
passed off as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from .multilevel_inputs import SYMBOLS, PooledData, PoolingPriors, PoolingSettings
from .psis import khat_threshold, sort_order, weighted_quantiles

QUANTILES = {"q025": 0.025, "q05": 0.05, "q50": 0.5, "q95": 0.95, "q975": 0.975}


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

    def posterior_summary(self) -> pd.DataFrame:
        """mean, sd, q025, q05, q50, q95, q975 of every parameter (MODEL.md's names) and p_positive of the slopes."""
        table = pd.DataFrame({"mean": self.params, "sd": self.bse})
        q = self.quantiles(list(QUANTILES.values()))
        for name, p in QUANTILES.items():
            table[name] = q[p]
        table["p_positive"] = self.p_positive.reindex(table.index)
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
