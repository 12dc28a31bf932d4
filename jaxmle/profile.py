"""Profile likelihood: intervals, profile curves and derived quantities.

The profile log-likelihood of one component ``psi`` of the parameters is
``l_p(psi) = max l(theta)`` over the other parameters with ``psi`` held; its
``level`` interval is ``{psi : 2 (l_hat - l_p(psi)) <= chi2_1(level)}``
(Wilks). Unlike the Wald interval it is asymmetric where the likelihood is,
invariant to reparameterization, and always inside the support; when the
estimate is on the edge of the support (the coin that showed three heads) the
interval is one-sided, ``[low, 1]``.

How it is computed, for every component of every dataset at once (one compiled
call, ``vmap`` over datasets, components and the two sides):

* the held component is one free coordinate ``t`` of the optimizer: the
  unconstrained coordinate itself for elementwise constraints (``Real``,
  ``Positive``, ``Bounded``, ``UnitInterval``), and ``logit(p_j)`` for a
  component ``p_j`` of a ``Simplex(k)``, whose other components are then
  ``(1 - p_j) softmax([z, 0])`` with ``k - 2`` free coordinates ``z``;
* the other coordinates are re-optimized by the same trust-region Newton method
  as the fit (:func:`jaxmle.optimize.newton`), warm-started from the last point
  inside the interval;
* each end solves ``sqrt(2 (l_hat - l_p(t))) = sqrt(chi2_1(level))`` by an
  Illinois (safeguarded false-position) iteration on ``t``, after a secant
  extrapolation from the Wald step to bracket the root. The signed root of
  the deviance is close to linear in ``t``, so a few iterations suffice. An
  end that is not reached before the coordinate runs to its limit is the
  edge of the support (``0``, ``1`` or ``inf``).

If profiling finds a log-likelihood higher than the fit's (the fit stopped
short of the maximum), the component gets status
:attr:`ProfileStatus.BETTER_OPTIMUM` and ``conf_int(method="profile")`` gives
NaN for it with a :class:`ProfileWarning`: refit (``init=`` from the better
point, a higher ``max_iter``) rather than trust either interval.

Derived quantities ``g(theta)`` (a mean lifetime, a quantile) are profiled by
maximizing ``l`` subject to ``g(theta) = psi`` with an augmented Lagrangian
(method of multipliers, each inner problem solved by the same Newton method).
"""

from __future__ import annotations

import enum
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._compile import tuned_jit
from ._problem import problem_of
from .constraints import Simplex
from .inference import z_value
from .optimize import newton

__all__ = [
    "Profile",
    "ProfileStatus",
    "ProfileIntervals",
    "ProfileWarning",
    "Derived",
    "profile",
    "profile_intervals",
    "derived",
]


class ProfileWarning(UserWarning):
    """A profile found a better optimum than the fit, or did not converge.

    Example:
        >>> import jaxmle as jm
        >>> issubclass(jm.ProfileWarning, UserWarning)
        True"""


class ProfileStatus(enum.IntEnum):
    """How a profile interval ended, per component (and dataset).

    Attributes:
        OK: both ends solved.
        OPEN: one end (or both) is the edge of the support: the profile
            deviance stays below the threshold all the way there (an estimate
            on a boundary, a coefficient under separation). The interval is
            one-sided and still valid.
        BETTER_OPTIMUM: the profile went above the fit's log-likelihood: the
            fit is not the maximum, and the interval is not reported.
        FAILED: the root finding or an inner fit did not converge, or the fit
            was not finite.

    Example:
        >>> import jaxmle as jm
        >>> jm.ProfileStatus(1).name
        'OPEN'
    """

    OK = 0
    OPEN = 1
    BETTER_OPTIMUM = 2
    FAILED = 3


class Profile(NamedTuple):
    """A profile log-likelihood curve of one parameter component (:func:`profile`).

    Attributes:
        param: the flattened parameter name.
        grid: parameter values, natural space, shape ``(points,)`` or
            ``(B, points)``, sorted.
        loglik: the profile log-likelihood at each grid value.
        deviance: ``2 (loglik_max - loglik)``, >= 0.
        estimate: the MLE, shape ``()`` or ``(B,)``.
        loglik_max: the fit's log-likelihood, shape ``()`` or ``(B,)``.
        interval: ``(low, high)`` profile interval at ``level``.
        threshold: the ``chi2_1`` quantile at ``level``.
        level: the confidence level.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...              {"rate": jm.Positive()})
        >>> res = jm.fit(m, jnp.array([2.0, 4.0, 6.0]))
        >>> prof = res.profile("rate", points=5)
        >>> prof.param, prof.grid.shape, round(prof.threshold, 4)
        ('rate', (5,), 3.8415)
    """

    param: str
    grid: jax.Array
    loglik: jax.Array
    deviance: jax.Array
    estimate: jax.Array
    loglik_max: jax.Array
    interval: tuple
    threshold: float
    level: float


class ProfileIntervals(NamedTuple):
    """Profile intervals of every parameter, with a status per component.

    Attributes:
        low, high: dict name -> array shaped like the parameter (batch axis
            first for a batch).
        status: dict name -> :class:`ProfileStatus` codes, same shapes.
        level: the confidence level.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...              {"rate": jm.Positive()})
        >>> res = jm.fit(m, jnp.array([2.0, 4.0, 6.0]))
        >>> pi = jm.profile_intervals(res)
        >>> float(pi.low["rate"]) < 0.25 < float(pi.high["rate"]), int(pi.status["rate"])
        (True, 0)
    """

    low: dict
    high: dict
    status: dict
    level: float


