"""jaxmle.spark.fit_groups on a real local Spark (local[2]): the same table as jm.fit_groups,
estimates to 1e-10 and identical statuses, through a repartition on the key or from
partitions that already hold whole groups, with a partition of invalid groups and an empty
one. Marked ``spark`` (left out of the default run; CI runs ``pytest -m spark`` after
installing the ``spark`` extra); skipped where pyspark or Java is missing."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

pytestmark = [
    pytest.mark.spark,
    # Spark starts its JVM with a fork-and-exec, which JAX's fork hook warns about
    pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning"),
]

pyspark = pytest.importorskip("pyspark")
pd = pytest.importorskip("pandas")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (none on PATH, no JAVA_HOME)", allow_module_level=True)

import jaxmle as jm  # noqa: E402
import jaxmle.spark  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from test_dask import FIT, KW, SMALL, _parts, _same, _table, _write  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this Python
    session = (
        SparkSession.builder.master("local[2]")
        .appName("jaxmle-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def reference():
    whole = pd.concat(_parts(), ignore_index=True)
    return whole, jm.fit_groups(whole, "weibull", by="sensor", **SMALL)


def test_repartitioned_table_equals_fit_groups(reference, spark):
    whole, want = reference
    sdf = spark.createDataFrame(whole.sample(frac=1.0, random_state=7)).repartition(3)
    out = jaxmle.spark.fit_groups(sdf, "weibull", by="sensor", **SMALL)
    assert out.columns == list(want.columns)  # the schema is known before any work
    assert dict(out.dtypes)["nobs"] == "bigint" and dict(out.dtypes)["status"] == "string"
    _same(out.toPandas(), want)


def test_partitioned_table_with_an_invalid_and_an_empty_partition(reference, spark):
    whole, want = reference
    rows = [list(p.itertuples(index=False, name=None)) for p in _parts()]
    rdd = spark.sparkContext.parallelize(range(3), 3).flatMap(lambda i: rows[i])
    sdf = spark.createDataFrame(rdd, "sensor string, hours double, failed double")
    sizes = sdf.rdd.glom().map(len).collect()
    assert sizes == [len(r) for r in rows] and sizes[2] == 0  # partition 2 is empty
    out = jaxmle.spark.fit_groups(sdf, "weibull", by="sensor", partitioned=True, **SMALL)
    _same(out.toPandas(), want)


def test_inputs_are_checked_before_any_work(spark):
    df = _table(3)
    with pytest.raises(TypeError, match="Spark DataFrame"):
        jaxmle.spark.fit_groups(df, "weibull", by="sensor", **KW)
    sdf = spark.createDataFrame(df)
    with pytest.raises(ValueError, match="no column 'hrs'"):
        jaxmle.spark.fit_groups(sdf, "weibull", by="sensor", value="hrs")
    with pytest.raises(ValueError, match="k=K"):
        jaxmle.spark.fit_groups(sdf, "categorical", by="sensor", value="failed")


def test_the_result_has_one_row_per_group(reference, spark):
    whole, want = reference
    out = jaxmle.spark.fit_groups(spark.createDataFrame(whole), "weibull", by="sensor", **SMALL)
    assert out.count() == len(want) == whole["sensor"].nunique()
    assert np.isfinite(out.toPandas()["loglik"]).sum() == (want["status"] == "CONVERGED").sum()


def test_cli_spark_on_a_partitioned_dataset_writes_the_local_table(reference, spark, tmp_path):
    from jaxmle.cli import main

    data = _write(str(tmp_path / "fleet"), [p.sort_values("sensor") for p in _parts()[:2]])
    local, remote = tmp_path / "local.csv", tmp_path / "spark.csv"
    assert main(["fit", data, *FIT, "--out", str(local), "-q"]) == 0
    argv = ["fit", data, *FIT, "--engine", "spark", "--partitioned"]
    assert main([*argv, "--out", str(remote), "-q"]) == 0
    a, b = pd.read_csv(local), pd.read_csv(remote)
    np.testing.assert_array_equal(a["sensor"], b["sensor"])
    _same(b, a)
    _same(a, reference[1])
