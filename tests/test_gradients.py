"""Derivatives through the optimum (implicit function theorem), forward and reverse."""

import jax
import jax.numpy as jnp
import numpy as np
from helpers import CENSORED_EVENT as EVENT
from helpers import CENSORED_EXPO, NORMAL
from helpers import CENSORED_T as T
from helpers import SMALL as X

import jaxmle as jm


def _est(x):
    r = jm.fit(NORMAL, x)
    return jnp.stack([r.params["mu"], r.params["sigma"]])


def test_gaussian_closed_forms_reverse_and_forward():
    # mu = mean(x): d mu / d x_i = 1/n;  sigma = sqrt(mean((x - mean)^2)):
    # d sigma / d x_i = (x_i - mean) / (n sigma)
    n = X.size
    sigma = float(jnp.std(X))
    want = np.stack([np.full(n, 1.0 / n), (np.asarray(X) - float(X.mean())) / (n * sigma)])
    np.testing.assert_allclose(jax.jacrev(_est)(X), want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(jax.jacfwd(_est)(X), want, rtol=1e-10, atol=1e-14)


def test_matches_finite_differences_for_a_censored_model():
    model = CENSORED_EXPO
    event = jnp.array([1.0, 1.0, 0.0, 1.0])

    def rate(t):
        return jm.fit(model, {"t": t, "event": event}).params["rate"]

    t = jnp.array([2.0, 4.0, 5.0, 1.5])
    g = jax.grad(rate)(t)
    h = 1e-6
    fd = np.array([(rate(t.at[i].add(h)) - rate(t.at[i].add(-h))) / (2 * h) for i in range(4)])
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # closed form: rate = d / sum(t), d rate / d t_i = -d / sum(t)^2
    np.testing.assert_allclose(g, np.full(4, -3.0 / float(t.sum()) ** 2), rtol=1e-10)


def test_jit_vmap_grad_of_a_function_calling_fit():
    f = jax.jit(jax.vmap(jax.grad(lambda x: jm.fit(NORMAL, x).params["sigma"])))
    Xs = jnp.stack([X, 2.0 * X + 1.0])
    g = f(Xs)
    for row, x in zip(g, Xs):
        n, s = x.size, float(jnp.std(x))
        np.testing.assert_allclose(row, (x - x.mean()) / (n * s), rtol=1e-9, atol=1e-14)


def test_gradient_with_respect_to_a_closed_over_hyperparameter():
    # known sigma = h: se(mu) = h / sqrt(n), so d se / d h = 1 / sqrt(n)
    def se_mu(h):
        model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], h), {"mu": jm.Real()})
        return jm.fit(model, X).se["mu"]

    np.testing.assert_allclose(jax.grad(se_mu)(2.0), 1.0 / np.sqrt(X.size), rtol=1e-10)


def test_gradient_of_loglik_and_weights():
    # envelope theorem: d loglik / d x_i = -(x_i - mu) / sigma^2 at the optimum
    g = jax.grad(lambda x: jm.fit(NORMAL, x).loglik)(X)
    s2 = float(jnp.var(X))
    # (atol: an observation at the mean has derivative 0, reached to the optimum's rounding)
    np.testing.assert_allclose(g, -(X - X.mean()) / s2, rtol=1e-9, atol=1e-15)
    # influence through frequency weights: d mu / d w_i = (x_i - mu) / sum(w)
    w = jnp.ones_like(X)
    gw = jax.grad(lambda w: jm.fit(NORMAL, X, weights=w).params["mu"])(w)
    # (atol: the same, for the observation at the mean)
    np.testing.assert_allclose(gw, (X - X.mean()) / X.size, rtol=1e-9, atol=1e-15)


def test_unconverged_fit_gives_nan_gradients():
    g = jax.grad(lambda x: jm.fit(NORMAL, x, max_iter=1).params["mu"])(X)
    assert np.all(np.isnan(g))


