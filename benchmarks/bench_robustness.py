"""Benchmark: notebook 06 (robustness of verdicts) as a fresh clone's first run would make it, and the robustness
table alone with one and with two workers, on this machine, in one run: computed outright, and as notebook 06
makes it (`cache=True`: its kept table removed, so it is computed, reading notebook 04's kept partially pooled fits
of the first coding; run notebook 04 first, or `upgrading run`, so that they are kept).

The notebook runs with `upgrading run --only 06` after removing what it keeps in data/interim/ (the design
analysis's cell at the sheet's size, `power_n<cases>_scale1`, which notebook 07 shares, and the robustness table), so
both are computed, as on a fresh clone where notebook 07 has not kept that cell yet; notebook 04's kept fits are
read, as after notebook 04 in `upgrading run`. The exhibits it rewrites are byte-identical to the committed ones.
Prints every time and the medians.
Usage:  python benchmarks/bench_robustness.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebook_seconds() -> float:
    cases = sum(1 for _ in (ROOT / "data" / "raw" / "coding_sheet_simulated.csv").open(encoding="utf-8")) - 1
    for kept in (f"power_n{cases}_scale1", "robustness"):  # the design cell at the sheet's size, and the table
        for stale in (ROOT / "data" / "interim").glob(f"{kept}-*"):
            stale.unlink()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from upgrading.compendium.cli import main; main()", "run", "--only", "06", "--quiet"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def table_seconds(n_jobs: int, cache: bool = False) -> float:
    for stale in (ROOT / "data" / "interim").glob("robustness-*") if cache else ():
        stale.unlink()
    code = (
        "import time; from upgrading import paths; from upgrading.study import coding, robustness; "
        "c = coding.load_cases(paths.resolve('data/raw/coding_sheet_simulated.csv')); "
        "s = coding.load_cases(paths.resolve('data/raw/coding_sheet_simulated_second_coder.csv')); "
        f"t = time.perf_counter(); robustness.robustness_table(c, s, n_jobs={n_jobs}, cache={cache}); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {
        "notebook 06": [], "table, 1 worker": [], "table, 2 workers": [], "as notebook 06 makes it, 2 workers": []
    }  # fmt: skip
    for k in range(args.repeats):
        times["notebook 06"].append(notebook_seconds())
        times["table, 1 worker"].append(table_seconds(1))
        times["table, 2 workers"].append(table_seconds(2))
        times["as notebook 06 makes it, 2 workers"].append(table_seconds(2, cache=True))
        print(f"run {k + 1}: " + ", ".join(f"{name} {values[-1]:.1f} s" for name, values in times.items()))
    print("medians: " + ", ".join(f"{name} {statistics.median(values):.1f} s" for name, values in times.items()))


if __name__ == "__main__":
    main()
