"""Discrete families: Bernoulli, binomial, categorical, multinomial, Poisson,
negative binomial (NB2) and geometric.

``logpdf`` is the log probability mass (``logpmf`` is an alias); ``logcdf``
and ``logsf`` are ``log P(X <= x)`` and ``log P(X > x)`` at ``floor(x)``, as
in ``scipy.stats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import gammainc, gammaincc, gammaln, xlog1py, xlogy

from ..constraints import Positive, Simplex, UnitInterval
from ._special import log1mexp, log_betainc, log_gammainc, log_rising_over_power
from .base import Distribution, as_data_dict, as_float, positive, wstats

__all__ = [
    "BernoulliDist",
    "BinomialDist",
    "CategoricalDist",
    "MultinomialDist",
    "PoissonDist",
    "NegativeBinomialDist",
    "GeometricDist",
]


def _count_points(data, high=jnp.inf):
    x = jnp.asarray(as_data_dict(data)["x"])
    x = x.astype(jnp.result_type(float, x.dtype))
    valid = jnp.isfinite(x) & (x >= 0) & (x <= high)
    return x, valid


def _interior(p, n):
    """Keep a starting probability off 0 and 1 (the MLE may be on the edge)."""
    eps = 0.5 / (n + 1.0)
    return jnp.clip(jnp.where(jnp.isfinite(p), p, 0.5), eps, 1.0 - eps)


def _simplex_start(counts):
    """Relative frequencies; smoothed by 1/2 a count when a category is empty."""
    total = jnp.sum(counts)
    k = counts.shape[-1]
    mle = counts / jnp.maximum(total, 1.0)
    smooth = (counts + 0.5) / (total + 0.5 * k)
    return jnp.where(jnp.min(counts) > 0, mle, smooth)


def _dt(params):
    """The floating dtype of the parameters (the default float where they are Python numbers)."""
    leaves = [jnp.asarray(v) for v in jax.tree_util.tree_leaves(params)]
    floats = [v.dtype for v in leaves if jnp.issubdtype(v.dtype, jnp.floating)]
    return jnp.result_type(*floats) if floats else jnp.result_type(float)


class _Discrete(Distribution):
    continuous = False

    def logpmf(self, x, params):
        """Alias of :meth:`logpdf`: the log probability mass."""
        return self.logpdf(x, params)

    def _safe(self, params):
        return 0.0


@dataclass(frozen=True, repr=False)
class BernoulliDist(_Discrete):
    """Bernoulli(p): ``P(X = 1) = p``, ``P(X = 0) = 1 - p``.

    Closed-form MLE: ``p = mean(x)`` (on the edge, status ``BOUNDARY``, when
    all outcomes agree).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import BernoulliDist
        >>> round(float(BernoulliDist().logpmf(1, {"p": 0.25})), 6)
        -1.386294
    """

    name = "bernoulli"
    param_names = ("p",)

    def spec(self):
        return {"p": UnitInterval()}

    def support(self, params):
        return 0.0, 1.0

    def _logpdf(self, x, params):
        p = params["p"]
        return jnp.where(x == 1, jnp.log(p), jnp.log1p(-p))

    def _logcdf(self, x, params):
        return jnp.log1p(-params["p"]) + jnp.zeros_like(x)

    def _logsf(self, x, params):
        return jnp.log(params["p"]) + jnp.zeros_like(x)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return jax.random.bernoulli(key, params["p"], shape).astype(_dt(params))

    def init(self, data):
        x, valid = _count_points(data, 1.0)
        mean, _ = wstats(x, valid)
        return {"p": _interior(mean, jnp.sum(valid))}


@dataclass(frozen=True, repr=False)
class BinomialDist(_Discrete):
    """Binomial(p; trials): successes in ``trials`` independent Bernoulli(p) trials.

    ``trials`` is a fixed option, a positive integer. Closed-form MLE:
    ``p = mean(x) / trials``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import BinomialDist
        >>> d = BinomialDist(trials=10)
        >>> round(float(jnp.exp(d.logcdf(3, {"p": 0.5}))), 6)  # 176 / 1024
        0.171875
    """

    trials: int | None = None
    name = "binomial"
    param_names = ("p",)

    def _n(self):
        if self.trials is None:
            raise ValueError("the binomial family needs its number of trials: trials=...")
        return self.trials

    def spec(self):
        self._n()
        return {"p": UnitInterval()}

    def support(self, params):
        return 0.0, self._n()

    def _logpdf(self, k, params):
        p, n = params["p"], self._n()
        log_choose = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        return log_choose + xlogy(k, p) + xlog1py(n - k, -p)

    def _cdf_sf(self, k, params):
        p, n = params["p"], self._n()
        return log_betainc(n - k, k + 1.0, 1.0 - p, p)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        n = jnp.full(shape, float(self._n()), _dt(params))
        return jax.random.binomial(key, n, params["p"], shape, _dt(params))

    def init(self, data):
        x, valid = _count_points(data)
        mean, _ = wstats(x, valid)
        n = float(self._n())
        return {"p": _interior(mean / n, jnp.sum(valid) * n)}


def _same(j, x):
    return j == x


@dataclass(frozen=True, repr=False)
class CategoricalDist(_Discrete):
    """Categorical(p): one of ``k`` categories coded ``0, ..., k-1``, ``P(X = j) = p[j]``.

    ``p`` is a probability vector (``jm.Simplex(k)``); ``k`` is an option.
    ``logcdf`` / ``logsf`` treat the codes as ordered. Closed-form MLE: the
    relative frequencies (an empty category puts ``p`` on the edge of the
    simplex: status ``BOUNDARY``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import CategoricalDist
        >>> d = CategoricalDist(k=3)
        >>> round(float(d.logpmf(2, {"p": jnp.array([0.2, 0.3, 0.5])})), 6)
        -0.693147
    """

    k: int | None = None
    name = "categorical"
    param_names = ("p",)

    def _k(self):
        if self.k is None:
            raise ValueError("the categorical family needs its number of categories: k=...")
        return int(self.k)

    def spec(self):
        return {"p": Simplex(self._k())}

    def support(self, params):
        return 0.0, float(self._k() - 1)

    def _select(self, x, params, keep, values=None):
        """The sum of ``values`` (default ``p``) over the categories ``j`` with ``keep(j, x)``."""
        v = jnp.asarray(params["p"]) if values is None else values
        j = jnp.arange(self._k(), dtype=x.dtype)
        return jnp.sum(jnp.where(keep(j, x[..., None]), v, 0.0), axis=-1)

    def _logpdf(self, x, params):
        return jnp.log(self._select(x, params, _same))

    def _logcdf(self, x, params):
        return jnp.log(self._select(x, params, lambda j, xx: j <= xx))

    def _logsf(self, x, params):
        return jnp.log(self._select(x, params, lambda j, xx: j > xx))

    def logpdf_logits(self, x, logits):
        """:meth:`logpdf` at ``p = softmax(logits)``, from ``log_softmax(logits)`` (the log of
        ``p`` is never taken; a fit differentiates it twice).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> jax.config.update("jax_enable_x64", True)
            >>> from jaxmle.distributions import CategoricalDist
            >>> round(float(CategoricalDist(k=2).logpdf_logits(1.0, jnp.zeros(2))), 6)
            -0.693147
        """
        logp = jax.nn.log_softmax(jnp.asarray(logits))
        x = as_float(x)
        inside = self._inside(x, {})
        return self._on_support(x, inside, {}, lambda xs: self._select(xs, {}, _same, logp))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        p = jnp.asarray(params["p"])
        return jax.random.categorical(key, jnp.log(p), shape=shape).astype(_dt(params))

    def init(self, data):
        k = self._k()
        x, valid = _count_points(data, k - 1.0)
        idx = jnp.where(valid, x, 0.0).astype(jnp.int32)
        counts = jnp.sum(jax.nn.one_hot(idx, k, dtype=x.dtype) * valid[..., None], axis=0)
        return {"p": _simplex_start(counts)}


@dataclass(frozen=True, repr=False)
class MultinomialDist(_Discrete):
    """Multinomial(p): a vector of counts over ``k`` categories, one vector per observation.

    The data ``x`` has shape ``(n, k)`` (the number of trials of each
    observation is its row sum). The MLE of ``p`` is closed-form: pooled counts
    over their total. ``logcdf`` / ``logsf`` are not defined (the joint CDF of
    a multivariate count has no useful closed form) and raise
    ``NotImplementedError``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import MultinomialDist
        >>> d = MultinomialDist(k=2)
        >>> round(float(jnp.exp(d.logpmf(jnp.array([1.0, 1.0]), {"p": jnp.array([0.5, 0.5])}))), 6)
        0.5
    """

    k: int | None = None
    name = "multinomial"
    param_names = ("p",)

    def _k(self):
        if self.k is None:
            raise ValueError("the multinomial family needs its number of categories: k=...")
        return int(self.k)

    def spec(self):
        return {"p": Simplex(self._k())}

    def support(self, params):
        return 0.0, jnp.inf

    def logpdf(self, x, params):
        p = jnp.asarray(params["p"])
        return self._log_mass(x, lambda xs: xlogy(xs, p))

    def logpdf_logits(self, x, logits):
        """:meth:`logpdf` at ``p = softmax(logits)``, from ``log_softmax(logits)``: the log of
        ``p`` is never taken, so ``p`` may underflow, and the derivatives in ``logits`` are
        those of ``x . logits - n logsumexp(logits)`` (a fit differentiates them twice).

        Example:
            >>> import jax, jax.numpy as jnp
            >>> jax.config.update("jax_enable_x64", True)
            >>> from jaxmle.distributions import MultinomialDist
            >>> round(float(MultinomialDist(k=2).logpdf_logits(jnp.array([1.0, 1.0]),
            ...                                                jnp.zeros(2))), 6)
            -0.693147
        """
        logp = jax.nn.log_softmax(jnp.asarray(logits))
        return self._log_mass(x, lambda xs: xs * logp)

    def _log_mass(self, x, xlogp):
        """The log mass of counts ``x`` given ``xlogp(xs)``, the terms ``xs_j log p_j``."""
        x = jnp.asarray(x)
        x = x.astype(jnp.result_type(float, x.dtype))
        inside = jnp.all((x >= 0) & (x == jnp.floor(x)), axis=-1)
        xs = jnp.where(inside[..., None], x, 0.0)
        n = jnp.sum(xs, axis=-1)
        ll = gammaln(n + 1.0) + jnp.sum(xlogp(xs) - gammaln(xs + 1.0), axis=-1)
        return jnp.where(inside, ll, -jnp.inf)

    def logcdf(self, x, params):
        raise NotImplementedError("the multinomial (a multivariate count) has no logcdf")

    def logsf(self, x, params):
        raise NotImplementedError("the multinomial (a multivariate count) has no logsf")

    def sample(self, key, params, shape=(), trials=1):
        """Draw ``shape`` count vectors (shape ``shape + (k,)``) of ``trials`` each."""
        p = jnp.asarray(params["p"])
        p = jnp.broadcast_to(p, tuple(shape) + p.shape[-1:])
        n = jnp.broadcast_to(jnp.asarray(trials, _dt(params)), tuple(shape))
        # (jax's multinomial takes the full output shape, categories included)
        return jax.random.multinomial(key, n, p, shape=p.shape, dtype=_dt(params))

    def init(self, data):
        x = jnp.asarray(as_data_dict(data)["x"])
        x = x.astype(jnp.result_type(float, x.dtype))
        valid = jnp.all(jnp.isfinite(x) & (x >= 0), axis=-1)
        counts = jnp.sum(jnp.where(valid[..., None], x, 0.0), axis=0)
        return {"p": _simplex_start(counts)}


@dataclass(frozen=True, repr=False)
class PoissonDist(_Discrete):
    """Poisson(rate): ``P(X = k) = rate^k exp(-rate) / k!``. Closed-form MLE: ``mean(x)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import PoissonDist
        >>> round(float(PoissonDist().logcdf(0, {"rate": 2.0})), 6)
        -2.0
    """

    name = "poisson"
    param_names = ("rate",)

    def spec(self):
        return {"rate": Positive()}

    def support(self, params):
        return 0.0, jnp.inf

    def _logpdf(self, k, params):
        mu = params["rate"]
        return xlogy(k, mu) - mu - gammaln(k + 1.0)

    def _cdf_sf(self, k, params):
        """(log P(X <= k), log P(X > k)) = (log Q(k+1, mu), log P(k+1, mu)).

        ``jax.scipy.special.gammainc`` (fine for large counts) where its value
        is representable, the log-space series / continued fraction in the
        far tails, where they converge quickly.
        """
        a, mu = jnp.broadcast_arrays(k + 1.0, jnp.asarray(params["rate"], k.dtype))
        p = gammainc(a, mu)
        q = gammaincc(a, mu)
        tiny = 1e-290
        ok = (p > tiny) & (q > tiny)
        mu_j = jnp.where(ok, mu, a)  # P(a, a) is near 1/2
        p_j, q_j = gammainc(a, mu_j), gammaincc(a, mu_j)
        p_small, q_small = p_j < 0.5, q_j < 0.5
        log_cdf = jnp.where(
            p_small, jnp.log1p(-jnp.where(p_small, p_j, 0.0)), jnp.log(jnp.where(p_small, 1.0, q_j))
        )
        log_sf = jnp.where(
            q_small, jnp.log1p(-jnp.where(q_small, q_j, 0.0)), jnp.log(jnp.where(q_small, 1.0, p_j))
        )
        lp, lq = log_gammainc(a, jnp.where(ok, jnp.where(mu < a, 0.5 * a, 2.0 * a + 10.0), mu))
        return jnp.where(ok, log_cdf, lq), jnp.where(ok, log_sf, lp)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        return jax.random.poisson(key, params["rate"], shape).astype(_dt(params))

    def init(self, data):
        x, valid = _count_points(data)
        mean, _ = wstats(x, valid)
        return {"rate": positive(mean, 1.0)}


@dataclass(frozen=True, repr=False)
class NegativeBinomialDist(_Discrete):
    """Negative binomial NB2(mean, alpha): ``Var X = mean + alpha mean^2``, as statsmodels.

    With ``r = 1/alpha`` and ``p = r / (r + mean)``: ``P(X = k) = C(k+r-1, k)
    p^r (1-p)^k``, scipy's ``nbinom(n=r, p=p)``. ``alpha -> 0`` is the Poisson
    limit (on the edge: status ``BOUNDARY``). Starting rule: the method of
    moments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import NegativeBinomialDist
        >>> d = NegativeBinomialDist()
        >>> round(float(jnp.exp(d.logpmf(0, {"mean": 1.0, "alpha": 1.0}))), 6)  # geometric(1/2)
        0.5
    """

    name = "negative_binomial"
    param_names = ("mean", "alpha")

    def spec(self):
        return {"mean": Positive(), "alpha": Positive()}

    def support(self, params):
        return 0.0, jnp.inf

    def _logpdf(self, k, params):
        mu, alpha = params["mean"], params["alpha"]
        # alpha = 0 exactly (a null on the boundary, fixed by a test): the Poisson, with the
        # expansion's first two terms in alpha for the one-sided derivatives there (score
        # tests); the general formula takes a safe alpha there (the double-where pattern)
        zero = alpha == 0
        alpha_s = jnp.where(zero, 1.0, alpha)
        r = 1.0 / alpha_s
        am = alpha_s * mu
        # log C(k+r-1, k) + k log(alpha mu) = [lgamma(k+r) - lgamma(r) - k log r] - lgamma(k+1)
        # + k log(mu): the bracket computed without the rounding of the lgamma difference
        # (~1e-16 r log r), so that the loglik tends to the Poisson's as alpha -> 0 and never
        # exceeds it
        logc = log_rising_over_power(k, r) - gammaln(k + 1.0)
        general = logc + xlogy(k, mu) - (r + k) * jnp.log1p(am)
        poisson = xlogy(k, mu) - mu - gammaln(k + 1.0)
        c1 = 0.5 * ((k - mu) ** 2 - k)
        c2 = -k * (k - 1.0) * (2.0 * k - 1.0) / 12.0 - mu**3 / 3.0 + 0.5 * k * mu**2
        return jnp.where(zero, poisson + alpha * c1 + alpha**2 * c2, general)

    def _pq(self, params):
        mu, alpha = params["mean"], params["alpha"]
        am = alpha * mu
        return 1.0 / alpha, 1.0 / (1.0 + am), am / (1.0 + am)

    def _cdf_sf(self, k, params):
        r, p, q = self._pq(params)
        return log_betainc(r, k + 1.0, p, q)

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        k1, k2 = jax.random.split(key)
        r = 1.0 / params["alpha"]
        lam = params["mean"] / r * jax.random.gamma(k1, r, shape, _dt(params))
        return jax.random.poisson(k2, lam, shape).astype(_dt(params))

    def init(self, data):
        x, valid = _count_points(data)
        mean, var = wstats(x, valid)
        mean = positive(mean, 1.0)
        alpha = (var - mean) / mean**2
        return {
            "mean": mean,
            "alpha": jnp.where(jnp.isfinite(alpha), jnp.maximum(alpha, 1e-2), 1.0),
        }


@dataclass(frozen=True, repr=False)
class GeometricDist(_Discrete):
    """Geometric(p): the number of failures before the first success, support ``0, 1, 2, ...``.

    ``P(X = k) = p (1 - p)^k``; this is ``scipy.stats.geom(p, loc=-1)`` (scipy's
    ``geom`` counts trials, starting at 1). Closed-form MLE:
    ``p = 1 / (1 + mean(x))``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import GeometricDist
        >>> round(float(jnp.exp(GeometricDist().logsf(1, {"p": 0.5}))), 6)  # P(X >= 2)
        0.25
    """

    name = "geometric"
    param_names = ("p",)

    def spec(self):
        return {"p": UnitInterval()}

    def support(self, params):
        return 0.0, jnp.inf

    def _logpdf(self, k, params):
        p = params["p"]
        return jnp.log(p) + k * jnp.log1p(-p)

    def _logsf(self, k, params):
        return (k + 1.0) * jnp.log1p(-params["p"])

    def _logcdf(self, k, params):
        return log1mexp(self._logsf(k, params))

    def sample(self, key, params, shape=()):
        """Draw ``shape`` values with a ``jax.random`` key (``params`` broadcast to ``shape``)."""
        e = jax.random.exponential(key, shape, _dt(params))
        return jnp.floor(e / -jnp.log1p(-params["p"]))

    def init(self, data):
        x, valid = _count_points(data)
        mean, _ = wstats(x, valid)
        return {"p": _interior(1.0 / (1.0 + mean), jnp.sum(valid))}
