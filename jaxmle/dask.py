"""The group-by fit of :func:`jaxmle.fit_groups` on a dask DataFrame: one call per partition.

A dask DataFrame is a table split into partitions, each a pandas DataFrame on
some worker. :func:`fit_groups` brings the rows of each group into one
partition (a shuffle on the key, left out when the table is already
partitioned by it) and fits every partition with one :func:`jaxmle.fit_groups`
call: all the groups of a partition in a few compiled batches, never one
Python call per group. The result is a lazy dask DataFrame with the columns of
:func:`jaxmle.fit_groups`, one row per group.

The partitions are fitted with fixed shapes (``stable_shapes=True`` of
:func:`jaxmle.fit_groups`: each size bucket's width and group count rounded
up to one of eight sizes per doubling), so that partitions of different sizes reuse the same
compiled kernels: a worker compiles a model once, not once per partition. The
workers keep the kernels in JAX's persistent compilation cache, where workers
that start later on the machine (on the cluster, when the cache is on shared
storage) and later runs load them instead of compiling; workers that start
together may each compile once. See ``cache`` of :func:`fit_groups`.

Needs ``pip install "jaxmle[dask]"`` (``dask[dataframe]`` and
``distributed``); jaxmle itself imports dask only when called.

Example:
    >>> import dask.dataframe as dd
    >>> import jax
    >>> import pandas as pd
    >>> import jaxmle.dask
    >>> jax.config.update("jax_enable_x64", True)
    >>> df = pd.DataFrame({"unit": ["a", "b", "a", "b", "b"],
    ...                    "hours": [2.0, 1.0, 4.0, 2.0, 3.0]})
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> out = jaxmle.dask.fit_groups(ddf, "exponential", by="unit", value="hours")
    >>> res = out.compute(scheduler="synchronous").sort_values("unit")
    >>> res["rate"].round(4).tolist(), res["nobs"].tolist()
    ([0.3333, 0.5], [2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._compile import worker_context, worker_settings
from .tables import fit_groups as fit_table
from .tables import result_columns

__all__ = ["fit_groups", "result_meta", "needed_columns"]

#: keywords of jaxmle.fit_groups that are neither fit_batch's nor a family's options
_TABLE_OPTIONS = ("level", "interval", "buckets", "stable_shapes")


def _import_dask():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ImportError(
            'jaxmle.dask needs dask: pip install "jaxmle[dask]" (dask[dataframe] and distributed)'
        ) from None
    return dd


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
    if isinstance(columns, (tuple, list)):
        return [n for v in columns for n in _leaf_names(v)]
    raise TypeError(f"columns= takes a column name, a tuple or a dict of them; got {columns!r}")


def needed_columns(
    by: Any = None,
    *,
    value: str | None = None,
    event: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    weights: str | None = None,
    columns: Any = None,
) -> list[str]:
    """The columns a group-by fit reads, in order and without repeats: the keys, then the data.

    Example:
        >>> from jaxmle.dask import needed_columns
        >>> needed_columns("sensor", value="hours", event="failed")
        ['sensor', 'hours', 'failed']
        >>> needed_columns(["site", "unit"], columns={"y": "y", "x": ("x1", "x2")})
        ['site', 'unit', 'y', 'x1', 'x2']
    """
    names = [*_keys(by), value, event, lower, upper, weights, *_leaf_names(columns)]
    return list(dict.fromkeys(n for n in names if n is not None))


def result_meta(
    key_dtypes: Mapping[str, Any],
    family_or_model: Any,
    *,
    weights: bool = False,
    **options: Any,
):
    """An empty pandas DataFrame with the columns and dtypes of :func:`jaxmle.fit_groups`'s
    result: the keys (with ``key_dtypes``), then :func:`jaxmle.tables.result_columns`.

    Example:
        >>> import jax
        >>> from jaxmle.dask import result_meta
        >>> jax.config.update("jax_enable_x64", True)
        >>> meta = result_meta({"sensor": "int64"}, "exponential")
        >>> list(meta.columns)
        ['sensor', 'rate', 'rate_se', 'rate_lo', 'rate_hi', 'loglik', 'nobs', 'status']
        >>> len(meta), str(meta["nobs"].dtype)
        (0, 'int64')
    """
    import pandas as pd

    cols = {k: pd.Series([], dtype=d) for k, d in key_dtypes.items()}
    for name, dtype in result_columns(family_or_model, weights=weights, **options).items():
        cols[name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


def _fit_partition(part, family_or_model, keys, by, options, meta, settings, reset_index):
    """One partition: one :func:`jaxmle.fit_groups` call (fixed shapes), as the driver set
    float64 and the compilation cache; an empty partition gives no rows."""
    if reset_index:
        part = part.reset_index()
    if len(part) == 0:
        return meta.iloc[:0].copy()
    with worker_context(settings):
        out = fit_table(part, family_or_model, by=by, stable_shapes=True, **options)
    return out.astype(dict(meta.dtypes), copy=False)


def fit_groups(
    ddf: Any,
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
    """Fit a family (or a model) to every group of a dask DataFrame: a lazy table, one row per
    group, with the columns of :func:`jaxmle.fit_groups`.

    Each partition is fitted by one :func:`jaxmle.fit_groups` call on the
    worker that holds it. The rows of a group must be in one partition: by
    default the table is shuffled on ``by`` first (a hash partitioning on the
    key). ``partitioned=True`` says that it already is, and skips the shuffle
    (a Parquet dataset written partitioned by the key, one key per file, or a
    table whose index is the key with known divisions, which is recognized
    without it); a group split across partitions is then fitted as two groups.
    The rows of the result are sorted by the key within a partition; sort the
    computed table to compare it with :func:`jaxmle.fit_groups`'s.

    The workers compute in float64 when the caller has ``jax_enable_x64`` on,
    as :func:`jaxmle.fit_groups` would here, and keep compiled kernels in a
    persistent compilation cache (``cache``), so that each machine compiles a
    model once and the other partitions and workers load it.

    Args:
        ddf: a ``dask.dataframe.DataFrame``, one row per observation.
        family_or_model: a family name, a
            :class:`~jaxmle.distributions.Distribution` or a
            :class:`jaxmle.Model`, as for :func:`jaxmle.fit_groups` (a
            categorical family needs ``k=``: the result's columns must be known
            before any partition is read).
        by: the key column(s), or the name of the index.
        value, event, lower, upper, weights, columns: the data columns, as for
            :func:`jaxmle.fit_groups`.
        partitioned: the table is already partitioned by the key (no shuffle).
        npartitions: partitions after the shuffle (default: as many as the table has).
        cache: the workers' persistent compilation cache folder: a path every
            worker can write (shared storage: what one worker compiled, the
            others load), ``False`` for none, or ``None`` (default): the
            caller's ``jax_compilation_cache_dir`` when set, else each worker's
            ``$JAXMLE_CACHE_DIR``, else its ``~/.cache/jaxmle``. A worker that
            has its own ``jax_compilation_cache_dir`` keeps it.
        **fit_options: passed to :func:`jaxmle.fit_groups` on every partition
            (``level``, ``interval``, ``buckets``, ``nan_policy``, ``max_iter``,
            family options such as ``trials=``).

    Returns:
        A lazy ``dask.dataframe.DataFrame`` with an explicit ``meta``: the
        ``by`` column(s), ``NAME``, ``NAME_se``, ``NAME_lo``, ``NAME_hi`` per
        flattened parameter, ``loglik``, ``nobs`` and ``status``.

    Raises:
        TypeError: ``ddf`` is not a dask DataFrame.
        ValueError: a missing column, or a family whose columns depend on the data.

    Example:
        >>> import dask.dataframe as dd
        >>> import jax
        >>> import pandas as pd
        >>> import jaxmle.dask
        >>> jax.config.update("jax_enable_x64", True)
        >>> df = pd.DataFrame({"sensor": [1, 1, 1, 2, 2, 3],
        ...                    "hours": [2.0, 4.0, 6.0, 1.0, 3.0, 5.0]})
        >>> ddf = dd.from_pandas(df, npartitions=2)
        >>> out = jaxmle.dask.fit_groups(ddf, "exponential", by="sensor", value="hours")
        >>> list(out.columns)
        ['sensor', 'rate', 'rate_se', 'rate_lo', 'rate_hi', 'loglik', 'nobs', 'status']
        >>> res = out.compute(scheduler="synchronous").sort_values("sensor")
        >>> res["rate"].round(4).tolist(), res["status"].tolist()
        ([0.25, 0.5, 0.2], ['CONVERGED', 'CONVERGED', 'CONVERGED'])
    """
    dd = _import_dask()
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(
            f"jaxmle.dask.fit_groups takes a dask DataFrame; got {type(ddf).__name__} "
            "(jaxmle.fit_groups takes a pandas one)"
        )
    keys = _keys(by)
    if not keys:
        raise ValueError("by= names the key column(s): a distributed table is fitted by group")
    names = [str(c) for c in ddf.columns]
    reset_index = False
    if len(keys) == 1 and keys[0] not in names and ddf.index.name == keys[0]:
        reset_index = True  # the key is the index: a column for fit_groups
        if ddf.known_divisions:
            partitioned = True  # sorted with known divisions: each key in one partition
        else:
            ddf, reset_index = ddf.reset_index(), False
            names = [str(c) for c in ddf.columns]
    data = dict(value=value, event=event, lower=lower, upper=upper, weights=weights)
    wanted = needed_columns(None, **data, columns=columns)
    missing = [c for c in [*keys, *wanted] if c not in names and not (reset_index and c in keys)]
    if missing:
        raise ValueError(
            f"no column {missing[0]!r}; the columns are: {', '.join(names)}"
            + (f" (the index is {ddf.index.name!r})" if ddf.index.name else "")
        )
    meta_keys = {k: (ddf.index.dtype if reset_index else ddf.dtypes[k]) for k in keys}
    family_options = {k: v for k, v in fit_options.items() if k not in _TABLE_OPTIONS}
    meta = result_meta(
        meta_keys, family_or_model, weights=weights is not None, **family_options
    )  # (raises here for an unknown family, before any work)
    ddf = ddf[wanted] if reset_index else ddf[[*keys, *[c for c in wanted if c not in keys]]]
    if not partitioned:
        ddf = ddf.shuffle(on=keys, npartitions=npartitions)
    options = {k: v for k, v in data.items() if v is not None}
    if columns is not None:
        options["columns"] = columns
    options.update(fit_options)
    return ddf.map_partitions(
        _fit_partition,
        family_or_model,
        keys,
        by,
        options,
        meta,
        worker_settings(cache),
        reset_index,
        meta=meta,
        align_dataframes=False,
    )
