"""Every family's logpdf / logcdf / logsf against scipy.stats, at ordinary and extreme points.

One table-driven test: each row is a family with parameters, the equivalent
frozen ``scipy.stats`` distribution (the reference), and points that include
the far tails. Where scipy itself underflows to ``-inf`` (or 0) in a tail, the
row gives the reference from the closed form or an asymptotic expansion
(provenance in the comment next to it). The test also asserts that the
gradients with respect to every parameter are finite at every point.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from helpers import P3

import jaxmle as jm
from jaxmle._compile import tuned_jit
from jaxmle.distributions import DISTRIBUTIONS, censored_loglik, get_distribution


def _poisson_logsf_asymptotic(k, mu):
    # log P(X > k) = log pmf(k+1) + log(1 + mu/(k+2) + mu^2/((k+2)(k+3)) + ...), summed exactly
    # (terms decrease geometrically for mu << k)
    log_pmf = (k + 1) * math.log(mu) - mu - math.lgamma(k + 2)
    total, term, j = 1.0, 1.0, 2
    while term > 1e-18:
        term *= mu / (k + j)
        total += term
        j += 1
    return log_pmf + math.log(total)


def _gamma_logsf_asymptotic(z, a):
    # log Q(a, z) = (a-1) log z - z - lgamma(a) + log(1 + (a-1)/z + (a-1)(a-2)/z^2 + ...)
    # (Abramowitz & Stegun 6.5.32), truncated where the terms fall below 1e-18
    total, term, j = 1.0, 1.0, 1
    while abs(term) > 1e-18 and j < 30:
        term *= (a - j) / z
        total += term
        j += 1
    return (a - 1) * math.log(z) - z - math.lgamma(a) + math.log(total)


# name, options, params, scipy reference, points, {(function, point): reference} where
# scipy underflows
CASES = [
    ("bernoulli", {}, {"p": 0.3}, st.bernoulli(0.3), [0, 1, -1, 2, 0.5], {}),
    ("binomial", {"trials": 100}, {"p": 0.1}, st.binom(100, 0.1), [0, 5, 10, 50, 90, 99, 100], {}),
    (
        "categorical",
        {"k": 3},
        {"p": P3},
        st.rv_discrete(values=([0, 1, 2], P3)),
        [0, 1, 2, -1, 3],
        {},
    ),
    (
        "poisson",
        {},
        {"rate": 2.0},
        st.poisson(2.0),
        [0, 1, 5, 50, 150, 1000],
        {("logsf", 1000): _poisson_logsf_asymptotic(1000, 2.0)},  # scipy: -inf
    ),
    (
        "negative_binomial",
        {},
        {"mean": 3.0, "alpha": 0.5},
        st.nbinom(2.0, 1 / (1 + 0.5 * 3.0)),  # n = 1/alpha, p = 1/(1 + alpha mean)
        [0, 1, 5, 50, 500],
        {},
    ),
    ("geometric", {}, {"p": 0.3}, st.geom(0.3, loc=-1), [0, 1, 5, 100, 1e4, -1], {}),
    ("exponential", {}, {"rate": 2.0}, st.expon(scale=0.5), [1e-10, 0.5, 3, 300], {}),
    ("normal", {}, {"loc": 1.0, "scale": 2.0}, st.norm(1, 2), [-79, -20, 0, 1, 3, 20, 81], {}),
    (
        "lognormal",
        {},
        {"mu": 0.5, "sigma": 1.5},
        st.lognorm(1.5, scale=math.exp(0.5)),
        [1e-30, 1e-5, 1, 10, 1e20],
        {},
    ),
    (
        "gamma",
        {},
        {"shape": 2.5, "scale": 2.0},
        st.gamma(2.5, scale=2.0),
        [1e-8, 0.1, 5, 30, 500, 2000],
        {("logsf", 2000): _gamma_logsf_asymptotic(1000.0, 2.5)},  # scipy: -inf
    ),
    (
        "weibull",
        {},
        {"shape": 1.5, "scale": 2.0},
        st.weibull_min(1.5, scale=2.0),
        [1e-8, 0.5, 2, 10, 1e3],
        {},
    ),
    (
        "beta",
        {},
        {"a": 2.5, "b": 3.0},
        st.beta(2.5, 3.0),
        [1e-10, 1e-3, 0.3, 0.7, 0.999, 1 - 1e-10],
        {},
    ),
    (
        "student_t",
        {},
        {"loc": 1.0, "scale": 2.0, "df": 3.0},
        st.t(3.0, 1, 2),
        [-1e10, -1e3, -5, 0, 1, 1.001, 3, 1e3, 1e10],
        {},
    ),
    (
        "student_t",
        {},
        {"loc": 0.0, "scale": 1.0, "df": 300.0},
        st.t(300.0),
        # nine points, as many as the row above: both student_t rows have the same shapes,
        # so they share one compiled kernel (the costliest of this table to compile)
        [-30, -5, -2, -0.5, 0, 0.5, 2, 5, 30],
        {},
    ),
    (
        "laplace",
        {},
        {"loc": 1.0, "scale": 2.0},
        st.laplace(1, 2),
        [-1600, -1, 1, 3, 1600],
        # closed form: f = exp(-|z|)/(2 scale), F(x) = exp(z)/2 below loc, S(x) = exp(-z)/2
        # above; scipy: -inf
        {
            ("logpdf", -1600): -800.5 - math.log(4.0),
            ("logpdf", 1600): -799.5 - math.log(4.0),
            ("logcdf", -1600): math.log(0.5) - 800.5,
            ("logsf", 1600): math.log(0.5) - 799.5,
        },
    ),
    (
        "logistic",
        {},
        {"loc": 1.0, "scale": 2.0},
        st.logistic(1, 2),
        [-1000, -1, 1, 3, 1000],
        {},
    ),
    (
        "loglogistic",
        {},
        {"shape": 2.0, "scale": 3.0},
        st.fisk(2.0, scale=3.0),
        [1e-100, 0.1, 3, 10, 1e100],
        # closed form: S(x) = 1 / (1 + (x/scale)^shape) -> -shape log(x/scale); scipy: -inf
        {("logsf", 1e100): -2.0 * math.log(1e100 / 3.0)},
    ),
    (
        "gumbel",
        {},
        {"loc": 1.0, "scale": 2.0},
        st.gumbel_r(1, 2),
        [-10, -1, 1, 3, 100, 1500],
        # S = 1 - exp(-exp(-z)) = exp(-z) (1 - exp(-z)/2 + ...), z = 749.5; scipy: -inf
        {("logsf", 1500): -749.5},
    ),
    (
        "gumbel_min",
        {},
        {"loc": 1.0, "scale": 2.0},
        st.gumbel_l(1, 2),
        [-1500, -100, -3, 1, 10],
        # F = 1 - exp(-exp(z)) = exp(z) (1 - exp(z)/2 + ...), z = -750.5; scipy: -inf
        {("logcdf", -1500): -750.5},
    ),
    (
        "pareto",
        {"scale": 2.0},
        {"shape": 2.5},
        st.pareto(2.5, scale=2.0),
        [1.0, 2.0, 2.5, 10, 1e100],
        # closed form: log b + b log s - (b+1) log x; scipy: -inf
        {("logpdf", 1e100): math.log(2.5) + 2.5 * math.log(2.0) - 3.5 * math.log(1e100)},
    ),
    ("multinomial", {"k": 3}, {"p": P3}, None, None, {}),
]


def _reference(ref, ref_fn, fn, pts, overrides):
    with np.errstate(all="ignore"):
        out = np.asarray(getattr(ref, ref_fn)(np.asarray(pts, float)), float)
    for i, x in enumerate(pts):
        if (fn, x) in overrides:
            assert not np.isfinite(out[i]) or out[i] == 0.0, "override only where scipy fails"
            out[i] = overrides[(fn, x)]
    return out


@pytest.mark.parametrize(
    "name, options, params, ref, pts, overrides",
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_log_functions_match_scipy_with_finite_gradients(
    name, options, params, ref, pts, overrides
):
    dist = get_distribution(name, **options)
    assert dist.name == name and name in DISTRIBUTIONS
    params = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}

    if name == "multinomial":
        # the reference is scipy.stats.multinomial(row sum, p); the CDFs are not defined
        counts = np.array([[2, 3, 5], [0, 0, 10], [10, 0, 0], [0, 1, 0], [40, 0, 60]], float)
        want = np.array([st.multinomial(int(c.sum()), P3).logpmf(c) for c in counts])
        got = dist.logpmf(jnp.asarray(counts), params)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
        grad = jax.jacfwd(lambda p: dist.logpmf(jnp.asarray(counts), p))(params)
        assert np.all(np.isfinite(grad["p"]))
        with pytest.raises(NotImplementedError):
            dist.logcdf(jnp.asarray(counts), params)
        return

    x = jnp.asarray(pts, jnp.float64)
    fns = ("logpdf", "logcdf", "logsf")
    want = {
        fn: _reference(
            ref, "logpmf" if fn == "logpdf" and not dist.continuous else fn, fn, pts, overrides
        )
        for fn in fns
    }
    censored = (
        _censored_cases(dist, params, np.asarray(pts, float), want) if dist.continuous else {}
    )

    # one compilation per row (rows of one family with equal shapes share it, through the
    # persistent compilation cache): values and Jacobians w.r.t. the parameters, compiled
    # with the XLA options of jaxmle's own kernels, where the fits evaluate these functions
    # (faster to compile than XLA's defaults)
    @tuned_jit
    def evaluate(x, params, censored):
        funcs = {fn: (lambda p, fn=fn: getattr(dist, fn)(x, p)) for fn in fns}
        for key, (data, _) in censored.items():
            funcs[key] = lambda p, data=data: censored_loglik(dist, p, data)
        return {k: (f(params), jax.jacfwd(f)(params)) for k, f in funcs.items()}

    out = evaluate(x, params, {k: (d, 0) for k, (d, _) in censored.items()})
    wants = {**want, **{k: w for k, (_, w) in censored.items()}}
    for fn, (got, jac) in out.items():
        got, ref_values = np.asarray(got), wants[fn]
        finite = np.isfinite(ref_values)
        # infinities (outside the support, or log 0 at a support edge) must agree exactly
        np.testing.assert_array_equal(got[~finite], ref_values[~finite], err_msg=f"{name}.{fn}")
        # relative accuracy, measured against max(1, |value|): ~1e-12 everywhere, tails included
        err = np.abs(got[finite] - ref_values[finite]) / np.maximum(1.0, np.abs(ref_values[finite]))
        assert np.all(err < 1e-11), f"{name}.{fn}: errors {err}"
        # gradients w.r.t. every parameter, at every point (tails and outside the support too)
        for key, g in jac.items():
            assert np.all(np.isfinite(g)), f"d {name}.{fn} / d {key} not finite: {g}"


def _censored_cases(dist, params, pts, want):
    """Censored and truncated datasets at the row's points, with references built from the
    (checked) reference values at those points: exact -> logpdf, right-censored -> logsf,
    left-censored -> logcdf, interval (l, u) -> log(F(u) - F(l)) from the cdfs, or the sfs in
    the upper tail; delayed entry subtracts logsf(entry)."""
    lo, hi = (float(v) for v in dist.support(params))
    inside = (pts > lo) & (pts < hi) & np.isfinite(want["logpdf"])
    order = np.argsort(pts[inside])
    s = pts[inside][order]
    lpdf, lcdf, lsf = (want[fn][inside][order] for fn in ("logpdf", "logcdf", "logsf"))
    m = len(s)

    # interval masses between consecutive points, computed stably from the references
    lc_l, lc_u, ls_l, ls_u = lcdf[:-1], lcdf[1:], lsf[:-1], lsf[1:]
    upper_tail = lc_l > math.log(0.5)
    a = np.where(upper_tail, ls_l, lc_u)
    b = np.where(upper_tail, ls_u, lc_l)
    with np.errstate(all="ignore"):
        mass = a + np.log1p(-np.exp(b - a))
    bottom = -np.inf if not np.isfinite(lo) else lo
    interval = {
        "lower": np.concatenate([s, s, np.full(m, bottom), s[:-1]]),
        "upper": np.concatenate([s, np.full(m, np.inf), s, s[1:]]),
    }
    interval_want = np.concatenate([lpdf, lsf, lcdf, mass])

    # exact / right-censored, with delayed entry at the previous point (none for the first)
    event = np.arange(m) % 2 == 0
    entry = np.concatenate([[bottom if np.isfinite(bottom) else -1e300], s[:-1]])
    entry_lsf = np.concatenate([[0.0], lsf[:-1]])
    truncated = {"x": s, "event": event, "entry": entry}
    truncated_want = np.where(event, lpdf, lsf) - entry_lsf
    return {
        "interval": (interval, interval_want),
        "truncated": (truncated, truncated_want),
    }


def test_bernoulli_logit_value_and_derivatives_in_both_tails():
    """Logistic regression's per-observation loglik: value, d/deta, d2/deta2 and d/dy against
    scipy's log_expit / expit, from eta = 0 to the far tails (where the derivatives are tiny
    but must not round to 0: separation is seen through them)."""
    from scipy.special import expit, log_expit

    # the loglik of one observation with one covariate equal to 1: X @ beta is eta exactly
    model = jm.models.LogisticRegression(1)

    def bernoulli_logit(y, eta):
        data = {"X": jnp.ones((1, 1)), "y": jnp.reshape(y, (1,))}
        return model.loglik({"beta": jnp.reshape(eta, (1,))}, data)[0]

    eta = np.array([-800.0, -40.0, -3.0, -1e-3, 0.0, 1e-3, 2.0, 40.0, 700.0])
    for y in (0.0, 1.0, 0.3):
        want = y * log_expit(eta) + (1 - y) * log_expit(-eta)
        d1 = y * expit(-eta) - (1 - y) * expit(eta)
        d2 = -expit(eta) * expit(-eta)
        f = lambda e, y=y: bernoulli_logit(y, e)
        got = jax.vmap(f)(jnp.asarray(eta))
        g1 = jax.vmap(jax.grad(f))(jnp.asarray(eta))
        g2 = jax.vmap(jax.hessian(f))(jnp.asarray(eta))
        gy = jax.vmap(jax.grad(bernoulli_logit), (None, 0))(jnp.asarray(y), jnp.asarray(eta))
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(g1, d1, rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(g2, d2, rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(gy, eta, rtol=1e-15)
        # in the tails the slope and the curvature are exp(-40) ~ 4e-18, not 0
        assert g2[1] != 0 and g2[7] != 0 and g1[7] != 0


@pytest.mark.parametrize("name", ["weibull", "loglogistic", "lognormal"])
def test_log_scale_families_equal_their_plain_evaluation(name):
    """Families written in log x (``log_x``) give the same values and gradients, censored or
    not, as evaluating their functions at the substituted points (the generic path), at
    ordinary points, on the edges of the support and outside it."""
    dist = get_distribution(name)
    assert dist.log_x
    plain = type("Plain", (type(dist),), {"log_x": False})()
    params = {k: jnp.asarray(v) for k, v in zip(dist.param_names, (1.7, 2.5))}
    x = jnp.array([0.0, 1e-300, 0.3, 2.0, 40.0, 1e300, jnp.inf, -1.0])
    event = jnp.array([1, 0, 1, 0, 1, 0, 0, 1])
    for fn in (
        lambda d, p: d.logpdf(x, p),
        lambda d, p: censored_loglik(d, p, {"x": x, "event": event}),
    ):
        want, want_g = fn(plain, params), jax.jacfwd(lambda p, fn=fn: fn(plain, p))(params)
        got, got_g = fn(dist, params), jax.jacfwd(lambda p, fn=fn: fn(dist, p))(params)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        for k in params:
            np.testing.assert_allclose(got_g[k], want_g[k], rtol=1e-13, atol=1e-300)
