"""Distribution families as models, and :func:`fit_dist`, one call from data to a fit.

Each factory (``Normal()``, ``Weibull()``, ``Binomial(trials=10)``, ...)
returns a :class:`jaxmle.Model` whose parameters are the family's (see
:mod:`jaxmle.distributions`) and whose data is a dict:

* continuous families: ``{"x": ...}`` with an optional ``"event"`` (1
  observed, 0 right-censored), or ``{"lower": ..., "upper": ...}`` (interval
  censoring), and an optional ``"entry"`` (left truncation); see
  :func:`~jaxmle.distributions.censored_loglik`;
* discrete families: ``{"x": ...}`` (for the multinomial, ``x`` is ``(n, k)``
  counts).

A bare array is taken as ``{"x": array}``. The model's starting rule is the
family's closed-form MLE where there is one, else the method of moments.
Factories are cached: the same family and options give the same ``Model``
object, so repeated fits reuse one compilation.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmle.distributions import fit_dist
    >>> res = fit_dist("exponential", jnp.array([1.0, 2.0, 3.0, 6.0]),
    ...                event=jnp.array([1, 1, 0, 0]))
    >>> round(float(res.params["rate"]), 6)  # 2 events / 12 time units
    0.166667
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model, NoExpectedInformation
from . import continuous as _c
from . import discrete as _d
from .base import Distribution, as_data_dict
from .censoring import censored_loglik
from .fisher import fisher_info, has_fisher

__all__ = [
    "Bernoulli",
    "Binomial",
    "Categorical",
    "Multinomial",
    "Poisson",
    "NegativeBinomial",
    "Geometric",
    "Exponential",
    "Normal",
    "LogNormal",
    "Gamma",
    "Weibull",
    "Beta",
    "StudentT",
    "Laplace",
    "Logistic",
    "LogLogistic",
    "Gumbel",
    "GumbelMin",
    "Pareto",
    "Weibull3P",
    "LogNormal3P",
    "WeibullMixture",
    "threshold_limit",
    "model_for",
]


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------
def _discrete_data(dist, data):
    data = as_data_dict(data)
    extra = sorted(set(data) - {"x"})
    if extra:
        raise ValueError(
            f"{dist.name} is discrete: its data is {{'x': ...}} only (no censoring), got "
            f"extra key(s) {extra}"
        )
    return data["x"]


# The model's functions are module-level functions of the distribution (bound with
# functools.partial), not closures: a model, and every result that holds one, pickles.
def _continuous_loglik(dist, params, data):
    return censored_loglik(dist, params, data)


def _discrete_loglik(dist, params, data):
    return dist.logpdf(_discrete_data(dist, data), params)


def _pareto_scale(dist, data):
    return dist.scale if dist.scale is not None else _c.default_pareto_scale(data)


def _pareto_loglik(dist, params, data):
    return censored_loglik(dist, {**params, "scale": _pareto_scale(dist, data)}, data)


def _pareto_init(dist, data):
    return dist.init(data, scale=_pareto_scale(dist, data))


def _simplex_free_loglik(dist, simplex, u, data):
    """The categorical's and multinomial's loglik in the free coordinates: ``p = softmax(
    logits(u))``, without the log of ``p``."""
    return dist.logpdf_logits(_discrete_data(dist, data), simplex.logits(u))


@functools.cache
def model_for(dist: Distribution) -> Model:
    """The :class:`~jaxmle.Model` of a distribution (with its options); cached.

    Example:
        >>> from jaxmle.distributions import DISTRIBUTIONS
        >>> from jaxmle.distributions.families import model_for
        >>> model_for(DISTRIBUTIONS["gamma"]).param_names
        ('shape', 'scale')
    """
    spec = dist.spec()
    name = type(dist).__name__.removesuffix("Dist")
    if isinstance(dist, _c.ParetoDist):
        loglik = functools.partial(_pareto_loglik, dist)
        init = functools.partial(_pareto_init, dist)
    elif dist.continuous:
        loglik, init = functools.partial(_continuous_loglik, dist), dist.init
    else:
        loglik, init = functools.partial(_discrete_loglik, dist), dist.init
    loglik.__name__ = name
    if has_fisher(dist):
        expected_info = functools.partial(_expected_info, dist)
    elif isinstance(dist, _d.NegativeBinomialDist):
        expected_info = functools.partial(_nb_expected_info, dist)
    else:
        expected_info = None
    return Model(
        loglik,
        spec,
        init=init,
        name=name,
        simulate=functools.partial(_simulate, dist),
        family=dist,
        # (the only parameter, p: u is its free block)
        free_loglik=(
            functools.partial(_simplex_free_loglik, dist, spec["p"])
            if isinstance(dist, (_d.CategoricalDist, _d.MultinomialDist))
            else None
        ),
        # jm.fit takes lower=-inf / upper=inf (censoring bounds) in the data as valid values
        infinite_bounds_ok=dist.continuous,
        data_check=functools.partial(_outside_support, dist),
        standardize=(
            functools.partial(_standardize, dist) if _standard_form(dist) is not None else None
        ),
        min_nobs=1 if isinstance(dist, _d.MultinomialDist) else None,  # one row: many trials
        data_edge=(
            functools.partial(_threshold_edge, dist) if isinstance(dist, _c._Threshold) else None
        ),
        expected_info=expected_info,
        factory=(model_for, (dist,)),  # (unpickled: the cached model itself)
    )


def threshold_limit(data, mask=None) -> jax.Array:
    """The supremum of a threshold (three-parameter families) for one dataset: the smallest
    exact observation, or the smallest finite upper end of an interval-censored one
    (right-censored observations do not bound it); ``inf`` when there is none.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.distributions.families import threshold_limit
        >>> float(threshold_limit({"x": jnp.array([5.0, 3.0, 9.0]), "event": jnp.array([1, 0, 1])}))
        5.0
    """
    data = as_data_dict(data)
    if "lower" in data:
        top = jnp.asarray(data["upper"], float)
        use = jnp.isfinite(top)
    else:
        top = jnp.asarray(data["x"], float)
        use = jnp.isfinite(top)
        if "event" in data:
            use = use & (jnp.asarray(data["event"]) != 0)
    if mask is not None:
        use = use & jnp.asarray(mask, bool)
    return jnp.min(jnp.where(use, top, jnp.inf))


def _threshold_edge(dist, params, data, mask):
    """The threshold's free coordinate is at its limit when it is within ``sqrt(eps)`` (of the
    size of the data and of the scale) below :func:`threshold_limit`."""
    m = threshold_limit(data, mask)
    t = params["threshold"]
    dtype = jnp.result_type(t)
    size = jnp.abs(jnp.where(jnp.isfinite(m), m, 0.0)) + dist.base._safe(params)
    near = (m - t) <= jnp.sqrt(jnp.finfo(dtype).eps) * size
    spec = dist.spec()
    out = jnp.zeros(sum(c.free_size for c in spec.values()), bool)
    start = 0
    for key, c in spec.items():
        if key == "threshold":
            out = out.at[start : start + c.free_size].set(near)
        start += c.free_size
    return out


def _nb_expected_info(dist: Distribution, params, data, weights):
    """The negative binomial's: the mean's expected information ``1 / (mean (1 + alpha mean))``
    per observation, orthogonal to alpha's, whose block is the observed information (its
    expectation is a series; ``mean^2 / 2`` per observation at ``alpha = 0``), as the NB2
    regression's."""
    x = _discrete_data(dist, data)
    mu, alpha = params["mean"], params["alpha"]

    def total(a):
        return jnp.sum(weights * dist.logpdf(x, {"mean": mu, "alpha": a}))

    n = jnp.sum(weights)
    i_aa = jnp.where(alpha == 0, 0.5 * n * mu**2, -jax.grad(jax.grad(total))(alpha))
    i_mm = n / (mu * (1.0 + alpha * mu))
    zero = jnp.zeros_like(i_mm)
    return jnp.stack([jnp.stack([i_mm, zero]), jnp.stack([zero, i_aa])])


