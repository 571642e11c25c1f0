"""Benchmark: fresh clone to every exhibit (README line 1, cold package cache), then the tests (line 2); with
`--baseline REV`, the same for another commit, side by side, to say where each line stands against the two-minute
target of the slow machine.

Each side is a fresh clone of its commit (this one: HEAD) given a new user, as `.ci/run` does: empty home, XDG,
matplotlib, IPython and Jupyter folders, and empty pip and uv caches (cold). It runs that commit's own README
lines, each step of the setup line timed separately so the report says what dominates, then the test line. With
`--repeats N` the sides alternate (HEAD first on even repeats), and each line's median is printed.

Why a baseline: the slow machine of the two-minute target (a quiet 2-core machine; statsmodels' fit in
`bench_models.py` 195 ms) is known by the times it took for the README lines of one commit, `SLOW_MACHINE` below.
The ratio of two machines' speeds depends on the work (statsmodels' single fit is not the test suite), so the
time a line would take there is estimated as this machine's ratio HEAD / baseline for that line times the baseline's
time there: the estimate assumes only that both commits' lines slow down alike from one machine to the other.
Usage:  python benchmarks/bench_setup.py [--baseline REV] [--repeats N]   (writes nothing into the repository)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The README lines' times on the slow machine (seconds), by commit: issue 19's "today", the code before the one
#: decision path (its line 1 with a cold uv cache).
SLOW_MACHINE = {"d3bc706": (168.0, 248.0)}
TARGET = 120.0  # seconds per README line on the slow machine
LINE_1 = "line 1 in all (fresh clone to all exhibits, cold cache)"
LINE_2 = "line 2 (unit tests + nbval)"


def readme_commands(clone: Path) -> list[str]:
    text = (clone / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def timed(command: str, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def new_user(home: Path) -> dict:
    """The environment of a new user whose home is `home`: empty caches and configuration, as in .ci/run."""
    dirs = {
        "HOME": home,
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local/share",
        "MPLCONFIGDIR": home / ".config/matplotlib",
        "IPYTHONDIR": home / ".ipython",
        "JUPYTER_CONFIG_DIR": home / ".jupyter",
        "JUPYTER_DATA_DIR": home / ".local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": home / ".local/share/jupyter/runtime",
        "UV_CACHE_DIR": home / ".cache/uv",
        "PIP_CACHE_DIR": home / ".cache/pip",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{k: str(v) for k, v in dirs.items()})
    env.setdefault("PYENV_ROOT", str(Path.home() / ".pyenv"))
    env.update(CI="true")
    return env


def run_side(rev: str, tmp: Path) -> list[tuple[str, float]]:
    """Both README lines of commit `rev` on a fresh clone as a new user: each setup step's time, line 1, line 2."""
    clone, home = Path(tempfile.mkdtemp(dir=tmp)), Path(tempfile.mkdtemp(dir=tmp))
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "--quiet", rev], cwd=clone, check=True)
        env = new_user(home)
        setup, tests = readme_commands(clone)
        rows = [(f"line 1, step: {step}", timed(step, clone, env)) for step in setup.split(" && ")]
        rows.append((LINE_1, sum(seconds for _, seconds in rows)))
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
        if status:
            print(f"{rev}: git status after line 1: CHANGED: {status}", file=sys.stderr)
        rows.append((LINE_2, timed(tests, clone, env)))
        return rows
    finally:  # each side's .venv/ and caches (about 1 GB) go when it is timed, not after every repeat
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def commit_of(rev: str) -> str:
    """The full hash of `rev` (a hash, its prefix, a tag, `HEAD~3`) in this repository; exits naming it if unknown."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    )
    if found.returncode:
        sys.exit(f"bench_setup.py: --baseline {rev!r} is not a commit of {ROOT}")
    return found.stdout.strip()


def slow_machine_times(rev: str) -> tuple[float, float] | None:
    """The README lines' times on the slow machine for commit `rev` however it is named, or None if not known."""
    commit = commit_of(rev)
    return next((times for known, times in SLOW_MACHINE.items() if commit.startswith(known)), None)


def print_side(name: str, runs: list[list[tuple[str, float]]]) -> None:
    width = max(len(label) for label, _ in runs[0])
    print(f"{name}:")
    for k, (label, _) in enumerate(runs[0]):
        seconds = [run[k][1] for run in runs]
        listed = " ".join(f"{s:7.1f}" for s in seconds)
        median = f"   median {statistics.median(seconds):7.1f}" if len(runs) > 1 else ""
        print(f"  {label:<{width}}  {listed}{median}")


def print_against_target(head: list, base: list, baseline: str) -> None:
    """Each line's ratio HEAD / baseline and the time it suggests on the slow machine."""
    known = slow_machine_times(baseline)
    for index, (line, label) in enumerate((("line 1", LINE_1), ("line 2", LINE_2))):
        new = statistics.median(dict(run)[label] for run in head)  # by label: the sides may have different steps
        old = statistics.median(dict(run)[label] for run in base)
        text = f"{line}: HEAD / baseline = {new:.1f} / {old:.1f} s = {new / old:.2f}"
        if known:
            there = new / old * known[index]
            text += (
                f"; on the slow machine ({known[index]:.0f} s for the baseline) about {there:.0f} s, "
                f"{'within' if there <= TARGET else 'above'} the {TARGET:.0f} s target"
            )
        print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a commit to run side by side with HEAD (e.g. d3bc706)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.baseline:
        commit_of(args.baseline)  # an unknown commit is said now, not after HEAD's side has run for minutes
    sides = {"HEAD": [], args.baseline: []} if args.baseline else {"HEAD": []}
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        for repeat in range(args.repeats):
            for rev in list(sides)[:: 1 if repeat % 2 == 0 else -1]:
                sides[rev].append(run_side(rev, Path(tmp)))
    for rev, runs in sides.items():
        print_side(rev, runs)
    if args.baseline:
        print_against_target(sides["HEAD"], sides[args.baseline], args.baseline)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
