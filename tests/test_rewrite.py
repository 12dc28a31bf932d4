"""The model-compilation step (jaxmle/_rewrite.py): rewritten log-likelihoods equal the
original ones, value, gradient and Hessian, on ordinary, edge and invalid inputs; the step
works with nested jaxprs and under a user's jit, vmap and grad; ``rewrite=False`` opts out."""

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import LOGIT3, NORMAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import lax

import jaxmle as jm
from jaxmle._rewrite import fast_pow, rewrite

EPS = float(jnp.finfo(jnp.float64).eps)
N = 64  # pairs per hypothesis example: one compilation for every example

SPECIAL_X = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, math.inf, -math.inf, math.nan, 1e-310]
SPECIAL_Y = [0.0, -0.0, 1.0, -1.0, 2.0, 3.0, -3.0, 0.5, -0.5, 2.5, math.inf, -math.inf, math.nan]
SPECIAL_Y += [2.0**53, 2.0**53 + 2, 1e300]

_pow_ref = jax.jit(lax.pow)
_pow_new = jax.jit(fast_pow)


def _same(a, b):
    """Equal as IEEE values: both NaN, or equal with the same sign (of zeros too)."""
    return (np.isnan(a) & np.isnan(b)) | ((a == b) & (np.signbit(a) == np.signbit(b)))


def check_pow(x, y):
    """fast_pow(x, y) against lax.pow: the same special values exactly; elsewhere within
    ``4 eps (1 + |y log|x||)`` relative (the rounding of ``log`` carried by ``y``)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    with np.errstate(all="ignore"):
        ref, new = np.asarray(_pow_ref(x, y)), np.asarray(_pow_new(x, y))
        if jax.default_backend() == "cpu":
            # XLA's CPU backend reads a subnormal number as zero in every operation (pow
            # alone reads it exactly): the rewritten pow does as the other operations do
            def flushed(v):
                sub = (v != 0) & (np.abs(v) < np.finfo(float).tiny)
                return np.where(sub, np.copysign(0.0, v), v)

            ref = np.asarray(_pow_ref(flushed(x), flushed(y)))
        tiny, huge = np.finfo(float).tiny, np.finfo(float).max
        ordinary = np.isfinite(ref) & (np.abs(ref) >= tiny) & (np.abs(ref) <= huge / 2)
        ordinary &= np.isfinite(new)
        tol = 4 * EPS * (1 + np.nan_to_num(np.abs(y * np.log(np.abs(x))), nan=0.0))
        rel = np.abs(new - ref) / np.where(ordinary, np.abs(ref), 1)
        bad = ordinary & ~(rel <= tol)
        assert not bad.any(), (x[bad], y[bad], ref[bad], new[bad])
        # at the edge of the range (overflow, underflow): the same sign, magnitude within tol
        edge = ~ordinary & (np.isfinite(x) & np.isfinite(y)) & (ref != 0) & ~np.isnan(ref)
        edge &= ~np.isinf(ref) | (np.abs(y * np.log(np.abs(x))) < 709)
        spec = ~ordinary & ~edge
        bad = spec & ~_same(ref, new)
        assert not bad.any(), (x[bad], y[bad], ref[bad], new[bad])
        assert np.all(np.signbit(ref[edge]) == np.signbit(new[edge]))


def test_pow_special_cases_exact():
    x, y = np.meshgrid(np.array(SPECIAL_X), np.array(SPECIAL_Y))
    check_pow(x.ravel(), y.ravel())


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
x_values = st.one_of(st.sampled_from(SPECIAL_X), floats, st.floats(-10, 10), st.floats(0, 1e-300))
y_values = st.one_of(
    st.sampled_from(SPECIAL_Y),
    floats,
    st.integers(-60, 60).map(float),
    st.integers(-60, 60).map(lambda k: k + 0.5),
    st.floats(-5, 5),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(x_values, y_values), min_size=N, max_size=N))
def test_pow_property(pairs):
    x, y = np.array(pairs).T
    check_pow(x, y)


def _derivatives(fn):
    """Gradient and Hessian of ``fn(x, y)`` in ``(x, y)``, per element (vmapped)."""

    def f(v):
        return fn(v[0], v[1])

    return jax.jit(jax.vmap(jax.grad(f))), jax.jit(jax.vmap(jax.hessian(f)))


_D_REF, _D_NEW = _derivatives(lax.pow), _derivatives(fast_pow)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1e-3, 1e3), st.floats(-8, 8)),
        min_size=N,
        max_size=N,
    )
)
def test_pow_derivatives_ordinary(pairs):
    v = np.array(pairs)
    x, y = v.T
    bound = 16 * EPS * (1 + np.abs(y * np.log(x)) + np.abs(np.log(x)))
    for ref_fn, new_fn in zip(_D_REF, _D_NEW):
        ref, new = np.asarray(ref_fn(v)), np.asarray(new_fn(v))
        scale = np.maximum(
            np.abs(ref), np.abs(ref).max(axis=tuple(range(1, ref.ndim)), keepdims=True)
        )
        tol = bound.reshape((-1,) + (1,) * (ref.ndim - 1)) * scale
        assert np.all(np.abs(new - ref) <= tol)


@pytest.mark.parametrize("y", [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("x", [0.0, -0.0])
def test_pow_derivative_at_zero(x, y):
    """d/dx at x = ±0 is y pow(x, y - 1), as lax.pow's rule; d/dy is lax.pow's too."""
    v = np.array([[x, y]])
    for ref_fn, new_fn in zip(_D_REF[:1], _D_NEW[:1]):
        ref, new = np.asarray(ref_fn(v)), np.asarray(new_fn(v))
        assert np.all(_same(ref, new)), (ref, new)


@pytest.mark.parametrize(("x", "y"), [(-2.0, 3.0), (-2.0, 2.0), (-2.0, 0.5), (-0.5, -3.0)])
def test_pow_derivatives_negative_base(x, y):
    """x < 0: d/dx = y x^(y-1) with the sign of an integer y; d/dy is NaN (log of x < 0)."""
    v = np.array([[x, y]])
    ref, new = np.asarray(_D_REF[0](v)), np.asarray(_D_NEW[0](v))
    assert np.allclose(ref, new, rtol=1e-14, equal_nan=True)


# ---------------------------------------------------------------------------- models
def weibull_user(p, d):
    """A censored Weibull as a user writes it: the data divided by the scale, raised to the
    shape."""
    t, e = d["x"], d["event"]
    z = t / p["scale"]
    shape, scale = p["shape"], p["scale"]
    return e * (jnp.log(shape) - jnp.log(scale) + (shape - 1) * jnp.log(z)) - z ** p["shape"]


def gengamma_user(p, x):
    """Stacy's generalized gamma, with powers of the data in a parameter."""
    a, d, k = p["scale"], p["d"], p["k"]
    return (
        jnp.log(k)
        - d * jnp.log(a)
        + (d - 1) * jnp.log(x)
        - (x / a) ** k
        - jax.scipy.special.gammaln(d / k)
    )


