"""Probability distributions: log densities, CDFs and survival functions, and their fits.

Each family is a small frozen dataclass (:class:`Distribution`) with pure
``jax.numpy`` methods ``logpdf`` (log mass for the discrete ones),
``logcdf``, ``logsf``, ``spec()`` (the parameters' constraints) and
``init(data)`` (a traceable starting rule), and a flag ``continuous``.
:data:`DISTRIBUTIONS` maps each family's name to an instance with default
options; :func:`get_distribution` adds options.

==================  =======================  =========================================
name                parameters               scipy.stats equivalent
==================  =======================  =========================================
bernoulli           p                        ``bernoulli(p)``
binomial            p; option ``trials``     ``binom(trials, p)``
categorical         p (simplex); ``k``       (codes ``0..k-1``)
multinomial         p (simplex); ``k``       ``multinomial(row sum, p)``
poisson             rate                     ``poisson(rate)``
negative_binomial   mean, alpha              ``nbinom(1/alpha, 1/(1+alpha*mean))``
geometric           p                        ``geom(p, loc=-1)`` (failures)
exponential         rate                     ``expon(scale=1/rate)``
normal              loc, scale               ``norm(loc, scale)``
lognormal           mu, sigma                ``lognorm(sigma, scale=exp(mu))``
gamma               shape, scale             ``gamma(shape, scale=scale)``
weibull             shape, scale             ``weibull_min(shape, scale=scale)``
beta                a, b                     ``beta(a, b)``
student_t           loc, scale, df           ``t(df, loc, scale)``
laplace             loc, scale               ``laplace(loc, scale)``
logistic            loc, scale               ``logistic(loc, scale)``
loglogistic         shape, scale             ``fisk(shape, scale=scale)``
gumbel              loc, scale               ``gumbel_r(loc, scale)`` (maximum; alias
                                             ``gumbel_max``)
gumbel_min          loc, scale               ``gumbel_l(loc, scale)`` (minimum)
pareto              shape; option ``scale``  ``pareto(shape, scale=scale)``
weibull_3p          shape, scale, threshold  ``weibull_min(shape, threshold, scale)``
lognormal_3p        mu, sigma, threshold     ``lognorm(sigma, threshold, exp(mu))``
weibull_mixture     p, shape1, scale1,       ``p weibull_min(shape1, scale=scale1) +``
                    shape2, scale2           ``(1 - p) weibull_min(shape2, scale=scale2)``
==================  =======================  =========================================

:func:`censored_loglik` gives per-observation contributions under right,
left and interval censoring and left truncation; :mod:`.families` wraps each
family as a :class:`jaxmle.Model`, and :func:`fit_dist` fits one by name.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmle.distributions import get_distribution
    >>> weib = get_distribution("weibull")
    >>> round(float(weib.logsf(2.0, {"shape": 2.0, "scale": 1.0})), 6)
    -4.0
"""

from __future__ import annotations

from . import families, gof
from .base import Distribution
from .censoring import censored_loglik
from .continuous import (
    BetaDist,
    ExponentialDist,
    GammaDist,
    GumbelDist,
    GumbelMinDist,
    LaplaceDist,
    LogisticDist,
    LogLogisticDist,
    LogNormal3Dist,
    LogNormalDist,
    NormalDist,
    ParetoDist,
    StudentTDist,
    Weibull3Dist,
    WeibullDist,
    WeibullMixtureDist,
)
from .discrete import (
    BernoulliDist,
    BinomialDist,
    CategoricalDist,
    GeometricDist,
    MultinomialDist,
    NegativeBinomialDist,
    PoissonDist,
)
from .gof import DEFAULT_FAMILIES, format_table, gof_statistics
from .registry import ALIASES, DISTRIBUTIONS, get_distribution

__all__ = [
    "gof_statistics",
    "compare_families",
    "format_table",
    "DEFAULT_FAMILIES",
    "Distribution",
    "DISTRIBUTIONS",
    "ALIASES",
    "get_distribution",
    "censored_loglik",
    "fit_dist",
    "families",
    "BernoulliDist",
    "BinomialDist",
    "CategoricalDist",
    "MultinomialDist",
    "PoissonDist",
    "NegativeBinomialDist",
    "GeometricDist",
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

# Fitting a family by name sits above the fit (jaxmle/fitdist.py), and this package below it:
# a package __init__ may re-export from any layer, and these two are re-exported here (and
# at their earlier homes, the modules below, for code that imports them from there).
from ..fitdist import compare_families, fit_dist  # noqa: E402

families.fit_dist = fit_dist
gof.compare_families = compare_families
