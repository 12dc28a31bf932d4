"""Datasets for the command line: a folder of Parquet or CSV files fitted group by group, in
this process (streamed), on Dask or on Spark.

A dataset is a file or a folder of files (every ``.parquet``/``.pq`` file, or
every ``.csv``/``.csv.gz``/``.tsv`` file, below it; Hive-style folders
``KEY=VALUE`` add the column ``KEY``). Each engine gives the table of
:func:`jaxmle.fit_groups`, sorted by the key as the command line sorts groups.

* ``local`` reads the dataset a file at a time and fits the groups read so far
  whenever :data:`STREAM_ROWS` rows have gathered: memory holds a few million
  rows, whatever the size of the dataset. This needs the rows of a group
  together: in one file (the dataset is partitioned by the key: Hive folders
  ``KEY=VALUE``, or ``partitioned=True``), or the files sorted by the key (a
  group may then run on into the next file). A group found again after it was
  fitted stops the run with a message that says what to do.
* ``dask`` reads the dataset with ``dask.dataframe`` (a file a partition) on a
  local cluster of this machine's cores, or an existing scheduler, and fits it
  with :func:`jaxmle.dask.fit_groups` (no shuffle where the files hold whole
  groups).
* ``spark`` reads it with Spark and fits it with :func:`jaxmle.spark.fit_groups`.

Example:
    >>> import os, tempfile
    >>> from jaxmle._dataset import dataset_format
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.csv", "b.csv"):
    ...     with open(os.path.join(folder, name), "w") as f:
    ...         _ = f.write("unit,hours\\nu1,2.0\\n")
    >>> fmt, files = dataset_format(folder)
    >>> fmt, [os.path.basename(f) for f in files]
    ('csv', ['a.csv', 'b.csv'])
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from . import dask as fleet_dask
from . import spark as fleet_spark
from ._io import InputError, group_index
from .tables import fit_groups

__all__ = [
    "STREAM_ROWS",
    "ENGINES",
    "dataset_format",
    "hive_keys",
    "fit_local",
    "fit_dask",
    "fit_spark",
]

#: rows the local engine gathers before it fits them (a file is read whole)
STREAM_ROWS = 2**22
#: the engines of ``jaxmle fit --engine``
ENGINES = ("local", "dask", "spark")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".tsv.gz")


def _files(path: str) -> list[str]:
    out = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            if not name.startswith((".", "_")):
                out.append(os.path.join(root, name))
    return out


def dataset_format(path: str) -> tuple[str, list[str]]:
    """The format (``"parquet"`` or ``"csv"``) and the data files of a file or a folder.

    Raises:
        InputError: no such path, a folder without data files, or with both formats.
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or folder")
    files = [path] if os.path.isfile(path) else _files(path)
    low = [f.lower() for f in files]
    parquet = [f for f, lo in zip(files, low) if lo.endswith(_PARQUET)]
    csv = [f for f, lo in zip(files, low) if lo.endswith(_CSV)]
    if parquet and csv:
        raise InputError(f"{path}: holds both Parquet and CSV files; give one kind a folder")
    if not parquet and not csv:
        raise InputError(f"{path}: no .parquet, .pq, .csv or .tsv files in it")
    return ("parquet", parquet) if parquet else ("csv", csv)


def hive_keys(path: str, files: list[str]) -> list[str]:
    """The columns of the Hive-style folders ``KEY=VALUE`` between ``path`` and its files.

    Example:
        >>> from jaxmle._dataset import hive_keys
        >>> hive_keys("d", ["d/sensor=1/part-0.parquet", "d/sensor=2/part-0.parquet"])
        ['sensor']
    """
    keys: dict[str, None] = {}
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), path)
        for part in rel.split(os.sep):
            if "=" in part:
                keys[part.split("=", 1)[0]] = None
    return list(keys)


