"""Timing two or more sides of a change in one run, for the benchmarks that compare old and new code in-process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

Sides = dict[str, Callable[[], object]]


def time_sides(sides: Sides, repeats: int) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Call every side `repeats` times, in order on even repeats and reversed on odd ones (so neither always runs
    first, on a warmer or cooler machine); return each side's wall times and its last result."""
    times = {name: [] for name in sides}
    results = {}
    for repeat in range(repeats):
        for name in list(sides)[:: 1 if repeat % 2 == 0 else -1]:
            start = time.perf_counter()
            results[name] = sides[name]()
            times[name].append(time.perf_counter() - start)
    return times, results


def print_times(times: dict[str, list[float]]) -> None:
    """Each side's times and median, and the ratio of the first side's median to the second's."""
    width = max(len(name) for name in times)
    for name, seconds in times.items():
        listed = " ".join(f"{s:.3f}" for s in seconds)
        print(f"{name:>{width}}: {listed} s; median {statistics.median(seconds):.3f} s")
    before, after = (statistics.median(seconds) for seconds in list(times.values())[:2])
    first, second = list(times)[:2]
    print(f"ratio ({first} / {second}): {before / after:.2f}x")
