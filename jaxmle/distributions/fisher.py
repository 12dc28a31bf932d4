"""Expected (Fisher) information of the families, in closed form.

``fisher_info(dist, params)`` is the information of one observation,
``E[-d^2 log f(X) / d theta d theta']``, as a matrix over the family's
parameters in :attr:`~jaxmle.distributions.Distribution.param_names` order
(the order of the model's flattened parameters). The categorical and the
multinomial have none here (``fisher_info`` gives ``None``, :func:`has_fisher`
``False``), and their models keep the observed information only; the negative
binomial's ``alpha`` has no closed form either, and its model combines the
mean's expected information with ``alpha``'s observed one (as R's ``glm.nb``).

The families defined through ``log x`` use the information of the location-scale
family of ``log x``: the log-normal is the normal's, the Weibull the minimum
Gumbel's, the log-logistic the logistic's, mapped to their parameters.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmle.distributions import NormalDist
    >>> from jaxmle.distributions.fisher import fisher_info
    >>> fisher_info(NormalDist(), {"loc": 0.0, "scale": 2.0}).tolist()  # diag(1, 2) / sigma^2
    [[0.25, 0.0], [0.0, 0.5]]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import polygamma

from . import continuous as _c
from . import discrete as _d
from .base import Distribution

__all__ = ["fisher_info", "has_fisher"]

EULER = 0.5772156649015329
_PI2 = math.pi**2


def _trigamma(x):
    return polygamma(1, x)


def _diag(*values):
    return jnp.diag(jnp.stack([jnp.asarray(v) for v in values]))


def _sym(a, b, c):
    """The symmetric 2 x 2 matrix ``[[a, b], [b, c]]``."""
    a, b, c = jnp.broadcast_arrays(*(jnp.asarray(v) for v in (a, b, c)))
    return jnp.stack([jnp.stack([a, b]), jnp.stack([b, c])])


def _location_scale(kind: str, loc, scale):
    """Information of a location-scale family in ``(loc, scale)``."""
    s2 = scale**2
    if kind == "normal":
        return _diag(1.0 / s2, 2.0 / s2)
    if kind == "logistic":
        return _diag(1.0 / (3.0 * s2), (_PI2 + 3.0) / (9.0 * s2))
    if kind == "laplace":
        return _diag(1.0 / s2, 1.0 / s2)
    # Gumbel: maximum (z = (x - loc) / scale, density exp(-z - exp(-z))), and the minimum's
    # cross term with the opposite sign
    c = (EULER - 1.0) / s2
    if kind == "gumbel_min":
        c = -c
    return _sym(1.0 / s2, c, (_PI2 / 6.0 + (1.0 - EULER) ** 2) / s2)


def _mapped(kind: str, to_ls, theta):
    """The information in ``theta`` of the location-scale family ``to_ls(theta)``:
    ``J' I J`` with ``J`` the Jacobian of ``(loc, scale)`` in ``theta``."""
    loc, scale = to_ls(theta)
    J = jax.jacfwd(lambda t: jnp.stack(to_ls(t)))(theta)
    return J.T @ _location_scale(kind, loc, scale) @ J


def _student_t(loc, scale, df):
    # Lange, Little and Taylor (1989): loc is orthogonal to (scale, df)
    s2 = scale**2
    i_mm = (df + 1.0) / ((df + 3.0) * s2)
    i_ss = 2.0 * df / ((df + 3.0) * s2)
    i_sd = -2.0 / ((df + 1.0) * (df + 3.0) * scale)
    i_dd = 0.25 * (_trigamma(0.5 * df) - _trigamma(0.5 * (df + 1.0))) - (df + 5.0) / (
        2.0 * df * (df + 1.0) * (df + 3.0)
    )
    z = jnp.zeros_like(i_mm)
    return jnp.stack(
        [jnp.stack([i_mm, z, z]), jnp.stack([z, i_ss, i_sd]), jnp.stack([z, i_sd, i_dd])]
    )


def fisher_info(dist: Distribution, params) -> jax.Array | None:
    """The expected information of one observation of ``dist`` at scalar ``params``, or None.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import PoissonDist
        >>> from jaxmle.distributions.fisher import fisher_info
        >>> float(fisher_info(PoissonDist(), {"rate": 4.0})[0, 0])  # 1 / rate
        0.25
    """
    p = {k: jnp.asarray(v) for k, v in params.items()}
    if isinstance(dist, _d.BernoulliDist):
        return _diag(1.0 / (p["p"] * (1.0 - p["p"])))
    if isinstance(dist, _d.BinomialDist):
        return _diag(dist._n() / (p["p"] * (1.0 - p["p"])))
    if isinstance(dist, _d.GeometricDist):
        return _diag(1.0 / (p["p"] ** 2 * (1.0 - p["p"])))
    if isinstance(dist, _d.PoissonDist):
        return _diag(1.0 / p["rate"])
    if isinstance(dist, _c.ExponentialDist):
        return _diag(1.0 / p["rate"] ** 2)
    if isinstance(dist, _c.ParetoDist):
        return _diag(1.0 / p["shape"] ** 2)
    if isinstance(dist, _c.NormalDist):
        return _location_scale("normal", p["loc"], p["scale"])
    if isinstance(dist, _c.LogisticDist):
        return _location_scale("logistic", p["loc"], p["scale"])
    if isinstance(dist, _c.LaplaceDist):
        return _location_scale("laplace", p["loc"], p["scale"])
    if isinstance(dist, _c.GumbelDist):
        return _location_scale("gumbel", p["loc"], p["scale"])
    if isinstance(dist, _c.LogNormalDist):  # log x ~ normal(mu, sigma)
        return _location_scale("normal", p["mu"], p["sigma"])
    if isinstance(dist, _c.StudentTDist):
        return _student_t(p["loc"], p["scale"], p["df"])
    if isinstance(dist, _c.GammaDist):
        k, th = p["shape"], p["scale"]
        return _sym(_trigamma(k), 1.0 / th, k / th**2)
    if isinstance(dist, _c.BetaDist):
        a, b = p["a"], p["b"]
        ab = _trigamma(a + b)
        return _sym(_trigamma(a) - ab, -ab, _trigamma(b) - ab)
    if isinstance(dist, (_c.WeibullDist, _c.LogLogisticDist)):
        # log x: location log(scale), scale 1 / shape; a minimum Gumbel for the Weibull
        kind = "gumbel_min" if isinstance(dist, _c.WeibullDist) else "logistic"
        theta = jnp.stack([p["shape"], p["scale"]])
        return _mapped(kind, lambda t: (jnp.log(t[1]), 1.0 / t[0]), theta)
    return None


_WITH_FISHER = (
    _d.BernoulliDist, _d.BinomialDist, _d.GeometricDist, _d.PoissonDist,
    _c.ExponentialDist, _c.ParetoDist, _c.NormalDist, _c.LogisticDist, _c.LaplaceDist,
    _c.GumbelDist, _c.LogNormalDist, _c.StudentTDist, _c.GammaDist, _c.BetaDist,
    _c.WeibullDist, _c.LogLogisticDist,
)  # fmt: skip


def has_fisher(dist: Distribution) -> bool:
    """Whether :func:`fisher_info` has the family's information in closed form.

    Example:
        >>> from jaxmle.distributions import NormalDist, CategoricalDist
        >>> from jaxmle.distributions.fisher import has_fisher
        >>> has_fisher(NormalDist()), has_fisher(CategoricalDist(k=3))
        (True, False)
    """
    return isinstance(dist, _WITH_FISHER)
