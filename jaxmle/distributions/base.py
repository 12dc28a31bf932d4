"""The :class:`Distribution` base class and helpers shared by the families.

A distribution is a small frozen dataclass: its fields are the family's fixed
*options* (``trials`` of the binomial, ``k`` of the categorical, ...), and its
methods are pure ``jax.numpy`` functions of the data and a dict of parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..constraints import Constraint

__all__ = ["Distribution"]


@dataclass(frozen=True)
class Distribution:
    """Base class of a parametric family of distributions.

    Subclasses set the class attributes ``name`` (the registry key),
    ``continuous`` and ``param_names``, and implement ``spec``, ``init``,
    ``support``, ``_logpdf``, and ``_logcdf`` and ``_logsf`` (or ``_cdf_sf``,
    both from one evaluation), each called only with ``x`` strictly inside
    the support. The public :meth:`logpdf`, :meth:`logcdf`
    and :meth:`logsf` handle points outside the support (``-inf``, ``0``) with
    safe substitutes, so that gradients stay finite everywhere.

    Parameters are passed as a dict, ``{"loc": 0.0, "scale": 1.0}``; values
    broadcast against ``x``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import DISTRIBUTIONS
        >>> normal = DISTRIBUTIONS["normal"]
        >>> normal.name, normal.continuous, normal.param_names
        ('normal', True, ('loc', 'scale'))
        >>> round(float(normal.logcdf(0.0, {"loc": 0.0, "scale": 2.0})), 6)
        -0.693147
    """

    name: ClassVar[str] = ""
    continuous: ClassVar[bool] = True
    param_names: ClassVar[tuple[str, ...]] = ()
    #: the family's functions depend on ``x`` only through ``log x``, and it implements
    #: ``_logpdf_lx`` and ``_logsf_lx`` of ``log x``: the log-likelihoods then take the log of
    #: the data without the parameters (a fit computes it once, outside its iterations)
    log_x: ClassVar[bool] = False

    # -- what subclasses provide ---------------------------------------------
    def spec(self) -> dict[str, Constraint]:
        """The parameters' constraints, in :attr:`param_names` order."""
        raise NotImplementedError

    def init(self, data: Any) -> dict[str, jax.Array]:
        """Starting values from a dataset (traceable; NaN and out-of-support values ignored)."""
        raise NotImplementedError

    def support(self, params: Mapping[str, Any]) -> tuple[Any, Any]:
        """The ends ``(low, high)`` of the support (for a discrete family, of the integers)."""
        raise NotImplementedError

    def _safe(self, params):
        """A point strictly inside the support (used where a branch is not selected)."""
        raise NotImplementedError

    def safe_point(self, params):
        """:meth:`_safe` without gradient: it only feeds branches that are not selected."""
        return jax.lax.stop_gradient(self._safe(params))

    def _logpdf(self, x, params):
        raise NotImplementedError

    def _logcdf(self, x, params):
        raise NotImplementedError

    def _logsf(self, x, params):
        raise NotImplementedError

    def sample(self, key: jax.Array, params: Mapping[str, Any], shape: tuple = ()) -> jax.Array:
        """Draw values of ``shape`` with the ``jax.random`` key ``key``.

        Example:
            >>> import jax
            >>> from jaxmle.distributions import DISTRIBUTIONS
            >>> DISTRIBUTIONS["weibull"].sample(jax.random.key(0), {"shape": 2.0, "scale": 1.0},
            ...                                 (3,)).shape
            (3,)
        """
        raise NotImplementedError(f"{self.name}: no sampler")

    # -- options --------------------------------------------------------------
    @property
    def options(self) -> dict[str, Any]:
        """The family's fixed options (dataclass fields), e.g. ``{"trials": 10}``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def with_options(self, **options: Any) -> Distribution:
        """A copy with some options changed; an unknown option is a ``TypeError``.

        Example:
            >>> from jaxmle.distributions import DISTRIBUTIONS
            >>> DISTRIBUTIONS["binomial"].with_options(trials=10).trials
            10
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            options_known = sorted(known) or "none"
            raise TypeError(
                f"{self.name}: unknown option(s) {unknown}; its options are {options_known}"
            )
        return dataclasses.replace(self, **options) if options else self

    # -- the public functions -------------------------------------------------
    def _inside(self, x, params):
        lo, hi = self.support(params)
        inside = (x >= lo) & (x <= hi) & jnp.isfinite(x)
        if not self.continuous:
            inside = inside & (x == jnp.floor(x))
        return inside

    def logpdf(self, x: Any, params: Mapping[str, Any]) -> jax.Array:
        """Log density (continuous) or log mass (discrete) at ``x``; ``-inf`` off the support."""
        x = as_float(x)
        inside = self._inside(x, params)
        if self.log_x:
            return jnp.where(
                inside, self._logpdf_lx(self._log_points(x, inside, params), params), -jnp.inf
            )
        return self._on_support(x, inside, params, lambda xs: self._logpdf(xs, params))

    def _on_support(self, x, inside, params, fn):
        """``fn(xs)`` where ``inside``, ``-inf`` elsewhere; ``xs`` is ``x`` with the points
        outside replaced by the safe point (so that ``fn`` and its derivatives stay finite)."""
        xs = jnp.where(inside, x, self.safe_point(params))
        return jnp.where(inside, fn(xs), -jnp.inf)

    def _log_points(self, x, use, params):
        """``log x`` where ``use``, else the log of the safe point (for a :attr:`log_x`
        family). The log of the data is taken without the parameters: under a solver's loop
        XLA computes it once."""
        lx = jnp.log(jnp.where(use, x, 1.0))
        return jnp.where(use, lx, jnp.log(self.safe_point(params)))

    def logcdf(self, x: Any, params: Mapping[str, Any]) -> jax.Array:
        """``log P(X <= x)``, accurate in both tails (discrete: at ``floor(x)``)."""
        return self.logcdf_logsf(x, params)[0]

    def logsf(self, x: Any, params: Mapping[str, Any]) -> jax.Array:
        """``log P(X > x)``, accurate in both tails (discrete: at ``floor(x)``)."""
        return self.logcdf_logsf(x, params)[1]

    def logcdf_logsf(self, x: Any, params: Mapping[str, Any]) -> tuple[jax.Array, jax.Array]:
        """``(logcdf(x), logsf(x))`` from one evaluation of the special functions.

        Example:
            >>> import jax.numpy as jnp
            >>> from jaxmle.distributions import DISTRIBUTIONS
            >>> lc, ls = DISTRIBUTIONS["exponential"].logcdf_logsf(jnp.log(2.0), {"rate": 1.0})
            >>> round(float(lc), 6), round(float(ls), 6)
            (-0.693147, -0.693147)
        """
        x = as_float(x)
        lo, hi = self.support(params)
        if not self.continuous:
            x = jnp.floor(x)
            below, above = x < lo, x >= hi
        else:
            below, above = x <= lo, x >= hi
        xs = jnp.where(below | above, self.safe_point(params), x)
        lc, ls = self._cdf_sf(xs, params)
        lc = jnp.where(below, -jnp.inf, jnp.where(above, 0.0, lc))
        ls = jnp.where(below, 0.0, jnp.where(above, -jnp.inf, ls))
        return lc, ls

    def _cdf_sf(self, x, params):
        return self._logcdf(x, params), self._logsf(x, params)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


