"""The arithmetic of benchmarks/bench_setup.py's estimate (a ratio times the baseline's known figure), on made-up
inputs: nothing is measured here, and the benchmark itself is never run by the suite (it installs the environment
twice); its measurements stay in benchmarks/."""

import importlib.util
import subprocess

import pytest

from upgrading.paths import ROOT

spec = importlib.util.spec_from_file_location("bench_setup", ROOT / "benchmarks/bench_setup.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _run(line1: float, line2: float, steps: int) -> list[tuple[str, float]]:
    return [
        *((f"line 1, step: {k}", line1 / steps) for k in range(steps)),
        (bench.LINE_1, line1),
        (bench.LINE_2, line2),
    ]


def test_the_estimate_reads_each_line_by_its_label_and_knows_the_baseline_however_it_is_named(monkeypatch, capsys):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode:
        pytest.skip("not a git checkout")
    monkeypatch.setattr(bench, "SLOW_MACHINE", {head.stdout.strip()[:7]: (168.0, 248.0)})
    # the baseline named as HEAD (not by the hash SLOW_MACHINE is keyed by), its line 1 in one step more
    bench.print_against_target([_run(50.0, 40.0, 4), _run(70.0, 60.0, 4)], [_run(84.0, 100.0, 5)], "HEAD")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "line 1: HEAD / baseline = 60.0 / 84.0 s = 0.71; on the slow machine (168 s for the baseline) about 120 s, "
        "within the 120 s target"
    )
    assert out[1].startswith("line 2: HEAD / baseline = 50.0 / 100.0 s = 0.50; on the slow machine (248 s for")
    assert out[1].endswith("about 124 s, above the 120 s target")
    with pytest.raises(SystemExit, match="--baseline 'no-such-commit' is not a commit"):
        bench.commit_of("no-such-commit")