def _expected_info(dist: Distribution, params, data, weights):
    """The family's expected information of ``sum(weights)`` uncensored observations."""
    if isinstance(data, Mapping) and set(data) - {"x"}:
        raise NoExpectedInformation(
            f"information='expected': the expected information of censored or truncated data "
            f"(here {sorted(set(data) - {'x'})}) depends on the censoring, which the model does "
            "not describe; use information='observed'"
        )
    return jnp.sum(weights) * fisher_info(dist, params)


def _standard_form(dist: Distribution):
    """How a family's parameters move when its data are moved to ``(x - c) / s``: ``None``
    for a family that is not closed under it, else ``(location_scale, {name: kind})`` with
    kind ``"loc"`` (``c + s v'``), ``"scale"`` (``s v'``), ``"rate"`` (``v' / s``), ``"log"``
    (``v' + log s``, the log-normal's mu) or ``None`` (unchanged)."""
    if isinstance(
        dist, (_c.NormalDist, _c.LogisticDist, _c.GumbelDist, _c.GumbelMinDist, _c.LaplaceDist)
    ):
        return True, {"loc": "loc", "scale": "scale"}
    if isinstance(dist, _c.StudentTDist):
        return True, {"loc": "loc", "scale": "scale", "df": None}
    if isinstance(dist, _c.ExponentialDist):
        return False, {"rate": "rate"}
    if isinstance(dist, (_c.GammaDist, _c.WeibullDist, _c.LogLogisticDist)):
        return False, {"shape": None, "scale": "scale"}
    if isinstance(dist, _c.LogNormalDist):
        return False, {"mu": "log", "sigma": None}
    return None


