"""Regression models from formulas: ``jm.fit_formula("y ~ C(group) + x1 + x1:x2", df, "logistic")``.

The formula is read by formulaic (an optional extra: ``pip install
"jaxmle[formula]"``), which builds the design matrix with the column names
statsmodels and patsy use: ``Intercept``, ``x1``, ``C(group)[T.b]``,
``x1:x2``. The model is one of :mod:`jaxmle.models`' regression models with
one scalar parameter per design column, named as the column, so that
``res.params``, ``res.se``, ``res.conf_int()``, ``res.summary()``,
``res.to_dataframe()`` and the rows of ``res.cov`` (``res.param_names``) all
speak of ``x1`` and ``C(group)[T.b]``, not of ``beta[3]``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..constraints import Real
from ..fit import fit
from ..model import Model
from ..tables import fit_groups
from .regression import (
    LinearRegression,
    LogisticRegression,
    NegativeBinomialRegression,
    PoissonRegression,
    ProbitRegression,
    WeibullAFT,
)

__all__ = ["fit_formula", "formula_model", "FORMULA_MODELS"]

#: the models of :func:`fit_formula`, by name
FORMULA_MODELS = {
    "linear": LinearRegression,
    "logistic": LogisticRegression,
    "probit": ProbitRegression,
    "poisson": PoissonRegression,
    "negative_binomial": NegativeBinomialRegression,
    "weibull_aft": WeibullAFT,
}


class _Named:
    """A regression model's functions in terms of one scalar parameter per coefficient."""

    def __init__(self, base: Model, names: tuple[str, ...]):
        self.base, self.names = base, names
        self.extra = tuple(k for k in base.spec if k != "beta")

    def base_params(self, p):
        beta = jnp.stack([jnp.asarray(p[n]) for n in self.names], axis=-1)
        return {"beta": beta, **{k: p[k] for k in self.extra}}

    def loglik(self, p, data):
        return self.base.loglik(self.base_params(p), data)

    def init(self, data):
        q = self.base.init_fn(data)
        out = {n: q["beta"][..., j] for j, n in enumerate(self.names)}
        out.update({k: q[k] for k in self.extra if k in q})
        return out

    def expected_info(self, p, data, weights):
        return self.base.expected_info(self.base_params(p), data, weights)

    def leverage(self, p, data, weights):
        return self.base.leverage(self.base_params(p), data, weights)


@functools.cache
def formula_model(model: str, names: tuple[str, ...]) -> Model:
    """The regression model ``model`` (a key of :data:`FORMULA_MODELS`) with one scalar
    parameter per design column ``names`` (then the model's own: ``sigma``, ``alpha`` or
    ``shape``); cached.

    Example:
        >>> from jaxmle.models.formula import formula_model
        >>> formula_model("linear", ("Intercept", "x1")).param_names
        ('Intercept', 'x1', 'sigma')
    """
    if model not in FORMULA_MODELS:
        raise ValueError(f"unknown model {model!r}; the models are: {', '.join(FORMULA_MODELS)}")
    base = FORMULA_MODELS[model](len(names))
    named = _Named(base, tuple(names))
    clash = [n for n in names if n in named.extra]
    if clash:
        raise ValueError(
            f"a design column is named {clash[0]!r}, as a parameter of the {model} model: "
            "rename the column"
        )
    spec = {n: Real() for n in names}
    spec.update({k: base.spec[k] for k in named.extra})
    init = named.init if base.init_fn is not None else None
    return Model(
        named.loglik,
        spec,
        init=init,
        name=base.name,
        expected_info=named.expected_info if base.expected_info is not None else None,
        leverage=named.leverage if base.leverage is not None else None,
        # (contiguous, first: df_correction's block)
        linear_coef=tuple(names) if base.linear_coef is not None else None,
        factory=(formula_model, (model, tuple(names))),
    )


def _pandas(table):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError('fit_formula needs pandas: pip install "jaxmle[formula]"') from None
    if not isinstance(table, pd.DataFrame):
        table = table.to_pandas() if hasattr(table, "to_pandas") else pd.DataFrame(table)
    return table.reset_index(drop=True)  # (rows are then found by position)


