"""Tables in, tables out: :func:`fit_groups` fits one model per group of a long-format table.

A table is a pandas or polars DataFrame, a pyarrow Table (or RecordBatch), or a
dict of equal-length columns; none of these libraries is needed by jaxmle
itself (each is read through a small adapter, imported only when given). The
groups are fitted in batches: every group goes into the bucket of the smallest
power of two that holds its rows, each bucket is padded to its longest group
(the padding masked out) and fitted with one :func:`jaxmle.fit_batch`, so that
groups of 1 to 10,000 rows cost a few compiled kernels, not one per size, and
padding never more than doubles the work. Where padding costs less than a
compilation (a few seconds), buckets are merged: one batch, when padding
every group to the longest at most doubles the rows or adds at most a million
cells.

Example:
    >>> import jax
    >>> import numpy as np
    >>> import jaxmle as jm
    >>> jax.config.update("jax_enable_x64", True)
    >>> table = {"unit": np.array(["a", "a", "b", "b", "b"]),
    ...          "hours": np.array([2.0, 4.0, 1.0, 2.0, 3.0])}
    >>> out = jm.fit_groups(table, "exponential", by="unit", value="hours")
    >>> out[["unit", "rate", "nobs", "status"]].to_dict("list")
    {'unit': ['a', 'b'], 'rate': [0.3333333333333333, 0.5], 'nobs': [2, 3],
     'status': ['CONVERGED', 'CONVERGED']}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ._io import group_index
from .distributions.base import Distribution
from .distributions.discrete import CategoricalDist, MultinomialDist
from .distributions.families import model_for
from .distributions.registry import get_distribution
from .fit import default_chunk_size, fit_batch, progress_bar
from .model import Model
from .results import FitResult

__all__ = [
    "fit_groups",
    "fit_grouped",
    "table_columns",
    "group_rows",
    "bucket_width",
    "batch_buckets",
    "result_columns",
]

#: the keyword arguments of fit_batch that fit_groups passes on (the rest are family options)
_FIT_OPTIONS = frozenset(inspect.signature(fit_batch).parameters) - {"model", "data", "mask"}
#: how groups are batched: power-of-two size buckets ("pow2"), one batch ("none"), or the
#: buckets merged where the padding that costs is cheaper than a compilation ("auto")
BUCKETS = ("auto", "pow2", "none")
#: padding cells that buckets="auto" adds to save a compilation: compiling a batch kernel
#: takes seconds, about what the solver spends on a million padded cells
MERGE_CELLS = 2**20
#: interval methods of the NAME_lo and NAME_hi columns
_INTERVALS = ("wald_transformed", "wald", "profile")


# --------------------------------------------------------------------------
# the table adapter: columns as numpy arrays, whatever the table
# --------------------------------------------------------------------------
def table_columns(table: Any) -> tuple[list[str], Any]:
    """The column names of ``table`` and a function ``get(name) -> numpy array``.

    Accepts a pandas DataFrame, a polars DataFrame, a pyarrow Table or
    RecordBatch, or a mapping of column name to array. Missing values of a
    numeric column come out as NaN.

    Raises:
        TypeError: any other object (a polars LazyFrame: ``collect()`` it first).

    Example:
        >>> import numpy as np
        >>> from jaxmle.tables import table_columns
        >>> names, get = table_columns({"x": [1.0, 2.0], "g": ["a", "b"]})
        >>> names, get("x").tolist()
        (['x', 'g'], [1.0, 2.0])
    """
    module = type(table).__module__.split(".")[0]
    if module == "pandas" and hasattr(table, "columns"):
        return [str(c) for c in table.columns], lambda name: _pandas_column(table[name])
    if module == "polars":
        if not hasattr(table, "get_column"):
            raise TypeError(f"a polars {type(table).__name__}: collect() it into a DataFrame first")
        return list(table.columns), lambda name: table.get_column(name).to_numpy()
    if module == "pyarrow" and hasattr(table, "column_names"):
        return list(table.column_names), lambda name: _arrow_column(table.column(name))
    if isinstance(table, Mapping):
        return [str(c) for c in table], lambda name: np.asarray(table[name])
    raise TypeError(
        "fit_groups takes a pandas or polars DataFrame, a pyarrow Table, or a dict of columns; "
        f"got {type(table).__name__}"
    )


def _pandas_column(series) -> np.ndarray:
    kind = getattr(series.dtype, "kind", "O")
    if kind in "biuf" and not isinstance(series.dtype, np.dtype):  # nullable Int64, Float64, ...
        if series.isna().any():
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        return series.to_numpy(dtype=series.dtype.numpy_dtype)
    return series.to_numpy()


def _arrow_column(col) -> np.ndarray:
    out = col.to_numpy(zero_copy_only=False) if hasattr(col, "to_numpy") else np.asarray(col)
    return np.asarray(out)


def _missing_key(k) -> bool:
    if k is None or type(k).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(k != k)  # NaN
    except (TypeError, ValueError):
        return False


def _sorted_groups(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(col, return_inverse=True)`` of a typed column; in one pass where the column
    is already sorted (a table sorted or partitioned by its key, the usual layout of a fleet's
    readings), where ``np.unique`` would sort it again (1.1 s for 10^7 rows)."""
    col = col.reshape(-1)
    # (NaN and NaT compare false: a column with one takes the general path)
    if col.size > 1 and np.all(col[1:] >= col[:-1]):
        starts = np.concatenate([[0], np.flatnonzero(col[1:] != col[:-1]) + 1])
        sizes = np.diff(np.append(starts, col.size))
        return col[starts], np.repeat(np.arange(starts.size), sizes)
    labels, inverse = np.unique(col, return_inverse=True)
    return labels, inverse.reshape(-1)