def _pow2(v):
    """The power of two nearest ``v`` (> 0, finite), else 1: dividing by it is exact."""
    v = np.asarray(v, float)
    ok = np.isfinite(v) & (v > 0)
    return np.where(ok, np.exp2(np.round(np.log2(np.where(ok, v, 1.0)))), 1.0)


def _standardize(dist: Distribution, data, weights, mask, lead):
    """The data of a location-scale (or scale) family moved to ``(x - c) / s``, per dataset:
    ``c`` the median and ``s`` the power of two nearest the median absolute deviation (for a
    positive family ``c = 0`` and ``s`` near the geometric mean), so that data at ``1e300``
    or ``1e9 + 1e-3 z`` are fitted like ``N(0, 1)``. Returns ``(data, a, b, offset)``: the
    moved data, the map of the free coordinates back (``u = a + b u'``, dicts of arrays of
    shape ``lead``) and the change of the log-likelihood (``-log s`` per exact
    observation); ``None`` where nothing moves."""
    loc_scale, kinds = _standard_form(dist)
    data = {k: np.asarray(v) for k, v in as_data_dict(data).items()}
    interval = "lower" in data
    n = (data["lower"] if interval else data["x"]).shape[len(lead)]
    axes = tuple(range(len(lead), len(lead) + 2))  # (observations, and the bounds' pair)
    # (a dataset with no valid value, such as an invalid one whose observations are all
    # masked, gets c = 0 and s = 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # Data that the solver fits as they are (within 2^+-20 of unit scale, an offset of
        # at most 2^20 spreads) are left alone: two cheap passes decide, on all the values
        # first (the common case), on the valid ones where that cannot
        raw = [data["lower"], data["upper"]] if interval else [data["x"]]
        lo = np.minimum.reduce([np.nanmin(v, axis=axes[:-1]) for v in raw])
        hi = np.maximum.reduce([np.nanmax(v, axis=axes[:-1]) for v in raw])
        fine = (lo > -(2.0**20)) & (hi < 2.0**20) & (hi - lo > 2.0**-20)
        if loc_scale:
            fine &= np.maximum(np.abs(lo), np.abs(hi)) <= 2.0**20 * (hi - lo)
        else:  # (the largest value sets the scale; small ones are no sign of an extreme one)
            fine = (hi < 2.0**20) & (hi > 2.0**-20)
        if np.all(fine):
            return None
        pos = (
            np.stack([data["lower"], data["upper"]], axis=-1).astype(float)
            if interval
            else data["x"].astype(float)[..., None]
        )
        keep = np.ones(lead + (n,), bool) if mask is None else np.asarray(mask, bool)
        valid = np.isfinite(pos) & keep[..., None]
        if not loc_scale:
            valid &= pos > 0
        masked = np.where(valid, pos, np.nan)
        lo = np.nanmin(masked, axis=axes)
        hi = np.nanmax(masked, axis=axes)
        big = np.maximum(np.abs(lo), np.abs(hi))
        if loc_scale:
            width = hi - lo
            need = (width > 0) & ((big > 2.0**20 * width) | (width > 2.0**20) | (width < 2.0**-20))
        else:
            need = (hi > 2.0**20) | (hi < 2.0**-20)
        need &= np.isfinite(lo) & np.isfinite(hi)
        if not np.any(need):
            return None
        if loc_scale:
            c = np.nanmedian(np.where(valid, pos, np.nan), axis=axes)
            c = np.where(np.isfinite(c), c, 0.0)
            cc = np.reshape(c, lead + (1, 1))
            spread = np.nanmedian(np.where(valid, np.abs(pos - cc), np.nan), axis=axes)
        else:
            c = np.zeros(lead)
            spread = np.exp(np.nanmean(np.where(valid, np.log(np.abs(pos)), np.nan), axis=axes))
    s = _pow2(spread)
    # (a subnormal center or scale would be flushed to zero by XLA's arithmetic: those
    # datasets stay as they are)
    tiny = np.finfo(np.float64).tiny
    sub = ((c != 0) & (np.abs(c) < tiny)) | (s < tiny) | ~np.isfinite(c) | ~np.isfinite(s)
    c, s = np.where(sub | ~need, 0.0, c), np.where(sub | ~need, 1.0, s)
    if np.all(c == 0) and np.all(s == 1):
        return None
    cb, sb = np.reshape(c, lead + (1,)), np.reshape(s, lead + (1,))
    out = dict(data)
    for key in ("x", "lower", "upper", "entry"):
        if key in out:
            v = np.asarray(out[key], float)
            if key == "entry" and v.ndim < len(lead) + 1:
                v = np.broadcast_to(v, lead + (n,))
            out[key] = (v - cb) / sb  # (infinite bounds stay infinite)
    logs = np.log(s)
    a, b = {}, {}
    for name, kind in kinds.items():
        a[name] = {"loc": c, "scale": logs, "rate": -logs, "log": logs}.get(kind, np.zeros(lead))
        b[name] = s if kind == "loc" else np.ones(lead)
    if interval:
        exact = data["lower"] == data["upper"]
    elif "event" in data:
        exact = np.asarray(data["event"]) != 0
    else:
        exact = np.ones(lead + (n,), bool)
    w = keep if weights is None else np.where(keep, np.asarray(weights, float), 0.0)
    offset = -logs * np.sum(np.where(exact, w, 0.0), axis=-1)
    return out, a, b, offset