# -- helpers for the families ---------------------------------------------------
def as_float(x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def as_data_dict(data: Any) -> Mapping[str, Any]:
    """A dataset as a dict: a bare array is ``{"x": array}``."""
    if isinstance(data, Mapping):
        return data
    return {"x": data}


def init_points(data: Any, low: float = -jnp.inf, high: float = jnp.inf):
    """One representative value per observation for starting rules, and its validity.

    Exact observations (and right-censored ones, ``event`` is ignored) give
    ``x``; interval-censored ones the midpoint of a finite interval, else
    its finite end. Values outside the open interval ``(low, high)`` and
    non-finite ones are not valid.
    """
    data = as_data_dict(data)
    if "x" in data:
        v = as_float(data["x"])
    else:
        lower, upper = as_float(data["lower"]), as_float(data["upper"])
        lf = jnp.isfinite(lower) & (lower > low)
        uf = jnp.isfinite(upper) & (upper < high)
        v = jnp.where(lf & uf, 0.5 * (lower + upper), jnp.where(lf, lower, upper))
    valid = jnp.isfinite(v) & (v > low) & (v < high)
    return v, valid


def wstats(v, valid):
    """Mean and (ddof=0) variance of the valid values."""
    w = valid.astype(v.dtype)
    n = jnp.maximum(jnp.sum(w), 1.0)
    vs = jnp.where(valid, v, 0.0)
    mean = jnp.sum(w * vs) / n
    var = jnp.sum(w * (vs - mean) ** 2) / n
    return mean, var


def wmedian(v, valid):
    """Median of the valid values (traceable)."""
    return jnp.nanmedian(jnp.where(valid, v, jnp.nan))


def positive(v, default=1.0):
    """``v`` where finite and positive, else ``default``."""
    return jnp.where(jnp.isfinite(v) & (v > 0), v, default)


def finite(v, default=0.0):
    """``v`` where finite, else ``default``."""
    return jnp.where(jnp.isfinite(v), v, default)
