"""Regression models: Gaussian (least squares), logistic, probit, Poisson, NB2, Weibull AFT.

Each returns a :class:`jaxmle.Model` whose data is a dict ``{"X": (n, p), "y": (n,)}``
(and an optional ``"offset": (n,)`` for the linear predictor); the Weibull AFT model's
is ``{"X": (n, p), "t": (n,), "event": (n,)}``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from .._linalg import SMALL
from ..constraints import Positive, Real
from ..distributions._special import bernoulli_logit
from ..distributions.censoring import censored_loglik
from ..distributions.continuous import EULER, WeibullDist
from ..distributions.discrete import NegativeBinomialDist
from ..model import Model

__all__ = [
    "LinearRegression",
    "LogisticRegression",
    "ProbitRegression",
    "PoissonRegression",
    "NegativeBinomialRegression",
    "WeibullAFT",
]


def _eta(p, data):
    X, beta = data["X"], p["beta"]
    # For a few coefficients, a broadcast product and a sum: its derivatives (X'diag(w)X for
    # the Hessian) fuse into the loops over the observations, where those of a matrix product
    # are batched library calls (25% faster for p = 5).
    eta = jnp.sum(X * beta, axis=-1) if beta.shape[-1] <= SMALL else X @ beta
    if "offset" in data:
        eta = eta + data["offset"]
    return eta


def _weighted_gram(X, w):
    """``X' diag(w) X``."""
    return (X * w[:, None]).T @ X


def _glm_information(working_weight, extra=None):
    """The expected information and the leverages of a regression model from the working
    weight of its linear predictor, ``W_i = E[-d^2 l_i / d eta_i^2]`` (for a GLM
    ``(d mu / d eta)^2 / V(mu)``, what R's ``glm`` iterates with).

    The coefficients' block is ``X' diag(w W) X``; ``extra(p, data, weights)``, when given,
    is the block of the one scalar parameter after them (orthogonal to the coefficients:
    the cross terms of the information are 0 in expectation). The leverages are the
    diagonal of ``W^1/2 X (X' diag(w W) X)^-1 X' W^1/2``."""

    def expected_info(p, data, weights):
        block = _weighted_gram(data["X"], weights * working_weight(p, data))
        if extra is None:
            return block
        k = block.shape[0]
        out = jnp.zeros((k + 1, k + 1), block.dtype)
        return out.at[:k, :k].set(block).at[k, k].set(extra(p, data, weights))

    def leverage(p, data, weights):
        X, W = data["X"], working_weight(p, data)
        A = _weighted_gram(X, weights * W)
        return W * jnp.sum(X * jnp.linalg.solve(A, X.T).T, axis=1)

    return expected_info, leverage


