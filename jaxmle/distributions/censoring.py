"""Per-observation log-likelihood under censoring and truncation, for any continuous family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._special import logsubexp
from .base import Distribution, as_data_dict, as_float

__all__ = ["censored_loglik", "DATA_KEYS"]

#: the keys a continuous family's dataset may have
DATA_KEYS = ("x", "event", "lower", "upper", "entry")

_LOG_HALF = math.log(0.5)


def censored_loglik(family: Distribution, params: Mapping[str, Any], data: Any) -> jax.Array:
    """Log-likelihood contribution of each observation, with censoring and truncation.

    ``data`` is a dict (a bare array is ``{"x": array}``) of per-observation
    arrays, in one of two layouts:

    * ``"x"`` and optional ``"event"``: ``event == 1`` (or ``True``, the
      default) is an exact observation, contributing ``logpdf(x)``;
      ``event == 0`` is right-censored at ``x``, contributing ``logsf(x)``.
    * ``"lower"`` and ``"upper"`` (interval censoring, the lifelines
      convention): ``lower == upper`` is exact; ``upper == +inf`` (or at the
      top of the support) is right-censored at ``lower``; ``lower`` at or
      below the bottom of the support (``-inf`` on the whole line, ``0`` for
      a positive family, ``0`` for the beta, ``scale`` for the Pareto) is
      left-censored, contributing ``logcdf(upper)``; otherwise the
      contribution is ``log(F(upper) - F(lower))``, computed as the log-
      difference of the two ``logcdf`` values, or of the two ``logsf`` values
      when ``F(lower) > 1/2`` (in the upper tail, where ``F`` rounds to 1).

    An optional ``"entry"`` is left truncation (delayed entry): the
    observation is conditioned on ``X > entry``, subtracting
    ``logsf(entry)``; an ``entry`` at or below the bottom of the support has
    no effect.

    Every branch is evaluated with harmless substitutes where it is not
    selected, so gradients stay finite. Infinite bounds are legitimate here,
    and :func:`jaxmle.fit` takes them as valid data for the families' models
    (``jm.families.*``); a model of your own built on this function needs
    ``nan_policy="propagate"`` for them.

    Args:
        family: a continuous :class:`~jaxmle.distributions.Distribution`.
        params: dict of parameters.
        data: the dataset, as above.

    Returns:
        An array of per-observation log-likelihood contributions.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import DISTRIBUTIONS, censored_loglik
        >>> expo = DISTRIBUTIONS["exponential"]
        >>> data = {"x": jnp.array([1.0, 2.0]), "event": jnp.array([1, 0])}
        >>> censored_loglik(expo, {"rate": 0.5}, data).round(6).tolist()  # log(.5) - .5, -1
        [-1.193147, -1.0]
    """
    if not family.continuous:
        raise ValueError(
            f"censored_loglik: {family.name} is discrete; censoring is supported for the "
            "continuous families"
        )
    data = as_data_dict(data)
    unknown = sorted(set(data) - set(DATA_KEYS))
    if unknown:
        raise ValueError(f"{family.name}: unknown data key(s) {unknown}; expected {DATA_KEYS}")
    lo, hi = family.support(params)
    safe = family.safe_point(params)
    entry = as_float(data["entry"]) if "entry" in data else None

    # Every needed logcdf / logsf comes from one call on the stacked points (one evaluation of
    # the family's special functions, which keeps the compiled Hessian small).
    if "lower" in data or "upper" in data:
        if "x" in data or "event" in data:
            raise ValueError(
                f"{family.name}: give either 'x' (with optional 'event') or 'lower'/'upper', "
                "not both"
            )
        if "lower" not in data or "upper" not in data:
            raise ValueError(f"{family.name}: interval censoring needs both 'lower' and 'upper'")
        lower, upper = as_float(data["lower"]), as_float(data["upper"])
        lower, upper = jnp.broadcast_arrays(lower, upper)
        exact = lower == upper
        left = (lower <= lo) & ~exact
        right = (upper >= hi) & ~exact
        both = left & right  # no information: log 1
        inner = ~(exact | left | right)
        left_only, right_only = left & ~right, right & ~left
        # the lower point serves right-censored and inner observations, the upper point
        # left-censored and inner ones; elsewhere a safe point
        l_s = jnp.where(right_only | inner, lower, safe)
        u_s = jnp.where(left_only | inner, upper, safe)
        points = [l_s, u_s] + ([] if entry is None else [_entry_point(entry, lo, safe, l_s)])
        lc, ls = family.logcdf_logsf(jnp.stack(jnp.broadcast_arrays(*points)), params)
        cdf_l, cdf_u, sf_l, sf_u = lc[0], lc[1], ls[0], ls[1]
        # inner: log(F(u) - F(l)) from the cdfs, or from the sfs when F(l) > 1/2
        use_sf = cdf_l > _LOG_HALF
        top = jnp.where(inner, jnp.where(use_sf, sf_l, cdf_u), 0.0)
        bottom = jnp.where(inner, jnp.where(use_sf, sf_u, cdf_l), -1.0)
        ll_inner = logsubexp(top, bottom)
        ll_exact = family.logpdf(jnp.where(exact, lower, safe), params)
        ll = jnp.where(
            exact,
            ll_exact,
            jnp.where(both, 0.0, jnp.where(left, cdf_u, jnp.where(right, sf_l, ll_inner))),
        )
    else:
        if "x" not in data:
            raise ValueError(f"{family.name}: the data needs 'x' (or 'lower' and 'upper')")
        x = as_float(data["x"])
        if "event" not in data and entry is None:
            return family.logpdf(x, params)
        event = jnp.asarray(data.get("event", True)) != 0
        x, event = jnp.broadcast_arrays(x, event)
        # The density and the survival function are evaluated at the same points, so
        # that what they share (log x, the standardized value, its exp) is computed
        # once. A censored point on an edge of the support (or outside it) is
        # substituted: its survival is known (1 at the bottom, 0 at the top).
        inside = family._inside(x, params)
        use = inside & (event | ((x > lo) & (x < hi)))
        if family.log_x:  # log x of the data taken once, without the parameters
            lxs = family._log_points(x, use, params)
            lp = jnp.where(inside, family._logpdf_lx(lxs, params), -jnp.inf)
            ls_x = family._logsf_lx(lxs, params)
        else:
            xs = jnp.where(use, x, safe)
            lp = jnp.where(inside, family._logpdf(xs, params), -jnp.inf)
            ls_x = family._cdf_sf(xs, params)[1]
        ls_x = jnp.where(x <= lo, 0.0, jnp.where(x >= hi, -jnp.inf, ls_x))
        ls_x = jnp.where(jnp.isnan(x), jnp.nan, ls_x)  # missing stays missing
        ll = jnp.where(event, lp, ls_x)
        if entry is not None:
            _, ls_e = family.logcdf_logsf(_entry_point(entry, lo, safe, x), params)
            ls = [ls_e]

    if entry is not None:
        truncated = jnp.broadcast_to(entry > lo, ll.shape)
        ll = ll - jnp.where(truncated, ls[-1], 0.0)
    return ll


def _entry_point(entry, lo, safe, like):
    entry = jnp.broadcast_to(entry, jnp.shape(like))
    return jnp.where(entry > lo, entry, safe)
