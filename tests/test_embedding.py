"""jm.fit / jm.fit_batch inside a user's JAX code: jit, vmap, grad; pytree data and vector
parameters; no host round-trips; numpyro interop.

Runs in float64 (repo-root conftest.py). The models and shapes are shared so that each
compiles once.
"""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NORMAL

import jaxmle as jm
from jaxmle import interop

N = 8
XS = jnp.asarray(np.random.default_rng(3).normal(2.0, 1.5, size=(3, N)))


def _sigma(x):
    return jm.fit(NORMAL, x).params["sigma"]


def _dsigma_closed_form(x):
    x = np.asarray(x)
    return (x - x.mean()) / (x.size * x.std())


# one compiled program, reused by the tests below
GRAD_SIGMA = jax.jit(jax.vmap(jax.grad(_sigma)))


def test_jit_vmap_grad_of_fit_equals_a_loop():
    g = np.asarray(GRAD_SIGMA(XS))
    loop = np.stack([np.asarray(jax.grad(_sigma)(x)) for x in XS])
    np.testing.assert_allclose(g, loop, rtol=1e-12, atol=1e-15)
    for row, x in zip(g, XS):
        np.testing.assert_allclose(row, _dsigma_closed_form(x), rtol=1e-9, atol=1e-14)


def test_no_host_round_trips_on_the_fitting_path():
    # traceable end to end: a jaxpr exists for fit and fit_batch on abstract inputs
    jax.make_jaxpr(lambda x: jm.fit(NORMAL, x[0]).params)(XS)
    jax.make_jaxpr(lambda x: jm.fit_batch(NORMAL, x).params)(XS)
    # and the compiled program runs with device-to-host transfers disallowed
    xs = jax.device_put(XS)
    GRAD_SIGMA(xs)  # compiled (cached from the test above)
    with jax.transfer_guard_device_to_host("disallow"):
        out = GRAD_SIGMA(xs)
    assert out.shape == XS.shape


def test_validation_is_skipped_under_tracing_and_statuses_still_computed():
    bad = XS[0].at[3].set(jnp.nan)
    with pytest.raises(ValueError, match="NaN"):
        jm.fit(NORMAL, bad)  # concrete: checked before fitting
    status = jax.jit(lambda x: jm.fit(NORMAL, x).status)(bad)  # traced: not checked
    assert int(status) == jm.Status.NONFINITE


def test_fit_batch_under_jit_grad_and_vmap():
    ref = jm.fit_batch(NORMAL, XS)
    # concrete data closed over inside jit: one traced vmap, no host-side chunking
    mu = jax.jit(lambda s: jm.fit_batch(NORMAL, XS * s).params["mu"])(2.0)
    np.testing.assert_allclose(mu, 2.0 * np.asarray(ref.params["mu"]), rtol=1e-12)
    # a model closing over the traced hyperparameter: known sigma = h, se(mu) = h / sqrt(n)
    # for every dataset, so d/dh sum_b se_b(mu) = B / sqrt(n)

    def total_se(h):
        model = jm.Model(lambda p, x: jax.scipy.stats.norm.logpdf(x, p["mu"], h), {"mu": jm.Real()})
        return jm.fit_batch(model, XS).se["mu"].sum()

    np.testing.assert_allclose(jax.grad(total_se)(1.5), XS.shape[0] / math.sqrt(N), rtol=1e-10)
    # vmap over fit_batch: two batch axes
    both = jax.vmap(lambda x: jm.fit_batch(NORMAL, x).params["sigma"])(jnp.stack([XS, XS + 1]))
    np.testing.assert_allclose(both[1], both[0], rtol=1e-10)
    np.testing.assert_allclose(both[0], ref.params["sigma"], rtol=1e-10)


LINEAR = jm.Model(
    lambda p, d: jax.scipy.stats.norm.logpdf(d[1], d[0] @ p["beta"], p["sigma"]),
    {"beta": jm.Real(shape=(2,)), "sigma": jm.Positive()},
    name="linear_tuple",
)


def test_pytree_data_and_vector_parameters_under_jit_vmap_jacrev():
    # data is a tuple (X, y); beta is a vector. The OLS estimate is (X'X)^-1 X'y, so its
    # derivative with respect to y is the matrix (X'X)^-1 X'.
    rng = np.random.default_rng(8)
    X = np.column_stack([np.ones(12), rng.normal(size=12)])
    ys = jnp.asarray(X @ np.array([1.0, -2.0]) + rng.normal(size=(2, 12)))

    def beta(y):
        return jm.fit(LINEAR, (jnp.asarray(X), y)).params["beta"]

    est, jac = jax.jit(jax.vmap(lambda y: (beta(y), jax.jacrev(beta)(y))))(ys)
    hat = np.linalg.solve(X.T @ X, X.T)
    for b in range(2):
        np.testing.assert_allclose(est[b], hat @ np.asarray(ys[b]), rtol=1e-10)
        np.testing.assert_allclose(jac[b], hat, rtol=1e-9, atol=1e-13)


