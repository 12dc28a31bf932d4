"""The group-by fit of :func:`jaxmle.fit_groups` on a Spark DataFrame: many groups per call.

The common Spark recipe for one fit per group, ``groupBy(key).applyInPandas``
with a scipy fit inside, makes one Python call and one optimizer run per
group. :func:`fit_groups` instead hashes the key into partitions
(``repartition(n, key)``: every row of a group in one partition) and fits each
whole partition, thousands of groups, with one :func:`jaxmle.fit_groups` call
in ``mapInPandas`` (Arrow carries the rows to Python). The result is a Spark
DataFrame with an explicit schema: the columns of :func:`jaxmle.fit_groups`,
one row per group.

As on Dask (:mod:`jaxmle.dask`), the partitions are fitted with fixed shapes
so that they share a few compiled kernels, and the Python workers keep them in
JAX's persistent compilation cache (see ``cache`` of :func:`fit_groups`).

Needs ``pip install "jaxmle[spark]"`` (pyspark) and Java 17; jaxmle itself
imports pyspark only when called.

Example:
    >>> from jaxmle.spark import spark_schema
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> spark_schema({"sensor": "string"}, "exponential").split(", ")[-2:]
    ['nobs bigint', 'status string']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._compile import worker_context, worker_settings
from .tables import fit_groups as fit_table
from .tables import result_columns

__all__ = ["fit_groups", "spark_schema"]

#: partitions of the fit per core of the cluster (spark.default.parallelism) when the table is
#: repartitioned on the key: a few, so that a slow partition does not hold up the others
BUCKETS_PER_CORE = 2
#: keywords of jaxmle.fit_groups that are neither fit_batch's nor a family's options
_TABLE_OPTIONS = ("level", "interval", "buckets", "stable_shapes")
#: Spark SQL types of the numpy dtypes of the result
_SQL = {"float64": "double", "float32": "float", "int64": "bigint", "object": "string"}


def _import_spark():
    try:
        import pyspark.sql  # noqa: F401
    except ImportError:
        raise ImportError(
            'jaxmle.spark needs pyspark: pip install "jaxmle[spark]" (and Java 17)'
        ) from None


def _keys(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _leaf_names(columns) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, Mapping):
        return [n for v in columns.values() for n in _leaf_names(v)]
    return [n for v in columns for n in _leaf_names(v)]


def spark_schema(
    key_types: Mapping[str, str], family_or_model: Any, *, weights: bool = False, **options: Any
) -> str:
    """The Spark schema (a DDL string) of the result: the keys with their Spark SQL types,
    then :func:`jaxmle.tables.result_columns` (``double``, ``bigint``, ``string``).

    Example:
        >>> import jax
        >>> from jaxmle.spark import spark_schema
        >>> jax.config.update("jax_enable_x64", True)
        >>> spark_schema({"unit": "int"}, "exponential").split(", ")
        ['unit int', 'rate double', 'rate_se double', 'rate_lo double', 'rate_hi double',
         'loglik double', 'nobs bigint', 'status string']
    """
    fields = [f"{_quote(k)} {t}" for k, t in key_types.items()]
    for name, dtype in result_columns(family_or_model, weights=weights, **options).items():
        fields.append(f"{_quote(name)} {_SQL[np.dtype(dtype).name]}")
    return ", ".join(fields)


def _quote(name: str) -> str:
    plain = name.replace("_", "a").isalnum() and not name[0].isdigit()
    return name if plain else "`" + name.replace("`", "``") + "`"


def _fit_partitions(batches, family_or_model, by, options, columns, settings):
    """One partition (an iterator of pandas batches): one :func:`jaxmle.fit_groups` call on all
    its rows (fixed shapes), as the driver set float64 and the compilation cache."""
    import pandas as pd

    frames = [b for b in batches if len(b)]
    if not frames:
        return
    part = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    with worker_context(settings):
        out = fit_table(part, family_or_model, by=by, stable_shapes=True, **options)
    yield out[columns]


def fit_groups(
    sdf: Any,
    family_or_model: Any,
    *,
    by: str | list[str] | tuple[str, ...],
    value: str | None = None,
    event: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    weights: str | None = None,
    columns: Any = None,
    partitioned: bool = False,
    npartitions: int | None = None,
    cache: str | bool | None = None,
    **fit_options: Any,
):
    """Fit a family (or a model) to every group of a Spark DataFrame: a Spark DataFrame, one row
    per group, with the columns of :func:`jaxmle.fit_groups` and an explicit schema.

    The table is repartitioned on the key (a hash partitioning: all rows of a
    group in one partition), and each partition is fitted with one
    :func:`jaxmle.fit_groups` call in ``mapInPandas``: thousands of groups per
    Python call. ``partitioned=True`` says the partitions already hold whole
    groups (a table read from files written partitioned by the key, one key
    per file, or repartitioned on the key before): no shuffle.

    Args:
        sdf: a ``pyspark.sql.DataFrame``, one row per observation.
        family_or_model: a family name, a
            :class:`~jaxmle.distributions.Distribution` or a
            :class:`jaxmle.Model` (a categorical family needs ``k=``).
        by: the key column(s).
        value, event, lower, upper, weights, columns: the data columns, as for
            :func:`jaxmle.fit_groups`.
        partitioned: the partitions already hold whole groups (no shuffle).
            Spark reads a Parquet file larger than
            ``spark.sql.files.maxPartitionBytes`` (128 MB) into several
            partitions: files of whole groups must be smaller than that.
        npartitions: partitions of the fit (default:
            :data:`BUCKETS_PER_CORE` per core of the cluster).
        cache: the Python workers' persistent compilation cache folder: a path
            every worker can write (shared storage), ``False`` for none, or
            ``None``: the caller's ``jax_compilation_cache_dir``, else each
            worker's ``$JAXMLE_CACHE_DIR`` or ``~/.cache/jaxmle``.
        **fit_options: passed to :func:`jaxmle.fit_groups` on every partition.

    Returns:
        A lazy ``pyspark.sql.DataFrame``: the ``by`` column(s), ``NAME``,
        ``NAME_se``, ``NAME_lo``, ``NAME_hi`` per flattened parameter,
        ``loglik``, ``nobs`` and ``status``.

    Raises:
        TypeError: ``sdf`` is not a Spark DataFrame.
        ValueError: a missing column, or a family whose columns depend on the data.

    Example:
        >>> import jax
        >>> import jaxmle.spark
        >>> from pyspark.sql import SparkSession  # doctest: +SKIP
        >>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
        >>> sdf = spark.createDataFrame([("a", 2.0), ("a", 4.0), ("b", 1.0), ("b", 3.0)],
        ...                             "unit string, hours double")  # doctest: +SKIP
        >>> out = jaxmle.spark.fit_groups(sdf, "exponential", by="unit", value="hours")
        ... # doctest: +SKIP
        >>> sorted(out.select("unit", "rate").collect())  # doctest: +SKIP
        [Row(unit='a', rate=0.3333333333333333), Row(unit='b', rate=0.5)]
        >>> jaxmle.spark.BUCKETS_PER_CORE
        2
    """
    _import_spark()
    from pyspark.sql import DataFrame

    if not isinstance(sdf, DataFrame):
        raise TypeError(
            f"jaxmle.spark.fit_groups takes a Spark DataFrame; got {type(sdf).__name__} "
            "(jaxmle.fit_groups takes a pandas one)"
        )
    keys = _keys(by)
    if not keys:
        raise ValueError("by= names the key column(s): a distributed table is fitted by group")
    names = list(sdf.columns)
    data = dict(value=value, event=event, lower=lower, upper=upper, weights=weights)
    wanted = [c for c in data.values() if c is not None] + _leaf_names(columns)
    wanted = list(dict.fromkeys([*keys, *wanted]))
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"no column {missing[0]!r}; the columns are: {', '.join(names)}")
    types = dict(sdf.dtypes)
    family_options = {k: v for k, v in fit_options.items() if k not in _TABLE_OPTIONS}
    schema = spark_schema(
        {k: types[k] for k in keys}, family_or_model, weights=weights is not None, **family_options
    )  # (raises here for an unknown family, before any work)
    out_columns = [*keys, *result_columns(family_or_model, weights=weights is not None,
                                          **family_options)]  # fmt: skip
    sdf = sdf.select(*wanted)
    if not partitioned:
        if npartitions is None:
            cores = sdf.sparkSession.sparkContext.defaultParallelism
            npartitions = max(1, BUCKETS_PER_CORE * int(cores))
        sdf = sdf.repartition(int(npartitions), *keys)
    options = {k: v for k, v in data.items() if v is not None}
    if columns is not None:
        options["columns"] = columns
    options.update(fit_options)
    settings = worker_settings(cache)

    def fit(batches):
        return _fit_partitions(batches, family_or_model, by, options, out_columns, settings)

    return sdf.mapInPandas(fit, schema)
