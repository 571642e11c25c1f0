"""Benchmark: the ordered-logit engine before and after the speed-up, side by side, on simulated replicates.

The engine as it was (`git show BASE:src/upgrading/ordinal/engine.py`, BASE the fork point from main unless
given) is loaded into a temporary module next to the current one. Both are timed on the same batches of real fits
(the design analysis' by-group model: n = 50 cases, 4 outcome levels, 11 predictors; theta from `fit_replicates`),
interleaved call by call with the order alternating, and the medians printed in microseconds per problem with the
ratio old / new; then the largest differences between their results. With `--fit`, also a whole Jeffreys fit.
Timings on a shared machine are noisy: trust the ratios of medians, not single runs.
Usage:  python benchmarks/bench_engine.py [--sizes 200 500 2000 5000] [--repeats 15] [--base REV] [--fit]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENGINE = "src/upgrading/ordinal/engine.py"


def old_engine(base: str | None):
    """The engine at `base` as the module upgrading.ordinal._engine_before (its relative imports resolve)."""
    rev = base or subprocess.check_output(["git", "merge-base", "HEAD", "main"], cwd=ROOT, text=True).strip()
    source = subprocess.check_output(["git", "show", f"{rev}:{ENGINE}"], cwd=ROOT, text=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "engine_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("upgrading.ordinal._engine_before", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return rev, module


def replicates(size: int):
    """y, X of `size` simulated replicates (50 cases) of the by-group model with every term estimable and all
    four outcome levels observed, built as the design analysis builds them."""
    from upgrading.ordinal import build_designs
    from upgrading.study import models, power, simulate

    count = int(size * 1.3) + 50
    cell = power.DesignCell(50, 1.0)
    data = power.simulate_chunk(cell.seeds(power.SEED, 0, count), 50, 1.0)
    frame = simulate.cases_frame(data["cases"] | data["per_group"])
    designs = build_designs(
        models.formula("by_group", "product_upgrading"), frame, np.repeat(np.arange(count), 50), range(count)
    )
    usable = [d for d in designs if not isinstance(d, Exception) and d.n_levels == 4 and not d.aliased][:size]
    if len(usable) < size:
        raise SystemExit(f"only {len(usable)} usable replicates; simulate more")
    return np.stack([d.y for d in usable]), np.stack([d.X for d in usable]), list(usable[0].names)


CALLS = {
    "loglik + Hessian": lambda m, th, b: m.loglik(th, b),
    "loglik, no Hessian": lambda m, th, b: m.loglik(th, b, hessian=False),
    "information": lambda m, th, b: m.information(th, b),
    "information + penalty gradient": lambda m, th, b: m.information(th, b, penalty_gradient=True),
    "evaluate, Jeffreys": lambda m, th, b: m.evaluate(th, b, "jeffreys"),
    "evaluate, ML": lambda m, th, b: m.evaluate(th, b),
}


def side_by_side(calls: dict, modules: tuple, args_of: tuple, repeats: int) -> dict:
    """Median seconds per call, old and new, timed alternately (old first on even repeats, new first on odd)."""
    times = {name: ([], []) for name in calls}
    for rep in range(repeats + 1):  # the first round warms up and is dropped
        for name, call in calls.items():
            for which in (0, 1) if rep % 2 == 0 else (1, 0):
                start = time.perf_counter()
                call(modules[which], *args_of[which])
                if rep:
                    times[name][which].append(time.perf_counter() - start)
    return {name: (np.median(old), np.median(new)) for name, (old, new) in times.items()}


def largest_differences(old, new, th, b_old, b_new) -> None:
    """Normwise relative differences per problem (max over problems) between the old and new results."""
    pairs = {
        "loglik (ll, score, Hessian)": (old.loglik(th, b_old), new.loglik(th, b_new)),
        "information (I, log det, penalty gradient)": (
            old.information(th, b_old, penalty_gradient=True),
            new.information(th, b_new, penalty_gradient=True),
        ),
        "evaluate Jeffreys (objective, ll, gradient, -I)": (
            old.evaluate(th, b_old, "jeffreys"),
            new.evaluate(th, b_new, "jeffreys"),
        ),
    }
    for label, (a, c) in pairs.items():
        parts = []
        for x, z in zip(a, c):
            x, z = np.asarray(x).reshape(len(th), -1), np.asarray(z).reshape(len(th), -1)
            scale = np.maximum(np.abs(x).max(axis=1), 1.0)  # scores at an optimum are ~0: relative to max(|.|, 1)
            parts.append(f"{np.max(np.abs(x - z).max(axis=1) / scale):.1e}")
        print(f"  {label}: {', '.join(parts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 2000, 5000], help="problems per batch")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls of each function (after a warm-up)")
    parser.add_argument("--base", help="git revision of the old engine (default: the fork point from main)")
    parser.add_argument("--fit", action="store_true", help="also time a whole Jeffreys fit (newton) of each batch")
    args = parser.parse_args()

    from types import SimpleNamespace

    from upgrading.ordinal import batch, engine, fit_replicates, likelihood

    new = SimpleNamespace(  # the engine's functions, wherever they live now
        Batch=batch.Batch,
        loglik=likelihood.loglik,
        information=likelihood.information,
        evaluate=engine.evaluate,
        newton=engine.newton,
    )

    rev, old = old_engine(args.base)
    y, X, names = replicates(max(args.sizes))
    b_new = new.Batch(y, X, np.ones(y.shape), 4, names)
    theta = fit_replicates(b_new).theta
    print(f"old: engine.py at {rev[:10]}; new: the working tree. n = 50 cases, K = 4, p = 11")
    for size in sorted(args.sizes):
        th = theta[:size]
        b_old = old.Batch(y[:size], X[:size], np.ones((size, 50)), 4, names)
        calls = dict(CALLS)
        if args.fit:
            calls["newton, Jeffreys (whole fit)"] = lambda m, th, b: m.newton(b, penalty="jeffreys")
        b_size = new.Batch(y[:size], X[:size], np.ones((size, 50)), 4, names)
        medians = side_by_side(calls, (old, new), ((th, b_old), (th, b_size)), args.repeats)
        print(f"\n{size} problems (median of {args.repeats}; microseconds per problem)")
        for name, (t_old, t_new) in medians.items():
            old_us, new_us = t_old / size * 1e6, t_new / size * 1e6
            print(f"  {name:32s} old {old_us:8.1f}   new {new_us:8.1f}   ratio {t_old / t_new:5.2f}")
    print(f"\nlargest old-new differences at the {len(theta)} fits, relative to max(|old|, 1) per problem:")
    largest_differences(old, new, theta, old.Batch(y, X, np.ones(y.shape), 4, names), b_new)


if __name__ == "__main__":
    main()