# --------------------------------------------------------------------------
# interop
# --------------------------------------------------------------------------
def test_numpyro_constraints_map_to_jaxmle():
    C = pytest.importorskip("numpyro.distributions.constraints")
    cases = [
        (C.real, (), jm.Real, None),
        (C.positive, (), jm.Positive, None),
        (C.unit_interval, (), jm.UnitInterval, None),
        (C.interval(-1.0, 3.0), (), jm.Bounded, (-1.0, 3.0)),
        (C.interval(0.0, 1.0), (), jm.UnitInterval, None),
        (C.greater_than(2.0), (), jm.Bounded, (2.0, math.inf)),
        (C.less_than(1.0), (), jm.Bounded, (-math.inf, 1.0)),
        (C.real, (3,), jm.Real, None),
    ]
    for c, shape, cls, bounds in cases:
        out = interop.from_numpyro_constraint(c, shape)
        assert type(out) is cls and out.shape == shape, (c, out)
        if bounds is not None:
            assert (out.low, out.high) == bounds
    simplex = interop.from_numpyro_constraint(C.simplex, (4,))
    assert isinstance(simplex, jm.Simplex) and simplex.k == 4
    with pytest.raises(ValueError, match="shape=\\(k,\\)"):
        interop.from_numpyro_constraint(C.simplex)
    with pytest.raises(TypeError, match="known: real, positive"):
        interop.from_numpyro_constraint(C.positive_definite)


def test_numpyro_models_fit_like_jaxmle_families():
    dist = pytest.importorskip("numpyro.distributions")
    C = dist.constraints
    rng = np.random.default_rng(21)
    x = jnp.asarray(3.0 * rng.weibull(1.7, size=60))
    ref = jm.fit_dist("weibull", x)  # jaxmle's own Weibull family
    model = interop.numpyro_family(dist.Weibull)
    assert model.param_names == ("scale", "concentration")
    res = jm.fit(model, x)
    assert int(res.status) == jm.Status.CONVERGED
    np.testing.assert_allclose(res.params["concentration"], ref.params["shape"], rtol=1e-9)
    np.testing.assert_allclose(res.params["scale"], ref.params["scale"], rtol=1e-9)
    np.testing.assert_allclose(res.se["concentration"], ref.se["shape"], rtol=1e-6)
    np.testing.assert_allclose(res.loglik, ref.loglik, rtol=1e-12)

    # a regression written with a numpyro distribution, covariates next to the observations;
    # the Gaussian MLE of beta is least squares
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = X @ np.array([0.5, 1.5]) + 0.3 * rng.normal(size=30)
    reg = interop.distribution_model(
        lambda p, d: dist.Normal(d["X"] @ p["beta"], p["sigma"]),
        {"beta": (C.real, (2,)), "sigma": C.positive},
        observed="y",
    )
    r = jm.fit(reg, {"X": X, "y": y})
    np.testing.assert_allclose(r.params["beta"], np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)


def test_distribution_model_takes_any_object_with_a_jax_log_prob():
    """distribution_model needs only a ``log_prob`` computed with JAX (numpyro's or another
    library's distributions): the normal MLE is the mean and the population std."""

    class Normal:
        def __init__(self, loc, scale):
            self.loc, self.scale = loc, scale

        def log_prob(self, x):
            return jax.scipy.stats.norm.logpdf(x, self.loc, self.scale)

    x = XS[0]
    model = interop.distribution_model(
        lambda p, x: Normal(p["mu"], p["sigma"]), {"mu": jm.Real(), "sigma": jm.Positive()}
    )
    r = jm.fit(model, x)
    np.testing.assert_allclose(r.params["mu"], float(np.mean(x)), rtol=1e-10)
    np.testing.assert_allclose(r.params["sigma"], float(np.std(x)), rtol=1e-10)


def test_interop_errors(monkeypatch):
    with pytest.raises(TypeError, match="expected a jaxmle constraint"):
        interop.distribution_model(lambda p, x: None, {"mu": "real"})
    monkeypatch.setitem(sys.modules, "numpyro", None)
    monkeypatch.setitem(sys.modules, "numpyro.distributions", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxmle\[interop\]'"):
        interop.from_numpyro_constraint(object())
