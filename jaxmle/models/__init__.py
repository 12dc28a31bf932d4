"""Regression models whose losses are likelihoods.

Each factory takes the number of columns of the design matrix and returns a
:class:`jaxmle.Model` whose data is a dict ``{"X": (n, p), "y": (n,)}`` (with
an optional ``"offset"``); :func:`design_matrix` builds ``X`` from named
columns.

Example:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> jax.config.update("jax_enable_x64", True)
    >>> X = jnp.stack([jnp.ones(4), jnp.array([0.0, 1.0, 2.0, 3.0])], axis=1)
    >>> y = jnp.array([1.0, 2, 4, 8])  # counts that double at each step: rate 2^x
    >>> res = jm.fit(jm.models.PoissonRegression(2), {"X": X, "y": y})
    >>> [round(b, 4) for b in res.params["beta"].tolist()]  # (log 1, log 2)
    [0.0, 0.6931]
"""

from .design import design_matrix
from .formula import fit_formula
from .regression import (
    LinearRegression,
    LogisticRegression,
    NegativeBinomialRegression,
    PoissonRegression,
    ProbitRegression,
    WeibullAFT,
)

__all__ = [
    "LinearRegression",
    "LogisticRegression",
    "ProbitRegression",
    "PoissonRegression",
    "NegativeBinomialRegression",
    "WeibullAFT",
    "design_matrix",
    "fit_formula",
]