def boxcox_user(p, y):
    """Box–Cox normal: ``(y^lam - 1) / lam`` normal, with its Jacobian."""
    lam = p["lam"]
    z = (y**lam - 1) / lam
    return jax.scipy.stats.norm.logpdf(z, p["mu"], p["sigma"]) + (lam - 1) * jnp.log(y)


def _weibull_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = 2.0 * rng.weibull(1.5, n)
    c = rng.exponential(5.0, n)
    return {"x": jnp.asarray(np.minimum(t, c)), "event": jnp.asarray((t <= c) * 1.0)}


CASES = [
    (weibull_user, {"shape": 1.4, "scale": 2.2}, _weibull_data()),
    (
        gengamma_user,
        {"scale": 2.0, "d": 3.0, "k": 1.7},
        jnp.asarray(np.random.default_rng(1).gamma(2.0, 1.5, 150)),
    ),
    (
        boxcox_user,
        {"lam": 0.4, "mu": 1.5, "sigma": 0.6},
        jnp.asarray(np.random.default_rng(2).lognormal(0.5, 0.4, 150)),
    ),
]


def _flat(fn, params, data):
    keys = list(params)

    def f(v):
        return jnp.sum(fn(dict(zip(keys, v)), data))

    return f, jnp.array([params[k] for k in keys])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
def test_rewritten_model_value_gradient_hessian(case):
    fn, params, data = case
    f0, v = _flat(fn, params, data)
    f1, _ = _flat(rewrite(fn), params, data)
    terms0, terms1 = fn(params, data), rewrite(fn)(params, data)
    scale = float(jnp.sum(jnp.abs(terms0)))
    assert float(jnp.max(jnp.abs(terms1 - terms0))) <= 64 * EPS * max(scale / terms0.size, 1)
    for d in (lambda f: f, jax.grad, jax.hessian):
        a, b = np.asarray(jax.jit(d(f0))(v)), np.asarray(jax.jit(d(f1))(v))
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(a).max()), (a, b)


