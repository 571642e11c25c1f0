"""Benchmark: notebook 02's bootstrap of Krippendorff's alpha, one `krippendorff.alpha` call per resample (as
before) against the batched resamples (`reliability.bootstrap_alphas`), side by side in one run.

Both sides compute every variable's 2,000 resamples (notebook 02's setting) on the simulated sheet and its second
coder, alternating which goes first; the script checks that they give the same alphas bit for bit and prints each
time, the medians and the ratio.
Usage:  python benchmarks/bench_reliability.py [--repeats N] [--resamples B]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from side_by_side import print_times, time_sides

ROOT = Path(__file__).resolve().parents[1]


def inputs(resamples: int):
    """(counts, domain, metric) per reported variable, and the seeded resamples, as `reliability_table` makes them."""
    from upgrading.study import coding, reliability, settings, simulate

    first = coding.load_cases(ROOT / "data" / "raw" / simulate.FIRST_CODER_FILE)
    second = coding.load_cases(ROOT / "data" / "raw" / simulate.SECOND_CODER_FILE)
    a, b = reliability.pair_up(first, second)
    draws = np.random.default_rng(settings.BOOTSTRAP_SEED).integers(0, len(a), size=(resamples, len(a)))
    variables = []
    for variable, metric in reliability.reliability_variables().items():
        data = reliability._codes(a[variable], b[variable], metric)
        domain = np.unique(data[~np.isnan(data)])
        variables.append((reliability.value_counts(data, domain), domain, metric))
    return variables, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    from upgrading.study import reliability

    variables, draws = inputs(args.resamples)

    def one_call_each():
        return [np.array([reliability.alpha_from_counts(c[idx], d, m) for idx in draws]) for c, d, m in variables]

    def batched():
        return [reliability.bootstrap_alphas(c, d, m, draws) for c, d, m in variables]

    sides = {"one call per resample": one_call_each, "batched": batched}
    times, results = time_sides(sides, args.repeats)
    same = all(np.array_equal(x, y, equal_nan=True) for x, y in zip(*results.values()))
    print(f"{len(variables)} variables x {args.resamples} resamples; the same alphas bit for bit: {same}")
    print_times(times)


if __name__ == "__main__":
    main()