def _data_range(dist: Distribution) -> tuple[float, float, bool]:
    """``(low, high, open_low)`` of a continuous family's exact observations: the support, and
    whether ``low`` itself is excluded (where the density is 0 or infinite there)."""
    if isinstance(dist, _c.BetaDist):
        return 0.0, 1.0, True
    if isinstance(dist, _c.ParetoDist):
        return (0.0 if dist.scale is None else float(dist.scale)), np.inf, dist.scale is None
    if isinstance(dist, _c.ExponentialDist):
        return 0.0, np.inf, False
    if isinstance(dist, _c.PositiveSupport):
        return 0.0, np.inf, True
    return -np.inf, np.inf, False


def _inside_open(x, lo, hi) -> bool:
    """Every non-NaN value strictly inside ``(lo, hi)`` (two reductions, no temporaries)."""
    if x.size == 0:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (all-NaN)
        x_lo, x_hi = np.nanmin(x), np.nanmax(x)
    return bool(np.isnan(x_lo) or (x_lo > lo and x_hi < hi))


def _outside_support(dist: Distribution, data) -> tuple[np.ndarray, str] | None:
    """The observations of ``data`` (numpy, any leading batch axes) that ``dist`` cannot have
    produced, and why; None when all can. NaN values are left to ``nan_policy``."""
    data = as_data_dict(data)
    if not dist.continuous:
        x = np.asarray(data["x"])
        lo, hi = (float(v) for v in dist.support({}))
        if isinstance(dist, _d.MultinomialDist):
            hi = np.inf
        whole = x.dtype.kind in "biu" or bool(np.all(np.floor(x) == x))
        if whole and x.size and np.min(x) >= lo and np.max(x) <= hi:  # (the common case)
            return None
        x = x.astype(float)
        if isinstance(dist, _d.MultinomialDist):
            bad = np.any((x < 0) | (x != np.floor(x)), axis=-1)
            return bad, "data outside the support (counts must be non-negative integers)"
        bad = (x < lo) | (x > hi) | (np.isfinite(x) & (x != np.floor(x)))
        top = "" if np.isinf(hi) else f" to {hi:g}"
        return bad, f"data outside the support (whole numbers from {lo:g}{top})"
    lo, hi, open_low = _data_range(dist)

    def outside_exact(v):
        return (v < lo) | (v > hi) | ((v == lo) & open_low) | ((v == hi) & (hi < np.inf))

    where = f"({lo:g}, {hi:g})" if open_low else f"[{lo:g}, {hi:g})"
    if "lower" in data:
        lower, upper = (np.asarray(data[k], float) for k in ("lower", "upper"))
        exact = lower == upper
        bad = np.where(exact, outside_exact(lower), (upper < lo) | (lower > hi) | (lower > upper))
        return bad, (
            f"intervals with lower > upper, or outside the support {where} (exact values "
            "outside it, or intervals that miss it)"
        )
    x = np.asarray(data["x"])
    if "event" in data:
        event = np.asarray(data["event"])
        # (the common case in two passes: every event 0 or 1, every value inside the open
        # support, which holds for censored values too)
        if event.dtype.kind in "biu":
            zero_one = np.nanmin(event, initial=0) >= 0 and np.nanmax(event, initial=1) <= 1
        else:  # (NaN is not 0 or 1: the element-wise check below names it)
            zero_one = not np.any(event * (1.0 - event))
        if zero_one and _inside_open(x, lo, hi):
            return None
        event = event.astype(float)
        bad_event = (event != 0) & (event != 1) & ~np.isnan(event)
        exact = event != 0
    elif _inside_open(x, lo, hi):
        return None
    else:
        bad_event, exact = np.zeros(x.shape, bool), np.ones(x.shape, bool)
    if bad_event.any():
        return bad_event, "event must be 0 (censored) or 1 (observed)"
    x = x.astype(float)
    return np.where(exact, outside_exact(x), (x < lo) | (x > hi)), (
        f"data outside the support {where}"
    )