def _rows_lstsq(X, z, valid):
    """Least squares of ``z`` on ``X`` over the valid rows (and finite ones): the
    starting rules' common step. Returns ``(beta, residuals)``; residuals are 0
    on the rows left out, and a non-finite ``beta`` falls back to 0."""
    valid = valid & jnp.isfinite(z) & jnp.all(jnp.isfinite(X), axis=1)
    Xv, zv = jnp.where(valid[:, None], X, 0.0), jnp.where(valid, z, 0.0)
    beta = jnp.linalg.lstsq(Xv, zv)[0]
    beta = jnp.where(jnp.isfinite(beta), beta, 0.0)
    return beta, zv - Xv @ beta


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
        # least squares on the rows that are finite (masked rows arrive as NaN)
        z = data["y"] - data.get("offset", 0.0)
        valid = jnp.isfinite(z)
        beta, resid = _rows_lstsq(data["X"], z, valid)
        sigma = jnp.sqrt(jnp.sum(resid**2) / jnp.maximum(jnp.sum(valid), 1))
        return {"beta": beta, "sigma": jnp.where(sigma > 0, sigma, 1.0)}

    expected_info, leverage = _glm_information(
        lambda p, data: jnp.broadcast_to(p["sigma"] ** -2, data["y"].shape),
        extra=lambda p, data, weights: 2.0 * jnp.sum(weights) / p["sigma"] ** 2,
    )
    return Model(
        loglik,
        {"beta": Real(shape=(n_features,)), "sigma": Positive()},
        init=init,
        name="LinearRegression",
        expected_info=expected_info,
        leverage=leverage,
        linear_coef="beta",
        factory=(LinearRegression, (n_features,)),  # (how it pickles)
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
        return bernoulli_logit(data["y"], _eta(p, data))

    expected_info, leverage = _glm_information(
        lambda p, data: jax.nn.sigmoid(_eta(p, data)) * jax.nn.sigmoid(-_eta(p, data))
    )
    return Model(
        loglik,
        {"beta": Real(shape=(n_features,))},
        name="LogisticRegression",
        expected_info=expected_info,
        leverage=leverage,
        factory=(LogisticRegression, (n_features,)),  # (how it pickles)
    )


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

    expected_info, leverage = _glm_information(lambda p, data: jnp.exp(_eta(p, data)))
    return Model(
        loglik,
        {"beta": Real(shape=(n_features,))},
        name="PoissonRegression",
        expected_info=expected_info,
        leverage=leverage,
        factory=(PoissonRegression, (n_features,)),  # (how it pickles)
    )


def ProbitRegression(n_features: int) -> Model:
    """Probit regression ``y ~ Bernoulli(Phi(X beta + offset))``, ``Phi`` the normal CDF.

    Both tails use ``log_ndtr``, ``log Phi(eta)`` for ``y = 1`` and
    ``log Phi(-eta)`` for ``y = 0``, so the log-likelihood stays accurate far in
    the tails. It starts at ``beta = 0``. As with the logistic regression,
    complete or quasi-complete separation ends with status ``BOUNDARY`` and NaN
    standard errors. ``statsmodels``' ``Probit`` fits the same model.

    Args:
        n_features: number of columns of ``X`` (include a column of ones for
            an intercept).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.stack([jnp.ones(6), jnp.array([0.0, 1, 2, 3, 4, 5])], axis=1)
        >>> y = jnp.array([0.0, 0, 1, 0, 1, 1])
        >>> res = jm.fit(jm.models.ProbitRegression(2), {"X": X, "y": y})
        >>> jm.Status(int(res.status)).name
        'CONVERGED'
        >>> [round(b, 4) for b in res.params["beta"].tolist()]
        [-1.8995, 0.7598]
    """

    def loglik(p, data):
        eta = _eta(p, data)
        y = data["y"]
        return y * log_ndtr(eta) + (1 - y) * log_ndtr(-eta)

    def working_weight(p, data):  # phi(eta)^2 / (Phi(eta) Phi(-eta)), in logs for the tails
        eta = _eta(p, data)
        log_phi = -0.5 * eta**2 - 0.5 * math.log(2 * math.pi)
        return jnp.exp(2.0 * log_phi - log_ndtr(eta) - log_ndtr(-eta))

    expected_info, leverage = _glm_information(working_weight)
    return Model(
        loglik,
        {"beta": Real(shape=(n_features,))},
        name="ProbitRegression",
        expected_info=expected_info,
        leverage=leverage,
        factory=(ProbitRegression, (n_features,)),  # (how it pickles)
    )


def NegativeBinomialRegression(n_features: int) -> Model:
    """Negative binomial (NB2) regression with log link, for overdispersed counts.

    ``y ~ NB(mean, alpha)`` with ``mean = exp(X beta + offset)`` and
    ``Var y = mean + alpha mean^2`` (the family
    :class:`~jaxmle.distributions.NegativeBinomialDist`); parameters
    ``{"beta": (p,), "alpha": scalar > 0}``. This is statsmodels'
    ``NegativeBinomial(loglike_method="nb2")``, which lists ``alpha`` last.
    ``alpha -> 0`` is the Poisson limit (status ``BOUNDARY``). Starting rule:
    least squares of ``log(y + 0.5) - offset`` on ``X`` for ``beta``, and the
    method of moments, ``sum((y - mean)^2 - mean) / sum(mean^2)`` (at least
    0.01), for ``alpha``.

    Args:
        n_features: number of columns of ``X`` (include a column of ones for
            an intercept).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.ones((6, 1))
        >>> y = jnp.array([0.0, 1, 1, 2, 4, 10])
        >>> res = jm.fit(jm.models.NegativeBinomialRegression(1), {"X": X, "y": y})
        >>> round(float(jnp.exp(res.params["beta"][0])), 6)  # the MLE of the mean is mean(y)
        3.0
        >>> round(float(res.params["alpha"]), 4)
        0.8784
    """
    family = NegativeBinomialDist()

    def loglik(p, data):
        mean = jnp.exp(_eta(p, data))
        return family.logpdf(data["y"], {"mean": mean, "alpha": p["alpha"]})

    def init(data):
        X, y = data["X"], data["y"]
        offset = data.get("offset", 0.0)
        valid = jnp.isfinite(y) & (y >= 0)
        w = valid.astype(X.dtype)
        z = jnp.log(jnp.where(valid, y, 0.0) + 0.5) - offset
        beta, _ = _rows_lstsq(X, z, valid)
        mean = jnp.exp(_eta({"beta": beta}, data))
        ys = jnp.where(valid, y, 0.0)
        alpha = jnp.sum(w * ((ys - mean) ** 2 - mean)) / jnp.sum(w * mean**2)
        alpha = jnp.where(jnp.isfinite(alpha), jnp.clip(alpha, 1e-2, 1e2), 1.0)
        return {"beta": beta, "alpha": alpha}

    def alpha_information(p, data, weights):
        # alpha's block: the observed information (its expectation is a series), as R's
        # glm.nb reports for theta = 1 / alpha; at alpha = 0 (the Poisson, a null on the
        # boundary) the expected sum(mean^2) / 2 of Cameron and Trivedi's score test
        def total(alpha):
            return jnp.sum(weights * loglik({"beta": p["beta"], "alpha": alpha}, data))

        at_zero = 0.5 * jnp.sum(weights * jnp.exp(_eta(p, data)) ** 2)
        return jnp.where(p["alpha"] == 0, at_zero, -jax.grad(jax.grad(total))(p["alpha"]))

    expected_info, leverage = _glm_information(
        lambda p, data: (mean := jnp.exp(_eta(p, data))) / (1.0 + p["alpha"] * mean),
        extra=alpha_information,
    )
    return Model(
        loglik,
        {"beta": Real(shape=(n_features,)), "alpha": Positive()},
        init=init,
        name="NegativeBinomialRegression",
        expected_info=expected_info,
        leverage=leverage,
        factory=(NegativeBinomialRegression, (n_features,)),  # (how it pickles)
    )


def WeibullAFT(n_features: int) -> Model:
    """Weibull accelerated failure time model for right-censored lifetimes.

    ``t_i ~ Weibull(shape, scale_i)`` with ``log(scale_i) = X_i beta + offset_i``
    and one ``shape`` shared by all observations: ``S(t) = exp(-(t/scale)^shape)``
    (the family :class:`~jaxmle.distributions.WeibullDist`, censoring by
    :func:`~jaxmle.distributions.censored_loglik`). The data is
    ``{"X": (n, p), "t": (n,), "event": (n,)}``: ``event`` is 1 for an observed
    failure at ``t`` and 0 for an observation right-censored at ``t`` (optional:
    all observed); ``"offset"`` is optional. Parameters ``{"beta": (p,),
    "shape": scalar > 0}``. lifelines' ``WeibullAFTFitter`` fits the same model:
    its ``lambda_`` coefficients are ``beta``, and its ``rho_`` intercept is
    ``log(shape)``. Starting rule: the Gumbel moments of the least-squares
    residuals of ``log t`` on ``X`` (censoring ignored).

    Args:
        n_features: number of columns of ``X`` (include a column of ones for
            an intercept).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> X = jnp.stack([jnp.ones(6), jnp.array([0.0, 0, 0, 1, 1, 1])], axis=1)
        >>> t = jnp.array([1.0, 2, 3, 2, 5, 7])
        >>> event = jnp.array([1, 1, 0, 1, 1, 0])
        >>> res = jm.fit(jm.models.WeibullAFT(2), {"X": X, "t": t, "event": event})
        >>> jm.Status(int(res.status)).name
        'CONVERGED'
        >>> round(float(res.params["shape"]), 4)
        1.7639
    """
    family = WeibullDist()

    def loglik(p, data):
        scale = jnp.exp(_eta(p, data))
        obs = {"x": data["t"]}
        if "event" in data:
            obs["event"] = data["event"]
        return censored_loglik(family, {"shape": p["shape"], "scale": scale}, obs)

    def init(data):
        X, t = data["X"], data["t"]
        offset = data.get("offset", 0.0)
        valid = jnp.isfinite(t) & (t > 0)
        z = jnp.log(jnp.where(valid, t, 1.0)) - offset
        # log t = log(scale) + G / shape with G a standard Gumbel-minimum:
        # variance pi^2 / 6, mean -Euler's constant
        _, resid = _rows_lstsq(X, z, valid)
        var = jnp.sum(resid**2) / jnp.maximum(jnp.sum(valid), 1.0)
        shape = math.pi / jnp.sqrt(6.0 * var)
        shape = jnp.where(jnp.isfinite(shape), jnp.clip(shape, 0.1, 10.0), 1.0)
        beta, _ = _rows_lstsq(X, z + EULER / shape, valid)
        return {"beta": beta, "shape": shape}

    return Model(
        loglik,
        {"beta": Real(shape=(n_features,)), "shape": Positive()},
        init=init,
        name="WeibullAFT",
        factory=(WeibullAFT, (n_features,)),  # (how it pickles)
    )
