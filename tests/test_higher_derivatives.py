"""Second and third derivatives through the optimum, and derivatives through fits that did not
converge (``on_failure_grad``).

The implicit rule is itself differentiated: every nesting of forward and reverse mode must
agree with closed forms (exponential, Gaussian) and with central differences of the exact
lower-order derivative (a censored Weibull, a logistic regression, a simplex-constrained
mixture). Central differences with step h of a derivative whose next derivative is O(1) err by
O(h^2) (truncation) plus O(eps / h) (rounding): about 1e-10 for h = 1e-5, far below the
1e-6 tolerance. Runs in float64 (repo-root conftest.py). The third derivatives compile large
programs: they are among the long checks (``-m slow``), which CI runs too.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import CENSORED_EVENT as EVENT
from helpers import CENSORED_T as T
from helpers import EXPO as EXPON
from helpers import NORMAL
from helpers import SMALL as X

import jaxmle as jm

N = X.size

NESTINGS = {
    "hessian": jax.hessian,
    "jacfwd(jacrev)": lambda f: jax.jacfwd(jax.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: jax.jacfwd(jax.jacfwd(f)),
    "jacrev(jacrev)": lambda f: jax.jacrev(jax.jacrev(f)),
    "jacrev(jacfwd)": lambda f: jax.jacrev(jax.jacfwd(f)),
}


def _central(f, x, h=1e-5):
    """Central difference of ``f`` at the scalar ``x``."""
    return (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (2 * h)


# --------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------
def _expon_shift(s):
    """rate = 1 / mean(x + s) and se(rate) = rate / sqrt(n), by fitting."""
    r = jm.fit(EXPON, X + s)
    return jnp.stack([r.params["rate"], r.se["rate"]])


def _expon_shift_closed(s):
    m = float(X.mean()) + s
    # d^k/ds^k of 1/m: (-1)^k k! / m^(k+1); se = rate / sqrt(n)
    d = [1 / m, -1 / m**2, 2 / m**3, -6 / m**4]
    return [np.array([dk, dk / math.sqrt(N)]) for dk in d]


@pytest.mark.parametrize("nesting", list(NESTINGS))
def test_exponential_second_derivative_in_a_data_shift(nesting):
    # the derivative of the optimum's own motion must be included: without it the second
    # derivative is half the exact one (0.5 * 2 / m^3)
    s = 0.3
    got = jax.jit(NESTINGS[nesting](_expon_shift))(s)
    np.testing.assert_allclose(got, _expon_shift_closed(s)[2], rtol=1e-8)


@pytest.mark.slow  # (third derivatives: large programs to compile)
def test_exponential_third_derivative_in_a_data_shift():
    s = 0.3
    d3 = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacrev(_expon_shift))))(s)
    np.testing.assert_allclose(d3, _expon_shift_closed(s)[3], rtol=1e-8)
    d3 = jax.jit(jax.jacrev(jax.jacfwd(jax.jacfwd(_expon_shift))))(s)
    np.testing.assert_allclose(d3, _expon_shift_closed(s)[3], rtol=1e-8)


def _expon_hyper(h):
    """A hyperparameter closed over by the model: x scaled by h, rate = 1 / (h mean(x)), and
    the maximized loglik n log(rate) - n."""
    model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * h * x, {"rate": jm.Positive()})
    r = jm.fit(model, X)
    return jnp.stack([r.params["rate"], r.se["rate"], r.loglik])


@pytest.mark.slow  # (third derivatives: large programs to compile)
def test_exponential_second_and_third_derivatives_in_a_closed_over_hyperparameter():
    h, m = 1.7, float(X.mean())
    want2 = np.array([2 / (h**3 * m), 2 / (h**3 * m * math.sqrt(N)), N / h**2])
    want3 = np.array([-6 / (h**4 * m), -6 / (h**4 * m * math.sqrt(N)), -2 * N / h**3])
    np.testing.assert_allclose(jax.jit(jax.hessian(_expon_hyper))(h), want2, rtol=1e-8)
    np.testing.assert_allclose(
        jax.jit(jax.jacfwd(jax.jacfwd(jax.jacfwd(_expon_hyper))))(h), want3, rtol=1e-8
    )


def _gauss_shift(s):
    """The Gaussian MLE with the first observation moved by s, by fitting: mu, sigma and their
    SEs."""
    r = jm.fit(NORMAL, X.at[0].add(s))
    return jnp.stack([r.params["mu"], r.params["sigma"], r.se["mu"], r.se["sigma"]])


def _gauss_shift_closed(s):
    """The same in closed form: the mean, the population std, sigma / sqrt(n) and
    sigma / sqrt(2 n) (inverse observed information)."""
    x = X.at[0].add(s)
    sigma = jnp.std(x)
    return jnp.stack([jnp.mean(x), sigma, sigma / jnp.sqrt(N), sigma / jnp.sqrt(2.0 * N)])


@pytest.mark.slow  # (third derivatives: large programs to compile)
def test_gaussian_second_and_third_derivatives_of_estimates_and_ses():
    s, closed = 0.4, _gauss_shift_closed
    np.testing.assert_allclose(
        jax.jit(jax.jacfwd(jax.jacrev(_gauss_shift)))(s),
        jax.jacfwd(jax.jacrev(closed))(s),
        rtol=1e-8,
        atol=1e-14,  # (mu is linear in s: its second derivative is 0)
    )
    np.testing.assert_allclose(
        jax.jit(jax.jacfwd(jax.jacfwd(jax.jacrev(_gauss_shift))))(s),
        jax.jacfwd(jax.jacfwd(jax.jacrev(closed)))(s),
        rtol=1e-8,
        atol=1e-14,
    )


def _shrunk_mean(tau, closed_form=False):
    """A Gaussian mean with a N(0, tau^2) prior (known unit noise): mu = n xbar / (n + tau^-2),
    se(mu) = (n + tau^-2)^-1/2."""
    if closed_form:
        prec = N + tau**-2
        return jnp.stack([N * jnp.mean(X) / prec, prec**-0.5])

    def loglik(p, x):
        return jnp.sum(jax.scipy.stats.norm.logpdf(x, p["mu"], 1.0)) + (
            jax.scipy.stats.norm.logpdf(p["mu"], 0.0, tau)
        )

    r = jm.fit(jm.Model(loglik, {"mu": jm.Real()}), X)
    return jnp.stack([r.params["mu"], r.se["mu"]])


@pytest.mark.slow  # (third derivatives: large programs to compile)
def test_gaussian_prior_scale_second_and_third_derivatives():
    tau = 0.6
    closed = lambda t: _shrunk_mean(t, closed_form=True)  # noqa: E731
    np.testing.assert_allclose(
        jax.jit(jax.hessian(_shrunk_mean))(tau), jax.hessian(closed)(tau), rtol=1e-8
    )
    np.testing.assert_allclose(
        jax.jit(jax.jacrev(jax.jacfwd(jax.jacfwd(_shrunk_mean))))(tau),
        jax.jacfwd(jax.jacfwd(jax.jacfwd(closed)))(tau),
        rtol=1e-8,
    )


def test_fit_batch_under_vmap_and_grad():
    # three datasets, one shift: sum_b rate_b = sum_b 1 / (mean(x_b) + s)
    xs = jnp.stack([X, 2.0 * X, X + 1.0])
    means = np.asarray(xs.mean(axis=1))

    def total(s):
        return jm.fit_batch(EXPON, xs + s).params["rate"].sum()

    s = 0.2
    m = means + s
    np.testing.assert_allclose(jax.jit(jax.hessian(total))(s), np.sum(2 / m**3), rtol=1e-8)
    np.testing.assert_allclose(
        jax.jit(jax.jacfwd(jax.jacfwd(jax.grad(total))))(s), np.sum(-6 / m**4), rtol=1e-8
    )
    # vmap of the second derivative of single fits: one per dataset
    d2 = jax.jit(
        jax.vmap(jax.hessian(lambda s, x: jm.fit(EXPON, x + s).params["rate"]), (None, 0))
    )(s, xs)
    np.testing.assert_allclose(d2, 2 / m**3, rtol=1e-8)


# --------------------------------------------------------------------------
# finite differences of the exact lower-order derivative
# --------------------------------------------------------------------------
WEIBULL = jm.families.Weibull()
V = jnp.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.6, -0.1])


def _weibull(s):
    """Shape, scale and se(shape) of a censored Weibull, the times moved along V by s."""
    r = jm.fit(WEIBULL, {"x": T + s * V, "event": EVENT})
    return jnp.stack([r.params["shape"], r.params["scale"], r.se["shape"]])


@pytest.mark.slow  # (third derivatives: large programs to compile)
def test_censored_weibull_second_and_third_derivatives_against_finite_differences():
    assert bool(jm.fit(WEIBULL, {"x": T, "event": EVENT}).converged)
    d1 = jax.jit(jax.jacrev(_weibull))
    d2 = jax.jit(jax.jacfwd(jax.jacrev(_weibull)))
    d3 = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacrev(_weibull))))
    s = 0.0
    got2, got3 = np.asarray(d2(s)), np.asarray(d3(s))
    np.testing.assert_allclose(got2, _central(d1, s), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got3, _central(d2, s), rtol=1e-6, atol=1e-9)


def test_logistic_regression_hessian_in_the_weights_against_finite_differences():
    rng = np.random.default_rng(5)
    n = 30
    X_ = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X_ @ np.array([0.3, 1.2]))))).astype(float)
    data = {"X": jnp.asarray(X_), "y": jnp.asarray(y)}
    model = jm.models.LogisticRegression(2)

    def out(w):
        r = jm.fit(model, data, weights=w)
        return r.params["beta"][1] + r.se["beta"][1]

    w = jnp.ones(n)
    hess = np.asarray(jax.jit(jax.jacfwd(jax.jacrev(out)))(w))
    grad = jax.jit(jax.grad(out))
    h = 1e-5
    cols = [0, 7, 19]  # (each column costs two fits)
    fd = np.stack(
        [(np.asarray(grad(w.at[i].add(h))) - np.asarray(grad(w.at[i].add(-h)))) / (2 * h)
         for i in cols]
    )  # fmt: skip
    np.testing.assert_allclose(hess[cols], fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-9, atol=1e-13)


MIXTURE = jm.Model(
    # a three-component mixture of unit Gaussians at known centres: the weights on the simplex
    lambda p, x: jnp.log(
        jnp.sum(p["w"] * jax.scipy.stats.norm.pdf(x[:, None], jnp.array([-2.0, 0.0, 2.5])), axis=1)
    ),
    {"w": jm.Simplex(3)},
)
Z = jnp.asarray(
    np.concatenate(
        [
            np.random.default_rng(6).normal(c, 1.0, size=k)
            for c, k in ((-2.0, 15), (0, 10), (2.5, 20))
        ]
    )
)


def _mixture(s):
    r = jm.fit(MIXTURE, Z * (1.0 + s))
    return jnp.concatenate([r.params["w"], r.se["w"]])


def test_simplex_weights_second_derivatives_against_finite_differences():
    assert int(jm.fit(MIXTURE, Z).status) == jm.Status.CONVERGED
    d1 = jax.jit(jax.jacrev(_mixture))
    d2 = jax.jit(jax.jacfwd(jax.jacrev(_mixture)))
    s = 0.05
    got2 = np.asarray(d2(s))
    np.testing.assert_allclose(got2, _central(d1, s), rtol=1e-6, atol=1e-9)
    # the weights sum to one whatever s: so do their derivatives to zero
    np.testing.assert_allclose(got2[:3].sum(), 0.0, atol=1e-10)


# --------------------------------------------------------------------------
# fits that did not converge
# --------------------------------------------------------------------------
B = 100
XB = jnp.asarray(np.random.default_rng(7).exponential(2.0, size=(B, 6)))
# one dataset in a hundred fails: started 1e12 times too high with 8 iterations, it stops at
# MAX_ITER
INIT = {"rate": jnp.ones(B).at[37].set(1e12)}


def _masked_loss(h, xs, on_failure_grad, init=INIT, max_iter=8, **kw):
    model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * h * x, {"rate": jm.Positive()})
    r = jm.fit_batch(model, xs, init=init, max_iter=max_iter, on_failure_grad=on_failure_grad, **kw)
    ok = r.status == jm.Status.CONVERGED
    value = r.params["rate"] + r.se["rate"] + 0.01 * r.loglik
    return jnp.sum(jnp.where(ok, value, 0.0)), ok


def test_zero_option_gradient_equals_that_of_the_converged_fits_alone():
    h = 1.3
    grad = jax.jit(jax.grad(_masked_loss, argnums=(0, 1), has_aux=True), static_argnums=2)
    (gh, gx), ok = grad(h, XB, "zero")
    assert int(jnp.sum(~ok)) == 1 and not bool(ok[37])
    keep = np.flatnonzero(np.asarray(ok))
    # the converged fits alone, every one started where the batch started it
    init = {"rate": INIT["rate"][keep]}
    (rh, rx), ok_ref = jax.grad(_masked_loss, argnums=(0, 1), has_aux=True)(
        h, XB[keep], "zero", init=init
    )
    assert bool(ok_ref.all())
    np.testing.assert_allclose(gh, rh, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gx)[keep], rx, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(gx)[37], 0.0)
    # forward mode and the second derivative: finite, the same as the converged fits'
    fwd = jax.jacfwd(lambda h: _masked_loss(h, XB, "zero")[0])(h)
    np.testing.assert_allclose(fwd, rh, rtol=1e-12)
    d2 = jax.hessian(lambda h: _masked_loss(h, XB, "zero")[0])(h)
    d2_ref = jax.hessian(lambda h: _masked_loss(h, XB[keep], "zero", init=init)[0])(h)
    np.testing.assert_allclose(d2, d2_ref, rtol=1e-10)


def test_zero_option_with_a_nonfinite_dataset_and_nan_by_default():
    # a NaN reading in one dataset (fitted with nan_policy="propagate": status NONFINITE)
    xs = XB.at[37, 2].set(jnp.nan)
    h = 1.3

    def grad(mode):
        return jax.grad(_masked_loss, has_aux=True)(
            h, xs, mode, init=None, max_iter=100, nan_policy="propagate"
        )

    g_nan, ok = grad("nan")
    assert not bool(ok[37]) and int(jnp.sum(ok)) == B - 1
    assert bool(jnp.isnan(g_nan))  # the default: the failed fit poisons the gradient
    g_zero, _ = grad("zero")
    keep = np.flatnonzero(np.asarray(ok))
    ref, _ = jax.grad(_masked_loss, has_aux=True)(h, XB[keep], "zero", init=None, max_iter=100)
    np.testing.assert_allclose(g_zero, ref, rtol=1e-12)


def test_on_failure_grad_is_checked():
    with pytest.raises(ValueError, match="on_failure_grad must be one of"):
        jm.fit(EXPON, X, on_failure_grad="ignore")
    with pytest.raises(ValueError, match="on_failure_grad must be one of"):
        jm.fit_batch(EXPON, X[None], on_failure_grad=None)