class Derived(NamedTuple):
    """Estimate, standard error and interval of a scalar function of the parameters.

    Attributes:
        estimate: ``fn(params)``.
        se: delta-method standard error ``sqrt(g' cov g)``, ``g`` the gradient.
        low, high: the interval (Wald: ``estimate -/+ z se``; profile: the
            profile-likelihood interval of ``fn``).
        status: :class:`ProfileStatus` codes for ``method="profile"``, else
            ``None``.
        level: the confidence level.
        method: ``"wald"``, ``"wald_log"`` or ``"profile"`` (the life quantities of
            :mod:`jaxmle.life` also ``"wald_transformed"``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> m = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...              {"rate": jm.Positive()})
        >>> res = jm.fit(m, jnp.array([2.0, 4.0, 6.0]))
        >>> d = res.derived(lambda p: 1.0 / p["rate"])
        >>> float(d.estimate), d.method
        (4.0, 'wald')
    """

    estimate: jax.Array
    se: jax.Array
    low: jax.Array
    high: jax.Array
    status: Any
    level: float
    method: str


def chi2_threshold(level: float) -> float:
    """``chi2_1`` quantile at ``level`` (the square of the two-sided normal quantile)."""
    return z_value(level) ** 2


# --------------------------------------------------------------------------
# the held coordinate of one component
# --------------------------------------------------------------------------
class _ProfiledBlock(NamedTuple):
    key: str
    kind: str  # "elem" | "simplex"
    constraint: Any
    fstart: int
    size: int


def _blocks(model) -> tuple[_ProfiledBlock, ...]:
    out = []
    for key, _, fslice in model.param_blocks():
        c = model.spec[key]
        kind = "simplex" if isinstance(c, Simplex) else "elem"
        out.append(_ProfiledBlock(key, kind, c, fslice.start, c.size))
    return tuple(out)


def _params_held(model, blk: _ProfiledBlock, z, t, j):
    """Constrained parameters with component ``j`` of ``blk`` held at coordinate ``t``."""
    if blk.kind == "elem":
        return model.to_constrained(z.at[blk.fstart + j].set(t))
    params = model.to_constrained(z)
    k = blk.size
    c = jax.nn.sigmoid(t)
    rest = z[blk.fstart : blk.fstart + k - 2]
    q = jax.nn.softmax(jnp.concatenate([rest, jnp.zeros((1,), z.dtype)]))
    idx = jnp.arange(k)
    src = jnp.clip(idx - (idx > j), 0, k - 2)
    params[blk.key] = jnp.where(idx == j, c, (1.0 - c) * q[src])
    return params


def _frozen(blk: _ProfiledBlock, j):
    return blk.fstart + j if blk.kind == "elem" else blk.fstart + blk.size - 2


def _coord(model, blk: _ProfiledBlock, z, j):
    """The held coordinate of component ``j`` at ``z``."""
    if blk.kind == "elem":
        return z[blk.fstart + j]
    p = model.to_constrained(z)[blk.key][j]
    return jnp.log(p) - jnp.log1p(-p)


def _value(blk: _ProfiledBlock, t):
    """Natural value of the held coordinate."""
    if blk.kind == "elem":
        return blk.constraint.link_inverse(t)
    return jax.nn.sigmoid(t)


def _coord_of_value(blk: _ProfiledBlock, v):
    if blk.kind == "elem":
        return blk.constraint.link(v)[0]
    return jnp.log(v) - jnp.log1p(-v)


def _inner(problem, blk, data, weights, mask, j, t, z0, max_iter):
    """Profile log-likelihood at coordinate ``t``: re-optimize the other coordinates."""
    model = problem.model
    fr = _frozen(blk, j)
    z_fr = z0[fr]

    def fun(z):
        ll = problem.loglik(_params_held(model, blk, z, t, j), data, weights, mask)
        return -ll + 0.5 * (z[fr] - z_fr) ** 2

    sol = newton(fun, z0, max_iter=max_iter)
    ll = -sol.value
    ok = (sol.converged | sol.stalled) & jnp.isfinite(ll)
    return ll, sol.x, ok


# --------------------------------------------------------------------------
# the root finder: one side of one interval
# --------------------------------------------------------------------------
class _Root(NamedTuple):
    tau: jax.Array  # next point to evaluate (distance from the estimate, >= 0)
    lo: jax.Array  # largest tau known inside (phi < target)
    f_lo: jax.Array  # phi - target there (< 0), Illinois-scaled
    hi: jax.Array  # smallest tau known outside (inf: none yet)
    f_hi: jax.Array
    prev: jax.Array  # previous evaluated point (for the extrapolation)
    phi_prev: jax.Array
    z: jax.Array  # warm start: the optimum at `lo`
    side: jax.Array  # last side updated: -1 lo, +1 hi, 0 none
    result: jax.Array
    done: jax.Array
    open: jax.Array
    better: jax.Array
    bad: jax.Array
    it: jax.Array


