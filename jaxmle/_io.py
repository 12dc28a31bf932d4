"""Tables in and out for the command line: long-format CSV (or Parquet) columns, groups, padding.

Everything here is host-side numpy; nothing depends on pandas. A problem with
the input is an :class:`InputError` whose message names the file, column and
line, so that the command line can print it as one line.

Example:
    >>> import numpy as np
    >>> from jaxmle._io import group_index, pad_groups
    >>> labels, inverse = group_index(np.array(["b", "a", "b", "b"], dtype=object))
    >>> labels.tolist(), inverse.tolist()
    (['a', 'b'], [1, 0, 1, 1])
    >>> (x,), mask = pad_groups(inverse, 2, np.array([1.0, 2.0, 3.0, 4.0]))
    >>> x.tolist(), mask.tolist()
    ([[2.0, 2.0, 2.0], [1.0, 3.0, 4.0]], [[True, False, False], [True, True, True]])
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import operator
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "InputError",
    "Table",
    "read_table",
    "numeric_column",
    "group_index",
    "pad_groups",
    "write_rows",
    "MISSING",
]

#: cell texts read as a missing value (besides an empty cell); case-insensitive
MISSING = ("", "na", "n/a", "nan", "null", "none")
#: padded cells above which the command line refuses to pad (8 bytes each)
MAX_PADDED_CELLS = 400_000_000


class InputError(ValueError):
    """A problem with the user's input (file, column, values): the message says which."""


@dataclass
class Table:
    """Columns read from a file.

    Attributes:
        path: the file it came from (for messages).
        columns: every column name of the file, in file order.
        values: name -> numpy array of the requested columns (object arrays
            of ``str`` cells for CSV, typed for Parquet).
        lines: file line number (1-based, the header is line 1) of each row,
            or ``None`` where rows have no line numbers (Parquet: row
            ``i`` is reported as row ``i + 1``).
    """

    path: str
    columns: list[str]
    values: dict[str, np.ndarray]
    lines: np.ndarray | None = field(default=None)

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(next(iter(self.values.values()))) if self.values else 0

    def where(self, row: int) -> str:
        """Where data row ``row`` (0-based) is, in words: ``line 12`` or ``row 11``."""
        if self.lines is None:
            return f"row {row + 1}"
        return f"line {int(self.lines[row])}"


def _open_text(path: str):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _check_columns(path: str, have: list[str], want: list[str]) -> None:
    missing = [c for c in want if c not in have]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(
            f"{path}: no column {names}; the columns are: {', '.join(have) if have else 'none'}"
        )


