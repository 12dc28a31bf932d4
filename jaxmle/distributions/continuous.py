"""Continuous families.

Each matches a ``scipy.stats`` distribution (named in its docstring);
``logcdf`` and ``logsf`` are accurate far into both tails (``log_ndtr``,
``log1p`` / ``expm1`` forms, log-space incomplete beta and gamma functions),
and so are their gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, log_ndtr, xlog1py, xlogy

from ..constraints import Positive, Real, UnitInterval
from ._special import (
    _betainc_log_fraction,
    betaln,
    log1mexp,
    log1pmx,
    log_betainc,
    log_gammainc,
    log_rising_over_power,
    stirling_correction,
)
from .base import Distribution, as_data_dict, finite, init_points, positive, wmedian, wstats

__all__ = [
    "ExponentialDist",
    "NormalDist",
    "LogNormalDist",
    "GammaDist",
    "WeibullDist",
    "BetaDist",
    "StudentTDist",
    "LaplaceDist",
    "LogisticDist",
    "LogLogisticDist",
    "GumbelDist",
    "GumbelMinDist",
    "ParetoDist",
    "Weibull3Dist",
    "LogNormal3Dist",
    "WeibullMixtureDist",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_HALF = math.log(0.5)
EULER = 0.5772156649015329


@jax.custom_jvp
def _abs(z):
    return jnp.abs(z)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    # the subgradient 0 at z = 0 (jnp.abs has 1): the sample median is then a stationary point
    # of the Laplace log-likelihood
    (z,), (tz,) = primals, tangents
    return jnp.abs(z), jnp.sign(z) * tz


def _dt(params):
    """The floating dtype of the parameters (the default float where they are Python numbers)."""
    leaves = [jnp.asarray(v) for v in jax.tree_util.tree_leaves(params)]
    floats = [v.dtype for v in leaves if jnp.issubdtype(v.dtype, jnp.floating)]
    return jnp.result_type(*floats) if floats else jnp.result_type(float)


class _Real(Distribution):
    """Location-scale families on the whole line."""

    def spec(self):
        return {"loc": Real(), "scale": Positive()}

    def support(self, params):
        return -jnp.inf, jnp.inf

    def _safe(self, params):
        return params["loc"]

    def _z(self, x, params):
        # times the reciprocal: a division per observation costs several
        # multiplications, in the value and in every derivative
        return (x - params["loc"]) * (1.0 / params["scale"])


class PositiveSupport(Distribution):
    def support(self, params):
        return 0.0, jnp.inf


# -- whole line -------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class NormalDist(_Real):
    """Normal(loc, scale): ``scipy.stats.norm``. Closed-form MLE: mean and (ddof=0) SD.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import NormalDist
        >>> round(float(NormalDist().logcdf(-40.0, {"loc": 0.0, "scale": 1.0})), 4)
        -804.6084
    """

    name = "normal"
    param_names = ("loc", "scale")

    def _logpdf(self, x, params):
        z = self._z(x, params)
        return -0.5 * z * z - jnp.log(params["scale"]) - _HALF_LOG_2PI

    def _logcdf(self, x, params):
        return log_ndtr(self._z(x, params))

    def _logsf(self, x, params):
        return log_ndtr(-self._z(x, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] + params["scale"] * jax.random.normal(key, shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        mean, var = wstats(v, valid)
        return {"loc": finite(mean), "scale": positive(jnp.sqrt(var))}


@dataclass(frozen=True, repr=False)
class StudentTDist(_Real):
    """Student's t(loc, scale, df): ``scipy.stats.t(df, loc, scale)``.

    Starting rule: the median, the median absolute deviation scaled for
    ``df = 5``, and ``df = 5``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import StudentTDist
        >>> p = {"loc": 0.0, "scale": 1.0, "df": 1.0}  # Cauchy: F(-1) = 1/4
        >>> round(float(jnp.exp(StudentTDist().logcdf(-1.0, p))), 12)
        0.25
    """

    name = "student_t"
    param_names = ("loc", "scale", "df")

    def spec(self):
        return {"loc": Real(), "scale": Positive(), "df": Positive()}

    def _logpdf(self, x, params):
        t = self._z(x, params)
        nu = params["df"]
        # lgamma((nu + 1)/2) - lgamma(nu/2) - log(pi nu)/2, written as
        # [lgamma(r + 1/2) - lgamma(r) - log(r)/2] - log(2 pi)/2 with r = nu/2: the bracket
        # without the rounding of the lgamma difference (~1e-16 nu log nu), so that the
        # density tends to the normal's as df -> infinity
        const = log_rising_over_power(0.5, 0.5 * nu) - 0.5 * math.log(2 * math.pi)
        return const - jnp.log(params["scale"]) - 0.5 * (nu + 1.0) * jnp.log1p(t * t / nu)

    def _cdf_sf(self, x, params):
        """Through ``I_x(df/2, 1/2)``, ``x = df / (df + t^2)``, with one continued fraction."""
        t = self._z(x, params)
        nu = params["df"]
        t, nu = jnp.broadcast_arrays(t, jnp.asarray(nu, t.dtype))
        a, b = 0.5 * nu, 0.5
        # y = t^2 / (nu + t^2) and its complement xc, without overflow for huge |t|
        big = jnp.abs(t) > 1.0
        s = nu / jnp.where(big, t, 1.0) ** 2
        t2 = jnp.where(big, 1.0, t) ** 2
        y = jnp.where(big, 1.0 / (1.0 + s), t2 / (nu + t2))
        xc = jnp.where(big, s / (1.0 + s), nu / (nu + t2))
        central = y < (b + 1.0) / (a + b + 2.0)
        # central: F = 1/2 + sign(t) I_y(1/2, nu/2) / 2, written to be smooth through t = 0:
        # sign(t) y^(1/2) = t / sqrt(nu + t^2). Tails: min(F, 1 - F) = I_xc(nu/2, 1/2) / 2.
        safe_t = 3.0 * jnp.sqrt(nu + 1.0)  # a point in the tail region
        tt = jnp.where(central, safe_t, t)
        log_s = jnp.log(nu) - 2.0 * jnp.log(jnp.abs(tt))  # s = nu / t^2, no overflow
        s_t = jnp.exp(log_s)
        x_t = s_t / (1.0 + s_t)
        log_x_t, log_y_t = log_s - jnp.log1p(s_t), -jnp.log1p(s_t)
        frac = _betainc_log_fraction(
            jnp.where(central, b, a), jnp.where(central, a, b), jnp.where(central, y, x_t)
        )
        t_c = jnp.where(central, t, 0.0)
        x_c = jnp.where(central, xc, 1.0)
        log_rest = a * jnp.log(x_c) - jnp.log(b) - betaln(b, a) + jnp.where(central, frac, 0.0)
        g = jnp.where(central, t_c / jnp.sqrt(nu + t_c**2) * jnp.exp(log_rest), 0.0)
        small = (
            _LOG_HALF + a * log_x_t + b * log_y_t - jnp.log(a) - betaln(a, b)
            + jnp.where(central, 0.0, frac)
        )  # fmt: skip
        large = log1mexp(small)
        neg = t < 0
        cdf = jnp.where(central, _LOG_HALF + jnp.log1p(g), jnp.where(neg, small, large))
        sf = jnp.where(central, _LOG_HALF + jnp.log1p(-g), jnp.where(neg, large, small))
        return cdf, sf

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] + params["scale"] * jax.random.t(key, params["df"], shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        med = finite(wmedian(v, valid))
        mad = wmedian(jnp.abs(v - med), valid)
        # 0.7267: the upper quartile of t with 5 degrees of freedom
        mean, var = wstats(v, valid)
        scale = positive(mad / 0.7267, positive(jnp.sqrt(0.6 * var)))
        return {"loc": med, "scale": scale, "df": jnp.asarray(5.0, v.dtype)}


@dataclass(frozen=True, repr=False)
class LaplaceDist(_Real):
    """Laplace(loc, scale): ``scipy.stats.laplace``.

    Closed-form MLE: ``loc = median``, ``scale = mean |x - median|`` (the
    starting rule, so an unweighted fit of exact data stops there at once).
    The log-likelihood is piecewise linear in ``loc``: its curvature in
    ``loc`` is zero, so the fit reports status ``BOUNDARY`` or ``SINGULAR``
    and NaN standard errors (the asymptotic SE of ``loc`` is ``scale/sqrt(n)``,
    of ``scale`` ``scale/sqrt(n)``). With weights the starting rule is not the
    weighted median, and Newton's method cannot locate a kink: prefer
    unweighted data.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import LaplaceDist
        >>> round(float(LaplaceDist().logcdf(-800.0, {"loc": 0.0, "scale": 1.0})), 6)
        -800.693147
    """

    name = "laplace"
    param_names = ("loc", "scale")

    def _logpdf(self, x, params):
        return -_abs(self._z(x, params)) - jnp.log(2.0 * params["scale"])

    def _cdf_sf(self, x, params):
        z = self._z(x, params)
        neg = z < 0
        zn = jnp.where(neg, z, 0.0)
        zp = jnp.where(neg, 0.0, z)
        lower = _LOG_HALF + zn  # log(F) for z < 0, log(1 - F) for z > 0 (mirrored)
        upper = jnp.log1p(-0.5 * jnp.exp(-zp))
        cdf = jnp.where(neg, lower, upper)
        sf = jnp.where(neg, jnp.log1p(-0.5 * jnp.exp(zn)), _LOG_HALF - zp)
        return cdf, sf

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] + params["scale"] * jax.random.laplace(key, shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        med = finite(wmedian(v, valid))
        mad, _ = wstats(jnp.abs(v - med), valid)
        return {"loc": med, "scale": positive(mad)}


@dataclass(frozen=True, repr=False)
class LogisticDist(_Real):
    """Logistic(loc, scale): ``scipy.stats.logistic``. Starting rule: the method of moments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import LogisticDist
        >>> round(float(LogisticDist().logsf(800.0, {"loc": 0.0, "scale": 1.0})), 6)
        -800.0
    """

    name = "logistic"
    param_names = ("loc", "scale")

    def _logpdf(self, x, params):
        z = self._z(x, params)
        return jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(-z) - jnp.log(params["scale"])

    def _logcdf(self, x, params):
        return jax.nn.log_sigmoid(self._z(x, params))

    def _logsf(self, x, params):
        return jax.nn.log_sigmoid(-self._z(x, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] + params["scale"] * jax.random.logistic(key, shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        mean, var = wstats(v, valid)
        return {"loc": finite(mean), "scale": positive(jnp.sqrt(3.0 * var) / math.pi)}


@dataclass(frozen=True, repr=False)
class GumbelDist(_Real):
    """Gumbel (maximum; the largest-extreme-value distribution) (loc, scale):
    ``scipy.stats.gumbel_r``; also called ``gumbel_max``. Starting rule: moments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import GumbelDist
        >>> round(float(GumbelDist().logcdf(0.0, {"loc": 0.0, "scale": 1.0})), 6)
        -1.0
    """

    name = "gumbel"
    param_names = ("loc", "scale")

    def _logpdf(self, x, params):
        z = self._z(x, params)
        return -z - jnp.exp(-z) - jnp.log(params["scale"])

    def _logcdf(self, x, params):
        return -jnp.exp(-self._z(x, params))

    def _logsf(self, x, params):
        # log(1 - exp(-u)), u = exp(-z); for z > 20 it is -z - u/2 to rounding (and stays
        # finite where u underflows)
        z = self._z(x, params)
        far = z > 20.0
        z_f = jnp.where(far, z, 20.0)
        z_n = jnp.where(far, 0.0, jnp.maximum(z, -40.0))  # below -40, S = 1 to rounding
        return jnp.where(far, -z_f - 0.5 * jnp.exp(-z_f), log1mexp(-jnp.exp(-z_n)))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] + params["scale"] * jax.random.gumbel(key, shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        mean, var = wstats(v, valid)
        scale = positive(jnp.sqrt(6.0 * var) / math.pi)
        return {"loc": finite(mean - EULER * scale), "scale": scale}


@dataclass(frozen=True, repr=False)
class GumbelMinDist(_Real):
    """Gumbel minimum, the smallest-extreme-value distribution (loc, scale):
    ``scipy.stats.gumbel_l``, ``S(x) = exp(-exp((x - loc) / scale))``. It is the
    distribution of ``log T`` for a Weibull ``T`` (``loc = log scale``, ``scale = 1 /
    shape``), the form reliability engineers mean by "Gumbel". Starting rule: moments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import GumbelMinDist
        >>> round(float(GumbelMinDist().logsf(0.0, {"loc": 0.0, "scale": 1.0})), 6)
        -1.0
    """

    name = "gumbel_min"
    param_names = ("loc", "scale")

    def _logpdf(self, x, params):
        z = self._z(x, params)
        return z - jnp.exp(z) - jnp.log(params["scale"])

    def _logcdf(self, x, params):
        # log(1 - exp(-u)), u = exp(z); for z < -20 it is z - u/2 to rounding
        z = self._z(x, params)
        far = z < -20.0
        z_f = jnp.where(far, z, -20.0)
        z_n = jnp.where(far, 0.0, jnp.minimum(z, 40.0))  # above 40, F = 1 to rounding
        return jnp.where(far, z_f - 0.5 * jnp.exp(z_f), log1mexp(-jnp.exp(z_n)))

    def _logsf(self, x, params):
        return -jnp.exp(self._z(x, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["loc"] - params["scale"] * jax.random.gumbel(key, shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data)
        mean, var = wstats(v, valid)
        scale = positive(jnp.sqrt(6.0 * var) / math.pi)
        return {"loc": finite(mean + EULER * scale), "scale": scale}


# -- positive support ------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class ExponentialDist(PositiveSupport):
    """Exponential(rate): ``scipy.stats.expon(scale=1/rate)``.

    Closed-form MLE: ``rate = events / sum(x)``, also under right censoring
    (the starting rule uses it, so a fit converges in one step).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import ExponentialDist
        >>> round(float(ExponentialDist().logcdf(1e-10, {"rate": 1.0})), 6)
        -23.025851
    """

    name = "exponential"
    param_names = ("rate",)

    def spec(self):
        return {"rate": Positive()}

    def _safe(self, params):
        return 1.0 / params["rate"]

    def _logpdf(self, x, params):
        rate = params["rate"]
        return jnp.log(rate) - rate * x

    def _logcdf(self, x, params):
        return log1mexp(-params["rate"] * x)

    def _logsf(self, x, params):
        return -params["rate"] * x

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return jax.random.exponential(key, shape, _dt(params)) / params["rate"]

    def init(self, data):
        data = as_data_dict(data)
        v, valid = init_points(data, 0.0)
        if "x" in data and "event" in data:
            ev = jnp.asarray(data["event"], v.dtype)
            valid = valid & jnp.isfinite(ev)
            events = jnp.sum(jnp.where(valid, ev != 0, False))
            rate = events / jnp.sum(jnp.where(valid, v, 0.0))
            mean, _ = wstats(v, valid)
            return {"rate": positive(rate, positive(1.0 / mean))}
        mean, _ = wstats(v, valid)
        return {"rate": positive(1.0 / mean)}


class _OnLogScale(PositiveSupport):
    """A family on (0, inf) whose functions depend on ``x`` only through ``log x``: written as
    ``_logpdf_lx``, ``_logcdf_lx`` and ``_logsf_lx`` of ``log x`` (:attr:`log_x`)."""

    log_x = True

    def _logpdf(self, x, params):
        return self._logpdf_lx(jnp.log(x), params)

    def _logcdf(self, x, params):
        return self._logcdf_lx(jnp.log(x), params)

    def _logsf(self, x, params):
        return self._logsf_lx(jnp.log(x), params)


@dataclass(frozen=True, repr=False)
class LogNormalDist(_OnLogScale):
    """Log-normal(mu, sigma) of ``log x``: ``scipy.stats.lognorm(s=sigma, scale=exp(mu))``.

    Closed-form MLE: mean and (ddof=0) SD of ``log x``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import LogNormalDist
        >>> round(float(LogNormalDist().logcdf(1.0, {"mu": 0.0, "sigma": 1.0})), 6)
        -0.693147
    """

    name = "lognormal"
    param_names = ("mu", "sigma")

    def spec(self):
        return {"mu": Real(), "sigma": Positive()}

    def _safe(self, params):
        return jnp.exp(params["mu"])

    def _z(self, lx, params):
        return (lx - params["mu"]) * (1.0 / params["sigma"])

    def _logpdf_lx(self, lx, params):
        z = self._z(lx, params)
        return -0.5 * z * z - jnp.log(params["sigma"]) - lx - _HALF_LOG_2PI

    def _logcdf_lx(self, lx, params):
        return log_ndtr(self._z(lx, params))

    def _logsf_lx(self, lx, params):
        return log_ndtr(-self._z(lx, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return jnp.exp(params["mu"] + params["sigma"] * jax.random.normal(key, shape, _dt(params)))

    def init(self, data):
        v, valid = init_points(data, 0.0)
        mean, var = wstats(jnp.log(jnp.where(valid, v, 1.0)), valid)
        return {"mu": finite(mean), "sigma": positive(jnp.sqrt(var))}


@dataclass(frozen=True, repr=False)
class GammaDist(PositiveSupport):
    """Gamma(shape, scale): ``scipy.stats.gamma(a=shape, scale=scale)``.

    Starting rule: Minka's closed-form approximation to the MLE of the shape.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import GammaDist
        >>> round(float(GammaDist().logsf(2.0, {"shape": 1.0, "scale": 1.0})), 10)  # exponential
        -2.0
    """

    name = "gamma"
    param_names = ("shape", "scale")

    def spec(self):
        return {"shape": Positive(), "scale": Positive()}

    def _safe(self, params):
        return params["shape"] * params["scale"]

    def _logpdf(self, x, params):
        a, s = params["shape"], params["scale"]
        plain = xlogy(a - 1.0, x) - x * (1.0 / s) - gammaln(a) - a * jnp.log(s)
        # For a large shape the terms of the plain form, of size a log(x / s), cancel to
        # leave O(1): rounding swamps the log-likelihood (data 5 + 1e-4 z give a shape of
        # 2e9). In the mean mu = a s it is, exactly,
        #   log(a / 2 pi) / 2 - c(a) + a log1pmx(x / mu - 1) - log x
        # with c Stirling's correction, and nothing cancels.
        big = (a >= 8.0) & (x > 0)
        ab, xb = jnp.where(big, a, 8.0), jnp.where(big, x, 1.0)
        stable = (
            0.5 * jnp.log(ab / (2 * math.pi))
            - stirling_correction(ab)
            + ab * log1pmx(xb / (ab * s) - 1.0)
            - jnp.log(xb)
        )
        return jnp.where(big, stable, plain)

    def _cdf_sf(self, x, params):
        return log_gammainc(params["shape"], x / params["scale"])

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["scale"] * jax.random.gamma(key, params["shape"], shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data, 0.0)
        mean, _ = wstats(v, valid)
        mean_log, _ = wstats(jnp.log(jnp.where(valid, v, 1.0)), valid)
        s = jnp.log(mean) - mean_log
        shape = (3.0 - s + jnp.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
        shape = positive(shape)
        return {"shape": shape, "scale": positive(mean / shape)}


class _ShapeScale(_OnLogScale):
    """A family of ``z = shape * log(x / scale)``, the log-location-scale families on (0, inf)."""

    param_names = ("shape", "scale")

    def spec(self):
        return {"shape": Positive(), "scale": Positive()}

    def _safe(self, params):
        return params["scale"]

    def _logz(self, lx, params):
        return params["shape"] * (lx - jnp.log(params["scale"]))


@dataclass(frozen=True, repr=False)
class WeibullDist(_ShapeScale):
    """Weibull(shape, scale): ``S(x) = exp(-(x/scale)^shape)``, ``scipy.stats.weibull_min``.

    lifelines' ``WeibullFitter`` calls them ``rho_`` and ``lambda_``. Starting
    rule: the moments of ``log x`` (a Gumbel-minimum).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import WeibullDist
        >>> round(float(WeibullDist().logsf(1e3, {"shape": 1.5, "scale": 1.0})), 4)
        -31622.7766
    """

    name = "weibull"

    def _logpdf_lx(self, lx, params):
        lz = self._logz(lx, params)
        return jnp.log(params["shape"]) - lx + lz - jnp.exp(lz)

    def _logcdf_lx(self, lx, params):
        return log1mexp(-jnp.exp(self._logz(lx, params)))

    def _logsf_lx(self, lx, params):
        return -jnp.exp(self._logz(lx, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        e = jax.random.exponential(key, shape, _dt(params))
        return params["scale"] * e ** (1.0 / params["shape"])

    def init(self, data):
        v, valid = init_points(data, 0.0)
        mean, var = wstats(jnp.log(jnp.where(valid, v, 1.0)), valid)
        shape = positive(math.pi / jnp.sqrt(6.0 * var))
        return {"shape": shape, "scale": positive(jnp.exp(mean + EULER / shape))}


@dataclass(frozen=True, repr=False)
class LogLogisticDist(_ShapeScale):
    """Log-logistic(shape, scale): ``F(x) = 1 / (1 + (x/scale)^-shape)``, ``scipy.stats.fisk``.

    scipy's ``fisk(c=shape, scale=scale)``. Starting rule: the moments of
    ``log x`` (a logistic).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import LogLogisticDist
        >>> round(float(LogLogisticDist().logcdf(2.0, {"shape": 1.0, "scale": 2.0})), 6)
        -0.693147
    """

    name = "loglogistic"

    def _logpdf_lx(self, lx, params):
        w = self._logz(lx, params)
        return jnp.log(params["shape"]) - lx + jax.nn.log_sigmoid(w) + jax.nn.log_sigmoid(-w)

    def _logcdf_lx(self, lx, params):
        return jax.nn.log_sigmoid(self._logz(lx, params))

    def _logsf_lx(self, lx, params):
        return jax.nn.log_sigmoid(-self._logz(lx, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        z = jax.random.logistic(key, shape, _dt(params))
        return params["scale"] * jnp.exp(z / params["shape"])

    def init(self, data):
        v, valid = init_points(data, 0.0)
        mean, var = wstats(jnp.log(jnp.where(valid, v, 1.0)), valid)
        shape = positive(math.pi / jnp.sqrt(3.0 * var))
        return {"shape": shape, "scale": positive(jnp.exp(mean))}


@dataclass(frozen=True, repr=False)
class ParetoDist(Distribution):
    """Pareto(shape; scale): ``S(x) = (scale / x)^shape`` on ``x >= scale``, ``scipy.stats.pareto``.

    scipy's ``pareto(b=shape, scale=scale)``. Only ``shape`` is a fitted
    parameter. The likelihood in ``scale`` is irregular: it increases up to
    ``min(x)`` and is zero beyond, so its MLE is ``min(x)`` (also under right
    censoring), an endpoint where the score is not zero and the information
    is not defined; it converges at rate ``1/n``, faster than ``shape``, so
    treating it as known leaves the asymptotic standard error of ``shape``
    unchanged. ``scale`` is therefore a fixed option: a number, or ``None``
    (the default) for the smallest observation. Functions read ``scale`` from
    ``params["scale"]`` when present, else from the option. Closed-form MLE of
    the shape: ``n / sum(log(x / scale))``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import ParetoDist
        >>> round(float(ParetoDist(scale=1.0).logsf(10.0, {"shape": 2.0})), 6)  # log(1/100)
        -4.60517
    """

    scale: float | None = None
    name = "pareto"
    param_names = ("shape",)

    def spec(self):
        return {"shape": Positive()}

    def _scale(self, params):
        if "scale" in params:
            return params["scale"]
        if self.scale is None:
            raise ValueError(
                "pareto: no scale; pass params['scale'] or the option scale=... "
                "(the Pareto model and fit_dist default to the smallest observation)"
            )
        return self.scale

    def support(self, params):
        return self._scale(params), jnp.inf

    def _safe(self, params):
        return 2.0 * self._scale(params)

    def _logr(self, x, params):
        return jnp.log(x) - jnp.log(self._scale(params))

    def _logpdf(self, x, params):
        b = params["shape"]
        return jnp.log(b) - jnp.log(x) - b * self._logr(x, params)

    def _logcdf(self, x, params):
        return log1mexp(-params["shape"] * self._logr(x, params))

    def _logsf(self, x, params):
        return -params["shape"] * self._logr(x, params)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        e = jax.random.exponential(key, shape, _dt(params))
        return self._scale(params) * jnp.exp(e / params["shape"])

    def init(self, data, scale=None):
        v, valid = init_points(data, 0.0)
        scale = self.scale if scale is None else scale
        if scale is None:
            scale = default_pareto_scale(data)
        logr = jnp.log(jnp.where(valid, v, scale)) - jnp.log(scale)
        mean, _ = wstats(logr, valid & (logr > 0))
        return {"shape": positive(1.0 / mean)}


def default_pareto_scale(data):
    """The smallest finite positive value among ``x`` (or ``lower`` / ``upper``).

    The MLE of the Pareto scale for exact and right-censored observations
    (and a value that keeps the likelihood finite otherwise).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.distributions.continuous import default_pareto_scale
        >>> float(default_pareto_scale({"x": jnp.array([3.0, 2.0, jnp.nan])}))
        2.0
    """
    data = as_data_dict(data)
    keys = ["x"] if "x" in data else ["lower", "upper"]
    best = None
    for key in keys:
        v = jnp.asarray(data[key])
        v = v.astype(jnp.result_type(float, v.dtype))
        m = jnp.min(jnp.where(jnp.isfinite(v) & (v > 0), v, jnp.inf))
        best = m if best is None else jnp.minimum(best, m)
    return jax.lax.stop_gradient(best)


# -- unit interval ---------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class BetaDist(Distribution):
    """Beta(a, b) on ``(0, 1)``: ``scipy.stats.beta``. Starting rule: the method of moments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import BetaDist
        >>> round(float(jnp.exp(BetaDist().logcdf(0.3, {"a": 2.0, "b": 3.0}))), 10)
        0.3483
    """

    name = "beta"
    param_names = ("a", "b")

    def spec(self):
        return {"a": Positive(), "b": Positive()}

    def support(self, params):
        return 0.0, 1.0

    def _safe(self, params):
        return params["a"] / (params["a"] + params["b"])

    def _logpdf(self, x, params):
        a, b = params["a"], params["b"]
        log_beta = gammaln(a) + gammaln(b) - gammaln(a + b)  # (a smaller Hessian than betaln)
        return xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - log_beta

    def _cdf_sf(self, x, params):
        return log_betainc(params["a"], params["b"], x)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return jax.random.beta(key, params["a"], params["b"], shape, _dt(params))

    def init(self, data):
        v, valid = init_points(data, 0.0, 1.0)
        m, var = wstats(v, valid)
        common = m * (1.0 - m) / var - 1.0
        ok = jnp.isfinite(common) & (common > 0) & (m > 0) & (m < 1)
        return {"a": jnp.where(ok, m * common, 1.0), "b": jnp.where(ok, (1.0 - m) * common, 1.0)}


# -- three parameters: a threshold (location) below which no unit fails ------------------
class _Threshold(Distribution):
    """A lifetime family shifted by a ``threshold``: ``X - threshold`` follows the two-parameter
    family (:attr:`base`). The support is ``(threshold, inf)``; the likelihood of data is
    ``-inf`` for a threshold at or above the smallest exact observation.

    Starting rule: the threshold a quarter of the way from the smallest observation down
    towards 0 by the distance to the median (``m - (median - m) / 4``), and the base
    family's starting rule for the data less it.
    """

    base: Distribution = None  # (set by subclasses: the two-parameter family)

    def spec(self):
        return {**self.base.spec(), "threshold": Real()}

    def support(self, params):
        return params["threshold"], jnp.inf

    def _safe(self, params):
        return params["threshold"] + self.base._safe(params)

    def _base_params(self, params):
        return {k: params[k] for k in self.base.param_names}

    def _logpdf(self, x, params):
        z = x - params["threshold"]
        ok = z > 0
        zs = jnp.where(ok, z, jax.lax.stop_gradient(self.base._safe(params)))
        return jnp.where(ok, self.base.logpdf(zs, self._base_params(params)), -jnp.inf)

    def _cdf_sf(self, x, params):
        return self.base.logcdf_logsf(x - params["threshold"], self._base_params(params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return params["threshold"] + self.base.sample(key, self._base_params(params), shape)

    def init(self, data):
        v, valid = init_points(data)
        m = jnp.min(jnp.where(valid, v, jnp.inf))
        med = wmedian(v, valid)
        gap = positive(0.25 * (med - m), positive(0.25 * jnp.abs(m)))
        t0 = finite(m - gap)
        d = as_data_dict(data)
        if "x" in d:
            shifted = {"x": jnp.where(valid, v - t0, jnp.nan)}
        else:
            shifted = {"lower": d["lower"] - t0, "upper": d["upper"] - t0}
        return {**self.base.init(shifted), "threshold": t0}


@dataclass(frozen=True, repr=False)
class Weibull3Dist(_Threshold):
    """Three-parameter Weibull(shape, scale, threshold):
    ``S(x) = exp(-((x - threshold) / scale)^shape)`` for ``x > threshold``,
    ``scipy.stats.weibull_min(shape, loc=threshold, scale=scale)``; reliability texts'
    ``gamma`` is the threshold (a failure-free time).

    The likelihood grows without bound as the threshold approaches the smallest failure
    when the shape is below 1; a fit whose threshold runs there ends ``BOUNDARY``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import Weibull3Dist
        >>> p = {"shape": 2.0, "scale": 1.0, "threshold": 10.0}
        >>> round(float(Weibull3Dist().logsf(12.0, p)), 6)        # -((12 - 10) / 1)^2
        -4.0
    """

    name = "weibull_3p"
    param_names = ("shape", "scale", "threshold")
    base = WeibullDist()


@dataclass(frozen=True, repr=False)
class LogNormal3Dist(_Threshold):
    """Three-parameter log-normal(mu, sigma, threshold): ``log(x - threshold)`` is
    normal(mu, sigma), ``scipy.stats.lognorm(sigma, loc=threshold, scale=exp(mu))``.

    Its likelihood is unbounded as the threshold approaches the smallest failure (for any
    sigma); the estimate is the interior local maximum where there is one, and a fit
    whose threshold runs to the smallest failure ends ``BOUNDARY``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import LogNormal3Dist
        >>> p = {"mu": 0.0, "sigma": 1.0, "threshold": 5.0}
        >>> round(float(LogNormal3Dist().logcdf(6.0, p)), 6)       # log Phi(log 1)
        -0.693147
    """

    name = "lognormal_3p"
    param_names = ("mu", "sigma", "threshold")
    base = LogNormalDist()


# -- two Weibull subpopulations ------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class WeibullMixtureDist(PositiveSupport):
    """Mixture of two Weibull subpopulations:
    ``F(x) = p F_1(x) + (1 - p) F_2(x)``, ``F_j`` Weibull(``shape{j}``, ``scale{j}``), ``p``
    the fraction of the first (the reliability package's ``Fit_Weibull_Mixture``: a batch
    with an early-failure subpopulation among long-lived units).

    The two labels can swap (``p <-> 1 - p`` and the components exchanged give the same
    law); the starting rule puts the first component on the earlier half of the data
    (each half's Weibull start, ``p = 1/2``), so the first component is the early one.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import WeibullMixtureDist
        >>> p = {"p": 0.3, "shape1": 1.0, "scale1": 1.0, "shape2": 1.0, "scale2": 1.0}
        >>> round(float(WeibullMixtureDist().logsf(2.0, p)), 6)    # one exponential
        -2.0
    """

    name = "weibull_mixture"
    param_names = ("p", "shape1", "scale1", "shape2", "scale2")

    def spec(self):
        return {
            "p": UnitInterval(),
            "shape1": Positive(),
            "scale1": Positive(),
            "shape2": Positive(),
            "scale2": Positive(),
        }

    def _safe(self, params):
        return jnp.sqrt(params["scale1"] * params["scale2"])

    @staticmethod
    def _parts(params):
        one = {"shape": params["shape1"], "scale": params["scale1"]}
        two = {"shape": params["shape2"], "scale": params["scale2"]}
        return one, two

    def _logpdf(self, x, params):
        one, two = self._parts(params)
        w = WeibullDist()
        p = params["p"]
        return jnp.logaddexp(jnp.log(p) + w.logpdf(x, one), jnp.log1p(-p) + w.logpdf(x, two))

    def _cdf_sf(self, x, params):
        one, two = self._parts(params)
        w = WeibullDist()
        lp, lq = jnp.log(params["p"]), jnp.log1p(-params["p"])
        c1, s1 = w.logcdf_logsf(x, one)
        c2, s2 = w.logcdf_logsf(x, two)
        return jnp.logaddexp(lp + c1, lq + c2), jnp.logaddexp(lp + s1, lq + s2)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        k1, k2, k3 = jax.random.split(key, 3)
        one, two = self._parts(params)
        w = WeibullDist()
        first = jax.random.uniform(k1, shape, _dt(params)) < params["p"]
        return jnp.where(first, w.sample(k2, one, shape), w.sample(k3, two, shape))

    def init(self, data):
        v, valid = init_points(data, 0.0)
        med = wmedian(v, valid)
        early = valid & (v <= med)
        late = valid & (v > med)
        w = WeibullDist()
        a = w.init({"x": jnp.where(early, v, jnp.nan)})
        b = w.init({"x": jnp.where(late, v, jnp.nan)})
        dtype = jnp.result_type(v)
        return {
            "p": jnp.asarray(0.5, dtype),
            "shape1": a["shape"],
            "scale1": a["scale"],
            "shape2": b["shape"],
            "scale2": b["scale"],
        }