def _design(formula: str, df):
    try:
        from formulaic import model_matrix
    except ImportError:
        raise ImportError(
            'fit_formula reads formulas with formulaic: pip install "jaxmle[formula]"'
        ) from None
    if "~" not in formula:
        raise ValueError(f"the formula needs a response: 'y ~ x1 + x2', got {formula!r}")
    mm = model_matrix(formula, df)
    y, X = mm.lhs, mm.rhs
    if y.shape[1] != 1:
        raise ValueError(
            f"the response of {formula!r} must be one numeric column; it gives "
            f"{list(y.columns)} (code a categorical response as 0/1)"
        )
    return (
        np.asarray(X, dtype=np.float64),
        tuple(str(c) for c in X.columns),
        np.asarray(y, dtype=np.float64)[:, 0],
        X.index,
    )


def fit_formula(
    formula: str,
    table: Any,
    model: str,
    *,
    by: str | list[str] | None = None,
    event: str | None = None,
    weights: str | None = None,
    **fit_options: Any,
):
    """Fit a regression model given by a formula, with statsmodels' coefficient names.

    Args:
        formula: a Wilkinson formula, ``"y ~ C(group) + x1 + x1:x2"`` (read by
            formulaic; ``C(...)`` and text columns are treatment-coded against
            their first level, an intercept is included unless ``- 1`` or
            ``+ 0``). Rows with a missing value in a column the formula uses
            are left out.
        table: a pandas or polars DataFrame, a pyarrow Table, or a dict of columns.
        model: ``"linear"``, ``"logistic"``, ``"probit"``, ``"poisson"``,
            ``"negative_binomial"`` or ``"weibull_aft"`` (the response is the
            lifetime; ``event=`` names the 0/1 column of observed failures).
        by: a column (or columns): one fit per group, on the design of the
            whole table (every group has the same coefficients), as
            :func:`jaxmle.fit_groups`.
        event: ``weibull_aft``: the column with 1 for an observed failure, 0 for
            a right-censored lifetime (default: all observed).
        weights: a column of frequency weights.
        **fit_options: passed to :func:`jaxmle.fit` (``cov_type``,
            ``df_correction=True`` for OLS's ``RSS / (n - p)`` and t inference
            of the linear model, ...) or, with ``by``, to :func:`jaxmle.fit_groups`.

    Returns:
        A :class:`~jaxmle.FitResult` whose parameters are the design's columns
        (``Intercept``, ``x1``, ``C(group)[T.b]``, ``x1:x2``, ...), then the
        model's own (``sigma``, ``alpha``, ``shape``); with ``by``, a pandas
        DataFrame with one row per group, as :func:`jaxmle.fit_groups`'.

    Example:
        >>> import jax
        >>> import pandas as pd
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> df = pd.DataFrame({"y": [1.0, 3.0, 2.0, 6.0, 4.0, 8.0],
        ...                    "x": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        ...                    "site": ["a", "a", "b", "b", "c", "c"]})
        >>> res = jm.fit_formula("y ~ x + C(site)", df, "poisson")
        >>> res.param_names
        ('Intercept', 'x', 'C(site)[T.b]', 'C(site)[T.c]')
        >>> round(float(res.params["x"]), 4)  # log(17 / 7): the ratio of the totals
        0.8873
    """
    df = _pandas(table)
    if event is not None and model != "weibull_aft":
        raise ValueError(f"event= is for the weibull_aft model, not {model!r}")
    X, names, y, index = _design(formula, df)
    named = formula_model(model, names)
    if model == "weibull_aft":
        ev = np.ones_like(y) if event is None else df.loc[index, event].to_numpy(np.float64)
        data = {"X": X, "t": y, "event": ev}
    else:
        data = {"X": X, "y": y}
    w = None if weights is None else df.loc[index, weights].to_numpy(np.float64)
    if by is None:
        return fit(named, data, weights=w, **fit_options)
    keys = [by] if isinstance(by, str) else list(by)
    cols = {k: df.loc[index, k].to_numpy() for k in keys}
    cols.update({f"\0{k}": v for k, v in data.items()})
    if w is not None:
        cols["\0weights"] = w
    return fit_groups(
        cols, named, by=by, columns={k: f"\0{k}" for k in data},
        weights=None if w is None else "\0weights", **fit_options,
    )  # fmt: skip