def read_table(path: str, columns: list[str]) -> Table:
    """Read the named columns of a CSV (``.csv``, ``.tsv``, ``.csv.gz``) or Parquet file.

    CSV is read with the standard :mod:`csv` module (the first line is the
    header; cells stay strings until :func:`numeric_column` converts them);
    Parquet needs ``pyarrow`` (``pip install "jaxmle[parquet]"``).

    Raises:
        InputError: a missing or unreadable file, an empty file, a missing
            column (the message lists the file's columns), or a row with the
            wrong number of cells.

    Example:
        >>> import os, tempfile
        >>> from jaxmle._io import read_table
        >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> with open(path, "w") as f:
        ...     _ = f.write("id,x\\na,1.5\\nb,2\\n")
        >>> t = read_table(path, ["x"])
        >>> t.values["x"].tolist(), t.columns, t.where(1)
        (['1.5', '2'], ['id', 'x'], 'line 3')
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a data file")
    if path.lower().endswith((".parquet", ".pq")):
        return _read_parquet(path, columns)
    delimiter = "\t" if path.lower().endswith((".tsv", ".tsv.gz", ".tab")) else ","
    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: the file is empty (no header line)")
            header = [h.strip() for h in header]
            _check_columns(path, header, columns)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as err:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise InputError(f"{path}: cannot read it as {kind}: {err}") from None
    lines = None
    if rows:
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        bad = lengths != len(header)
        if bad.any():
            keep = lengths != 0  # blank lines are skipped
            if (bad & keep).any():
                row = int(np.flatnonzero(bad)[np.argmax(keep[bad])])
                raise InputError(
                    f"{path}: line {row + 2} has {lengths[row]} cells; the header has {len(header)}"
                )
            idx = np.flatnonzero(keep)
            rows = [rows[i] for i in idx]
            lines = idx + 2
    if lines is None:
        lines = np.arange(2, len(rows) + 2)
    if not rows:
        raise InputError(f"{path}: the file has a header but no data rows")
    values = {}
    for name in dict.fromkeys(columns):
        getter = operator.itemgetter(header.index(name))
        values[name] = np.array(list(map(getter, rows)), dtype=object)  # str cells
    return Table(path, header, values, lines)


def _read_parquet(path: str, columns: list[str]) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f'{path}: reading Parquet needs pyarrow: pip install "jaxmle[parquet]"'
        ) from None
    try:
        schema = pq.read_schema(path)
        _check_columns(path, list(schema.names), columns)
        table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    except InputError:
        raise
    except Exception as err:  # pyarrow's own errors: say what and where
        raise InputError(f"{path}: cannot read it as Parquet: {err}") from None
    if table.num_rows == 0:
        raise InputError(f"{path}: the file has no data rows")
    values = {
        name: table.column(name).to_numpy(zero_copy_only=False) for name in dict.fromkeys(columns)
    }
    return Table(path, list(schema.names), values, None)


def numeric_column(
    table: Table, name: str, *, allow_inf: bool = False, missing: str = "raise"
) -> tuple[np.ndarray, np.ndarray]:
    """Column ``name`` as float64, and a boolean array marking its missing cells.

    Missing cells are empty or one of :data:`MISSING` (``NA``, ``nan``, ...).
    With ``missing="raise"`` the first missing cell is an error; with
    ``"omit"`` the caller drops those rows. ``inf`` is accepted only with
    ``allow_inf`` (a censoring bound).

    Raises:
        InputError: a non-numeric cell (naming the column, the value and its
            line), a missing one under ``missing="raise"``, or an infinite one
            where none is allowed.

    Example:
        >>> import numpy as np
        >>> from jaxmle._io import Table, numeric_column
        >>> t = Table("d.csv", ["x"], {"x": np.array(["1", "NA", "2.5"])}, np.array([2, 3, 4]))
        >>> x, miss = numeric_column(t, "x", missing="omit")
        >>> x.tolist()[::2], miss.tolist()
        ([1.0, 2.5], [False, True, False])
    """
    col = table.values[name]
    if col.dtype.kind in "biuf":
        x = col.astype(np.float64)
    else:
        cells = col if col.dtype.kind == "O" else col.astype(object)
        try:  # float() of every cell: numbers, "1.5", " 2e3 ", "nan", "inf"
            x = cells.astype(np.float64)
        except (ValueError, TypeError):  # missing-value markers, or a bad cell: look closer
            x = np.empty(cells.shape, np.float64)
            for i, v in enumerate(cells):
                try:
                    x[i] = np.nan if v is None else float(v)
                except (ValueError, TypeError):
                    if isinstance(v, str) and v.strip().lower() in MISSING:
                        x[i] = np.nan
                    else:
                        raise InputError(
                            f"{table.path}: column {name!r} has a non-numeric value {str(v)!r} "
                            f"on {table.where(i)}"
                        ) from None
    miss = np.isnan(x)
    if miss.any() and missing == "raise":
        i = int(np.argmax(miss))
        raise InputError(
            f"{table.path}: column {name!r} has a missing value on {table.where(i)}; "
            "pass --omit-missing to leave such rows out"
        )
    inf = np.isinf(x)
    if inf.any() and not allow_inf:
        i = int(np.argmax(inf))
        raise InputError(f"{table.path}: column {name!r} has an infinite value on {table.where(i)}")
    return x, miss


def group_index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct group keys, sorted, and each row's group number.

    Text keys that are all integers (``"9"``, ``"10"``) sort numerically and
    keep their text; other text sorts as text.

    Example:
        >>> import numpy as np
        >>> from jaxmle._io import group_index
        >>> labels, inverse = group_index(np.array(["10", "9", "10"], dtype=object))
        >>> labels.tolist(), inverse.tolist()
        (['9', '10'], [1, 0, 1])
    """
    if keys.dtype.kind in "biuf":  # typed (Parquet) keys
        labels, inverse = np.unique(keys, return_inverse=True)
        return labels, inverse.reshape(-1)
    seen: dict = {}
    codes = np.fromiter(
        map(lambda k, add=seen.setdefault: add(k, len(seen)), keys), np.int64, count=len(keys)
    )
    labels = list(seen)
    try:
        order = np.argsort(np.array([int(k) for k in labels], dtype=np.int64), kind="stable")
    except (ValueError, TypeError, OverflowError):
        order = np.argsort(np.array([str(k) for k in labels], dtype=str), kind="stable")
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels))
    out = np.empty(len(labels), dtype=object)
    out[:] = [labels[i] for i in order]
    return out, rank[codes]