def _solve_side(evaluate, t_hat, l_hat, delta0, sign, z_hat, target, ftol, tau_max, max_iter):
    """Distance ``tau >= 0`` from ``t_hat`` along ``sign`` where sqrt(deviance) = target."""
    dtype = z_hat.dtype
    inf = jnp.asarray(jnp.inf, dtype)
    eps = jnp.finfo(dtype).eps
    better_tol = jnp.maximum(1e-6, 1e3 * eps * (1.0 + jnp.abs(l_hat)))
    zero = jnp.zeros((), dtype)
    start = _Root(
        tau=delta0, lo=zero, f_lo=-target, hi=inf, f_hi=inf, prev=zero, phi_prev=zero,
        z=z_hat, side=jnp.zeros((), jnp.int32), result=jnp.asarray(jnp.nan, dtype),
        done=~jnp.isfinite(l_hat) | ~jnp.isfinite(t_hat), open=jnp.zeros((), bool),
        better=jnp.zeros((), bool), bad=jnp.zeros((), bool), it=jnp.zeros((), jnp.int32),
    )  # fmt: skip

    def cond(s):
        return ~s.done & (s.it < max_iter)

    def body(s):
        tau = s.tau
        ll, z, ok = evaluate(t_hat + sign * tau, s.z)
        dev = 2.0 * (l_hat - ll)
        better = s.better | (ok & (dev < -better_tol))
        phi = jnp.where(ok, jnp.sqrt(jnp.maximum(dev, 0.0)), inf)
        f = phi - target
        inside = f < 0
        conv = jnp.abs(f) <= ftol
        # bracket update, Illinois: halve the kept end's value after two updates on one side
        lo = jnp.where(inside, tau, s.lo)
        hi = jnp.where(inside, s.hi, tau)
        f_lo = jnp.where(inside, f, jnp.where(s.side == 1, 0.5 * s.f_lo, s.f_lo))
        f_hi = jnp.where(inside, jnp.where(s.side == -1, 0.5 * s.f_hi, s.f_hi), f)
        side = jnp.where(inside, -1, 1).astype(jnp.int32)
        z_next = jnp.where(inside & ok, z, s.z)
        bracketed = jnp.isfinite(hi)
        # not bracketed yet: extrapolate the (nearly linear) sqrt-deviance, within x1.05..x4
        slope = (phi - s.phi_prev) / (tau - s.prev)
        ext = tau + (target - phi) / jnp.where(slope > 0, slope, 1.0)
        ext = jnp.where((slope > 0) & jnp.isfinite(ext), ext, 4.0 * tau)
        ext = jnp.clip(ext, 1.05 * tau, 4.0 * tau)
        # bracketed: false position on the (scaled) ends, bisection where an end is not finite
        fp = lo - f_lo * (hi - lo) / (f_hi - f_lo)
        mid = 0.5 * (lo + hi)
        width = hi - lo
        fp_ok = jnp.isfinite(fp) & (fp > lo + 1e-3 * width) & (fp < hi - 1e-3 * width)
        nxt = jnp.where(bracketed, jnp.where(fp_ok, fp, mid), ext)
        narrow = bracketed & (width <= 4 * eps * (1.0 + jnp.abs(t_hat) + hi))
        reached_limit = ~bracketed & (tau >= tau_max)
        done = conv | narrow | reached_limit
        result = jnp.where(conv, tau, jnp.where(narrow, lo, jnp.where(reached_limit, inf, nxt)))
        # narrowed onto the edge of where the log-likelihood is finite, still inside
        edge = narrow & ~conv & ~jnp.isfinite(f_hi) & (f_lo < -ftol)
        return _Root(
            tau=nxt, lo=lo, f_lo=f_lo, hi=hi, f_hi=f_hi, prev=tau, phi_prev=phi, z=z_next,
            side=side, result=result, done=done, open=reached_limit | edge, better=better,
            bad=s.bad, it=s.it + 1,
        )  # fmt: skip

    s = lax.while_loop(cond, body, start)
    failed = ~s.done | s.bad | ~jnp.isfinite(l_hat) | ~jnp.isfinite(t_hat)
    return s.result, s.open, s.better, failed


def _settings(dtype, level):
    eps = float(jnp.finfo(dtype).eps)
    # on sqrt(deviance): 1.6e-9 in float64 (the deviance to ~1e-8), 7e-5 in float32
    return dict(target=math.sqrt(chi2_threshold(level)), ftol=4.0 * eps**0.6)


def _lanes(problem, blocks):
    """Groups of components profiled by one vmapped solver: all elementwise components
    together (held coordinate = their own free coordinate), and each simplex block.

    Returns a list of ``(block or None, component indices in the block or free indices,
    positions in the flat constrained vector)``.
    """
    elem_free, elem_pos, out = [], [], []
    pos = 0
    for blk in blocks:
        if blk.kind == "elem":
            elem_free += [blk.fstart + j for j in range(blk.size)]
            elem_pos += [pos + j for j in range(blk.size)]
        else:
            out.append((blk, tuple(range(blk.size)), tuple(pos + j for j in range(blk.size))))
        pos += blk.size
    if elem_free:
        elem = _ProfiledBlock("", "elem", None, 0, problem.model.free_size)
        out.insert(0, (elem, tuple(elem_free), tuple(elem_pos)))
    return out


