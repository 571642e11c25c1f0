"""Benchmark: the design analysis (notebook 06) at its committed setting, and the cost of the exact profile rule.

Times `power.run` at the notebook's setting (1,000 replicates in each of 4 x 2 design cells, 2 joblib workers),
then runs `--sample` replicates at 30 and at 50 cases both ways (Jeffreys-penalised fits decided by Wald intervals,
as the notebook does, and by profile penalised likelihood, as notebook 05 does) and prints how often the verdicts
agree.
Usage:  python benchmarks/bench_power.py [--sample N] [--skip-full]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=100, help="replicates per number of cases for the agreement")
    parser.add_argument("--skip-full", action="store_true", help="skip the committed-setting run")
    args = parser.parse_args()

    from upgrading.study import power

    if not args.skip_full:
        start = time.perf_counter()
        raw = power.run(replicates=1000, cases=[30, 50, 100, 200], effect_scales=[0.5, 1.0], n_jobs=2, progress=False)
        seconds = time.perf_counter() - start
        print(
            f"committed setting: {raw['replicate'].nunique()} replicates x 8 design cells x 27 claims "
            f"in {seconds:.1f} s on 2 workers"
        )
    for n_cases in (30, 50):
        seeds = power.replicate_seeds(1, 1, args.sample)[0]
        cell = power.DesignCell(n_cases, 1.0)
        start = time.perf_counter()
        approximate = power.label(power.run_chunk(cell, seeds, 0))
        fast = time.perf_counter() - start
        start = time.perf_counter()
        exact = power.label(power.run_chunk(cell, seeds, 0, exact=True))
        slow = time.perf_counter() - start
        penalised = exact["fit"] == "jeffreys"
        agree = exact["verdict"] == approximate["verdict"]
        print(
            f"n = {n_cases}: {args.sample} replicates in {fast:.1f} s (Wald after Jeffreys) vs {slow:.1f} s (profile); "
            f"verdicts agree on {agree.mean():.3f} of all claims and {agree[penalised].mean():.3f} of those "
            f"decided from a Jeffreys-penalised fit ({penalised.mean():.2f} of claims)"
        )


if __name__ == "__main__":
    main()
