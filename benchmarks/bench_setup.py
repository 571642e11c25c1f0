"""Benchmark: fresh clone to every exhibit (README line 1, cold package cache), then the tests (line 2).

Clones the committed HEAD into a temporary folder and, as `.ci/run` does, gives it a new user: empty home,
XDG, matplotlib, IPython and Jupyter folders, and empty pip and uv caches (cold). Times each step of the
README's setup line separately so the report says what dominates, then times the test line.
Usage:  python benchmarks/bench_setup.py        (prints a table; writes nothing into the repository)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
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


def main() -> None:
    setup, tests = readme_commands()
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        home = Path(tmp) / "home"  # a new user, as in .ci/run: empty home, caches and configuration
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
        rows = [(f"line 1, step: {step}", timed(step, clone, env)) for step in setup.split(" && ")]
        line1 = sum(seconds for _, seconds in rows)
        rows.append(("line 1 in all (fresh clone to all exhibits, cold cache)", line1))
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
        rows.append(("line 2 (unit tests + nbval)", timed(tests, clone, env)))
    width = max(len(label) for label, _ in rows)
    print(f"{'step':<{width}}  seconds")
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds:7.1f}")
    print(f"git status after line 1: {'clean' if not status else 'CHANGED: ' + status}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