def pad_groups(
    inverse: np.ndarray, n_groups: int, *columns: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Lay out long-format columns as ``(n_groups, longest group)`` arrays and a mask.

    Rows keep their file order within a group. Padding cells repeat the
    group's first value (any valid value would do: :func:`jaxmle.fit_batch`
    ignores masked cells) and are ``False`` in the mask.

    Raises:
        InputError: a group without rows, or padding that would not fit in memory.

    Example:
        >>> import numpy as np
        >>> from jaxmle._io import pad_groups
        >>> (x,), mask = pad_groups(np.array([0, 1, 1]), 2, np.array([5.0, 6.0, 7.0]))
        >>> x.tolist(), mask.tolist()
        ([[5.0, 5.0], [6.0, 7.0]], [[True, False], [True, True]])
    """
    counts = np.bincount(inverse, minlength=n_groups)
    if (counts == 0).any():
        raise InputError(f"group number {int(np.argmin(counts))} has no rows")
    longest = int(counts.max())
    if n_groups * longest > MAX_PADDED_CELLS:
        raise InputError(
            f"{n_groups:,} groups padded to the longest group ({longest:,} rows) would need "
            f"{n_groups * longest * 8 / 2**30:.1f} GiB per column; fit the long groups apart"
        )
    order = np.argsort(inverse, kind="stable")
    g = inverse[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(inverse.size) - starts[g]
    mask = np.zeros((n_groups, longest), bool)
    mask[g, pos] = True
    first = order[starts]  # each group's first row
    out = []
    for col in columns:
        arr = np.repeat(col[first][:, None], longest, axis=1)
        arr[g, pos] = col[order]
        out.append(arr)
    return out, mask


def _json_value(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.str_):
        return str(v)
    return v


def _csv_cell(v) -> str:
    if isinstance(v, (np.floating, float)):
        return repr(float(v))  # shortest round-trip text: the file holds the exact numbers
    return str(v)


def write_rows(path: str, columns: dict[str, np.ndarray]) -> None:
    """Write equal-length columns as CSV, or as JSON lines when ``path`` ends in ``.jsonl``.

    Floats are written with full precision (``repr``); in JSON lines a
    non-finite number is ``null``.

    Raises:
        InputError: the file cannot be written.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from jaxmle._io import write_rows
        >>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
        >>> write_rows(path, {"g": np.array(["a"]), "mu": np.array([0.1])})
        >>> with open(path) as f:
        ...     f.read().splitlines()
        ['g,mu', 'a,0.1']
    """
    names = list(columns)
    cols = [np.asarray(columns[n]) for n in names]
    n = len(cols[0]) if cols else 0
    # Written to a temporary file beside the target and renamed at the end: an
    # interrupted write never leaves a partial file that looks complete.
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".jaxmle-", suffix=".part", dir=folder)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            if path.lower().endswith((".jsonl", ".ndjson")):
                for i in range(n):
                    row = {k: _json_value(c[i]) for k, c in zip(names, cols)}
                    f.write(json.dumps(row) + "\n")
            else:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(names)
                text = [[_csv_cell(v) for v in c] for c in cols]
                w.writerows(zip(*text))
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
