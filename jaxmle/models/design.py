"""Design matrices from named columns, without a formula language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["design_matrix"]


def design_matrix(
    table: Any, columns: Sequence[str], *, intercept: bool = True
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Stack named columns of a table into a design matrix ``X``.

    Args:
        table: a pandas DataFrame or any mapping from column name to a 1-D
            array (of equal lengths).
        columns: the columns to use, in order.
        intercept: prepend a column of ones named ``"intercept"``.

    Returns:
        ``(X, names)``: the ``(n, p)`` float matrix and the name of each column,
        to read ``res.params["beta"][j]`` as the coefficient of ``names[j]``.

    Example:
        >>> from jaxmle.models import design_matrix
        >>> table = {"age": [30, 40, 50], "dose": [1.0, 2.0, 2.5]}
        >>> X, names = design_matrix(table, ["age", "dose"])
        >>> names
        ('intercept', 'age', 'dose')
        >>> X.shape
        (3, 3)
    """
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not one string")
    if not isinstance(table, Mapping) and not hasattr(table, "columns"):
        raise TypeError("table must be a pandas DataFrame or a mapping from name to column")
    available = list(table.columns) if hasattr(table, "columns") else list(table.keys())
    missing = [c for c in columns if c not in available]
    if missing:
        raise ValueError(f"columns {missing} are not in the table; it has {available}")
    cols = []
    for c in columns:
        col = np.asarray(table[c], dtype=float)
        if col.ndim != 1:
            raise ValueError(f"column {c!r} must be one-dimensional, got shape {col.shape}")
        cols.append(col)
    lengths = {len(c) for c in cols}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    if not cols:
        raise ValueError("columns is empty; name at least one column")
    n = cols[0].shape[0]
    if intercept:
        cols.insert(0, np.ones(n))
    names = (("intercept",) if intercept else ()) + tuple(columns)
    return np.column_stack(cols), names
