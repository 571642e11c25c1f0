"""Benchmark: what a process that runs notebooks pays before its first kernel, with and without jsonschema's IRI
grammar (`rfc3987-syntax`, which `upgrading.start_up` keeps from being built), side by side in one run.

Each side is a new Python process that imports what `upgrading run` imports before it starts a kernel
(`upgrading.compendium.pipeline`, hence papermill and nbformat) and validates a committed notebook. "as before"
imports jsonschema plainly, so the grammar is built as it was before the change; "now" imports `upgrading.start_up`
first, as the command line does. Then the same for the start of a pytest process (`pytest --collect-only -n 0`,
which imports nbval and every test module), with and without `-p upgrading.start_up`.
Usage:  python benchmarks/bench_startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from side_by_side import print_times, time_sides

ROOT = Path(__file__).resolve().parents[1]
VALIDATE = "import nbformat; nbformat.validate(nbformat.read('notebooks/01_codebook.ipynb', as_version=4))"
PYTEST_OPTIONS = "-p no:cacheprovider --nbval --nbval-current-env -n 0"


def _process(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pipeline = f"import upgrading.compendium.pipeline; {VALIDATE}; print(1)"
    run_sides = {
        "as before": lambda: _process("-c", f"import jsonschema; {pipeline}"),
        "now": lambda: _process("-c", f"import upgrading.start_up; {pipeline}"),
    }
    times, _ = time_sides(run_sides, args.repeats)
    print("a process that runs notebooks, up to its first kernel:")
    print_times(times)
    collect = ["-m", "pytest", "--collect-only", "-q"]
    pytest_sides = {
        "as before": lambda: _process(*collect, "-o", f"addopts={PYTEST_OPTIONS}"),
        "now": lambda: _process(*collect, "-o", f"addopts=-p upgrading.start_up {PYTEST_OPTIONS}"),
    }
    times, collected = time_sides(pytest_sides, args.repeats)
    print(f"a pytest process, up to its tests ({collected['now']}):")
    print_times(times)


if __name__ == "__main__":
    main()