def _simulate(dist: Distribution, key, params, data):
    """A family's ``simulate(key, params, data)``: new uncensored observations like ``data``."""
    data = as_data_dict(data)
    if set(data) != {"x"}:
        raise ValueError(
            f"{dist.name}: simulating needs uncensored data {{'x': ...}}; got keys "
            f"{sorted(data)} (censoring or truncation need a model of the censoring: pass a "
            "Model with your own simulate=)"
        )
    x = jax.numpy.asarray(data["x"])
    if isinstance(dist, _d.MultinomialDist):
        new = dist.sample(key, params, x.shape[:-1], trials=x.sum(axis=-1))
    elif isinstance(dist, _c.ParetoDist) and dist.scale is None:
        new = dist.sample(key, {**params, "scale": _c.default_pareto_scale(data)}, x.shape)
    else:
        new = dist.sample(key, params, x.shape)
    return {"x": new.astype(jax.numpy.result_type(float, x.dtype))}


def Bernoulli() -> Model:
    """Bernoulli(p) model; data ``{"x": 0/1 outcomes}``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Bernoulli().param_names
        ('p',)
    """
    return model_for(_d.BernoulliDist())


def Binomial(trials: int) -> Model:
    """Binomial(p; trials) model; data ``{"x": successes}``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Binomial(trials=10).param_names
        ('p',)
    """
    return model_for(_d.BinomialDist(trials=trials))


def Categorical(k: int) -> Model:
    """Categorical(p) model over ``k`` categories coded ``0..k-1``; ``p`` is ``jm.Simplex(k)``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Categorical(k=3).param_names
        ('p[0]', 'p[1]', 'p[2]')
    """
    return model_for(_d.CategoricalDist(k=k))


def Multinomial(k: int) -> Model:
    """Multinomial(p) model; data ``{"x": (n, k) counts}``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Multinomial(k=2).free_size
        1
    """
    return model_for(_d.MultinomialDist(k=k))


def Poisson() -> Model:
    """Poisson(rate) model; data ``{"x": counts}``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Poisson().param_names
        ('rate',)
    """
    return model_for(_d.PoissonDist())


def NegativeBinomial() -> Model:
    """Negative binomial NB2(mean, alpha) model, ``Var = mean + alpha mean^2``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.NegativeBinomial().param_names
        ('mean', 'alpha')
    """
    return model_for(_d.NegativeBinomialDist())


def Geometric() -> Model:
    """Geometric(p) model: failures before the first success, ``0, 1, 2, ...``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Geometric().param_names
        ('p',)
    """
    return model_for(_d.GeometricDist())


def Exponential() -> Model:
    """Exponential(rate) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Exponential().param_names
        ('rate',)
    """
    return model_for(_c.ExponentialDist())


def Normal() -> Model:
    """Normal(loc, scale) model (censoring and truncation supported).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import families
        >>> res = jm.fit(families.Normal(), {"x": jnp.array([1.0, 2.0, 6.0])})
        >>> round(float(res.params["loc"]), 6), round(float(res.params["scale"]) ** 2, 6)
        (3.0, 4.666667)
    """
    return model_for(_c.NormalDist())


