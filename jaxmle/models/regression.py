"""Regression models: Gaussian (least squares), logistic (cross-entropy), Poisson.

Each returns a :class:`jaxmle.Model` whose data is a dict ``{"X": (n, p), "y": (n,)}``
(and an optional ``"offset": (n,)`` for the linear predictor).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ..constraints import Positive, Real
from ..model import Model

__all__ = ["LinearRegression", "LogisticRegression", "PoissonRegression"]


def _eta(p, data):
    eta = data["X"] @ p["beta"]
    if "offset" in data:
        eta = eta + data["offset"]
    return eta


def LinearRegression(n_features: int) -> Model:
    """Gaussian linear regression ``y ~ N(X beta, sigma^2)``: least squares as a likelihood.

    The MLE of ``beta`` is the least-squares fit, ``sigma^2 = RSS / n``, and
    the standard errors are ``sigma^2 (X'X)^-1`` with that ``sigma``.

    Args:
        n_features: number of columns of ``X`` (include a column of ones for
            an intercept).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.stack([jnp.ones(4), jnp.arange(4.0)], axis=1)
        >>> res = jm.fit(jm.models.LinearRegression(2), {"X": X, "y": jnp.array([1.0, 3, 5, 7.5])})
        >>> [round(b, 6) for b in res.params["beta"].tolist()]
        [0.9, 2.15]
    """

    def loglik(p, data):
        resid = data["y"] - _eta(p, data)
        s = p["sigma"]
        return -0.5 * (resid / s) ** 2 - jnp.log(s) - 0.5 * math.log(2 * math.pi)

    def init(data):
        X, y = data["X"], data["y"]
        beta = jnp.linalg.lstsq(X, y - data.get("offset", 0.0))[0]
        resid = y - _eta({"beta": beta}, data)
        sigma = jnp.sqrt(jnp.mean(resid**2))
        return {"beta": beta, "sigma": jnp.where(sigma > 0, sigma, 1.0)}

    return Model(
        loglik,
        {"beta": Real(shape=(n_features,)), "sigma": Positive()},
        init=init,
        name="LinearRegression",
    )


def LogisticRegression(n_features: int) -> Model:
    """Logistic regression ``y ~ Bernoulli(sigmoid(X beta))``: cross-entropy as a likelihood.

    Complete or quasi-complete separation ends with status ``BOUNDARY`` (the
    coefficients run to infinity) and NaN standard errors.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.stack([jnp.ones(6), jnp.array([0.0, 1, 2, 3, 4, 5])], axis=1)
        >>> y = jnp.array([0.0, 0, 1, 0, 1, 1])
        >>> res = jm.fit(jm.models.LogisticRegression(2), {"X": X, "y": y})
        >>> jm.Status(int(res.status)).name
        'CONVERGED'
    """

    def loglik(p, data):
        eta = _eta(p, data)
        y = data["y"]
        return y * jax.nn.log_sigmoid(eta) + (1 - y) * jax.nn.log_sigmoid(-eta)

    return Model(loglik, {"beta": Real(shape=(n_features,))}, name="LogisticRegression")


def PoissonRegression(n_features: int) -> Model:
    """Poisson regression with log link, ``y ~ Poisson(exp(X beta + offset))``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.ones((4, 1))
        >>> res = jm.fit(jm.models.PoissonRegression(1), {"X": X, "y": jnp.array([1.0, 2, 3, 2])})
        >>> round(float(jnp.exp(res.params["beta"][0])), 6)
        2.0
    """

    def loglik(p, data):
        eta = _eta(p, data)
        y = data["y"]
        return y * eta - jnp.exp(eta) - jax.scipy.special.gammaln(y + 1)

    return Model(loglik, {"beta": Real(shape=(n_features,))}, name="PoissonRegression")