def _intervals_one(z_hat, l_hat, d0s, data, weights, mask, *, problem, blocks, level,
                   inner_iter):  # fmt: skip
    """Every component of one dataset, flat in constrained order:
    (t_low, t_high, open, better, failed), ``t`` the held coordinate; ``d0s`` the first
    steps (Wald half-widths on the held coordinates)."""
    data, weights, mask = problem.prepare(data, weights, mask)
    st = _settings(problem.dtype, level)
    m = sum(b.size for b in blocks)
    dtype = z_hat.dtype
    t_lo = jnp.zeros((m,), dtype)
    t_hi = jnp.zeros((m,), dtype)
    flags = jnp.zeros((3, m), bool)
    for blk, comps, pos in _lanes(problem, blocks):

        def lane(j, d0, sign, blk=blk):
            t_hat = _coord(problem.model, blk, z_hat, j)

            def evaluate(t, z0):
                return _inner(problem, blk, data, weights, mask, j, t, z0, inner_iter)

            tau, opn, better, failed = _solve_side(
                evaluate, t_hat, l_hat, d0, sign, z_hat, st["target"], st["ftol"],
                tau_max=60.0 * jnp.maximum(d0, 1.0), max_iter=100,
            )  # fmt: skip
            return t_hat + sign * tau, opn, better, failed

        idx = np.asarray(pos)
        js = jnp.repeat(jnp.asarray(comps), 2)
        d0 = jnp.repeat(d0s[idx], 2)
        signs = jnp.tile(jnp.array([-1.0, 1.0], dtype), len(comps))
        ends, opn, better, failed = (
            jnp.reshape(x, (len(comps), 2)) for x in jax.vmap(lane)(js, d0, signs)
        )
        t_lo = t_lo.at[idx].set(ends[:, 0])
        t_hi = t_hi.at[idx].set(ends[:, 1])
        flags = flags.at[:, idx].set(jnp.stack([opn.any(-1), better.any(-1), failed.any(-1)]))
    return t_lo, t_hi, flags


def _values_of(blocks, t):
    """Natural values of held coordinates, flat in constrained order (leading axes allowed)."""
    parts, pos = [], 0
    for blk in blocks:
        parts.append(_value(blk, t[..., pos : pos + blk.size]))
        pos += blk.size
    return jnp.concatenate(parts, axis=-1)


@tuned_jit(static_argnames=("problem", "blocks", "level", "inner_iter", "batched"))
def _intervals_jit(z_hat, l_hat, d0s, data, weights, mask, *, problem, blocks, level,
                   inner_iter, batched):  # fmt: skip
    fn = functools.partial(
        _intervals_one, problem=problem, blocks=blocks, level=level, inner_iter=inner_iter
    )
    if batched:
        t_lo, t_hi, flags = jax.vmap(fn)(z_hat, l_hat, d0s, data, weights, mask)
    else:
        t_lo, t_hi, flags = fn(z_hat, l_hat, d0s, data, weights, mask)
    out = []
    for t, sign in ((t_lo, -1.0), (t_hi, 1.0)):
        v = _values_of(blocks, t)
        # an open end within rounding of the support's edge is the edge
        edge = _values_of(blocks, jnp.full(t.shape, sign * jnp.inf, t.dtype))
        tol = 8 * jnp.finfo(t.dtype).eps * jnp.abs(edge)
        out.append(jnp.where(flags[..., 0, :] & (jnp.abs(v - edge) <= tol), edge, v))
    return out[0], out[1], flags


def start_point(res, problem, red, values):
    """The estimate in the problem's unconstrained coordinates."""
    if red is None:
        return res.unconstrained
    batch = res.batch_shape

    def one(params):
        return problem.model.to_unconstrained(red.reduce_params(params))

    return jax.vmap(one)(res.params) if batch else one(res.params)


def _first_steps(res, red, blocks, level):
    """Wald half-widths on the held coordinates, flat over the problem's components (host).

    From the fit's standard errors: ``sqrt(chi2) * se * |d coord / d value|``; 1 where
    the standard error is not available (an estimate on the edge)."""
    batch = res.batch_shape
    est = np.asarray(res.model.flatten_batched(res.params, batch))
    se = np.asarray(res.model.flatten_batched(res.se, batch))
    if red is not None:  # the free components, on the reduced scale
        vals = res.fixed_values

        def scale_of(v):
            return red.scale({k: jnp.reshape(x, (-1,)) for k, x in v.items()}, est.dtype)

        scale = np.asarray(jax.vmap(scale_of)(vals) if batch else scale_of(vals))
        keep = red.src >= 0
        order = np.argsort(red.src[keep])
        est = (est / np.where(scale > 0, scale, 1.0))[..., keep][..., order]
        se = (se / np.where(scale > 0, scale, 1.0))[..., keep][..., order]
    parts, pos = [], 0
    for blk in blocks:
        v = jnp.asarray(est[..., pos : pos + blk.size])
        if blk.kind == "elem":
            deriv = blk.constraint.link(v)[1]
        else:
            deriv = 1.0 / (v * (1.0 - v))
        parts.append(np.abs(np.asarray(deriv)))
        pos += blk.size
    with np.errstate(invalid="ignore", over="ignore"):
        d = math.sqrt(chi2_threshold(level)) * se * np.concatenate(parts, axis=-1)
    return jnp.asarray(np.where(np.isfinite(d) & (d > 0), d, 1.0), est.dtype)


