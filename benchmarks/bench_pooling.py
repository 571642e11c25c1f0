"""Benchmark: the partially pooled ordered logit of the four forms of upgrading, beside NumPyro NUTS on the same model.

Ours: `upgrading.ordinal.partially_pooled` on the reference sheet (tests/reference/pooling), the four outcomes
fitted one after the other, median of `--repeats` runs of all four; the default settings and the fast ones
(`FAST`: coarser grid, fewer importance draws, for simulation studies). Each fit improves itself until it passes
the accuracy rule (more draws, a finer grid); a fit that needed more than one attempt is listed with what it
tried. Agreement: against the NUTS reference
posteriors stored beside the sheet, the largest error of each reported quantity in the units of the declared
tolerance (`upgrading.study.pooling.TOLERANCE`: mean and quantiles in posterior SDs, SD relative, P(> 0) absolute).

NUTS: with `--nuts-python PYTHON` (an interpreter with numpyro, jax and arviz, kept out of the project's lock),
the reference script `make_pooling_ref.py` is run on the same sheet in a temporary folder in the same run: its
wall time (every attempt of its escalation schedule, as recorded) gives the speed ratio, and its fresh posteriors
a second agreement check. Without it, the run times recorded in the stored reference JSONs are used (and said so).
Usage:  python benchmarks/bench_pooling.py [--repeats N] [--nuts-python PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from upgrading.study.pooling import TOLERANCE, errors, load_priors  # the validation's measure and the study's priors

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference" / "pooling"
OUTCOMES = ["product_upgrading", "process_upgrading", "functional_upgrading", "intersectoral_upgrading"]
LEVELS = [0, 1, 2, 3]


def sheet(groups: list[str]) -> pd.DataFrame:
    df = pd.read_csv(REFERENCE / "sheet_simulated.csv")
    df["sectoral_group"] = pd.Categorical(df["sectoral_group"], categories=groups)
    df["leader_driven"] = df["governance"].isin(["quasi_hierarchy", "hierarchy"]).astype(int)
    return df


def report(label: str, tables: dict, refs: dict) -> None:
    print(f"agreement, {label} (tolerance: " + ", ".join(f"{k} {v:g}" for k, v in TOLERANCE.items()) + "):")
    worst = dict.fromkeys(TOLERANCE, 0.0)
    for o in OUTCOMES:
        e = errors(tables[o], refs[o])
        worst = {k: max(worst[k], e[k]) for k in worst}
        print(f"  {o:25s} " + "  ".join(f"{k} {v:.3f}" for k, v in e.items()))
    print(f"  {'worst':25s} " + "  ".join(f"{k} {v:.3f} ({v / TOLERANCE[k]:.2f}x tol)" for k, v in worst.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nuts-python", help="interpreter with numpyro/jax/arviz to run the NUTS reference script")
    args = parser.parse_args()

    from upgrading.ordinal import partially_pooled
    from upgrading.ordinal.multilevel_inputs import DEFAULT, FAST

    stored = {o: json.loads((REFERENCE / f"sheet_simulated__{o}.json").read_text()) for o in OUTCOMES}
    data = sheet(stored[OUTCOMES[0]]["groups"])
    refs = {o: stored[o]["parameters"] for o in OUTCOMES}
    model = dict(group="sectoral_group", varying=["collective_efficiency", "leader_driven"], priors=load_priors())

    timings, tables, diag = {}, {}, {}
    for label, settings in (("default", DEFAULT), ("fast", FAST)):

        def run(settings=settings):
            return {o: partially_pooled(data, o, **model, levels=LEVELS, settings=settings) for o in OUTCOMES}

        results = run()  # warm-up (imports, caches)
        samples = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            results = run()
            for r in results.values():  # the reported table is part of the job
                r.posterior_summary()
            samples.append(time.perf_counter() - start)
        timings[label] = statistics.median(samples)
        tables[label] = {o: r.posterior_summary() for o, r in results.items()}
        diag[label] = {o: r.diagnostics for o, r in results.items()}
        grid = diag[label][OUTCOMES[0]]
        print(
            f"ours ({label}: {grid['grid_points']} grid points, step {settings.grid_step}, {settings.draws} draws to "
            "start): "
            f"four fits {timings[label]:.3f} s (median of {args.repeats})"
        )
        for o in OUTCOMES:
            d = diag[label][o]
            print(
                f"  {o:25s} k-hat {d['k_hat']:.3f}  ESS {d['ess']:.0f}  edge mass {max(d['edge_mass'].values()):.4f}"
                f"  status {'ok' if results[o].ok else results[o].status}"
            )
            if d["attempts"] > 1:  # the fit needed more work to pass its accuracy rule: say so, and what it did
                tries = ", ".join(f"{a['draws']} draws / step {a['grid_step']:g}" for a in results[o].attempts)
                print(f"  {'':25s} needed {d['attempts']} attempts to pass the accuracy rule: {tries}")
        report(f"{label} vs stored NUTS reference", tables[label], refs)

    if args.nuts_python:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run(
                [
                    args.nuts_python,
                    str(REFERENCE / "make_pooling_ref.py"),
                    "--sheet",
                    str(REFERENCE / "sheet_simulated.csv"),
                    "--outdir",
                    out,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - start
            fresh = {o: json.loads((Path(out) / f"sheet_simulated__{o}.json").read_text()) for o in OUTCOMES}
        source = "NUTS run now (make_pooling_ref.py, same sheet, same model)"
    else:
        fresh, wall = stored, None
        source = "NUTS timings recorded in the stored reference JSONs (attempts[*].runtime_s), not rerun"
    nuts_sampling = sum(a["runtime_s"] for o in OUTCOMES for a in fresh[o]["attempts"])
    nuts_accepted = sum(fresh[o]["attempts"][-1]["runtime_s"] for o in OUTCOMES)
    print(f"NUTS: {source}")
    print(
        f"  sampling, all attempts of the escalation schedule: {nuts_sampling:.1f} s; accepted runs only: "
        f"{nuts_accepted:.1f} s" + (f"; script wall time {wall:.1f} s" if wall is not None else "")
    )
    if args.nuts_python:
        print("  agreement of the fresh NUTS run with the stored one (the sampler's own reproducibility):")
        for o in OUTCOMES:
            rows = {k: v for k, v in fresh[o]["parameters"].items()}
            table = pd.DataFrame(rows).T
            print(f"    {o:25s} " + "  ".join(f"{k} {v:.3f}" for k, v in errors(table, refs[o]).items()))
        report("default vs fresh NUTS run", tables["default"], {o: fresh[o]["parameters"] for o in OUTCOMES})
    for label in ("default", "fast"):
        ratio = nuts_accepted / timings[label]
        print(
            f"speed ratio ({label}): NUTS accepted runs / ours = {ratio:,.0f}x"
            f" (all attempts: {nuts_sampling / timings[label]:,.0f}x)"
        )
    np.seterr(all="warn")


if __name__ == "__main__":
    main()