def _arrow_dataset(path: str, fmt: str, files: list[str], by: str):
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
    except ImportError:
        raise InputError(
            f'{path}: reading a dataset needs pyarrow: pip install "jaxmle[parquet]"'
        ) from None
    source = path if os.path.isdir(path) else files[0]
    part = "hive" if os.path.isdir(path) and hive_keys(path, files) else None
    try:
        if fmt == "parquet":
            return ds.dataset(source, format="parquet", partitioning=part)
        import pyarrow.csv as pacsv

        tab = any(f.lower().endswith((".tsv", ".tsv.gz")) for f in files)
        fmt_ = ds.CsvFileFormat(
            parse_options=pacsv.ParseOptions(delimiter="\t" if tab else ","),
            convert_options=pacsv.ConvertOptions(column_types={by: pa.string()}),
        )
        return ds.dataset(source, format=fmt_, partitioning=part)
    except Exception as err:  # pyarrow's own errors: say what and where
        raise InputError(f"{path}: cannot read it as a {fmt} dataset: {err}") from None


def _check_columns(path: str, names: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r}; the columns are: {', '.join(names)}")


def sort_groups(out, by: str):
    """The result table sorted by its key as the command line sorts groups (numbers
    numerically, text as text, text keys that are all integers numerically)."""
    keys = out[by].to_numpy()
    if keys.dtype.kind not in "biuf":
        keys = keys.astype(object)
    _, inverse = group_index(keys)
    return out.iloc[np.argsort(inverse, kind="stable")].reset_index(drop=True)


def _fit(table, family, by, kw, path):
    try:
        return fit_groups(table, family, by=by, stable_shapes=True, **kw)
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: {err}") from None


