"""Benchmark: ordered-logit fits of `y ~ x + governance` on n = 50: single, batched and statsmodels, side by side.

Single: `upgrading.ordinal.ordered_logit` (formula, analytic Newton, separation check included) on the
simulated coding sheet. Batched: `upgrading.ordinal.fit_replicates` (the same engine over all replicates at once,
separation check included) on `--batch` copies of the same design, per fit. statsmodels: `OrderedModel(...).fit(method=
"bfgs")` on the same design (formula building excluded, which flatters statsmodels). Prints the per-fit
medians, the accuracy against a tightly converged reference, the same single fit with the probit link, and the
closing lines `ratios vs statsmodels: single=NNx batched=NNx` and `probit / logit single fit: N.Nx`.
Usage:  python benchmarks/bench_models.py [--repeats N] [--batch R]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def per_fit_ms(functions: dict, repeats: int, block_ms: float = 200.0) -> dict:
    """Median ms per call of each function. Each repeat times every function in turn (the order rotated from one
    repeat to the next), so that a machine that speeds up or slows down during the run moves every ratio's
    numerator and denominator alike; within a turn a function runs for about `block_ms` and the block's mean is one
    sample, so that each is timed warm, as it runs in use, not cold after another one's cache misses."""
    calls = {}
    for name, fn in functions.items():
        start = time.perf_counter()
        fn()
        calls[name] = max(1, int(block_ms / max((time.perf_counter() - start) * 1e3, 1e-3)))
    samples: dict = {name: [] for name in functions}
    names = list(functions)
    for k in range(repeats):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            fn = functions[name]
            fn()  # warm
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) * 1e3 / calls[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="replicates per batched call")
    args = parser.parse_args()

    import pandas as pd
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    from upgrading.ordinal import Batch, CumulativeLink, build_design, fit_replicates, ordered_logit
    from upgrading.paths import DATA_RAW
    from upgrading.study.coding import load_cases

    cases = load_cases(DATA_RAW / "coding_sheet_simulated.csv")
    formula = "product_upgrading ~ collective_efficiency + governance"
    X = pd.get_dummies(cases[["collective_efficiency", "governance"]], drop_first=True, dtype=float)
    y = cases["product_upgrading"].to_numpy()

    def ours():
        return ordered_logit(formula, cases)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=1000)

    def ours_probit():
        return CumulativeLink.from_formula(formula, cases, link="probit").fit()

    design = build_design(formula, cases)
    batch = Batch.of(design, args.batch)

    def ours_batched():
        return fit_replicates(batch)

    times = per_fit_ms({"ours": ours, "probit": ours_probit, "theirs": theirs, "batched": ours_batched}, args.repeats)
    ours_ms, probit_ms, theirs_ms = times["ours"], times["probit"], times["theirs"]
    batched_ms = times["batched"] / args.batch
    fit, sm = ours(), theirs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tight = OrderedModel(y, X, distr="logit").fit(method="newton", disp=False, maxiter=200)
    reference = tight.params.to_numpy()[: X.shape[1]]
    ours_slopes = fit.slopes.rename(lambda t: t.replace("[T.", "_").rstrip("]"))[list(X.columns)].to_numpy()
    print(f"data: simulated coding sheet, n = {len(cases)}; model: {formula}")
    print(
        f"ours (formula + Newton + separation check): {ours_ms:8.2f} ms per fit; "
        f"max |slope - reference| = {np.max(np.abs(ours_slopes - reference)):.1e}"
    )
    many = ours_batched()

    def as_columns(series):
        return series.rename(lambda t: t.replace("[T.", "_").rstrip("]"))[list(X.columns)].to_numpy()

    batched_slopes = np.stack([as_columns(pd.Series(row, index=design.names)) for row in many.params])
    print(
        f"batched ({args.batch} copies of the design per call): {batched_ms:8.3f} ms per fit; "
        f"max |slope - reference| = {np.max(np.abs(batched_slopes - reference)):.1e}"
    )
    print(
        f"statsmodels OrderedModel.fit(bfgs):         {theirs_ms:8.2f} ms per fit; "
        f"max |slope - reference| = {np.max(np.abs(sm.params.to_numpy()[: X.shape[1]] - reference)):.1e}"
    )
    print(f"ours, probit link (the same single fit):     {probit_ms:8.2f} ms per fit")
    print(f"ratios vs statsmodels: single={theirs_ms / ours_ms:.0f}x batched={theirs_ms / batched_ms:.0f}x")
    print(f"probit / logit single fit: {probit_ms / ours_ms:.1f}x")


if __name__ == "__main__":
    main()
