"""The distributed switch, tested: the power study on a Dask cluster gives exactly the local backend's results.

The README says the study scales out by switching joblib's backend. Here a `distributed.LocalCluster` of two
worker processes (loopback only, no dashboard) stands in for a real cluster: the same small study runs under
`joblib.parallel_config(backend="dask")` and on joblib's local backend, and the two results are identical
frame for frame, every chunk having run on the cluster's workers. Its speed is measured by
benchmarks/bench_dask.py, never here.
"""

import logging

import pandas as pd
import pytest

from upgrading import power

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)

SMALL = dict(replicates=12, cases=[40], effect_scales=[1.0], seed=99, progress=False, chunk_size=3)


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is in the test extra")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
        local_directory=str(tmp_path_factory.mktemp("dask")),
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_power_study_on_a_dask_cluster_equals_the_local_backend(dask_client):
    from distributed import get_task_stream
    from joblib import parallel_config

    local = power.run(**SMALL, n_jobs=1)  # the local backend (any n_jobs gives the same: test_power.py)
    with get_task_stream(dask_client) as stream, parallel_config(backend="dask"):
        on_cluster = power.run(**SMALL, n_jobs=-1)
    workers = {task["worker"] for task in stream.data}
    assert len(stream.data) >= SMALL["replicates"] // SMALL["chunk_size"] and len(workers) >= 1, stream.data
    pd.testing.assert_frame_equal(local, on_cluster)
