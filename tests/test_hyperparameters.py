"""A hyperparameter as an input of the compiled fit (``args=``) rather than a constant closed
over by a new model each time, and the warning for the latter.

Runs in float64 (repo-root conftest.py).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import programs_compiled

import jaxmle as jm
from jaxmle._warnings import RECOMPILE_LIMIT

X = jnp.asarray(np.random.default_rng(11).normal(1.0, 2.0, size=30))
N = X.size


def _shrunk(p, x, tau):
    """A Gaussian mean (known noise 2) under a N(0, tau^2) prior."""
    return jnp.sum(jax.scipy.stats.norm.logpdf(x, p["mu"], 2.0)) + (
        jax.scipy.stats.norm.logpdf(p["mu"], 0.0, tau)
    )


SHRUNK = jm.Model(_shrunk, {"mu": jm.Real()})


def _posterior_mean(tau):
    return (N * jnp.mean(X) / 4.0) / (N / 4.0 + tau**-2.0)


def test_a_sweep_of_fifty_values_compiles_once():
    taus = np.linspace(0.1, 3.0, 50)
    jm.fit(SHRUNK, X, args=taus[0])  # compiled here (or by an earlier test)
    with warnings.catch_warnings(), programs_compiled() as compiled:
        warnings.simplefilter("error")  # and no recompile warning
        mus = np.array([float(jm.fit(SHRUNK, X, args=t).params["mu"]) for t in taus])
    assert compiled == []
    np.testing.assert_allclose(mus, _posterior_mean(taus), rtol=1e-12)


def test_a_sweep_does_not_trace_the_loglik_again():
    # the loglik's output shape (scalar total or one value per observation) is found once per
    # model and shapes of the data and args, not once per value of args
    calls = []

    def loglik(p, x, tau):
        calls.append(1)
        return jax.scipy.stats.norm.logpdf(x, p["mu"], 2.0) - 0.5 * (p["mu"] / tau) ** 2 / N

    model = jm.Model(loglik, {"mu": jm.Real()})
    jm.fit(model, X, args=1.0).to_dict()
    before = len(calls)
    # (each result holds a model with its args bound, a new object: its intervals and table
    # columns are compiled once for the model's constraints, not once per result)
    with programs_compiled() as compiled:
        for tau in (0.5, 2.0, 3.0):
            jm.fit(model, X, args=tau).to_dict()
    assert len(calls) == before and compiled == []
    jm.fit(model, X, args=jnp.ones(1))  # another shape of args: found again (and compiled)
    assert len(calls) > before


def test_args_are_differentiable_and_the_result_has_them_bound():
    tau = 0.8
    g = jax.grad(lambda t: jm.fit(SHRUNK, X, args=t).params["mu"])(tau)
    np.testing.assert_allclose(g, jax.grad(_posterior_mean)(tau), rtol=1e-10)
    d2 = jax.hessian(lambda t: jm.fit(SHRUNK, X, args=t).params["mu"])(tau)
    np.testing.assert_allclose(d2, jax.hessian(_posterior_mean)(tau), rtol=1e-8)
    # a pytree of args; the result's model evaluates loglik(params, data) with them
    model = jm.Model(
        lambda p, x, a: jax.scipy.stats.norm.logpdf(x, p["mu"], a["sigma"]), {"mu": jm.Real()}
    )
    res = jm.fit(model, X, args={"sigma": 2.0})
    np.testing.assert_allclose(res.se["mu"], 2.0 / np.sqrt(N), rtol=1e-10)
    ll = res.model.loglik({"mu": 0.5}, X)
    np.testing.assert_allclose(ll, jax.scipy.stats.norm.logpdf(X, 0.5, 2.0), rtol=1e-14)
    lo, hi = res.conf_int(method="profile")["mu"]  # known sigma: the profile is the Wald interval
    np.testing.assert_allclose([lo, hi], [X.mean() - 1.959964 * 2 / np.sqrt(N),
                                          X.mean() + 1.959964 * 2 / np.sqrt(N)], rtol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="args= cannot be combined"):
        jm.fit(model, X, args={"sigma": 2.0}, fixed={"mu": 0.0})


def test_a_new_model_per_value_warns_after_a_few_compiles():
    def make(tau):
        return jm.Model(lambda p, x: _shrunk(p, x, tau), {"mu": jm.Real()})

    with pytest.warns(jm.RecompileWarning, match="args=value"):
        for tau in np.linspace(0.5, 1.5, RECOMPILE_LIMIT + 1):
            jm.fit(make(float(tau)), X)


def test_fit_batch_args_are_shared_by_the_batch_and_compile_once():
    xs = jnp.stack([X, X + 1.0, 2.0 * X])
    sums = np.asarray(xs.sum(axis=1))

    def want(tau):  # the posterior means of the three datasets
        return (sums / 4.0) / (N / 4.0 + tau**-2.0)

    jm.fit_batch(SHRUNK, xs, args=0.5)
    with programs_compiled() as compiled:
        for tau in (0.7, 1.1, 2.0):
            res = jm.fit_batch(SHRUNK, xs, args=tau)
            np.testing.assert_allclose(res.params["mu"], want(tau), rtol=1e-12)
    assert compiled == []
    # under jit and grad: one vmapped kernel, differentiable in the shared args
    g = jax.jit(jax.grad(lambda t: jm.fit_batch(SHRUNK, xs, args=t).params["mu"].sum()))(0.9)
    dwant = np.sum((sums / 4.0) * 2 * 0.9**-3.0 / (N / 4.0 + 0.9**-2.0) ** 2)
    np.testing.assert_allclose(g, dwant, rtol=1e-10)
    assert res[1].model.loglik({"mu": 0.0}, xs[1]).shape == ()