def fit_local(
    path: str, family: Any, *, by: str, columns: list[str], partitioned: bool = False, **kw: Any
):
    """Fit every group of a dataset in this process, :data:`STREAM_ROWS` rows at a time.

    ``columns`` are the data columns to read besides ``by``; ``kw`` go to
    :func:`jaxmle.fit_groups`. Returns its table, sorted by the key.

    Raises:
        InputError: a missing column, bad values, or a group whose rows are not together
            (the message says what to do).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    fmt, files = dataset_format(path)
    dataset = _arrow_dataset(path, fmt, files, by)
    wanted = list(dict.fromkeys([by, *columns]))
    _check_columns(path, list(dataset.schema.names), wanted)
    partitioned = partitioned or by in (hive_keys(path, files) if os.path.isdir(path) else [])
    done: set = set()
    results = []
    pending: list = []  # record batches read and not fitted yet
    n_pending = 0

    def flush(batches, where):
        table = pa.Table.from_batches(batches)
        keys = table.column(by).to_numpy(zero_copy_only=False)
        seen = set(np.unique(keys.astype(object) if keys.dtype.kind not in "biuf" else keys))
        again = seen & done
        if again:
            raise InputError(
                f"{path}: the rows of {by} = {sorted(again, key=str)[0]} are not together: they "
                f"appear again in {where} after the group was fitted. --engine local streams a "
                f"dataset only when it is partitioned by {by} (each group in one file: Hive "
                f"folders {by}=VALUE, or --partitioned) or sorted by it. Sort or partition it "
                "(e.g. pyarrow.parquet.write_to_dataset(table, FOLDER, "
                f"partition_cols=['{by}'])), or use --engine dask, which shuffles"
            )
        done.update(seen)
        results.append(_fit(table, family, by, kw, path))

    scanner = dataset.scanner(columns=wanted)
    last_file = None
    try:
        for tagged in scanner.scan_batches():
            batch, where = tagged.record_batch, tagged.fragment.path
            if where != last_file and n_pending >= STREAM_ROWS and partitioned:
                flush(pending, last_file)  # a file boundary: every group of it is complete
                pending, n_pending = [], 0
            last_file = where
            if not batch.num_rows:
                continue
            pending.append(batch)
            n_pending += batch.num_rows
            if n_pending >= STREAM_ROWS and not partitioned:
                # sorted by the key: the last group may run on; keep its rows for later
                table = pa.Table.from_batches(pending)
                keys = table.column(by)
                last = keys[len(keys) - 1]
                tail = pc.equal(keys, last)
                head = table.filter(pc.invert(tail))
                if head.num_rows:
                    flush(head.to_batches(), where)
                    pending = table.filter(tail).to_batches()
                    n_pending = sum(b.num_rows for b in pending)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"{path}: cannot read it: {err}") from None
    if n_pending:
        flush(pending, last_file)
    if not results:
        raise InputError(f"{path}: the dataset has no data rows")
    return sort_groups(pd.concat(results, ignore_index=True), by)


def _plain_keys(out, by: str):
    """Categorical keys (Hive partitions read by Dask) as their values."""
    col = out[by]
    if str(col.dtype) == "category":
        out[by] = col.astype(col.cat.categories.dtype)
    elif col.dtype.kind == "O" or str(col.dtype).startswith("string"):
        out[by] = col.astype(object)
    return out


def fit_dask(
    path: str,
    family: Any,
    *,
    by: str,
    columns: list[str],
    partitioned: bool = False,
    scheduler: str | None = None,
    n_workers: int | None = None,
    **kw: Any,
):
    """Fit every group of a dataset on Dask: a local cluster of ``n_workers`` processes (this
    machine's cores by default), or the scheduler at ``scheduler``. Returns the table of
    :func:`jaxmle.fit_groups`, sorted by the key.

    Raises:
        InputError: dask is not installed, a missing column, or bad values.
    """
    try:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError('--engine dask needs dask: pip install "jaxmle[dask]"') from None
    fmt, files = dataset_format(path)
    hive = hive_keys(path, files) if os.path.isdir(path) else []
    wanted = list(dict.fromkeys([by, *columns]))
    if fmt == "parquet":
        ddf = dd.read_parquet(path, columns=wanted, split_row_groups=False)
    else:
        tab = any(f.lower().endswith((".tsv", ".tsv.gz")) for f in files)
        ddf = dd.read_csv(files, sep="\t" if tab else ",", blocksize=None, dtype={by: str})
    _check_columns(path, [str(c) for c in ddf.columns], wanted)
    ddf = ddf[wanted]
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
    except (OSError, ValueError, TimeoutError) as err:
        raise InputError(f"cannot reach the dask scheduler {scheduler}: {err}") from None
    try:
        lazy = fleet_dask.fit_groups(
            ddf, family, by=by, partitioned=partitioned or by in hive, **kw
        )
        out = client.compute(lazy).result()
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: {err}") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return sort_groups(_plain_keys(out, by), by)


def _bytes(text: str) -> int:
    """A Spark size setting in bytes: ``134217728``, ``128m``, ``128MB``, ``1g``."""
    t = text.strip().lower().removesuffix("b")
    scale = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}.get(t[-1:], 1)
    return int(float(t.rstrip("kmgt")) * scale)


def fit_spark(
    path: str,
    family: Any,
    *,
    by: str,
    columns: list[str],
    partitioned: bool = False,
    master: str | None = None,
    **kw: Any,
):
    """Fit every group of a dataset on Spark (``master``: default ``local[*]``, or the
    session already running). Returns the table of :func:`jaxmle.fit_groups`, sorted by the key.

    Raises:
        InputError: pyspark is not installed, a missing column, or bad values.
    """
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
    except ImportError:
        raise InputError('--engine spark needs pyspark: pip install "jaxmle[spark]"') from None
    fmt, files = dataset_format(path)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this Python
    builder = SparkSession.builder.appName("jaxmle fit")
    if master:
        builder = builder.master(master)
    elif SparkSession.getActiveSession() is None:
        builder = builder.master("local[*]")
    spark = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    if fmt == "parquet":
        sdf = spark.read.parquet(path)
    else:
        tab = any(f.lower().endswith((".tsv", ".tsv.gz")) for f in files)
        sdf = spark.read.csv(files, header=True, sep="\t" if tab else ",")
    wanted = list(dict.fromkeys([by, *columns]))
    _check_columns(path, list(sdf.columns), wanted)
    sdf = sdf.select(F.col(by), *[F.col(c).cast("double") for c in wanted if c != by])
    if partitioned and fmt == "parquet":
        # Spark splits a file larger than this into several partitions: shuffle then
        limit = _bytes(spark.conf.get("spark.sql.files.maxPartitionBytes", "128m"))
        partitioned = max(os.path.getsize(f) for f in files) <= limit
    try:
        out = fleet_spark.fit_groups(sdf, family, by=by, partitioned=partitioned, **kw).toPandas()
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: {err}") from None
    return sort_groups(_plain_keys(out, by), by)
