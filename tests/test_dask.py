"""jaxmle.dask.fit_groups on a real dask cluster (a LocalCluster of 2 worker processes): the
same table as jm.fit_groups, estimates to 1e-10 and identical statuses, through a shuffle or
from a table already partitioned by the key; a partition of invalid groups, an empty
partition, and a worker killed while it fits."""

from __future__ import annotations

import importlib
import os
import signal
import time

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import jaxmle as jm  # noqa: E402
import jaxmle.dask  # noqa: E402

KW = dict(value="hours", event="failed")
#: one kernel shape for every process: the reference on the driver compiles it (into the test
#: run's persistent compilation cache) and the workers load it
SMALL = dict(KW, chunk_size=32)


def _table(n_groups: int, seed: int = 0, low: int = 4, high: int = 12, prefix: str = "s"):
    """Right-censored Weibull readings: one sensor a group, ``low`` to ``high`` rows each."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(low, high + 1, n_groups)
    sensor = np.repeat([f"{prefix}{i:03d}" for i in range(n_groups)], sizes)
    shape = np.repeat(rng.uniform(1.0, 3.0, n_groups), sizes)
    scale = np.repeat(rng.uniform(50.0, 150.0, n_groups), sizes)
    life = scale * rng.weibull(shape)
    cutoff = rng.uniform(40.0, 250.0, life.size)
    df = pd.DataFrame(
        {"sensor": sensor, "hours": np.minimum(life, cutoff), "failed": (life <= cutoff) * 1.0}
    )
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # groups scattered


def _same(got, want, keys=("sensor",)):
    """The same groups, estimates to 1e-10 (relative), the same statuses and counts."""
    got = got.sort_values(list(keys)).reset_index(drop=True)
    want = want.sort_values(list(keys)).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for k in keys:
        assert got[k].astype(str).tolist() == want[k].astype(str).tolist()
    assert got["status"].astype(str).tolist() == want["status"].astype(str).tolist()
    assert got["nobs"].tolist() == want["nobs"].tolist()
    for c in want.columns:
        if want[c].dtype.kind == "f":
            np.testing.assert_allclose(got[c], want[c], rtol=1e-10, atol=1e-12, err_msg=c)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    c = distributed.Client(cluster)
    # the workers import jaxmle while this process computes the reference
    warm = [
        c.submit(importlib.import_module, "jaxmle.dask", workers=[w], pure=False)
        for w in c.scheduler_info()["workers"]
    ]
    yield c
    del warm
    c.close()
    cluster.close()


def _parts():
    """Three partitions, each sensor in one: 32 sensors of 8 readings, 32 sensors whose readings
    are all outside the support (every group invalid), and an empty partition."""
    good = _table(32, seed=2, low=8, high=8, prefix="a")
    bad = _table(32, seed=3, low=8, high=8, prefix="b")
    bad["hours"] = -bad["hours"]
    return [good, bad, good.iloc[:0]]


@pytest.fixture(scope="module")
def reference(client):
    """jm.fit_groups on the whole table: the result every engine must give."""
    whole = pd.concat(_parts(), ignore_index=True)
    want = jm.fit_groups(whole, "weibull", by="sensor", **SMALL)
    assert set(want.loc[want["sensor"].str.startswith("b"), "status"]) == {"INVALID_DATA"}
    assert (want.loc[want["sensor"].str.startswith("a"), "status"] == "CONVERGED").all()
    return whole, want


def test_partitioned_table_with_an_invalid_and_an_empty_partition(reference, client):
    parts = _parts()
    ddf = dd.from_map(lambda i: parts[i], range(3), meta=parts[2], divisions=[None] * 4)
    out = jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", partitioned=True, **SMALL)
    assert list(out.columns) == list(reference[1].columns)  # known before computing
    _same(client.compute(out).result(), reference[1])


def test_shuffled_table_equals_fit_groups(reference, client):
    whole, want = reference
    ddf = dd.from_pandas(whole.sample(frac=1.0, random_state=5), npartitions=2)  # rows scattered
    out = jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", **SMALL)
    _same(client.compute(out).result(), want)


def test_an_index_key_with_known_divisions_and_two_key_columns(reference, client):
    whole, want = reference
    # the key as a sorted index with known divisions: each sensor in one partition, no shuffle
    ddf = dd.from_pandas(whole.set_index("sensor").sort_index(), npartitions=2, sort=True)
    assert ddf.known_divisions
    out = jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", **SMALL)
    assert "shuffle" not in str(out.dask.keys())
    _same(client.compute(out).result(), want)
    # two key columns, shuffled on both
    ddf = dd.from_pandas(whole.assign(site="north"), npartitions=2)
    out = jaxmle.dask.fit_groups(ddf, "weibull", by=["site", "sensor"], npartitions=1, **SMALL)
    got = client.compute(out).result()
    assert list(got.columns[:2]) == ["site", "sensor"] and set(got["site"]) == {"north"}
    _same(got.drop(columns="site"), want)


def test_a_killed_worker_leaves_a_complete_equal_result(client):
    df = _table(400, seed=4, low=20, high=60)
    ddf = dd.from_pandas(df, npartitions=8)
    out = jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", **KW)
    pids = client.run(os.getpid)
    future = client.compute(out)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and not future.done():
        for worker, tasks in client.processing().items():
            if any("fit_partition" in str(t) for t in tasks):
                killed = worker
                os.kill(pids[worker], signal.SIGKILL)  # the nanny starts a new worker
                break
        time.sleep(0.01)
    assert killed is not None, "no worker was seen fitting a partition"
    got = future.result(timeout=300)
    assert killed not in client.scheduler_info()["workers"]
    _same(got, jm.fit_groups(df, "weibull", by="sensor", **KW))


def test_inputs_are_checked_before_any_work():
    df = _table(3)
    with pytest.raises(TypeError, match="dask DataFrame"):
        jaxmle.dask.fit_groups(df, "weibull", by="sensor", **KW)
    ddf = dd.from_pandas(df, npartitions=1)
    with pytest.raises(ValueError, match="no column 'hrs'"):
        jaxmle.dask.fit_groups(ddf, "weibull", by="sensor", value="hrs")
    with pytest.raises(ValueError, match="k=K"):
        jaxmle.dask.fit_groups(ddf, "categorical", by="sensor", value="failed")
    with pytest.raises(ValueError, match="unknown|known"):
        jaxmle.dask.fit_groups(ddf, "weibul", by="sensor", **KW)


# --------------------------------------------------------------------------
# the command line on a folder: --engine local (streamed) and --engine dask
# --------------------------------------------------------------------------
def _write(folder, frames):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    os.makedirs(folder)
    for i, frame in enumerate(frames):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, os.path.join(folder, f"part-{i}.parquet"))
    return folder


FIT = ["--family", "weibull", "--value", "hours", "--event", "failed", "--by", "sensor"]


def test_cli_dask_on_a_partitioned_dataset_writes_the_local_table(
    reference, client, tmp_path, monkeypatch
):
    from jaxmle import _dataset
    from jaxmle.cli import main

    parts = [p.sort_values("sensor") for p in _parts()[:2]]  # each file holds whole sensors
    data = _write(str(tmp_path / "fleet"), parts)
    monkeypatch.setattr(_dataset, "STREAM_ROWS", 1)  # the local engine: a file at a time
    local, remote = tmp_path / "local.csv", tmp_path / "dask.csv"
    assert main(["fit", data, *FIT, "--partitioned", "--out", str(local), "-q"]) == 0
    address = client.scheduler.address
    argv = ["fit", data, *FIT, "--engine", "dask", "--scheduler", address, "--partitioned"]
    assert main([*argv, "--out", str(remote), "-q"]) == 0
    a, b = pd.read_csv(local), pd.read_csv(remote)
    assert a["sensor"].tolist() == sorted(a["sensor"])  # sorted by the key, as one file is
    np.testing.assert_array_equal(a["sensor"], b["sensor"])
    _same(b, a)
    _same(a, reference[1])  # and both are jm.fit_groups's table


def test_cli_local_says_what_to_do_when_a_folder_is_not_sorted(tmp_path, monkeypatch, capsys):
    from jaxmle import _dataset
    from jaxmle.cli import main

    good = _parts()[0].sort_values("sensor")
    again = good[good["sensor"].isin(["a000", "a001"])]  # a000 again, after it was fitted
    data = _write(str(tmp_path / "fleet"), [good, again])
    monkeypatch.setattr(_dataset, "STREAM_ROWS", 1)
    assert main(["fit", data, *FIT]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "sensor = a000 are not together" in err and "--engine dask" in err
    assert "partition_cols=['sensor']" in err