def status_code(opn, better, failed):
    """The :class:`ProfileStatus` codes of the profiled ends from their flags."""
    code = np.where(opn, ProfileStatus.OPEN, ProfileStatus.OK)
    code = np.where(better, ProfileStatus.BETTER_OPTIMUM, code)
    return np.where(failed, ProfileStatus.FAILED, code).astype(np.int32)


def profile_intervals(res, level: float = 0.95, *, max_iter: int = 100) -> ProfileIntervals:
    """Profile-likelihood intervals of every parameter component (of every dataset).

    Args:
        res: a :class:`~jaxmle.FitResult` (single or batch) with its data.
        level: confidence level.
        max_iter: iteration limit of each inner fit.

    Returns:
        A :class:`ProfileIntervals`: ``low``, ``high`` and ``status`` dicts
        shaped like the parameters. Fixed components get ``(value, value)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> coin = jm.Model(lambda p, x: x * jnp.log(p["theta"]) + (1 - x) * jnp.log1p(-p["theta"]),
        ...                 {"theta": jm.UnitInterval()})
        >>> res = jm.fit(coin, jnp.array([1.0, 1.0, 1.0]))   # three heads: MLE on the edge
        >>> pi = jm.profile_intervals(res, 0.95)
        >>> round(float(pi.low["theta"]), 4), float(pi.high["theta"])
        (0.5271, 1.0)
        >>> jm.ProfileStatus(int(pi.status["theta"])).name
        'OPEN'
    """
    problem, data, weights, mask, red, values = problem_of(res, "a profile interval")
    blocks = _blocks(problem.model)
    z_hat = start_point(res, problem, red, values)
    d0s = _first_steps(res, red, blocks, level)
    out = _intervals_jit(
        z_hat, res.loglik, d0s, data, weights, mask, problem=problem, blocks=blocks,
        level=float(level), inner_iter=int(max_iter), batched=bool(res.batch_shape),
    )  # fmt: skip
    # flat reduced components, in the problem's order
    lo, hi, flags = (np.asarray(x) for x in out)
    code = status_code(flags[..., 0, :], flags[..., 1, :], flags[..., 2, :])
    if red is not None:
        lo, hi, code = _to_full(res, red, lo, hi, code)
    model = res.model
    return ProfileIntervals(
        low=model.unflatten(jnp.asarray(lo)),
        high=model.unflatten(jnp.asarray(hi)),
        status={k: np.asarray(v) for k, v in model.unflatten(jnp.asarray(code)).items()},
        level=float(level),
    )


def _to_full(res, red, lo, hi, code):
    """Map reduced-component intervals to the full components (fixed ones: their value)."""
    batch = res.batch_shape
    est = np.asarray(res.model.flatten_batched(res.params, batch))
    dtype = est.dtype
    vals = res.fixed_values

    def scale_of(v):
        return red.scale({k: jnp.reshape(x, (-1,)) for k, x in v.items()}, dtype)

    scale = np.asarray(jax.vmap(scale_of)(vals) if batch else scale_of(vals))
    src = red.src
    free = src >= 0
    idx = np.where(free, src, 0)
    full_lo = np.where(free, scale * lo[..., idx], est)
    full_hi = np.where(free, scale * hi[..., idx], est)
    full_code = np.where(free, code[..., idx], ProfileStatus.OK).astype(np.int32)
    return full_lo, full_hi, full_code


def conf_int_profile(res, level: float = 0.95) -> dict:
    """``res.conf_int(level, method="profile")``: intervals, NaN (with a warning) where
    the profile found a better optimum or failed."""
    pi = profile_intervals(res, level)
    out = {}
    flagged = []
    for key in res.model.spec:
        st = pi.status[key]
        bad = (st == ProfileStatus.BETTER_OPTIMUM) | (st == ProfileStatus.FAILED)
        if bad.any():
            n_better = int(np.sum(st == ProfileStatus.BETTER_OPTIMUM))
            n_failed = int(np.sum(st == ProfileStatus.FAILED))
            flagged.append(f"{key} ({n_better} better optimum, {n_failed} failed)")
        lo = jnp.where(bad, jnp.nan, pi.low[key])
        hi = jnp.where(bad, jnp.nan, pi.high[key])
        out[key] = (lo, hi)
    if flagged:
        warnings.warn(
            "profile intervals set to NaN for: " + "; ".join(flagged) + ". A better optimum "
            "means the fit is not the maximum (refit with a better init or more iterations); "
            "jm.profile_intervals(res) gives the status of each component",
            ProfileWarning,
            stacklevel=3,
        )
    return out


# --------------------------------------------------------------------------
# the profile curve of one component
# --------------------------------------------------------------------------
def _component(res, problem, red, param: str):
    """(block, index in block) of flattened name ``param`` in the problem's model."""
    names = res.model.param_names
    if param not in names:
        raise ValueError(f"unknown parameter {param!r}; the components are {list(names)}")
    if red is not None:
        j_full = names.index(param)
        r = int(red.src[j_full])
        if r < 0:
            raise ValueError(f"parameter {param!r} is fixed: its profile is a single point")
    else:
        r = names.index(param)
    start = 0
    for blk in _blocks(problem.model):
        if r < start + blk.size:
            return blk, r - start
        start += blk.size
    raise AssertionError("component not found")  # pragma: no cover


