"""Benchmark: notebook 04's tables of the partially pooled fits (`pooling.slopes_table`, `pooling.tau_table`, each
fit's `posterior_summary`), with each parameter's Monte Carlo standard errors computed once and kept (now) against
computed again for every table and every group slope that asks (before), side by side in one run.

The four forms are fitted once, at the default settings, on the simulated sheet; each side then makes the tables
from the same fits, its kept MCSEs cleared first, alternating which side goes first. The "before" side is the
earlier `PartiallyPooledResults.mcse`, kept here: one batch of the asked parameters per call, nothing kept. The
script checks that both sides give the same tables (to 1e-12 relative; a parameter's MCSE is now computed on its
own, no longer in a batch with others, which moves its last bits) and prints each time, the medians and the ratio.
Usage:  python benchmarks/bench_posterior_tables.py [--repeats N]
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path

import numpy as np
import pandas as pd
from side_by_side import print_times, time_sides

ROOT = Path(__file__).resolve().parents[1]


def mcse_before(self, cols=None) -> pd.DataFrame:
    """`PartiallyPooledResults.mcse` before its MCSEs were kept: every asked parameter in one batch, every call."""
    from upgrading.ordinal.multilevel_results import QUANTILES

    names = self.names if cols is None else list(cols)
    index = [self.names.index(n) for n in names]
    x, w2 = self.draws[:, index], self.weights**2
    mean, sd = self.params[names].to_numpy(), self.bse[names].to_numpy()
    centred = (x - mean) ** 2
    table = pd.DataFrame(index=names)
    table["mean"] = np.sqrt(w2 @ centred)
    table["sd"] = np.sqrt(w2 @ (centred - sd**2) ** 2) / (2 * np.where(sd > 0, sd, np.nan))
    probs = np.array(list(QUANTILES.values()))
    order = self._order(index)
    spread = np.empty((len(names), len(probs)))
    for c, j in enumerate(index):
        xs, ws = self.draws[order[:, c], j], self.weights[order[:, c]]
        mid, below_w2 = np.cumsum(ws) - 0.5 * ws, np.cumsum(ws**2)
        q = np.interp(probs, mid, xs)
        at = np.searchsorted(xs, q, side="right")
        w2_below = np.where(at > 0, below_w2[np.maximum(at - 1, 0)], 0.0)
        se_p = np.sqrt(w2_below * (1 - probs) ** 2 + (below_w2[-1] - w2_below) * probs**2)
        spread[c] = (
            np.interp(np.clip(probs + se_p, 0, 1), mid, xs) - np.interp(np.clip(probs - se_p, 0, 1), mid, xs)
        ) / 2
    for k, label in enumerate(QUANTILES):
        table[label] = spread[:, k]
    positive = x > 0
    table["p_positive"] = np.sqrt(w2 @ (positive - self.weights @ positive) ** 2)
    table.index.name = "parameter"
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from upgrading.study import claims, coding, models, pooling, simulate

    cases = coding.load_cases(ROOT / "data" / "raw" / simulate.FIRST_CODER_FILE)
    fits, complete = models.fit_models(cases), pooling.complete_pooling_fits(cases)
    pooled = pooling.pooled_fits(cases)
    margins = claims.load_register().margins
    results = [fit.result for fit in pooled.values()]
    kept_mcse = type(results[0]).mcse

    def tables(mcse):
        for result in results:
            result._mcse.clear()
            result.mcse = types.MethodType(mcse, result)
        summaries = [result.posterior_summary() for result in results]
        return pooling.slopes_table(cases, pooled, fits, complete), pooling.tau_table(pooled, margins), summaries

    sides = {"before (computed per call)": lambda: tables(mcse_before), "now (kept)": lambda: tables(kept_mcse)}
    times, made = time_sides(sides, args.repeats)
    before, now = made.values()
    same = all(
        np.allclose(a.select_dtypes("number"), b.select_dtypes("number"), rtol=1e-12, atol=0, equal_nan=True)
        for a, b in zip([before[0], before[1], *before[2]], [now[0], now[1], *now[2]])
    )
    print(f"{len(results)} fits; the same tables (rtol 1e-12): {same}")
    print_times(times)


if __name__ == "__main__":
    main()
