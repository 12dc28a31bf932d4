"""Derivatives through the optimum (implicit function theorem), forward and reverse."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxmle as jm

NORMAL = jm.Model(
    lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]),
    {"mu": jm.Real(), "sigma": jm.Positive()},
)
X = jnp.array([1.0, 2.0, 4.0, 7.0, 3.5])


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
    def loglik(p, d):
        return d["event"] * jnp.log(p["rate"]) - p["rate"] * d["t"]

    model = jm.Model(loglik, {"rate": jm.Positive()})
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
    np.testing.assert_allclose(g, -(X - X.mean()) / s2, rtol=1e-9)
    # influence through frequency weights: d mu / d w_i = (x_i - mu) / sum(w)
    w = jnp.ones_like(X)
    gw = jax.grad(lambda w: jm.fit(NORMAL, X, weights=w).params["mu"])(w)
    np.testing.assert_allclose(gw, (X - X.mean()) / X.size, rtol=1e-9)


def test_unconverged_fit_gives_nan_gradients():
    g = jax.grad(lambda x: jm.fit(NORMAL, x, max_iter=1).params["mu"])(X)
    assert np.all(np.isnan(g))
