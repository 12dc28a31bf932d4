"""The registry of family names: every lookup of a distribution family by name goes here.

Example:
    >>> from jaxmle.distributions.registry import resolve
    >>> resolve("gumbel_max").name
    'gumbel'
"""

from __future__ import annotations

from typing import Any

from .base import Distribution
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

__all__ = ["DISTRIBUTIONS", "ALIASES", "get_distribution", "resolve"]

#: family name -> distribution with default options
DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        BernoulliDist(),
        BinomialDist(),
        CategoricalDist(),
        MultinomialDist(),
        PoissonDist(),
        NegativeBinomialDist(),
        GeometricDist(),
        ExponentialDist(),
        NormalDist(),
        LogNormalDist(),
        GammaDist(),
        WeibullDist(),
        BetaDist(),
        StudentTDist(),
        LaplaceDist(),
        LogisticDist(),
        LogLogisticDist(),
        GumbelDist(),
        GumbelMinDist(),
        ParetoDist(),
        Weibull3Dist(),
        LogNormal3Dist(),
        WeibullMixtureDist(),
    )
}
"""Family name -> :class:`Distribution` with default options (the names ``fit_dist`` takes).

Example:
    >>> from jaxmle.distributions import DISTRIBUTIONS
    >>> len(DISTRIBUTIONS), DISTRIBUTIONS["weibull"].spec()
    (23, {'shape': Positive(), 'scale': Positive()})
"""


ALIASES: dict[str, str] = {"gumbel_max": "gumbel"}
"""Other names of families, taken by :func:`get_distribution` and ``fit_dist``: ``gumbel_max``
is ``gumbel`` (the largest extreme value; ``gumbel_min`` is the smallest).

Example:
    >>> from jaxmle.distributions import ALIASES, get_distribution
    >>> ALIASES["gumbel_max"], get_distribution("gumbel_max").name
    ('gumbel', 'gumbel')
"""


def get_distribution(name: str, **options: Any) -> Distribution:
    """The distribution called ``name`` with the given options.

    Raises ``ValueError`` (listing the known names) for an unknown name and
    ``TypeError`` for an unknown option.

    Example:
        >>> from jaxmle.distributions import get_distribution
        >>> get_distribution("binomial", trials=5)
        BinomialDist(trials=5)
    """
    return _lookup(name).with_options(**options)


def resolve(family: Any, options: dict | None = None) -> Distribution:
    """A family given by name or as a :class:`Distribution`, with ``options``.

    Raises ``ValueError`` (listing the known names) for an unknown name and ``TypeError``
    for something that is neither a name nor a distribution.

    Example:
        >>> from jaxmle.distributions import DISTRIBUTIONS
        >>> from jaxmle.distributions.registry import resolve
        >>> resolve(DISTRIBUTIONS["binomial"], {"trials": 3})
        BinomialDist(trials=3)
    """
    if isinstance(family, Distribution):
        dist = family
    elif isinstance(family, str):
        dist = _lookup(family)
    else:
        raise TypeError(
            f"family must be a family name (e.g. 'weibull') or a Distribution, got {family!r}"
        )
    return dist.with_options(**(options or {}))


def _lookup(name: Any) -> Distribution:
    key = name.strip().lower() if isinstance(name, str) else name
    key = ALIASES.get(key, key)
    if key not in DISTRIBUTIONS:
        raise ValueError(
            f"unknown family {name!r}; the known families are: {', '.join(DISTRIBUTIONS)}"
        )
    return DISTRIBUTIONS[key]