def test_rewritten_model_invalid_inputs():
    """Outside the support the rewritten loglik is NaN or -inf exactly where the original is."""
    bad = {"x": jnp.array([0.0, -1.0, jnp.inf, jnp.nan, 1.0]), "event": jnp.ones(5)}
    for p in (
        {"shape": 1.4, "scale": 2.2},
        {"shape": 0.0, "scale": 2.2},
        {"shape": 1.4, "scale": 0.0},
    ):
        a = np.asarray(weibull_user(p, bad))
        b = np.asarray(rewrite(weibull_user)(p, bad))
        assert np.all(_same(a, b) | np.isclose(a, b, rtol=1e-14)), (p, a, b)


def test_log_of_data_over_parameter():
    """log(x / s) as log x - log s: within a few eps of log(x / s), absolutely."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(np.exp(rng.uniform(-30, 30, 1000)))
    for s in (2.5, 1e-7, 3e8):
        a = jnp.log(x / s)
        b = rewrite(lambda s, x: jnp.log(x / s))(jnp.float64(s), x)
        tol = 4 * EPS * (1 + jnp.abs(jnp.log(x)) + abs(math.log(s)))
        assert bool(jnp.all(jnp.abs(a - b) <= tol))
        c = rewrite(lambda s, x: jnp.log(s * x))(jnp.float64(s), x)
        assert bool(jnp.all(jnp.abs(jnp.log(s * x) - c) <= tol))


# ------------------------------------------------------------ nested jaxprs, transformations
def _nested(p, x):
    inner = jax.jit(lambda a, b: a**b)  # a jit call: inlined and rewritten

    def body(i, acc):
        return acc + (x / p["s"]) ** p["k"] / (i + 1.0)

    looped = lax.fori_loop(0, 3, body, jnp.zeros_like(x))  # a loop: passed through
    branch = lax.cond(p["k"] > 1, lambda: jnp.log1p(x), lambda: x)  # a cond: passed through
    scanned = lax.scan(lambda c, xi: (c + xi ** p["k"], None), 0.0, x)[0]
    return inner(x, p["k"]) + looped + branch + jax.nn.log_sigmoid(x) + scanned / x.size


def test_nested_jaxprs():
    x = jnp.linspace(0.1, 3.0, 7)
    p = {"s": 1.3, "k": 1.7}
    f0, v = _flat(_nested, p, x)
    f1, _ = _flat(rewrite(_nested), p, x)
    for d in (lambda f: f, jax.grad, jax.hessian):
        assert np.allclose(d(f0)(v), d(f1)(v), rtol=1e-13)
    text = str(jax.make_jaxpr(lambda p: rewrite(_nested)(p, x))(p))
    assert "pow " in text  # (inside the loop and the scan, as written)


def test_closes_over_tracers_and_works_under_jit_vmap_grad():
    x = jnp.linspace(0.5, 4.0, 9)

    def total(h, use):
        f = rewrite(lambda p, x: (x / p) ** h) if use else (lambda p, x: (x / p) ** h)
        return jnp.sum(f(2.0, x))

    g0, g1 = jax.grad(total)(1.5, False), jax.grad(total)(1.5, True)
    assert np.isclose(g0, g1, rtol=1e-13)
    f = rewrite(weibull_user)
    data = _weibull_data(40)
    stacked = jax.tree_util.tree_map(lambda a: a.reshape(4, 10), data)
    p = {"shape": 1.2, "scale": 1.9}
    got = jax.jit(jax.vmap(f, in_axes=(None, 0)))(p, stacked)
    assert np.allclose(got, weibull_user(p, stacked), rtol=1e-13)


def _weibull_model(rewrite_it=True):
    spec = {"shape": jm.Positive(), "scale": jm.Positive()}
    return jm.Model(weibull_user, spec, rewrite=rewrite_it)


def test_fit_with_and_without_rewrite():
    data = _weibull_data(300, seed=4)
    a = jm.fit(_weibull_model(False), data)
    b = jm.fit(_weibull_model(True), data)
    ref = jm.fit(jm.families.Weibull(), data)
    for r in (a, b):
        assert r.converged
        for k in ("shape", "scale"):
            assert np.isclose(r.params[k], ref.params[k], rtol=1e-10)
            assert np.isclose(r.se[k], ref.se[k], rtol=1e-8)


def test_fit_inside_users_jit_and_grad():
    data = _weibull_data(200, seed=5)
    model = _weibull_model()

    def shape_of(scale_data):
        d = {"x": data["x"] * scale_data, "event": data["event"]}
        return jm.fit(model, d).params["scale"]

    got = jax.jit(shape_of)(1.0)
    assert np.isclose(got, jm.fit(model, data).params["scale"], rtol=1e-12)
    # the scale's MLE is equivariant: d scale / d factor = scale
    assert np.isclose(jax.grad(shape_of)(1.0), got, rtol=1e-6)


def test_opt_out_and_families():
    off = _weibull_model(False)
    assert off.compiled_loglik is weibull_user and off.loglik is weibull_user
    data = _weibull_data(20)
    p = {"shape": 1.2, "scale": 1.9}
    assert "pow" in str(jax.make_jaxpr(off.compiled_loglik)(p, data))
    on = _weibull_model()
    assert on.loglik is weibull_user  # the user's function is kept as given
    text = str(jax.make_jaxpr(on.compiled_loglik)(p, data))
    assert " pow " not in text and "log " in text
    fam = jm.families.Weibull()
    assert fam.rewrite and fam.compiled_loglik is not fam.loglik


def test_float32():
    x = jnp.asarray([0.5, 2.0, 0.0, -2.0, jnp.inf], jnp.float32)
    y = jnp.asarray([1.5, -0.5, 2.0, 3.0, -1.0], jnp.float32)
    ref, new = np.asarray(lax.pow(x, y)), np.asarray(fast_pow(x, y))
    assert new.dtype == np.float32
    assert np.allclose(ref, new, rtol=4e-6, equal_nan=True)
    assert np.all(np.signbit(ref) == np.signbit(new))


@pytest.mark.parametrize("s", [1e100, 1e-100, 2.0, -2.0, 0.0, math.inf])
@pytest.mark.parametrize("y", [1.5, -0.5, 2.0, 0.0])
def test_data_over_parameter_at_the_edges(s, y):
    """Quotients and products that underflow or overflow, zero, negative, infinite and NaN data:
    the rewritten log and pow of ``x / s`` and ``x * s`` are the original's."""
    x = jnp.array([1e-300, 1e300, 0.0, -0.0, -2.0, jnp.inf, -jnp.inf, jnp.nan, 3.0])

    def f(p, x):
        return jnp.stack(
            [jnp.log(x / p[0]), (x / p[0]) ** p[1], jnp.log(x * p[0]), (x * p[0]) ** p[1]]
        )

    p = jnp.array([s, y])
    with np.errstate(all="ignore"):
        a, b = np.asarray(f(p, x)), np.asarray(rewrite(f)(p, x))
    close = np.isclose(a, b, rtol=1e-13, atol=0) & np.isfinite(a)
    assert np.all(_same(a, b) | close), (a, b)