def _grid_one(z_hat, lo_t, hi_t, data, weights, mask, *, problem, blk, j, points, inner_iter):
    data, weights, mask = problem.prepare(data, weights, mask)
    frac = jnp.linspace(0.0, 1.0, points, dtype=z_hat.dtype)
    lo_v, hi_v = _value(blk, lo_t), _value(blk, hi_t)
    grid = lo_v + frac * (hi_v - lo_v)
    ts = _coord_of_value(blk, grid)

    def at(t):
        return _inner(problem, blk, data, weights, mask, j, t, z_hat, inner_iter)[0]

    return grid, jax.vmap(at)(ts)


@tuned_jit(static_argnames=("problem", "blk", "j", "points", "inner_iter", "batched"))
def _grid_jit(z_hat, lo_t, hi_t, data, weights, mask, *, problem, blk, j, points, inner_iter,
              batched):  # fmt: skip
    fn = functools.partial(
        _grid_one, problem=problem, blk=blk, j=j, points=points, inner_iter=inner_iter
    )
    if batched:
        return jax.vmap(fn)(z_hat, lo_t, hi_t, data, weights, mask)
    return fn(z_hat, lo_t, hi_t, data, weights, mask)


def profile(res, param: str, *, points: int = 41, level: float = 0.95, margin: float = 0.25):
    """The profile log-likelihood of one parameter component on a grid.

    The grid is uniform in the natural space and spans the profile interval
    at ``level`` with ``margin`` times its width on each side (on the
    unconstrained scale where that would leave the support; an open end
    stops short of the edge).

    Args:
        res: a :class:`~jaxmle.FitResult` (single or batch) with its data.
        param: a flattened parameter name (``"sigma"``, ``"beta[2]"``, ``"p[0]"``).
        points: number of grid points.
        level: the level of the interval reported (and spanned).
        margin: extra width on each side, as a fraction of the interval.

    Returns:
        A :class:`Profile`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...                  {"rate": jm.Positive()})
        >>> res = jm.fit(model, jnp.array([2.0, 4.0, 6.0]))
        >>> prof = res.profile("rate", points=11)
        >>> prof.grid.shape, bool((prof.deviance >= 0).all())
        ((11,), True)
    """
    if int(points) < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    problem, data, weights, mask, red, values = problem_of(res, "a profile")
    blk, j = _component(res, problem, red, param)
    pi = profile_intervals(res, level)
    names = res.model.param_names
    jf = names.index(param)
    batch = res.batch_shape
    flat = functools.partial(res.model.flatten_batched, batch_shape=batch)
    lo = np.asarray(flat(pi.low))[..., jf]
    hi = np.asarray(flat(pi.high))[..., jf]
    est = np.asarray(flat(res.params))[..., jf]
    code = np.asarray(flat({k: jnp.asarray(v) for k, v in pi.status.items()}))[..., jf]
    warn_status(code, param)
    # the reduced component's scale (fixed simplex components): value = scale * reduced value
    scale = np.ones_like(est)
    if red is not None:
        vals = res.fixed_values

        def scale_of(v):
            return red.scale({k: jnp.reshape(x, (-1,)) for k, x in v.items()}, est.dtype)

        scale = np.asarray(jax.vmap(scale_of)(vals) if batch else scale_of(vals))[..., jf]
    z_hat = start_point(res, problem, red, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo_t, hi_t = _grid_ends(blk, lo / scale, hi / scale, est / scale, margin)
    grid, ll = _grid_jit(
        z_hat, jnp.asarray(lo_t), jnp.asarray(hi_t), data, weights, mask, problem=problem,
        blk=blk, j=j, points=int(points), inner_iter=100, batched=bool(batch),
    )  # fmt: skip
    grid = grid * jnp.asarray(scale)[..., None]
    l_max = jnp.asarray(res.loglik)
    dev = 2.0 * (l_max[..., None] - ll)
    eps = float(jnp.finfo(dev.dtype).eps)
    tol = np.maximum(1e-6, 1e3 * eps * (1.0 + np.abs(np.asarray(l_max))))[..., None]
    if np.any(np.asarray(dev) < -2 * tol):
        warnings.warn(
            f"the profile of {param} goes above the fit's log-likelihood: the fit is not the "
            "maximum (refit with a better init or more iterations)",
            ProfileWarning,
            stacklevel=2,
        )
    return Profile(
        param=param,
        grid=grid,
        loglik=ll,
        deviance=jnp.maximum(dev, 0.0),
        estimate=jnp.asarray(est),
        loglik_max=l_max,
        interval=(jnp.asarray(lo), jnp.asarray(hi)),
        threshold=chi2_threshold(level),
        level=float(level),
    )


def warn_status(code, name):
    """A :class:`ProfileWarning` naming ``name`` where a code says better optimum or failed."""
    bad = (code == ProfileStatus.BETTER_OPTIMUM) | (code == ProfileStatus.FAILED)
    if np.any(bad):
        warnings.warn(
            f"the profile interval of {name} is not reliable for {int(np.sum(bad))} dataset(s) "
            "(a better optimum than the fit, or no convergence)",
            ProfileWarning,
            stacklevel=3,
        )


def _grid_ends(blk, lo, hi, est, margin):
    """Ends of the grid on the held coordinate: the interval plus a margin, inside the support."""
    t_lo = np.asarray(_coord_of_value(blk, jnp.asarray(lo)))
    t_hi = np.asarray(_coord_of_value(blk, jnp.asarray(hi)))
    t_est = np.asarray(_coord_of_value(blk, jnp.asarray(est)))
    w = hi - lo
    # natural-space margin where it stays inside the support, else on the coordinate scale
    a = np.asarray(_coord_of_value(blk, jnp.asarray(lo - margin * w)))
    b = np.asarray(_coord_of_value(blk, jnp.asarray(hi + margin * w)))
    tw = t_hi - t_lo
    a = np.where(np.isfinite(a), a, t_lo - margin * np.where(np.isfinite(tw), tw, 0.0))
    b = np.where(np.isfinite(b), b, t_hi + margin * np.where(np.isfinite(tw), tw, 0.0))
    # an open end (the edge of the support): a finite edge is approached to 1e-3 of the
    # distance from the other end; an infinite one stops two spans out on the coordinate
    finite_lo, finite_hi = np.isfinite(t_lo), np.isfinite(t_hi)
    other_lo = np.where(finite_hi, t_hi, t_est)
    other_hi = np.where(finite_lo, t_lo, t_est)
    e_lo = np.asarray(_value(blk, jnp.full(np.shape(t_lo), -np.inf)))
    e_hi = np.asarray(_value(blk, jnp.full(np.shape(t_hi), np.inf)))
    v_other_lo = np.asarray(_value(blk, jnp.asarray(other_lo)))
    v_other_hi = np.asarray(_value(blk, jnp.asarray(other_hi)))
    near_lo = np.asarray(_coord_of_value(blk, jnp.asarray(e_lo + 1e-3 * (v_other_lo - e_lo))))
    near_hi = np.asarray(_coord_of_value(blk, jnp.asarray(e_hi - 1e-3 * (e_hi - v_other_hi))))
    a = np.where(finite_lo, a, np.where(np.isfinite(e_lo), near_lo, other_lo - 2.0))
    b = np.where(finite_hi, b, np.where(np.isfinite(e_hi), near_hi, other_hi + 2.0))
    return a, b


# --------------------------------------------------------------------------
# derived quantities
# --------------------------------------------------------------------------
def _wald_derived(res, fn):
    model = res.model
    batch = res.batch_shape

    def one(params, cov):
        flat = model.flatten(params)
        est = fn(params)
        g = jax.grad(lambda v: fn(model.unflatten(v)))(flat)
        use = (g != 0)[:, None] & (g != 0)[None, :]
        var = jnp.sum(jnp.where(use, g[:, None] * cov * g[None, :], 0.0))
        return est, jnp.sqrt(var)

    one = jax.jit(one)
    if batch:
        return jax.vmap(one)(res.params, res.cov)
    return one(res.params, res.cov)


def derived_one(z_hat, l_hat, est, se, data, weights, mask, fixed_values, *, problem, red, fn,
                 level, inner_iter, outer_iter):  # fmt: skip
    """The estimate, SE and profile interval of ``fn(params)`` on one dataset (traceable)."""
    data, weights, mask = problem.prepare(data, weights, mask)
    model = problem.model
    st = _settings(problem.dtype, level)
    dtype = z_hat.dtype

    def full_params(z):
        p = model.to_constrained(z)
        if red is not None:
            p = red.expand(p, {k: jnp.reshape(v, (-1,)) for k, v in fixed_values.items()})
        return p

    def g(z):
        return jnp.asarray(fn(full_params(z)), dtype)

    def ll(z):
        return problem.loglik_free(z, data, weights, mask)

    ok_se = jnp.isfinite(se) & (se > 0)
    d0 = jnp.where(ok_se, st["target"] * se, jnp.maximum(jnp.abs(est), 1.0) * 0.1)
    rho = jnp.where(ok_se, 100.0 / se**2, 100.0 / jnp.maximum(jnp.abs(est), 1.0) ** 2)
    feas_rel = max(1e-7, 100.0 * float(jnp.finfo(dtype).eps) ** 0.75)  # 6e-4 in float32
    feas_tol = feas_rel * (jnp.abs(est) + jnp.where(ok_se, se, 1.0))

    def evaluate(psi, z0):
        # method of multipliers; the penalty grows tenfold while the violation does not
        # shrink tenfold (the curvature of l along g can grow far from the estimate)
        def outer(carry, _):
            z, lam, r, c_prev = carry

            def fun(v):
                c = g(v) - psi
                return -ll(v) + lam * c + 0.5 * r * c * c

            sol = newton(fun, z, max_iter=inner_iter)
            z_new = jnp.where(jnp.all(jnp.isfinite(sol.x)), sol.x, z)
            c = g(z_new) - psi
            r_next = jnp.where(jnp.abs(c) > 0.1 * jnp.abs(c_prev), 10.0 * r, r)
            return (z_new, lam + r * c, r_next, c), None

        init = (z0, jnp.zeros((), dtype), rho, jnp.asarray(jnp.inf, dtype))
        (z, _, _, _), _ = lax.scan(outer, init, None, length=outer_iter)
        value = ll(z)
        ok = jnp.isfinite(value) & (jnp.abs(g(z) - psi) <= feas_tol)
        return value, z, ok

    out = []
    for sign in (-1.0, 1.0):
        tau, opn, better, failed = _solve_side(
            evaluate, est, l_hat, d0, sign, z_hat, st["target"], st["ftol"],
            tau_max=1e3 * d0, max_iter=100,
        )  # fmt: skip
        out.append((est + sign * tau, opn, better, failed))
    (lo, o1, b1, f1), (hi, o2, b2, f2) = out
    return lo, hi, o1 | o2, b1 | b2, f1 | f2


@tuned_jit(
    static_argnames=("problem", "red", "fn", "level", "inner_iter", "outer_iter", "batched"),
)
def _derived_jit(z_hat, l_hat, est, se, data, weights, mask, fixed_values, *, problem, red, fn,
                 level, inner_iter, outer_iter, batched):  # fmt: skip
    f = functools.partial(
        derived_one, problem=problem, red=red, fn=fn, level=level, inner_iter=inner_iter,
        outer_iter=outer_iter,
    )  # fmt: skip
    if batched:
        return jax.vmap(f)(z_hat, l_hat, est, se, data, weights, mask, fixed_values)
    return f(z_hat, l_hat, est, se, data, weights, mask, fixed_values)


def derived(
    res, fn: Callable[[dict], Any], *, level: float = 0.95, method: str = "wald"
) -> Derived:
    """Estimate, standard error and interval of a scalar function of the parameters.

    ``fn(params)`` takes the dict of (natural-space) parameters and returns a
    scalar: a mean lifetime ``1 / rate``, a quantile, a probability. By
    invariance its MLE is ``fn(params_hat)``.

    * ``method="wald"``: delta method, ``se = sqrt(g' cov g)`` with ``g`` the
      gradient of ``fn`` (exact, by ``jax.grad``) and ``cov`` the fit's
      covariance (so ``cov_type`` applies); interval ``estimate -/+ z se``.
    * ``method="wald_log"``, for a quantity that is positive (a lifetime, a
      rate, a variance): the same delta method on ``log fn``, mapped back,
      ``estimate * exp(-/+ z se / estimate)``; the interval is never negative.
      (An estimate that is not positive gets a NaN interval.)
    * ``method="profile"``: the profile-likelihood interval of ``fn``:
      ``{psi : 2 (l_hat - max_{fn(theta) = psi} l(theta)) <= chi2_1(level)}``,
      the constrained maximum by an augmented Lagrangian. It is invariant to
      reparameterization (the interval of ``1 / rate`` is the reciprocal of
      the interval of ``rate``) and stays inside the range of ``fn``.

    Args:
        res: a :class:`~jaxmle.FitResult` (single or batch).
        fn: scalar function of the parameter dict; pure and traceable.
        level: confidence level.
        method: ``"wald"``, ``"wald_log"`` (a positive quantity) or ``"profile"``.

    Returns:
        A :class:`Derived` (arrays with the batch axis for a batch).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> jax.config.update("jax_enable_x64", True)
        >>> res = jm.fit_dist("exponential", jnp.array([2.0, 4.0, 5.0]), event=jnp.array([1, 1, 0]))
        >>> d = res.derived(lambda p: 1.0 / p["rate"])          # mean lifetime: 11 / 2 years
        >>> float(d.estimate), round(float(d.se), 4)
        (5.5, 3.8891)
        >>> round(float(d.low), 4)                               # 5.5 - 1.96 * 3.8891
        -2.1225
        >>> d = res.derived(lambda p: 1.0 / p["rate"], method="wald_log")
        >>> round(float(d.low), 4), round(float(d.high), 4)    # 5.5 exp(-/+ 1.96 * 3.8891 / 5.5)
        (1.3755, 21.9914)
        >>> d = res.derived(lambda p: 1.0 / p["rate"], method="profile")
        >>> lo, hi = res.conf_int(method="profile")["rate"]
        >>> bool(jnp.isclose(d.low, 1 / hi)) and bool(jnp.isclose(d.high, 1 / lo))
        True
    """
    if method not in ("wald", "wald_log", "profile"):
        raise ValueError(f"method must be 'wald', 'wald_log' or 'profile', got {method!r}")
    if not callable(fn):
        raise TypeError(f"fn must be a function of the parameter dict, got {fn!r}")
    est, se = _wald_derived(res, fn)
    if method == "wald":
        z = z_value(level)
        return Derived(est, se, est - z * se, est + z * se, None, float(level), "wald")
    if method == "wald_log":
        z = z_value(level)
        pos = est > 0
        half = z * se / jnp.where(pos, est, 1.0)
        low = jnp.where(pos, est * jnp.exp(-half), jnp.nan)
        high = jnp.where(pos, est * jnp.exp(half), jnp.nan)
        return Derived(est, se, low, high, None, float(level), "wald_log")
    problem, data, weights, mask, red, values = problem_of(res, "a profile interval")
    z_hat = start_point(res, problem, red, values)
    lo, hi, opn, better, failed = _derived_jit(
        z_hat, res.loglik, est, se, data, weights, mask, values, problem=problem, red=red,
        fn=fn, level=float(level), inner_iter=100, outer_iter=12, batched=bool(res.batch_shape),
    )  # fmt: skip
    code = status_code(np.asarray(opn), np.asarray(better), np.asarray(failed))
    warn_status(code, "the derived quantity")
    return Derived(est, se, lo, hi, code, float(level), "profile")
