"""Benchmark: notebook 07 (the design analysis at its committed setting) side by side with another commit's, on this
machine, in one run.

Each side is a temporary git worktree of its commit (this one: HEAD; the baseline: `--baseline`, by default the
last commit before the one decision path, when the design analysis decided Jeffreys-penalised fits on Wald
intervals). In each, `upgrading run --only 07_power` (the baseline's `06_power`: it predates notebook 06_robustness)
runs with this environment's packages and that worktree's source,
with no Monte Carlo results kept from an earlier run (a fresh clone's first run); the sides alternate when
`--repeats` > 1. Prints the wall time of every run, the medians and the ratio baseline / HEAD. `--notebooks` and
`--baseline-notebooks` time other notebooks on each side (e.g. all, the whole of README line 1's rerun, with
`--notebooks 01,02,03,04,05,06,07 --baseline-notebooks 01,02,03,04,05,06`). Writes nothing into this repository.
Usage:  python benchmarks/bench_power.py [--baseline COMMIT] [--repeats N] [--notebooks 07_power]
        [--baseline-notebooks 06_power]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the one decision path (issue 19): the design analysis's fast Wald rule.
BASELINE = "d3bc706"


def worktree(commit: str, folder: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), commit], cwd=ROOT, check=True)
    return folder


def run_notebooks(tree: Path, notebooks: str) -> float:
    """Wall time of `upgrading run --only NOTEBOOKS` in a worktree, its own source first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from upgrading.compendium.cli import main; main()", "run", "--only", notebooks,
         "--quiet"],
        cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the run failed in {tree}:\n{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, alternating")
    parser.add_argument("--notebooks", default="07_power", help="notebooks to run on HEAD (default: %(default)s)")
    parser.add_argument(
        "--baseline-notebooks", default="06_power", help="notebooks to run on the baseline (default: %(default)s)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-power-") as tmp:
        trees = {"baseline": Path(tmp) / "baseline", "HEAD": Path(tmp) / "head"}
        try:
            worktree(args.baseline, trees["baseline"])
            worktree("HEAD", trees["HEAD"])
            times: dict[str, list[float]] = {side: [] for side in trees}
            for k in range(args.repeats):
                order = list(trees) if k % 2 == 0 else list(trees)[::-1]
                for side in order:
                    subprocess.run(["git", "clean", "-fdxq", "data/interim"], cwd=trees[side], check=False)
                    notebooks = args.baseline_notebooks if side == "baseline" else args.notebooks
                    seconds = run_notebooks(trees[side], notebooks)
                    times[side].append(seconds)
                    print(f"{side:8s} run {k + 1}: notebooks {notebooks} in {seconds:.1f} s")
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    old, new = statistics.median(times["baseline"]), statistics.median(times["HEAD"])
    print(f"median: baseline {args.baseline} {old:.1f} s, HEAD {new:.1f} s; baseline / HEAD = {old / new:.2f}x")


if __name__ == "__main__":
    main()