def group_rows(keys: list[np.ndarray], names: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct groups of one or more key columns, sorted, and each row's group number.

    Returns the label columns (one array per key column, one entry per group)
    and the group number of every row. Keys sort as :func:`jaxmle._io.group_index`
    sorts them (numbers numerically, text as text; text keys that are all
    integers numerically).

    Raises:
        ValueError: a missing key (None, NaN, NA), naming the column and row.

    Example:
        >>> import numpy as np
        >>> from jaxmle.tables import group_rows
        >>> labels, inverse = group_rows([np.array(["b", "a", "b"]), np.array([1, 1, 2])],
        ...                              ["site", "unit"])
        >>> [l.tolist() for l in labels], inverse.tolist()
        ([['a', 'b', 'b'], [1, 1, 2]], [1, 0, 2])
    """
    codes, uniques = [], []
    for col, name in zip(keys, names):
        col = np.asarray(col)
        if col.dtype.kind in "biufMm":  # typed keys: NaN / NaT sort last
            labels, inverse = _sorted_groups(col)
            missing = np.isnat(labels) if col.dtype.kind in "Mm" else labels != labels
        else:  # text and other objects
            labels, inverse = group_index(col.astype(object))
            missing = np.array([_missing_key(k) for k in labels], bool)
        bad = np.flatnonzero(missing)
        if bad.size:
            row = int(np.argmax(np.isin(inverse, bad)))
            raise ValueError(f"column {name!r} (the groups) has a missing value on row {row}")
        codes.append(inverse)
        uniques.append(labels)
    if len(codes) == 1:
        return [uniques[0]], codes[0]
    combos, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    return [u[combos[:, j]] for j, u in enumerate(uniques)], inverse.reshape(-1)


def bucket_width(size) -> np.ndarray:
    """The padded length of a group of ``size`` rows: the smallest power of two that holds it.

    Example:
        >>> from jaxmle.tables import bucket_width
        >>> bucket_width([1, 2, 3, 100, 128]).tolist()
        [1, 2, 4, 128, 128]
    """
    size = np.maximum(np.asarray(size, np.int64), 1)
    return np.left_shift(1, np.ceil(np.log2(size)).astype(np.int64))


def _cheap(sizes: np.ndarray) -> bool:
    """Whether groups of ``sizes`` rows are worth one batch padded to the longest: at most
    twice the rows, or at most :data:`MERGE_CELLS` cells of padding."""
    cells, rows = sizes.size * int(sizes.max()), int(sizes.sum())
    return cells <= 2 * rows or cells - rows <= MERGE_CELLS


def batch_buckets(sizes, buckets: str = "auto") -> np.ndarray:
    """The batch of each group of ``sizes`` rows, as the padded length of its bucket.

    ``"pow2"``: the power-of-two buckets of :func:`bucket_width` (1, 2, 3-4,
    5-8, ... rows). ``"none"``: one batch. ``"auto"``: one batch where padding
    every group to the longest at most doubles the rows or adds at most
    :data:`MERGE_CELLS` cells; else the buckets, from the smallest up, each
    merged into the one before while that holds for the two together (a
    compilation costs more than that much padding).

    Example:
        >>> import numpy as np
        >>> from jaxmle.tables import batch_buckets
        >>> sizes = np.array([1, 3, 3, 40, 60, 100])
        >>> batch_buckets(sizes, "pow2").tolist()
        [1, 4, 4, 64, 64, 128]
        >>> np.unique(batch_buckets(sizes)).size  # a few hundred cells: one batch
        1
        >>> big = np.array([1] * 10_000 + [5_000] * 300)
        >>> np.unique(batch_buckets(big)).tolist()  # 10,000 one-row groups padded to 5,000?
        [1, 8192]
    """
    if buckets not in BUCKETS:
        raise ValueError(f"buckets must be one of {BUCKETS}, got {buckets!r}")
    sizes = np.asarray(sizes, np.int64)
    widths = bucket_width(sizes)
    if buckets == "none" or (buckets == "auto" and _cheap(sizes)):
        return np.full_like(widths, int(widths.max()))
    if buckets == "pow2":
        return widths
    out = widths.copy()
    members = np.zeros(sizes.size, bool)
    for w in np.unique(widths):
        this = widths == w
        if members.any() and _cheap(sizes[members | this]):
            members |= this
        else:
            members = this
        out[members] = w  # (the batch is known by its largest bucket)
    return out


# --------------------------------------------------------------------------
# fitting long-format data group by group, in size buckets
# --------------------------------------------------------------------------
def _pad_bucket(data, weights, rows, g_local, pos, n_groups, width):
    """The rows ``rows`` of every leaf laid out as ``(n_groups, width, ...)`` (group
    ``g_local``, position ``pos``; ``rows`` come group by group, in order of position), the
    padding a copy of the group's first row; the mask. One table of row numbers serves every
    leaf: each is laid out by one gather. ``rows=None``: the whole table in its own order,
    every group filling the width, which a reshape lays out."""
    if rows is None:
        full, idx, mask = True, None, None
    elif rows.size == n_groups * width:  # every group fills the width: no padding
        full, idx, mask = True, rows.reshape(n_groups, width), None
    else:
        full, mask = False, np.zeros((n_groups, width), bool)
        mask[g_local, pos] = True
        first = rows[pos == 0][np.argsort(g_local[pos == 0], kind="stable")]
        idx = np.repeat(first[:, None], width, axis=1)
        idx[g_local, pos] = rows

    def pad(leaf):
        leaf = np.asarray(leaf)
        if idx is None:
            return leaf.reshape((n_groups, width) + leaf.shape[1:])
        return leaf[idx]

    padded = jax.tree_util.tree_map(pad, data)
    if weights is None:
        return padded, None, mask
    return padded, pad(weights) if full else np.where(mask, pad(weights), 0.0), mask


def _stable_size(n: int) -> int:
    """``n`` rounded up to one of 8 sizes per doubling (16, 18, ..., 30, 32, 36, ..., 60, 64,
    72, ...; up to 15 as it is): at most 12.5% more, and few distinct sizes."""
    n = max(int(n), 1)
    step = 1 << max(0, n.bit_length() - 4)
    return -(-n // step) * step


def _batch_of(res: FitResult) -> int:
    return int(np.shape(res.status)[0])


def _pad_count(arrays, weights, mask, m):
    """A bucket of ``m`` groups padded to a stable number of groups (at most the largest chunk
    of :func:`jaxmle.fit_batch` for its width) with copies of its first group."""
    probe = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct((2**30,) + np.shape(a)[1:], np.asarray(a).dtype), arrays
    )
    largest = default_chunk_size(probe)
    target = m if m > largest else min(_stable_size(m), largest)
    if target == m:
        return arrays, weights, mask
    extra = np.zeros(target - m, np.int64)
    rows = np.concatenate([np.arange(m), extra])
    arrays = jax.tree_util.tree_map(lambda a: np.asarray(a)[rows], arrays)
    weights = None if weights is None else weights[rows]
    mask = None if mask is None else mask[rows]
    return arrays, weights, mask


def _widen(res: FitResult, width: int) -> FitResult:
    """A bucket's batch result with its observation axis padded to ``width`` (masked)."""
    n = res.status.shape[0]
    have = jax.tree_util.tree_leaves(res.data)[0].shape[1]
    mask = np.ones((n, have), bool) if res.mask is None else np.asarray(res.mask)
    if have == width:
        return dataclasses.replace(res, mask=mask)

    def pad(x, fill=None):
        x = np.asarray(x)
        cfg = [(0, 0)] * x.ndim
        cfg[1] = (0, width - have)
        return np.pad(x, cfg, mode="edge") if fill is None else np.pad(x, cfg, constant_values=fill)

    return dataclasses.replace(
        res,
        data=jax.tree_util.tree_map(pad, res.data),
        weights=None if res.weights is None else pad(res.weights, 0.0),
        mask=pad(mask, False),
    )


def _combine(parts: list[FitResult], order: np.ndarray) -> FitResult:
    """Bucket results concatenated, then rows ``order``: one batch result over all groups."""
    if len(parts) == 1 and np.array_equal(order, np.arange(order.size)):
        return parts[0]
    host = [jax.device_get(p) for p in parts]
    if len(host) > 1:
        width = max(jax.tree_util.tree_leaves(p.data)[0].shape[1] for p in host)
        host = [_widen(p, width) for p in host]
    return jax.tree_util.tree_map(
        lambda *xs: jax.device_put(np.concatenate([np.asarray(x) for x in xs])[order]), *host
    )


class _Progress:
    """One progress display over the buckets: each bucket's ``(done, total)`` calls move it."""

    def __init__(self, progress, total):
        self.bar = progress_bar(progress, 1, total)
        self.offset = self.shown = 0

    def bucket(self, size):
        if self.bar is None:
            return False
        start = self.offset
        self.offset += size

        def update(done, _total):
            self.bar.update(start + done - self.shown)
            self.shown = start + done

        return update

    def close(self):
        if self.bar is not None:
            self.bar.close()


def fit_grouped(
    model: Model,
    data: Any,
    inverse: np.ndarray,
    n_groups: int,
    *,
    weights: np.ndarray | None = None,
    progress: Any = False,
    buckets: str = "auto",
    stable_shapes: bool = False,
    **fit_options: Any,
) -> FitResult:
    """Fit ``model`` to each group of long-format data: one batch result, groups in order.

    Every leaf of ``data`` (and ``weights``) has the rows as its leading axis;
    row ``i`` belongs to group ``inverse[i]`` (``0 <= inverse < n_groups``; every
    group needs a row). Groups go into buckets by :func:`bucket_width`, each
    bucket padded to its longest group and fitted with one
    :func:`jaxmle.fit_batch`; the bucket results are put together (observation
    axes padded to the longest bucket and masked) in group order.
    ``buckets="auto"`` (default) merges buckets
    where the padding that adds costs less than a compilation (see
    :func:`batch_buckets`); ``"pow2"`` always uses the buckets, ``"none"``
    never.

    ``stable_shapes=True`` rounds each bucket's width (its longest group) and
    its number of groups up to one of eight sizes per doubling (16, 18, ...,
    30, 32, 36, ..., 64, 72, ...; the groups by copies of its first group,
    which are dropped, and no further than a chunk of
    :func:`jaxmle.fit_batch`): tables of different sizes then share a few
    compiled kernels, at the price of at most 12.5% more work on each axis.
    The parts of a distributed table (:mod:`jaxmle.dask`, :mod:`jaxmle.spark`)
    are fitted so: a worker compiles a model once, not once per part.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> from jaxmle.tables import fit_grouped
        >>> jax.config.update("jax_enable_x64", True)
        >>> x = np.array([2.0, 1.0, 4.0, 2.0, 3.0])
        >>> res = fit_grouped(jm.families.Exponential(), {"x": x}, np.array([0, 1, 0, 1, 1]), 2)
        >>> res.params["rate"].round(6).tolist(), res.nobs.tolist()
        ([0.333333, 0.5], [2.0, 3.0])
    """
    inverse = np.asarray(inverse, np.int64)
    counts = np.bincount(inverse, minlength=n_groups)
    if counts.size != n_groups or (counts == 0).any():
        raise ValueError("every group needs at least one row")
    widths = batch_buckets(counts, buckets)
    in_order = inverse.size < 2 or bool(np.all(inverse[1:] >= inverse[:-1]))
    size = int(counts[0])
    if in_order and np.all(counts == size) and (not stable_shapes or _stable_size(size) == size):
        # (a table sorted by the key, its groups of one size that is the width: one bucket,
        # laid out by a reshape; no table of row numbers, which for 10^7 rows costs more than
        # the reshape)
        order = g = pos = None
    elif in_order:
        order, g = np.arange(inverse.size), inverse
    else:
        order = np.argsort(inverse, kind="stable")  # rows by group, file order within a group
        g = inverse[order]
    if g is not None:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(g.size) - starts[g]
    parts, placed = [], []
    bar = _Progress(progress, n_groups)
    try:
        for width in np.unique(widths):
            members = np.flatnonzero(widths == width)  # groups of this bucket, in order
            if members.size == n_groups:  # one bucket: every row
                rows, g_local, pos_b = order, g, pos
            else:
                local = np.full(n_groups, -1)
                local[members] = np.arange(members.size)
                sel = local[g] >= 0
                rows, g_local, pos_b = order[sel], local[g[sel]], pos[sel]
            longest = int(counts[members].max())  # (padded to its longest group only)
            if stable_shapes:
                longest = _stable_size(longest)
            arrays, w, mask = _pad_bucket(
                data, weights, rows, g_local, pos_b, members.size, longest
            )
            m = members.size
            if stable_shapes:
                arrays, w, mask = _pad_count(arrays, w, mask, m)
            res = fit_batch(
                model,
                arrays,
                weights=w,
                mask=mask,
                progress=bar.bucket(m),
                **fit_options,
            )
            if stable_shapes and _batch_of(res) > m:
                res = jax.tree_util.tree_map(lambda x, m=m: np.asarray(x)[:m], jax.device_get(res))
            parts.append(res)
            placed.append(members)
    finally:
        bar.close()
    position = np.empty(n_groups, np.int64)
    position[np.concatenate(placed)] = np.arange(n_groups)
    return _combine(parts, position)


# --------------------------------------------------------------------------
# fit_groups
# --------------------------------------------------------------------------
def _get(get, names, name, what):
    if name not in names:
        raise ValueError(f"no column {name!r} ({what}); the columns are: {', '.join(names)}")
    return get(name)


def _numeric(col, name) -> np.ndarray:
    col = np.asarray(col)
    if col.dtype.kind in "biuf":
        return col
    try:
        return col.astype(np.float64)  # None -> NaN
    except (TypeError, ValueError):
        raise TypeError(f"column {name!r} is not numeric (dtype {col.dtype})") from None


def _resolve_family(family, options):
    """The Distribution a family name (with its options) or a Distribution stands for."""
    if isinstance(family, str):
        try:
            dist = get_distribution(family, **options)
        except TypeError as err:
            raise TypeError(f"{err} (fit_groups passes unknown keywords to the family)") from None
    elif isinstance(family, Distribution):
        dist = family.with_options(**options) if options else family
    else:
        raise TypeError(
            "fit_groups takes a family name, a Distribution or a jm.Model; got "
            f"{type(family).__name__}"
        )
    if isinstance(dist, MultinomialDist):
        raise ValueError("the multinomial needs k count columns: use a jm.Model with columns=")
    return dist


def _family_setup(family, options, names, get, value, event, lower, upper):
    """The model and the long data dict of a family fit."""
    dist = _resolve_family(family, options)
    interval = lower is not None or upper is not None
    if interval:
        if lower is None or upper is None:
            raise ValueError("interval censoring needs both lower= and upper=")
        if value is not None or event is not None:
            raise ValueError("give either value= (with optional event=) or lower= and upper=")
        data = {k: _numeric(_get(get, names, c, k), c).astype(float)
                for k, c in (("lower", lower), ("upper", upper))}  # fmt: skip
    else:
        if value is None:
            raise ValueError("which column holds the observations? give value= (a column name)")
        data = {"x": _numeric(_get(get, names, value, "value"), value)}
        if event is not None:
            data["event"] = _numeric(_get(get, names, event, "event"), event)
    if not dist.continuous and (event is not None or interval):
        raise ValueError(f"{dist.name} is discrete: censoring is for the continuous families only")
    if isinstance(dist, CategoricalDist) and dist.k is None:  # as fit_dist: max code + 1
        x = data["x"].astype(float)
        top = np.nanmax(np.where(np.isfinite(x), x, np.nan)) if np.isfinite(x).any() else 1.0
        dist = dist.with_options(k=max(int(top) + 1, 2))
    if dist.name == "binomial" and dist.trials is None:
        raise ValueError("the binomial family needs its number of trials: pass trials=N")
    return model_for(dist), data


def _model_data(columns, names, get):
    """The data pytree of a user model from ``columns=``: a name, a tuple or a dict of names."""
    if columns is None:
        raise ValueError(
            "a jm.Model takes its data from columns=: a column name, or a tuple or dict of "
            "column names forming the data its loglik receives"
        )
    if isinstance(columns, str):
        return _numeric(_get(get, names, columns, "columns="), columns)
    if isinstance(columns, Mapping):
        return {k: _model_data(v, names, get) for k, v in columns.items()}
    if isinstance(columns, (tuple, list)):
        return tuple(_model_data(c, names, get) for c in columns)
    raise TypeError(f"columns= takes a column name, a tuple or a dict of them; got {columns!r}")


def _check_finite(data, sources, bounds_ok) -> None:
    """A ``ValueError`` naming the column and row of the first missing (or infinite) value;
    with ``bounds_ok`` (a family) ``lower=-inf`` and ``upper=inf`` are censoring bounds."""
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    for path, x in leaves:
        if x.dtype.kind != "f" or np.isfinite(np.sum(x)):
            continue
        fin = np.isfinite(x)
        key = getattr(path[0], "key", None) if len(path) == 1 else None
        if bounds_ok and key in ("lower", "upper"):
            fin |= x == (-np.inf if key == "lower" else np.inf)
        fin = fin.reshape(len(x), -1).all(axis=1)
        if not fin.all():
            column = _source(sources, path)
            row = int(np.argmin(fin))
            what = "a missing value" if np.isnan(x[row]).any() else "an infinite value"
            raise ValueError(
                f"column {column!r} has {what} on row {row}{_more(int((~fin).sum()))}; "
                "pass nan_policy='omit' to leave such rows out"
            )


def _more(n: int) -> str:
    return f" ({n:,} rows in all)" if n > 1 else ""


def _source(sources, path):
    """The column name at ``path`` in the pytree of names ``sources``."""
    node = sources
    for k in path:
        node = node[getattr(k, "key", getattr(k, "idx", None))]
    return node


def result_columns(
    family_or_model: str | Distribution | Model, *, weights: bool = False, **options: Any
) -> dict[str, np.dtype]:
    """The columns of :func:`fit_groups`'s result after the ``by`` columns, with their dtypes,
    known without fitting (the schema of a distributed fit's result).

    Per flattened parameter ``NAME``, ``NAME_se``, ``NAME_lo``, ``NAME_hi``, then
    ``loglik`` (floating point: float64 where ``jax_enable_x64`` is on, else
    float32), ``nobs`` (int64; floating point with ``weights``) and ``status``
    (text). ``options`` are a family's options (``trials=``, ``k=``); a
    categorical family needs its ``k`` here, as its parameters depend on it.

    Example:
        >>> import jax
        >>> from jaxmle.tables import result_columns
        >>> jax.config.update("jax_enable_x64", True)
        >>> cols = result_columns("weibull")
        >>> list(cols)[:5], str(cols["nobs"]), str(cols["status"])
        (['shape', 'shape_se', 'shape_lo', 'shape_hi', 'scale'], 'int64', 'object')
    """
    options = {k: v for k, v in options.items() if k not in _FIT_OPTIONS}
    if isinstance(family_or_model, Model):
        model = family_or_model
    else:
        dist = _resolve_family(family_or_model, options)
        if isinstance(dist, CategoricalDist) and dist.k is None:
            raise ValueError("the categorical family's parameters depend on k: pass k=K")
        if dist.name == "binomial" and dist.trials is None:
            raise ValueError("the binomial family needs its number of trials: pass trials=N")
        model = model_for(dist)
    real = np.dtype(np.float64 if jax.config.jax_enable_x64 else np.float32)
    cols: dict[str, np.dtype] = {}
    for name in model.param_names:
        for suffix in ("", "_se", "_lo", "_hi"):
            cols[f"{name}{suffix}"] = real
    cols["loglik"] = real
    cols["nobs"] = real if weights else np.dtype(np.int64)
    cols["status"] = np.dtype(object)
    return cols


def fit_groups(
    table: Any,
    family_or_model: str | Distribution | Model,
    *,
    by: str | list[str] | tuple[str, ...] | None,
    value: str | None = None,
    event: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    weights: str | None = None,
    columns: Any = None,
    level: float = 0.95,
    interval: str = "wald_transformed",
    buckets: str = "auto",
    stable_shapes: bool = False,
    **fit_options: Any,
):
    """Fit a family (or a model) to every group of a long-format table: one row per group.

    The table has one row per observation (a pandas or polars DataFrame, a
    pyarrow Table, or a dict of columns). The groups are the distinct values
    of the ``by`` column(s), sorted; groups of all sizes are fitted together,
    in a few batches (one :func:`jaxmle.fit_batch` per power-of-two size
    bucket, padding masked out; see ``buckets``). A group that is invalid for the model (values
    outside the family's support, fewer observations than parameters) gets
    status ``INVALID_DATA`` and NaN numbers, and never spoils the others.

    Args:
        table: the data, one row per observation.
        family_or_model: a family name (``"weibull"``, ...; see
            :func:`jaxmle.fit_dist`), a :class:`~jaxmle.distributions.Distribution`, or a
            :class:`jaxmle.Model`.
        by: the column (or list of columns) whose values define the groups;
            ``None`` fits the whole table as one group.
        value: a family's column of observations; with ``event`` (1 observed,
            0 right-censored) for censored lifetimes.
        lower, upper: a family's interval-censored observations instead of
            ``value`` (``lower == upper``: exact; ``upper = inf``: right-censored).
        weights: a column of frequency weights.
        columns: a :class:`jaxmle.Model`'s data: a column name (its loglik
            receives that array), or a tuple or dict of column names (it
            receives the tuple or dict of arrays), one row per observation.
        level: the level of the intervals ``NAME_lo``, ``NAME_hi``.
        interval: their method: ``"wald_transformed"`` (default: the Wald
            interval on the log or logit scale of a positive or bounded
            parameter, mapped back, so it stays inside the support, as the
            command line's), ``"wald"`` or ``"profile"``.
        buckets: ``"pow2"``: the groups go into power-of-two size buckets,
            one batch each; ``"none"``: one batch; ``"auto"`` (default): the
            buckets, merged where the padding that adds is cheaper than a
            compilation (one batch where padding to the longest group at most
            doubles the rows or adds at most a million cells; see
            :func:`batch_buckets`).
        stable_shapes: round every bucket up to a few fixed shapes (see
            :func:`fit_grouped`), so that tables of different sizes reuse the
            same compiled kernels: what the distributed engines do for each
            part of a table. The results are the same.
        **fit_options: passed to :func:`jaxmle.fit_batch` (``cov_type``,
            ``max_iter``, ``method``, ``nan_policy``, ``progress``, ...); any
            other keyword is a family option (``trials=`` for the binomial).
            ``nan_policy="raise"`` (default) names the column and row of a
            missing value; ``"omit"`` leaves such rows out.

    Returns:
        A pandas DataFrame, one row per group: the ``by`` column(s), then per
        flattened parameter ``NAME``, ``NAME_se``, ``NAME_lo``, ``NAME_hi``,
        then ``loglik``, ``nobs`` (the observations used: an integer without
        ``weights``, 0 for an invalid group) and
        ``status`` (its name, e.g. ``"CONVERGED"``).

    Raises:
        ValueError: a missing column (the message lists the table's columns), a
            missing group key, a missing value under ``nan_policy="raise"``, or
            a ``by`` column named like a result column.

    Example:
        >>> import jax
        >>> import pandas as pd
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> df = pd.DataFrame({"sensor": ["a", "a", "a", "b", "b", "c"],
        ...                    "hours": [2.0, 4.0, 6.0, 1.0, 3.0, 5.0]})
        >>> out = jm.fit_groups(df, "exponential", by="sensor", value="hours")
        >>> out["rate"].round(4).tolist(), out["nobs"].tolist()
        ([0.25, 0.5, 0.2], [3, 2, 1])
        >>> list(out.columns)
        ['sensor', 'rate', 'rate_se', 'rate_lo', 'rate_hi', 'loglik', 'nobs', 'status']
        >>> out["status"].tolist()
        ['CONVERGED', 'CONVERGED', 'CONVERGED']
        >>> two = jm.fit_groups(df, "normal", by="sensor", value="hours")
        >>> two["status"].tolist()  # one row cannot identify a mean and a scale
        ['CONVERGED', 'CONVERGED', 'INVALID_DATA']
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            'fit_groups returns a pandas DataFrame: pip install "jaxmle[frames]"'
        ) from None
    if interval not in _INTERVALS:
        raise ValueError(f"interval must be one of {_INTERVALS}, got {interval!r}")
    names, get = table_columns(table)
    family_options = {k: v for k, v in fit_options.items() if k not in _FIT_OPTIONS}
    fit_options = {k: v for k, v in fit_options.items() if k in _FIT_OPTIONS}
    if isinstance(family_or_model, Model):
        if family_options:
            raise TypeError(f"fit_groups: unknown keyword(s) {sorted(family_options)}")
        if any(v is not None for v in (value, event, lower, upper)):
            raise ValueError(
                "value=, event=, lower= and upper= are for a family; a jm.Model takes columns="
            )
        model, data = family_or_model, _model_data(columns, names, get)
        sources = columns
    else:
        if columns is not None:
            raise ValueError("columns= is for a jm.Model; a family takes value= (or lower=/upper=)")
        model, data = _family_setup(
            family_or_model, family_options, names, get, value, event, lower, upper
        )
        sources = {"x": value, "event": event, "lower": lower, "upper": upper}
    w = None if weights is None else _numeric(_get(get, names, weights, "weights"), weights)

    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    results = {f"{n}{s}" for n in model.param_names for s in ("", "_se", "_lo", "_hi")}
    clash = [k for k in keys if k in results | {"loglik", "nobs", "status"}]
    if clash:
        raise ValueError(f"by={clash[0]!r}: the results have a column of that name; rename it")
    n_rows = len(jax.tree_util.tree_leaves(data)[0])
    if keys:
        labels, inverse = group_rows([_get(get, names, k, "by") for k in keys], keys)
    else:
        labels, inverse = [], np.zeros(n_rows, np.int64)
    if n_rows == 0:
        raise ValueError("the table has no rows")

    if fit_options.get("nan_policy", "raise") == "raise":
        _check_finite(data, sources, model.infinite_bounds_ok)
    n_groups = int(inverse.max()) + 1
    res = fit_grouped(
        model,
        data,
        inverse,
        n_groups,
        weights=w,
        buckets=buckets,
        stable_shapes=stable_shapes,
        **fit_options,
    )
    cols = res.to_dict(level, method=interval)
    nobs = cols["nobs"]
    if w is None and np.all(np.isfinite(nobs)):
        cols["nobs"] = nobs.astype(np.int64)
    out = {k: lab for k, lab in zip(keys, labels)}
    out.update(cols)
    return pd.DataFrame(out)
