"""The model-compilation step: a log-likelihood rewritten into cheaper, equal primitives.

A model's log-likelihood is traced to a jaxpr (``jax.make_jaxpr``) and evaluated
again equation by equation, with the slow primitives of XLA's CPU backend
replaced by equal forms that are cheaper to evaluate and, above all, to
differentiate. The fit then differentiates the rewritten function.

Measured on XLA's CPU backend (``bench/primitives.py``, ``bench/RESULTS-primitives.md``),
``pow(x, y)`` with a floating exponent costs several times an ``exp``, and its
derivatives are more pows: ``d/dx = y pow(x, y - 1)``, then ``pow(x, y - 2)``
in the Hessian. :func:`fast_pow` computes the same value as
``exp(y log|x|)``, with the rounding of ``log`` compensated (below), and its
derivatives from the value: ``d/dx = y v / x``, ``d/dy = v log x``; the
Hessian costs no further ``exp`` or ``log``.

What is rewritten: every ``pow`` whose operands are both float32 or both
float64, at top level or inside ``jit``-wrapped calls (inlined). Everything
else is bound unchanged, including ``custom_jvp``/``custom_vjp`` functions and
control flow (``while``, ``cond``, ``scan``), whose bodies are left as written.

Accuracy. ``log(a)`` is rounded to ``l`` with an error of about ``eps |l|``,
which ``exp(y l)`` would turn into a relative error of ``eps |y l|`` (hundreds
of ulps for ``|y log a|`` in the hundreds). The residual ``c = a exp(-l) - 1``
recovers ``log a - l`` to about ``eps``, and the product ``y l`` is split
exactly (Dekker's two-product), so that ``v = exp(p) (1 + lo)`` with
``p + lo = y log a`` to about ``eps (1 + |y|)``: the value is within a few ulps
of XLA's ``pow`` (``tests/test_rewrite.py`` bounds it). Every special case of
``pow`` is selected exactly: ``y = 0`` and ``x = 1`` give 1 (even for NaN),
``x = ±0`` and ``±inf`` give ``0`` or ``inf`` with the sign of an odd integer
``y``, ``x < 0`` gives ``±|x|^y`` for an integer ``y`` and NaN otherwise,
``|x| = 1`` with an infinite ``y`` gives 1.

Derivatives. ``d/dy = v log x`` is the original rule (``log`` of 1 where
``x = 0``). ``d/dx = y v / x`` equals the original ``y pow(x, y - 1)`` wherever
``x`` is finite and non-zero and ``x^y`` neither overflows nor underflows; at
``x = ±0, ±inf`` or NaN it is selected in closed form. Where ``x^y``
overflows (underflows) and ``x^(y-1)`` does not, it is ``inf`` (0) where the
original is finite: the log-likelihood is then not finite either.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore

__all__ = ["fast_pow", "rewrite"]

#: Veltkamp's splitting constants, 2^ceil(p/2) + 1 for p bits of mantissa
_SPLIT = {np.dtype(np.float64): 134217729.0, np.dtype(np.float32): 4097.0}


def _two_prod(a, b):
    """``(p, e)`` with ``p = fl(a b)`` and ``p + e = a b`` exactly (Dekker; no FMA needed)."""
    c = _SPLIT[np.dtype(a.dtype)]
    p = a * b

    def split(v):
        t = c * v
        hi = t - (t - v)
        return hi, v - hi

    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _odd_integer(y):
    """Whether ``y`` is an odd integer (false for NaN, infinities and ``|y| >= 2^53``)."""
    return (jnp.floor(y) == y) & (jnp.floor(y * 0.5) * 2 != y) & jnp.isfinite(y)


def _pow_value(x, y):
    """``pow(x, y)`` for floating ``x`` and ``y`` of one dtype, without ``pow`` (see the module
    docstring); returns ``(value, log|x|)``."""
    a = jnp.abs(x)
    lg = jnp.log(a)
    c = a * jnp.exp(-lg) - 1  # log(a) - lg, to about eps
    p, e = _two_prod(y, lg)
    lo = e + y * c
    lo = jnp.where(jnp.isfinite(lo), lo, 0)  # (infinite a or y*lg: no correction to make)
    v = jnp.exp(p)
    v = jnp.where(jnp.isfinite(v), v + v * lo, v)
    neg = jnp.signbit(x)
    v = jnp.where(neg & _odd_integer(y), -v, v)
    nan = neg & (jnp.floor(y) != y) & jnp.isfinite(x) & (x != 0)  # x < 0, y not an integer
    v = jnp.where(nan, jnp.nan, v)
    one = (y == 0) | (x == 1) | ((a == 1) & jnp.isinf(y))
    return jnp.where(one, 1, v).astype(x.dtype), lg


def _pow_at_edges(x, y):
    """``pow(x, y)`` exactly where ``x`` is ``±0``, ``±inf`` or NaN (no transcendental)."""
    big = jnp.isinf(x)
    mag = jnp.where((y > 0) == big, jnp.inf, 0.0)
    mag = jnp.where(y == 0, 1.0, mag)
    mag = jnp.where(jnp.isnan(y) | (jnp.isnan(x) & (y != 0)), jnp.nan, mag)
    return jnp.where(jnp.signbit(x) & _odd_integer(y), -mag, mag).astype(x.dtype)


@jax.custom_jvp
def fast_pow(x, y):
    """``x ** y`` for floating ``x``, ``y`` of one dtype: XLA's ``pow`` to a few ulps, every
    special case exact, at the cost of an ``exp`` and a ``log`` and derivatives that reuse
    the value (see :mod:`jaxmle._rewrite`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmle._rewrite import fast_pow
        >>> fast_pow(jnp.array([2.0, 0.0, -8.0, -8.0]), jnp.array([0.5, 0.0, 3.0, 0.5])).tolist()
        [1.4142135381698608, 1.0, -512.0, nan]
        >>> float(jax.grad(fast_pow)(4.0, 0.5))  # 0.5 / sqrt(4)
        0.25
    """
    return _pow_value(x, y)[0]


@functools.partial(fast_pow.defjvp, symbolic_zeros=True)
def _fast_pow_jvp(primals, tangents):
    x, y = primals
    dx, dy = tangents
    v = fast_pow(x, y)
    out = jnp.zeros(jnp.shape(v), v.dtype)
    if type(dx) is not jax.custom_derivatives.SymbolicZero:
        regular = jnp.isfinite(x) & (x != 0)
        safe = jnp.where(regular, x, 1)
        d = jnp.where(regular, v / safe, _pow_at_edges(x, y - 1))
        out = out + dx * (y * d)
    if type(dy) is not jax.custom_derivatives.SymbolicZero:
        out = out + dy * (v * jnp.log(jnp.where(x == 0, 1, x)))
    return v, out


def _rewritable_pow(eqn) -> bool:
    x, y = (v.aval for v in eqn.invars)
    dt = np.dtype(x.dtype)
    return dt in _SPLIT and np.dtype(y.dtype) == dt


def _is_jit_call(eqn) -> bool:
    return eqn.primitive.name in ("pjit", "jit") and isinstance(
        eqn.params.get("jaxpr"), jcore.ClosedJaxpr
    )


def _bind(eqn, invals):
    """The equation's primitive bound to ``invals``, as ``jax.core.eval_jaxpr`` does (older
    JAX returns ``(subfuns, params)`` from ``get_bind_params``, newer the params alone)."""
    got = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = got if isinstance(got, tuple) else ((), got)
    ctx = getattr(getattr(eqn, "ctx", None), "manager", None)
    with ctx if ctx is not None else contextlib.nullcontext():
        ans = eqn.primitive.bind(*subfuns, *invals, **params)
    return ans if eqn.primitive.multiple_results else [ans]


def _eval(jaxpr, consts, *args):
    """Evaluate ``jaxpr`` with its ``pow`` equations rewritten and its ``jit`` calls inlined."""
    env = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts):
        env[v] = c
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        if eqn.primitive is lax.pow_p and _rewritable_pow(eqn):
            outs = [fast_pow(*invals)]
        elif _is_jit_call(eqn):
            sub = eqn.params["jaxpr"]
            outs = _eval(sub.jaxpr, sub.consts, *invals)
        else:
            outs = _bind(eqn, invals)
        for v, val in zip(eqn.outvars, outs):
            if not isinstance(v, jcore.DropVar):
                env[v] = val
    return [read(v) for v in jaxpr.outvars]


def _has_pow(jaxpr) -> bool:
    """Whether ``jaxpr`` (or a ``jit`` call in it) has a ``pow`` that :func:`rewrite` replaces."""
    for eqn in jaxpr.eqns:
        if eqn.primitive is lax.pow_p and _rewritable_pow(eqn):
            return True
        if _is_jit_call(eqn) and _has_pow(eqn.params["jaxpr"].jaxpr):
            return True
    return False


def rewrite(fun):
    """``fun`` with its slow primitives replaced by equal, cheaper forms (this module's
    docstring says which, and how equal).

    Each call traces ``fun`` to a jaxpr at the arguments' shapes and evaluates it with the
    rewrites; under ``jit`` that happens once per compilation. A function with nothing to
    rewrite is called as it is, and so is one that cannot be traced on its own (its error is
    then the one it raises). Works under the caller's ``jit``, ``vmap`` and ``grad``, and with
    numbers or tracers it closes over.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle._rewrite import rewrite
        >>> f = rewrite(lambda p, t: (t / p["scale"]) ** p["shape"])
        >>> f({"scale": 2.0, "shape": 1.5}, jnp.array([2.0, 8.0])).tolist()
        [1.0, 8.0]
    """

    @functools.wraps(fun)
    def rewritten(*args):
        try:
            closed, shape = jax.make_jaxpr(fun, return_shape=True)(*args)
        except Exception:  # noqa: BLE001 (let fun raise its own error, as written)
            return fun(*args)
        if not _has_pow(closed.jaxpr):
            return fun(*args)
        leaves = jax.tree_util.tree_leaves(args)
        outs = _eval(closed.jaxpr, closed.consts, *leaves)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shape), outs)

    rewritten.__jaxmle_rewritten__ = True
    return rewritten