def _gamma_draws(shape=(2, 30)):
    return jnp.asarray(np.random.default_rng(6).gamma(2.0, 1.0, shape))


NOTHING_TO_REWRITE = {
    "weibull": (jm.families.Weibull(), lambda: {"x": _gamma_draws(), "event": jnp.ones((2, 30))}),
    "logistic": (
        LOGIT3,
        lambda: {
            "X": jnp.asarray(np.random.default_rng(7).normal(size=(2, 30, 3))),
            "y": jnp.asarray(np.random.default_rng(8).integers(0, 2, (2, 30)) * 1.0),
        },
    ),
    "normal": (NORMAL, _gamma_draws),
}


@pytest.mark.parametrize("name", list(NOTHING_TO_REWRITE))
def test_nothing_to_rewrite_compiles_the_same_program(name):
    """A loglik with nothing to rewrite (the built-in families, the benchmark's W1-W4) is
    traced as written: the fit's program is the one without the step."""
    model, make_data = NOTHING_TO_REWRITE[name]
    data = make_data()
    off = copy.copy(model)
    off.compiled_loglik = model.loglik
    texts = [
        jax.jit(lambda d, m=m: jm.fit_batch(m, d).params).lower(data).as_text(debug_info=False)
        for m in (model, off)
    ]
    assert texts[0] == texts[1]


def test_literal_operands():
    """Constants folded into the jaxpr as literals: a log or pow of a number."""

    def f(p, x):
        return jnp.log(2.0) * x + lax.pow(2.0, p) + jnp.log(x / p) + lax.pow(x, 0.5)

    x = jnp.linspace(0.5, 2.0, 5)
    assert np.allclose(rewrite(f)(1.5, x), f(1.5, x), rtol=1e-14)
    assert np.allclose(
        jax.grad(lambda p: jnp.sum(rewrite(f)(p, x)))(1.5),
        jax.grad(lambda p: jnp.sum(f(p, x)))(1.5),
        rtol=1e-13,
    )
