"""Benchmark: the power study on joblib's local backend and on a Dask cluster (the README's distributed switch).

Runs the same study (`--replicates` per design cell, the notebook's 4 x 2 design cells) on joblib's local
backend with 2 workers, then on a `distributed.LocalCluster` of 2 worker processes under
`joblib.parallel_config(backend="dask")`, checks that the results are identical, and prints the cluster's start
time and the overhead of the Dask run over the local one. Needs the test extra (`dask[distributed]`).
Usage:  python benchmarks/bench_dask.py [--replicates N] [--chunk-size N]
"""

from __future__ import annotations

import argparse
import logging
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=250, help="replicates per design cell")
    parser.add_argument("--chunk-size", type=int, default=125, help="replicates per joblib task")
    args = parser.parse_args()

    import pandas as pd
    from distributed import Client, LocalCluster
    from joblib import parallel_config

    from upgrading import power

    study = dict(
        replicates=args.replicates,
        cases=[30, 50, 100, 200],
        effect_scales=[0.5, 1.0],
        chunk_size=args.chunk_size,
        progress=False,
    )
    start = time.perf_counter()
    local = power.run(**study, n_jobs=2)
    local_s = time.perf_counter() - start

    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster),
    ):
        cluster_s = time.perf_counter() - start
        start = time.perf_counter()
        with parallel_config(backend="dask"):
            distributed = power.run(**study, n_jobs=-1)
        dask_s = time.perf_counter() - start
    pd.testing.assert_frame_equal(local, distributed)
    tasks = len(study["cases"]) * len(study["effect_scales"]) * -(-args.replicates // args.chunk_size)
    print(
        f"{args.replicates} replicates x 8 design cells in {tasks} tasks: local backend (2 workers) {local_s:.1f} s; "
        f"Dask LocalCluster (2 worker processes) {dask_s:.1f} s, plus {cluster_s:.1f} s to start it; "
        f"overhead {dask_s - local_s:+.1f} s ({dask_s / local_s - 1:+.0%}) on the run, "
        f"{dask_s + cluster_s - local_s:+.1f} s with the start; results identical"
    )


if __name__ == "__main__":
    main()