# --------------------------------------------------------------------------
# forward mode as well as reverse mode for every derivative above, the
# derivatives of the standard errors, and a censored Weibull against finite
# differences
# --------------------------------------------------------------------------
def _se(x):
    r = jm.fit(NORMAL, x)
    return jnp.stack([r.se["mu"], r.se["sigma"]])


def test_derivatives_of_the_standard_errors_forward_and_reverse():
    # se(mu) = sigma_hat / sqrt(n), se(sigma) = sigma_hat / sqrt(2 n) (inverse observed
    # information at the Gaussian MLE), so d se / d x_i = (d sigma_hat / d x_i) / sqrt(n)
    # and / sqrt(2 n), with d sigma_hat / d x_i = (x_i - mean) / (n sigma_hat).
    n = X.size
    s = float(jnp.std(X))
    dsigma = (np.asarray(X) - float(X.mean())) / (n * s)
    want = np.stack([dsigma / np.sqrt(n), dsigma / np.sqrt(2 * n)])
    np.testing.assert_allclose(jax.jacrev(_se)(X), want, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(jax.jacfwd(_se)(X), want, rtol=1e-8, atol=1e-14)


def test_loglik_derivative_forward_mode():
    # envelope theorem, as a directional derivative: d loglik = sum_i -(x_i - mu)/sigma^2 v_i
    v = jnp.array([0.3, -1.0, 0.5, 2.0, -0.7])
    _, dll = jax.jvp(lambda x: jm.fit(NORMAL, x).loglik, (X,), (v,))
    want = float(jnp.sum(-(X - X.mean()) / jnp.var(X) * v))
    np.testing.assert_allclose(float(dll), want, rtol=1e-9)


def test_closed_over_hyperparameter_forward_mode():
    # known sigma = h: mu_hat = mean (does not depend on h), se(mu) = h / sqrt(n),
    # maximized loglik = -n log(h) - n/2 log(2 pi) - sum (x - mean)^2 / (2 h^2)
    ss = float(jnp.sum((X - X.mean()) ** 2))
    n = X.size

    def out(h):
        model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], h), {"mu": jm.Real()})
        r = jm.fit(model, X)
        return jnp.stack([r.params["mu"], r.se["mu"], r.loglik])

    h = 2.0
    want = np.array([0.0, 1.0 / np.sqrt(n), -n / h + ss / h**3])
    _, fwd = jax.jvp(out, (h,), (1.0,))
    np.testing.assert_allclose(fwd, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(jax.jacrev(out)(h), want, rtol=1e-9, atol=1e-12)


WEIBULL = jm.families.Weibull()


def _weibull_est(t):
    r = jm.fit(WEIBULL, {"x": t, "event": EVENT})
    return jnp.stack([r.params["shape"], r.params["scale"], r.loglik])


def test_censored_weibull_against_finite_differences_forward_and_reverse():
    # central differences, step 1e-5: truncation error O(h^2) ~ 1e-10, rounding
    # ~ eps / h ~ 1e-11, both well below the 1e-6 tolerance
    assert bool(jm.fit(WEIBULL, {"x": T, "event": EVENT}).converged)
    h = 1e-5
    fd = np.stack(
        [
            (np.asarray(_weibull_est(T.at[i].add(h))) - np.asarray(_weibull_est(T.at[i].add(-h))))
            / (2 * h)
            for i in range(T.size)
        ],
        axis=1,
    )
    rev = np.asarray(jax.jit(jax.jacrev(_weibull_est))(T))
    fwd = np.asarray(jax.jit(jax.jacfwd(_weibull_est))(T))
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fwd, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fwd, rev, rtol=1e-10, atol=1e-13)


def test_unconverged_fit_gives_nan_gradients_forward_mode():
    g = jax.jacfwd(lambda x: jm.fit(NORMAL, x, max_iter=1).params["sigma"])(X)
    assert np.all(np.isnan(g))
