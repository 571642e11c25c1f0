"""Benchmark: the HTML report's pages (`upgrading report`), a new nbconvert exporter per page (as before) against
one exporter for every page (`report.build_report`), side by side in one run.

Both sides export every committed notebook and the index page, alternating which goes first; the script checks
that they give the same pages byte for byte and prints each time, the medians and the ratio, then the time of a
whole `build_report` into a temporary folder.
Usage:  python benchmarks/bench_report.py [--repeats N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from side_by_side import print_times, time_sides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import nbformat

    from upgrading.compendium import pipeline, report

    notebooks = [nbformat.read(path, as_version=4) for path in pipeline.discover()]
    notebooks.append(report._index_notebook({p.name: f"notebooks/{p.stem}.html" for p in pipeline.discover()}))

    def exporter_per_page():
        return [report._export(nb, report._exporter()) for nb in notebooks]

    def one_exporter():
        exporter = report._exporter()
        return [report._export(nb, exporter) for nb in notebooks]

    sides = {"a new exporter per page": exporter_per_page, "one exporter": one_exporter}
    times, pages = time_sides(sides, args.repeats)
    print(f"{len(notebooks)} pages; the same pages byte for byte: {pages[list(sides)[0]] == pages[list(sides)[1]]}")
    print_times(times)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        report.build_report(Path(folder) / "report")
        print(f"build_report (one exporter), whole: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