def LogNormal() -> Model:
    """Log-normal(mu, sigma) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.LogNormal().param_names
        ('mu', 'sigma')
    """
    return model_for(_c.LogNormalDist())


def Gamma() -> Model:
    """Gamma(shape, scale) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Gamma().param_names
        ('shape', 'scale')
    """
    return model_for(_c.GammaDist())


def Weibull() -> Model:
    """Weibull(shape, scale) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Weibull().param_names
        ('shape', 'scale')
    """
    return model_for(_c.WeibullDist())


def Beta() -> Model:
    """Beta(a, b) model on ``(0, 1)`` (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Beta().param_names
        ('a', 'b')
    """
    return model_for(_c.BetaDist())


def StudentT() -> Model:
    """Student's t(loc, scale, df) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.StudentT().param_names
        ('loc', 'scale', 'df')
    """
    return model_for(_c.StudentTDist())


def Laplace() -> Model:
    """Laplace(loc, scale) model; ``loc``'s observed information is zero (status ``SINGULAR``).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Laplace().param_names
        ('loc', 'scale')
    """
    return model_for(_c.LaplaceDist())


def Logistic() -> Model:
    """Logistic(loc, scale) model (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Logistic().param_names
        ('loc', 'scale')
    """
    return model_for(_c.LogisticDist())


def LogLogistic() -> Model:
    """Log-logistic(shape, scale) model, scipy's ``fisk`` (censoring and truncation supported).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.LogLogistic().param_names
        ('shape', 'scale')
    """
    return model_for(_c.LogLogisticDist())


def Gumbel() -> Model:
    """Gumbel (maximum) (loc, scale) model, scipy's ``gumbel_r``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.Gumbel().param_names
        ('loc', 'scale')
    """
    return model_for(_c.GumbelDist())


def GumbelMin() -> Model:
    """Gumbel minimum (smallest extreme value) (loc, scale) model, scipy's ``gumbel_l``.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.GumbelMin().param_names
        ('loc', 'scale')
    """
    return model_for(_c.GumbelMinDist())


def Pareto(scale: float | None = None) -> Model:
    """Pareto(shape; scale) model: ``scale`` is fixed, by default the smallest observation.

    See :class:`~jaxmle.distributions.ParetoDist` for why the scale is not a
    fitted parameter (its MLE is ``min(x)``, an irregular endpoint).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import families
        >>> x = jnp.array([1.0, 2.0, 4.0])
        >>> res = jm.fit(families.Pareto(), {"x": x})  # 3 / (log 2 + log 4)
        >>> round(float(res.params["shape"]), 6)
        1.442695
    """
    return model_for(_c.ParetoDist(scale=scale))


def Weibull3P() -> Model:
    """Three-parameter Weibull(shape, scale, threshold) model (censoring and truncation
    supported): ``X - threshold`` is Weibull(shape, scale), the threshold below the smallest
    failure; a fit whose threshold runs to it ends ``BOUNDARY``.

    Example:
        >>> import jax, numpy as np
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmle.distributions import families
        >>> families.Weibull3P().param_names
        ('shape', 'scale', 'threshold')
        >>> x = 100.0 + 500.0 * np.random.default_rng(1).weibull(2.0, size=50)
        >>> res = jm.fit(families.Weibull3P(), x)
        >>> jm.Status(int(res.status)).name, bool(res.params["threshold"] < x.min())
        ('CONVERGED', True)
    """
    return model_for(_c.Weibull3Dist())


def LogNormal3P() -> Model:
    """Three-parameter log-normal(mu, sigma, threshold) model (censoring and truncation
    supported): ``log(X - threshold)`` is normal(mu, sigma).

    Example:
        >>> from jaxmle.distributions import families
        >>> families.LogNormal3P().param_names
        ('mu', 'sigma', 'threshold')
    """
    return model_for(_c.LogNormal3Dist())


def WeibullMixture() -> Model:
    """Mixture of two Weibull subpopulations (``p``, ``shape1``, ``scale1``, ``shape2``,
    ``scale2``; censoring and truncation supported), the first component the early one.

    Example:
        >>> from jaxmle.distributions import families
        >>> families.WeibullMixture().param_names
        ('p', 'shape1', 'scale1', 'shape2', 'scale2')
    """
    return model_for(_c.WeibullMixtureDist())
