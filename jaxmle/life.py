"""Life quantities of a fitted lifetime distribution, with intervals.

A fit of a lifetime family (``fit_dist("weibull", ...)`` and the other
families on ``(0, inf)``: exponential, lognormal, gamma, loglogistic; and the
three-parameter ``weibull_3p`` and ``lognormal_3p``, whose quantities are the
two-parameter family's shifted by the threshold) gives, by name:

* :func:`quantile` ``t_q``, the time by which a fraction ``q`` has failed,
  and :func:`b_life` ``B_p = t_{p/100}`` (the B10 life is ``quantile(res, 0.1)``);
* :func:`reliability` ``R(t) = P(T > t)``, the fraction surviving past ``t``;
* :func:`mean_life` ``E[T]`` (the MTTF);
* :func:`hazard` ``h(t) = f(t) / R(t)``, the instantaneous failure rate.

and, without a model, :func:`turnbull` (the nonparametric maximum-likelihood
estimate of the distribution of interval-censored lifetimes) and
:func:`plotting_positions` (Johnson's adjusted ranks for right-censored data),
which the probability plots of :mod:`jaxmle.plot` draw.

Each returns a :class:`~jaxmle.Derived` (estimate, delta-method standard
error, interval, level, method) with the batch axis of a batch fit and the
axis of ``t`` (or ``q``) last. Three interval methods:

* ``"wald_transformed"`` (default): the delta method on a scale where the
  quantity is unbounded, mapped back: ``log`` for the positive quantities
  (a quantile, the mean, the hazard) and, for the reliability, the scale on
  which the family's probability plot is a straight line: ``log(-log R)``
  (Weibull, exponential, gamma), ``Phi^-1(1 - R)`` (lognormal),
  ``log((1 - R) / R)`` (loglogistic). These are the conventions of Nelson,
  of Meeker and Escobar, and of the ``reliability`` and surpyval packages.
  The interval stays inside the support.
* ``"profile"``: the profile-likelihood (likelihood-ratio) interval,
  ``{psi : 2 (l_hat - max_{g(theta) = psi} l(theta)) <= chi2_1(level)}``,
  as :func:`jaxmle.derived` computes it, for every dataset of a batch in one
  compiled call; a second call with the same shapes reuses the compilation.
* ``"wald"``: ``estimate -/+ z se`` on the natural scale (it can leave the
  support; never the default).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, ndtr, ndtri

from ._compile import tuned_jit
from ._problem import problem_of
from .distributions import continuous as _c
from .distributions.families import model_for
from .distributions.registry import DISTRIBUTIONS
from .inference import z_value
from .nonparametric import Turnbull, plotting_positions, turnbull
from .profile import Derived, derived_one, start_point, status_code, warn_status

__all__ = [
    "LIFE_FAMILIES",
    "LIFE_METHODS",
    "life_family",
    "quantile",
    "b_life",
    "reliability",
    "mean_life",
    "hazard",
    "life_columns",
    "Turnbull",
    "turnbull",
    "plotting_positions",
]

#: the families whose fits have life quantities (lifetimes on ``(0, inf)``)
LIFE_FAMILIES = (
    "exponential",
    "weibull",
    "lognormal",
    "gamma",
    "loglogistic",
    "weibull_3p",
    "lognormal_3p",
)

#: the interval methods of the life quantities (the first is the default)
LIFE_METHODS = ("wald_transformed", "profile", "wald")


def life_family(res) -> Any:
    """The lifetime :class:`~jaxmle.distributions.Distribution` a result was fitted with.

    Raises ``ValueError`` for a result of another model.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("weibull", jnp.array([1.0, 2.0, 3.0, 5.0]))
        >>> jm.life_family(res).name
        'weibull'
    """
    dist = res.model.family
    if dist is not None and dist.name in LIFE_FAMILIES:
        default = DISTRIBUTIONS[dist.name]
        if res.model is model_for(default):  # (the family's own model, without options)
            return default
    raise ValueError(
        f"life quantities need a fit of a lifetime family ({', '.join(LIFE_FAMILIES)}) by "
        f"fit_dist; this result is of the model {res.model.name!r}"
    )


# --------------------------------------------------------------------------
# the quantities, on their unbounded scale h, and back
# --------------------------------------------------------------------------
def _log_quantile(dist, p, q):
    """``log t_q`` of a family (``q`` the fraction failed)."""
    if isinstance(dist, _c._Threshold):  # t_q = threshold + the base family's quantile
        base = jnp.exp(_log_quantile(dist.base, dist._base_params(p), q))
        return jnp.log(p["threshold"] + base)
    if isinstance(dist, _c.ExponentialDist):
        return jnp.log(-jnp.log1p(-q)) - jnp.log(p["rate"])
    if isinstance(dist, _c.WeibullDist):
        return jnp.log(p["scale"]) + jnp.log(-jnp.log1p(-q)) / p["shape"]
    if isinstance(dist, _c.LogNormalDist):
        return p["mu"] + p["sigma"] * ndtri(q)
    if isinstance(dist, _c.LogLogisticDist):
        return jnp.log(p["scale"]) + (jnp.log(q) - jnp.log1p(-q)) / p["shape"]
    if isinstance(dist, _c.GammaDist):
        return _gamma_log_quantile(dist, p, q)
    raise ValueError(f"no quantile for {dist.name}")  # pragma: no cover


def _gamma_log_quantile(dist, p, q):
    """The gamma's ``log t_q`` by Newton's method on ``log t`` from the Wilson-Hilferty
    start; its derivatives by the implicit function theorem (one Newton step from the
    solution with the step's denominator held: exact first derivatives)."""
    k = jax.lax.stop_gradient(p["shape"])
    sp = jax.lax.stop_gradient(p)
    z = ndtri(q)
    wh = k * (1.0 - 1.0 / (9.0 * k) + z / (3.0 * jnp.sqrt(k))) ** 3
    y0 = jnp.log(jnp.maximum(wh, 1e-300)) + jnp.log(sp["scale"])
    lq = jnp.log(q)

    def step(_, y):
        lc = dist.logcdf(jnp.exp(y), sp)
        lf = dist.logpdf(jnp.exp(y), sp) + y  # d logcdf / d log t = f t / F
        d = jnp.exp(lf - lc)
        return y - jnp.clip((lc - lq) / d, -2.0, 2.0)

    y = jax.lax.stop_gradient(jax.lax.fori_loop(0, 60, step, y0))
    lc = dist.logcdf(jnp.exp(y), p)
    d = jax.lax.stop_gradient(jnp.exp(dist.logpdf(jnp.exp(y), sp) + y - lc))
    return y - (lc - lq) / d


def _log_mean(dist, p):
    if isinstance(dist, _c._Threshold):
        return jnp.log(p["threshold"] + jnp.exp(_log_mean(dist.base, dist._base_params(p))))
    if isinstance(dist, _c.ExponentialDist):
        return -jnp.log(p["rate"])
    if isinstance(dist, _c.WeibullDist):
        return jnp.log(p["scale"]) + gammaln(1.0 + 1.0 / p["shape"])
    if isinstance(dist, _c.LogNormalDist):
        return p["mu"] + 0.5 * p["sigma"] ** 2
    if isinstance(dist, _c.LogLogisticDist):  # finite for shape > 1
        b = jnp.pi / p["shape"]
        ok = p["shape"] > 1.0
        return jnp.where(
            ok, jnp.log(p["scale"]) + jnp.log(b) - jnp.log(jnp.sin(jnp.where(ok, b, 1.0))), jnp.inf
        )
    if isinstance(dist, _c.GammaDist):
        return jnp.log(p["shape"]) + jnp.log(p["scale"])
    raise ValueError(f"no mean for {dist.name}")  # pragma: no cover


def _h(kind, dist, p, x):
    """The quantity on its unbounded scale: ``log`` of a positive one, ``log(-log R)``."""
    if kind == "quantile":
        return _log_quantile(dist, p, x)
    if kind == "mean":
        return _log_mean(dist, p)
    if kind == "hazard":
        return dist.logpdf(x, p) - dist.logsf(x, p)
    if kind == "reliability":
        return _reliability_scale(dist, x, p)
    raise ValueError(f"unknown life quantity {kind!r}")  # pragma: no cover


def _reliability_scale(dist, x, p):
    """``R(t)`` on the scale where the family's probability plot is a straight line:
    ``log(-log R)`` (the Weibull's, also used for the exponential and the gamma),
    ``Phi^-1(1 - R)`` (the lognormal's), ``log((1 - R) / R)`` (the loglogistic's)."""
    lc, ls = dist.logcdf_logsf(x, p)
    if isinstance(dist, _c._Threshold):
        dist = dist.base  # (the same scale as the two-parameter family's)
    if isinstance(dist, _c.LogNormalDist):
        return -ndtri(jnp.exp(ls))
    if isinstance(dist, _c.LogLogisticDist):
        return lc - ls
    return jnp.log(-ls)


def _natural(kind, dist, h):
    """The quantity from its scale ``h`` (increasing in ``h``, except the reliability)."""
    if kind != "reliability":
        return jnp.exp(h)
    if isinstance(dist, _c._Threshold):
        dist = dist.base
    if isinstance(dist, _c.LogNormalDist):
        return ndtr(-h)
    if isinstance(dist, _c.LogLogisticDist):
        return jax.nn.sigmoid(-h)
    return jnp.exp(-jnp.exp(h))


def _ends(kind, dist, h_lo, h_hi):
    """The interval ``(low, high)`` on the natural scale from one on the ``h`` scale."""
    a, b = _natural(kind, dist, h_lo), _natural(kind, dist, h_hi)
    return (b, a) if kind == "reliability" else (a, b)


# --------------------------------------------------------------------------
# delta method
# --------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("model", "kind", "dist"))
def _delta_one(params, cov, x, *, model, kind, dist):
    """``(h, se_h, g, se_g)`` at one ``x``: the quantity on its scale ``h`` and natural."""
    flat = model.flatten(params)

    def h_of(v):
        return _h(kind, dist, model.unflatten(v), x)

    def se_of(grad):
        use = (grad != 0)[:, None] & (grad != 0)[None, :]
        return jnp.sqrt(jnp.sum(jnp.where(use, grad[:, None] * cov * grad[None, :], 0.0)))

    h, gh = jax.value_and_grad(h_of)(flat)
    gg = jax.grad(lambda v: _natural(kind, dist, h_of(v)))(flat)
    return h, se_of(gh), _natural(kind, dist, h), se_of(gg)


def _delta(res, kind, dist, x):
    """Delta method for every dataset and every ``x``: arrays ``batch + x.shape``."""
    model = res.model
    f = functools.partial(_delta_one, model=model, kind=kind, dist=dist)
    xs = jnp.ravel(x)
    over_x = jax.vmap(f, in_axes=(None, None, 0))
    if res.batch_shape:
        out = jax.vmap(over_x, in_axes=(0, 0, None))(res.params, res.cov, xs)
    else:
        out = over_x(res.params, res.cov, xs)
    shape = res.batch_shape + jnp.shape(x)
    return tuple(jnp.reshape(o, shape) for o in out)


# --------------------------------------------------------------------------
# profile likelihood
# --------------------------------------------------------------------------
def _profile_one(z_hat, l_hat, h, se_h, x, data, weights, mask, fixed_values, *, problem, red,
                 kind, dist, level):  # fmt: skip
    def per_x(xi, hi, si):
        def fn(p):
            return _h(kind, dist, p, xi)

        return derived_one(
            z_hat, l_hat, hi, si, data, weights, mask, fixed_values, problem=problem, red=red,
            fn=fn, level=level, inner_iter=100, outer_iter=12,
        )  # fmt: skip

    return jax.vmap(per_x)(x, h, se_h)


@tuned_jit(static_argnames=("problem", "red", "kind", "dist", "level", "batched"))
def _profile_jit(z_hat, l_hat, h, se_h, x, data, weights, mask, fixed_values, *, problem, red,
                 kind, dist, level, batched):  # fmt: skip
    f = functools.partial(_profile_one, problem=problem, red=red, kind=kind, dist=dist, level=level)
    if batched:
        return jax.vmap(f, in_axes=(0, 0, 0, 0, None, 0, 0, 0, 0))(
            z_hat, l_hat, h, se_h, x, data, weights, mask, fixed_values
        )
    return f(z_hat, l_hat, h, se_h, x, data, weights, mask, fixed_values)


def _profile(res, kind, dist, x, h, se_h, level):
    """Profile interval of ``h`` (invariant: mapped back, it is the natural quantity's)."""
    problem, data, weights, mask, red, values = problem_of(res, "a profile interval")
    z_hat = start_point(res, problem, red, values)
    batch = res.batch_shape
    n = int(np.prod(jnp.shape(x), dtype=int))
    hf = jnp.reshape(h, batch + (n,))
    sf = jnp.reshape(se_h, batch + (n,))
    lo, hi, opn, better, failed = _profile_jit(
        z_hat, res.loglik, hf, sf, jnp.ravel(x), data, weights, mask, values, problem=problem,
        red=red, kind=kind, dist=dist, level=float(level), batched=bool(batch),
    )  # fmt: skip
    shape = batch + jnp.shape(x)
    code = status_code(np.asarray(opn), np.asarray(better), np.asarray(failed)).reshape(shape)
    warn_status(code, f"the {kind}")
    return jnp.reshape(lo, shape), jnp.reshape(hi, shape), code


# --------------------------------------------------------------------------
# the public functions
# --------------------------------------------------------------------------
def _life(res, kind, x, level, method):
    if method not in LIFE_METHODS:
        raise ValueError(f"unknown interval method {method!r}; use one of {LIFE_METHODS}")
    z = z_value(level)
    dist = life_family(res)
    dtype = jnp.result_type(res.loglik)
    x = jnp.asarray(0.0 if x is None else x, dtype)
    h, se_h, est, se = _delta(res, kind, dist, x)
    status = None
    if method == "wald":
        low, high = est - z * se, est + z * se
    elif method == "wald_transformed":
        low, high = _ends(kind, dist, h - z * se_h, h + z * se_h)
    else:
        h_lo, h_hi, status = _profile(res, kind, dist, x, h, se_h, level)
        low, high = _ends(kind, dist, h_lo, h_hi)
    return Derived(est, se, low, high, status, float(level), method)


def _check_fraction(q, what):
    arr = np.asarray(q, float)
    if np.any(~((arr > 0) & (arr < 1))):
        raise ValueError(f"{what} must lie strictly between 0 and {1 if what == 'q' else 100}")


def quantile(res, q, *, level: float = 0.95, method: str = "wald_transformed") -> Derived:
    """The time ``t_q`` by which a fraction ``q`` of the population has failed,
    ``F(t_q) = q``, with its interval.

    Args:
        res: a fit (single or batch) of a lifetime family (:data:`LIFE_FAMILIES`).
        q: fraction failed, in ``(0, 1)``: a scalar or an array.
        level: confidence level.
        method: ``"wald_transformed"`` (default; the delta method on ``log t_q``),
            ``"profile"`` or ``"wald"``.

    Returns:
        A :class:`~jaxmle.Derived`, shaped ``batch + shape(q)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 6.0]))   # rate 1/4
        >>> d = jm.quantile(res, 0.5)                                       # the median life
        >>> round(float(d.estimate), 6), round(4 * float(jnp.log(2.0)), 6)
        (2.772589, 2.772589)
        >>> bool(0 < d.low < d.estimate < d.high)
        True
    """
    _check_fraction(q, "q")
    return _life(res, "quantile", q, level, method)


def b_life(res, p, *, level: float = 0.95, method: str = "wald_transformed") -> Derived:
    """The B-life ``B_p``: the time by which ``p`` percent have failed (``B10`` is
    ``b_life(res, 10)``, the 10% quantile ``scale * (-log 0.9) ** (1 / shape)`` of a
    Weibull), with its interval; :func:`quantile` at ``p / 100``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("weibull", jnp.array([310.0, 520.0, 740.0, 900.0, 1300.0]))
        >>> b10 = jm.b_life(res, 10)
        >>> k, lam = float(res.params["shape"]), float(res.params["scale"])
        >>> bool(jnp.isclose(b10.estimate, lam * (-jnp.log(0.9)) ** (1 / k)))
        True
        >>> bool(0 < b10.low < b10.estimate < b10.high)
        True
    """
    _check_fraction(np.asarray(p, float) / 100.0, "p")
    return _life(res, "quantile", jnp.asarray(p, float) / 100.0, level, method)


def reliability(res, t, *, level: float = 0.95, method: str = "wald_transformed") -> Derived:
    """The reliability (survival) ``R(t) = P(T > t)`` at times ``t``, with its interval
    (by default the delta method on ``log(-log R)`` for a Weibull, exponential or gamma
    fit, ``Phi^-1(1 - R)`` for a lognormal, ``log((1 - R) / R)`` for a loglogistic; inside
    ``(0, 1)``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 6.0]))   # rate 1/4
        >>> r = jm.reliability(res, jnp.array([1.0, 4.0]))
        >>> [round(v, 6) for v in r.estimate.tolist()]
        [0.778801, 0.367879]
        >>> bool(((0 < r.low) & (r.high < 1)).all())
        True
    """
    return _life(res, "reliability", t, level, method)


def mean_life(res, *, level: float = 0.95, method: str = "wald_transformed") -> Derived:
    """The mean life ``E[T]`` (MTTF), with its interval (by default on the log scale).
    For a loglogistic fit with shape at most 1 the mean is infinite.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 6.0]))
        >>> m = jm.mean_life(res)
        >>> float(m.estimate)
        4.0
        >>> prof = jm.mean_life(res, method="profile")
        >>> bool(0 < prof.low < 4.0 < prof.high)
        True
    """
    return _life(res, "mean", None, level, method)


def hazard(res, t, *, level: float = 0.95, method: str = "wald_transformed") -> Derived:
    """The hazard (instantaneous failure rate) ``h(t) = f(t) / R(t)`` at times ``t``, with
    its interval (by default on the log scale).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 6.0]))
        >>> [round(v, 6) for v in jm.hazard(res, jnp.array([1.0, 9.0])).estimate.tolist()]
        [0.25, 0.25]
    """
    return _life(res, "hazard", t, level, method)


def _label(v) -> str:
    """A number as short as it reads back exactly: ``10``, ``0.1``, ``1500``."""
    v = float(v)
    short = f"{v:g}"
    return short if float(short) == v else repr(v)


def life_columns(
    res,
    *,
    b_lives=(),
    reliability_at=(),
    mean: bool = False,
    level: float = 0.95,
    method: str = "wald_transformed",
) -> dict[str, np.ndarray]:
    """Life quantities as plain numpy columns, as the command line writes them: per
    quantity ``NAME``, ``NAME_se``, ``NAME_lo``, ``NAME_hi``, with ``NAME`` ``B10`` for
    ``b_lives=[10]``, ``R_1000`` for ``reliability_at=[1000]``, ``mean_life`` for
    ``mean=True``; each has the batch axis of a batch fit.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 6.0]))
        >>> cols = jm.life_columns(res, b_lives=[10], mean=True)
        >>> list(cols)
        ['B10', 'B10_se', 'B10_lo', 'B10_hi', 'mean_life', 'mean_life_se', 'mean_life_lo',
         'mean_life_hi']
        >>> round(float(cols["mean_life"]), 6)
        4.0
    """
    quantities = []
    if len(b_lives):
        ps = np.asarray(b_lives, float)
        der = b_life(res, ps, level=level, method=method)
        quantities += [(f"B{_label(p)}", der, i) for i, p in enumerate(ps)]
    if len(reliability_at):
        ts = np.asarray(reliability_at, float)
        der = reliability(res, ts, level=level, method=method)
        quantities += [(f"R_{_label(t)}", der, i) for i, t in enumerate(ts)]
    if mean:
        quantities.append(("mean_life", mean_life(res, level=level, method=method), None))
    cols: dict[str, np.ndarray] = {}
    for name, der, i in quantities:
        for suffix, v in (("", der.estimate), ("_se", der.se), ("_lo", der.low), ("_hi", der.high)):
            v = np.asarray(v)
            cols[name + suffix] = v if i is None else v[..., i]
    return cols
